import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { IncidentEvent } from '../../core/types.js';
import { type HttpRequest, sendHttp } from '../http.js';
import type { Notification } from '../types.js';
import { hmacSha256, httpUrl, secretString } from './common.js';
import { defineSink } from './definition.js';

/**
 * Generic JSON webhook, signed.
 *
 * Signature scheme (documented for receivers):
 *   X-Converge-Timestamp: <unix seconds when this attempt was sent>
 *   X-Converge-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 *   X-Converge-Delivery:  <idempotency key: sink, incident id, version>
 *   X-Converge-Attempt:   <1-based attempt number>
 * A receiver recomputes the HMAC over the timestamp, a dot and the exact bytes of the body,
 * compares in constant time, and rejects timestamps more than 5 minutes from its clock (a
 * captured request cannot be replayed later, and the timestamp cannot be changed without the
 * secret). The body is identical for every attempt of a delivery; X-Converge-Delivery lets a
 * receiver drop the rare redelivery (see ARCHITECTURE: the ack-to-record window).
 */
export const WEBHOOK_SIGNATURE_HEADER = 'x-converge-signature';
export const WEBHOOK_TIMESTAMP_HEADER = 'x-converge-timestamp';
export const WEBHOOK_DELIVERY_HEADER = 'x-converge-delivery';

export interface WebhookBody {
  version: '1';
  key: string;
  incident: Omit<IncidentEvent, 'startsAt' | 'endsAt' | 'at'> & {
    startsAt: string;
    endsAt?: string;
    at: string;
  };
  labels: Record<string, string>;
  title: string;
  text: string;
  link: string;
}

export function webhookBody(n: Notification): WebhookBody {
  const e = n.event;
  const incident: WebhookBody['incident'] = {
    ...e,
    startsAt: new Date(e.startsAt).toISOString(),
    at: new Date(e.at).toISOString(),
    endsAt: e.endsAt === undefined ? undefined : new Date(e.endsAt).toISOString(),
  };
  if (incident.endsAt === undefined) delete incident.endsAt;
  return {
    version: '1',
    key: n.key,
    incident,
    labels: { ...n.labels },
    title: n.message.title,
    text: n.message.text,
    link: n.link,
  };
}

export function webhookSignature(secret: string, timestampSeconds: number, body: string): string {
  return 'v1=' + hmacSha256(secret, `${timestampSeconds}.${body}`).toString('hex');
}

/** Receiver side of the scheme, for tests and for users who want a reference implementation. */
export function verifyWebhookSignature(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  body: string,
  nowMs = Date.now(),
  toleranceMs = 5 * 60_000,
): { ok: true } | { ok: false; reason: string } {
  const ts = Number(headers[WEBHOOK_TIMESTAMP_HEADER]);
  const sig = headers[WEBHOOK_SIGNATURE_HEADER];
  if (!Number.isInteger(ts)) return { ok: false, reason: 'missing or bad timestamp header' };
  if (typeof sig !== 'string') return { ok: false, reason: 'missing signature header' };
  if (Math.abs(nowMs - ts * 1000) > toleranceMs) return { ok: false, reason: 'timestamp outside tolerance' };
  const expected = Buffer.from(webhookSignature(secret, ts, body));
  const given = Buffer.from(sig);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return { ok: false, reason: 'signature mismatch' };
  }
  return { ok: true };
}

export const webhookSink = defineSink({
  type: 'webhook',
  description: 'generic JSON webhook, HMAC-SHA256 signed with a timestamp',
  format: 'markdown',
  options: z.object({
    url: httpUrl,
    secret: secretString,
    headers: z.record(z.string(), z.string()).default({}),
  }),
  create(options, context) {
    const build = (n: Notification): HttpRequest => {
      const body = JSON.stringify(webhookBody(n));
      const ts = Math.floor(context.now() / 1000);
      return {
        url: options.url,
        body,
        headers: {
          ...options.headers,
          [WEBHOOK_TIMESTAMP_HEADER]: String(ts),
          [WEBHOOK_SIGNATURE_HEADER]: webhookSignature(options.secret, ts, body),
          [WEBHOOK_DELIVERY_HEADER]: n.key,
          'x-converge-attempt': String(n.attempt),
        },
      };
    };
    return {
      name: context.name,
      type: 'webhook',
      send: (n, signal) => sendHttp(build(n), context.timeoutMs, `webhook ${context.name}`, signal),
      shutdown: async () => {},
    };
  },
});
