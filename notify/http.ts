import type { SendResult } from './types.js';

/** An HTTP request a sink wants to make; built by pure functions so that tests can check it. */
export interface HttpRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
}

/** Statuses worth retrying: throttling, timeouts and server-side trouble. */
export function isRecoverableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/**
 * Retry-After as milliseconds: delta-seconds or an HTTP-date (RFC 9110 section 10.2.3).
 * Unparsable or negative values give undefined (the retry policy's own delay applies).
 */
export function parseRetryAfter(value: string | null | undefined, nowMs = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/**
 * POSTs with a deadline. Network errors and timeouts are recoverable failures; the body of the
 * answer is read (bounded) because several IM providers answer HTTP 200 with an error code.
 */
export async function postJson(
  request: HttpRequest,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<HttpAnswer | SendResult> {
  const deadline = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
  try {
    const response = await fetch(request.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...request.headers },
      body: request.body,
      signal: combined,
      redirect: 'manual',
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text: text.slice(0, 4096) };
  } catch (error) {
    const e = error as Error & { cause?: { code?: string; message?: string } };
    if (deadline.aborted) return { ok: false, recoverable: true, reason: `timeout after ${timeoutMs} ms` };
    if (signal?.aborted) return { ok: false, recoverable: true, reason: 'aborted (shutting down)' };
    const cause = e.cause?.code ?? e.cause?.message ?? e.message;
    return { ok: false, recoverable: true, reason: `request failed: ${cause}` };
  }
}

export function isAnswer(x: HttpAnswer | SendResult): x is HttpAnswer {
  return 'text' in x && 'status' in x && 'headers' in x;
}

/** The common reading of an HTTP answer: 2xx ok, recoverable statuses retried, Retry-After kept. */
export function classifyStatus(answer: HttpAnswer, what: string): SendResult {
  if (answer.status >= 200 && answer.status < 300) return { ok: true, status: answer.status };
  const retryAfterMs = parseRetryAfter(answer.headers.get('retry-after'));
  const result: SendResult = {
    ok: false,
    recoverable: isRecoverableStatus(answer.status),
    reason: `${what} answered HTTP ${answer.status}: ${answer.text.slice(0, 200)}`,
    status: answer.status,
  };
  if (retryAfterMs !== undefined) result.retryAfterMs = retryAfterMs;
  return result;
}

/** Sends and classifies by status only (generic webhook, PagerDuty, Alertmanager, Slack). */
export async function sendHttp(
  request: HttpRequest,
  timeoutMs: number,
  what: string,
  signal?: AbortSignal,
  read?: (answer: HttpAnswer) => SendResult,
): Promise<SendResult> {
  const answer = await postJson(request, timeoutMs, signal);
  if (!isAnswer(answer)) return answer;
  const byStatus = classifyStatus(answer, what);
  if (!byStatus.ok || !read) return byStatus;
  return read(answer);
}
