import { z } from 'zod';
import { escapeMarkdown } from '../escape.js';
import { type HttpAnswer, type HttpRequest, sendHttp } from '../http.js';
import type { Notification, SendResult } from '../types.js';
import { httpUrl, truncateUtf8 } from './common.js';
import { defineSink } from './definition.js';

/**
 * WeCom (企业微信) group robot, msgtype markdown: content at most 4096 bytes of UTF-8; the
 * `key` in the URL is the only credential (no signing). Answers {"errcode":0,"errmsg":"ok"};
 * 45009 (over the 20-a-minute limit) and -1 (system busy) are retried, the rest (93000 bad
 * key, 40008 bad message type, ...) are not.
 */
export interface WeComOptions {
  url: string;
}

const COLOR: Record<string, string> = { critical: 'warning', warning: 'comment', info: 'info' };

export function wecomRequest(options: WeComOptions, n: Notification): HttpRequest {
  const e = n.event;
  const color = e.status === 'resolved' ? 'info' : (COLOR[e.severity] ?? 'comment');
  const content = truncateUtf8(
    `## <font color="${color}">${escapeMarkdown(n.message.title)}</font>\n${n.message.text}`,
    4096,
  );
  return {
    url: options.url,
    headers: {},
    body: JSON.stringify({ msgtype: 'markdown', markdown: { content } }),
  };
}

export function readWeComAnswer(answer: HttpAnswer): SendResult {
  let parsed: { errcode?: number; errmsg?: string };
  try {
    parsed = JSON.parse(answer.text) as typeof parsed;
  } catch {
    return { ok: false, recoverable: true, reason: `wecom answered non-JSON: ${answer.text.slice(0, 200)}` };
  }
  if (parsed.errcode === 0) return { ok: true, status: answer.status };
  const reason = `wecom errcode ${parsed.errcode}: ${parsed.errmsg ?? ''}`;
  if (parsed.errcode === 45009) return { ok: false, recoverable: true, reason, retryAfterMs: 60_000 };
  if (parsed.errcode === -1) return { ok: false, recoverable: true, reason };
  return { ok: false, recoverable: false, reason };
}

export const wecomSink = defineSink({
  type: 'wecom',
  description: 'WeCom group robot (markdown)',
  format: 'markdown',
  options: z.object({ url: httpUrl }),
  create(options, context) {
    return {
      name: context.name,
      type: 'wecom',
      send: (n, signal) =>
        sendHttp(
          wecomRequest(options, n),
          context.timeoutMs,
          `wecom ${context.name}`,
          signal,
          readWeComAnswer,
        ),
      shutdown: async () => {},
    };
  },
});
