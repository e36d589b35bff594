import type { AttemptOutcome, SendResult } from './types.js';

/**
 * The one retry policy of the pipeline. Sinks say only whether a failure is recoverable (and
 * maybe how long the receiver asked us to wait); this decides when to try again and when to
 * give up, for every sink and both queues.
 */
export interface RetryPolicyOptions {
  /** Attempts in total, the first one included. */
  attempts: number;
  /** Delay before the second attempt (ms); doubles with each failure. */
  initialDelayMs: number;
  /** Upper bound of one delay (ms), Retry-After included. */
  maxDelayMs: number;
  /** Fraction of each delay that is random (0..1): 0.2 spreads retries over [0.8d, 1.0d]. */
  jitter: number;
}

export const DEFAULT_RETRY: RetryPolicyOptions = {
  attempts: 10,
  initialDelayMs: 1000,
  maxDelayMs: 5 * 60_000,
  jitter: 0.2,
};

export class RetryPolicy {
  readonly attempts: number;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly jitter: number;

  constructor(
    options: Partial<RetryPolicyOptions> = {},
    private readonly random: () => number = Math.random,
  ) {
    const o = { ...DEFAULT_RETRY, ...options };
    if (!(o.attempts >= 1)) throw new RangeError(`retry attempts must be >= 1, got ${o.attempts}`);
    if (!(o.jitter >= 0 && o.jitter <= 1))
      throw new RangeError(`retry jitter must be in [0, 1], got ${o.jitter}`);
    this.attempts = Math.floor(o.attempts);
    this.initialDelayMs = Math.max(0, o.initialDelayMs);
    this.maxDelayMs = Math.max(this.initialDelayMs, o.maxDelayMs);
    this.jitter = o.jitter;
  }

  /**
   * Delay after failed attempt number `attempt` (1-based): exponential with "equal-ish" jitter,
   * never shorter than what the receiver asked for (Retry-After), never longer than maxDelayMs.
   */
  delay(attempt: number, retryAfterMs?: number): number {
    const exp = Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** Math.max(0, attempt - 1));
    const jittered = exp * (1 - this.jitter * this.random());
    const floor = retryAfterMs !== undefined && retryAfterMs > 0 ? retryAfterMs : 0;
    return Math.round(Math.min(this.maxDelayMs, Math.max(jittered, floor)));
  }

  /** Turns a sink's answer to attempt number `attempt` into what the queue does next. */
  outcome(result: SendResult, attempt: number): AttemptOutcome {
    if (result.ok) return { kind: 'delivered' };
    if (!result.recoverable) return { kind: 'dead', reason: `not recoverable: ${result.reason}` };
    if (attempt >= this.attempts) {
      return { kind: 'dead', reason: `gave up after ${attempt} attempts: ${result.reason}` };
    }
    const delayMs = this.delay(attempt, result.retryAfterMs);
    const retry: AttemptOutcome = { kind: 'retry', delayMs, reason: result.reason };
    // A receiver that says "slow down" is slow for every incident: pause the whole sink.
    if (result.retryAfterMs !== undefined && result.retryAfterMs > 0) {
      retry.pauseSinkMs = Math.min(this.maxDelayMs, result.retryAfterMs);
    }
    return retry;
  }
}
