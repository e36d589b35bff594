import { createHmac } from 'node:crypto';
import { z } from 'zod';
import type { Severity } from '../../core/types.js';

/** Secrets (`env:NAME`) read the same way in every config section. */
export { secretString } from '../../core/schema.js';

/** What every sink factory gets besides its own options. */
export interface SinkContext {
  name: string;
  timeoutMs: number;
  /** Wall clock (ms) for signature timestamps; tests pin it. */
  now: () => number;
}

export function hmacSha256(key: string | Buffer, message: string | Buffer): Buffer {
  return createHmac('sha256', key).update(message).digest();
}

export const httpUrl = z.url({
  protocol: /^https?$/,
  error: (issue) =>
    issue.input === undefined ? 'missing URL' : `expected an http(s) URL, got ${JSON.stringify(issue.input)}`,
});

export const SEVERITY_COLOR: Record<Severity, string> = {
  critical: '#d32f2f',
  warning: '#f57c00',
  info: '#1976d2',
};

/** Truncates to a number of UTF-8 bytes without cutting a character in half. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const buf = Buffer.from(text);
  let end = Math.max(0, maxBytes - 3);
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString() + '…';
}

export function truncate(text: string, max: number): string {
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}
