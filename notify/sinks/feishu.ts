import { z } from 'zod';
import { type HttpAnswer, type HttpRequest, sendHttp } from '../http.js';
import type { Notification, SendResult } from '../types.js';
import { hmacSha256, httpUrl, secretString } from './common.js';
import { defineSink } from './definition.js';

/**
 * Feishu / Lark custom bot, msg_type interactive (a message card). With signature verification
 * on, the body carries `timestamp` (seconds, as a string) and
 * `sign = base64(HmacSHA256(key = timestamp + "\n" + secret, message = ""))`; Feishu rejects
 * timestamps more than an hour off. Answers are JSON with `code` 0 on success (older
 * deployments say StatusCode); 11232 (frequency limited; 100 a minute, 5 a second per bot) is
 * retried, 19021 (sign match fail), 19024 (keyword) and 9499 (bad request) are not.
 */
export interface FeishuOptions {
  url: string;
  secret?: string | undefined;
}

export function feishuSign(secret: string, timestampSeconds: number): string {
  return hmacSha256(`${timestampSeconds}\n${secret}`, '').toString('base64');
}

const HEADER_TEMPLATE: Record<string, string> = { critical: 'red', warning: 'orange', info: 'blue' };

export function feishuRequest(options: FeishuOptions, n: Notification, nowMs: number): HttpRequest {
  const e = n.event;
  const body: Record<string, unknown> = {};
  if (options.secret) {
    const ts = Math.floor(nowMs / 1000);
    body.timestamp = String(ts);
    body.sign = feishuSign(options.secret, ts);
  }
  body.msg_type = 'interactive';
  body.card = {
    config: { wide_screen_mode: true },
    header: {
      template: e.status === 'resolved' ? 'green' : (HEADER_TEMPLATE[e.severity] ?? 'blue'),
      title: { tag: 'plain_text', content: n.message.title },
    },
    elements: [
      { tag: 'div', text: { tag: 'lark_md', content: n.message.text } },
      {
        tag: 'action',
        actions: [
          {
            tag: 'button',
            text: { tag: 'plain_text', content: 'Open incident' },
            type: 'primary',
            url: n.link,
          },
        ],
      },
    ],
  };
  return { url: options.url, headers: {}, body: JSON.stringify(body) };
}

const FEISHU_RETRYABLE = new Set([11232]);

export function readFeishuAnswer(answer: HttpAnswer): SendResult {
  let parsed: { code?: number; msg?: string; StatusCode?: number; StatusMessage?: string };
  try {
    parsed = JSON.parse(answer.text) as typeof parsed;
  } catch {
    return { ok: false, recoverable: true, reason: `feishu answered non-JSON: ${answer.text.slice(0, 200)}` };
  }
  const code = parsed.code ?? parsed.StatusCode;
  if (code === 0) return { ok: true, status: answer.status };
  const reason = `feishu code ${code}: ${parsed.msg ?? parsed.StatusMessage ?? ''}`;
  if (code !== undefined && FEISHU_RETRYABLE.has(code)) {
    return { ok: false, recoverable: true, reason, retryAfterMs: 60_000 };
  }
  return { ok: false, recoverable: false, reason };
}

export const feishuSink = defineSink({
  type: 'feishu',
  description: 'Feishu / Lark custom bot (interactive card, optional signature)',
  format: 'lark',
  options: z.object({ url: httpUrl, secret: secretString.optional() }),
  create(options, context) {
    return {
      name: context.name,
      type: 'feishu',
      send: (n, signal) =>
        sendHttp(
          feishuRequest(options, n, context.now()),
          context.timeoutMs,
          `feishu ${context.name}`,
          signal,
          readFeishuAnswer,
        ),
      shutdown: async () => {},
    };
  },
});
