import { z } from 'zod';
import { escapeMarkdown } from '../escape.js';
import { type HttpAnswer, type HttpRequest, sendHttp } from '../http.js';
import type { Notification, SendResult } from '../types.js';
import { hmacSha256, httpUrl, secretString } from './common.js';
import { defineSink } from './definition.js';

/**
 * DingTalk custom robot, msgtype markdown. With a signing secret ("加签", SEC...), the URL gets
 * `&timestamp=<ms>&sign=<urlencode(base64(HmacSHA256(key=secret, msg=timestamp + "\n" + secret)))>`;
 * DingTalk rejects timestamps more than an hour off. DingTalk answers HTTP 200 with
 * {"errcode":0,"errmsg":"ok"}; errcode 130101 ("send too fast", 20 messages a minute per robot)
 * is worth retrying after a minute; 310000 (sign, keyword or IP check failed) and 300001
 * (bad token) are not.
 */
export interface DingTalkOptions {
  url: string;
  secret?: string | undefined;
}

export function dingtalkSign(secret: string, timestampMs: number): string {
  return encodeURIComponent(hmacSha256(secret, `${timestampMs}\n${secret}`).toString('base64'));
}

export function dingtalkRequest(options: DingTalkOptions, n: Notification, nowMs: number): HttpRequest {
  let url = options.url;
  if (options.secret) {
    url += `${url.includes('?') ? '&' : '?'}timestamp=${nowMs}&sign=${dingtalkSign(options.secret, nowMs)}`;
  }
  // DingTalk markdown needs a blank line (or two trailing spaces) for a line break. The title is
  // plain text: escaped in the heading, as it is in `title` (the notification preview).
  const text = `### ${escapeMarkdown(n.message.title)}\n\n${n.message.text.split('\n').join('\n\n')}`;
  return {
    url,
    headers: {},
    body: JSON.stringify({ msgtype: 'markdown', markdown: { title: n.message.title, text } }),
  };
}

const DINGTALK_RETRYABLE: Record<number, number | undefined> = { 130101: 60_000, [-1]: undefined };

export function readDingTalkAnswer(answer: HttpAnswer): SendResult {
  let parsed: { errcode?: number; errmsg?: string };
  try {
    parsed = JSON.parse(answer.text) as typeof parsed;
  } catch {
    return {
      ok: false,
      recoverable: true,
      reason: `dingtalk answered non-JSON: ${answer.text.slice(0, 200)}`,
    };
  }
  if (parsed.errcode === 0) return { ok: true, status: answer.status };
  const code = parsed.errcode ?? Number.NaN;
  const reason = `dingtalk errcode ${code}: ${parsed.errmsg ?? ''}`;
  if (code in DINGTALK_RETRYABLE) {
    const retryAfterMs = DINGTALK_RETRYABLE[code];
    return retryAfterMs === undefined
      ? { ok: false, recoverable: true, reason }
      : { ok: false, recoverable: true, reason, retryAfterMs };
  }
  return { ok: false, recoverable: false, reason };
}

export const dingtalkSink = defineSink({
  type: 'dingtalk',
  description: 'DingTalk custom robot (markdown, optional signed URL)',
  format: 'markdown',
  options: z.object({ url: httpUrl, secret: secretString.optional() }),
  create(options, context) {
    return {
      name: context.name,
      type: 'dingtalk',
      send: (n, signal) =>
        sendHttp(
          dingtalkRequest(options, n, context.now()),
          context.timeoutMs,
          `dingtalk ${context.name}`,
          signal,
          readDingTalkAnswer,
        ),
      shutdown: async () => {},
    };
  },
});
