import { describe, expect, it } from 'vitest';
import { RetryPolicy } from './retry.js';

describe('RetryPolicy', () => {
  it('backs off exponentially with jitter below the nominal delay, capped', () => {
    const lowest = new RetryPolicy({ initialDelayMs: 1000, maxDelayMs: 10_000, jitter: 0.2 }, () => 1);
    const highest = new RetryPolicy({ initialDelayMs: 1000, maxDelayMs: 10_000, jitter: 0.2 }, () => 0);
    expect([1, 2, 3, 4, 5, 6].map((a) => highest.delay(a))).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
    expect([1, 2, 3, 4, 5].map((a) => lowest.delay(a))).toEqual([800, 1600, 3200, 6400, 8000]);
    const random = new RetryPolicy({ initialDelayMs: 1000, jitter: 0.5 });
    const samples = Array.from({ length: 200 }, () => random.delay(3));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(2000);
    expect(Math.max(...samples)).toBeLessThanOrEqual(4000);
    expect(new Set(samples).size).toBeGreaterThan(50);
  });

  it('never waits less than Retry-After, nor more than maxDelay', () => {
    const p = new RetryPolicy({ initialDelayMs: 100, maxDelayMs: 30_000, jitter: 0 });
    expect(p.delay(1, 5000)).toBe(5000);
    expect(p.delay(1, 120_000)).toBe(30_000);
  });

  it('turns sink answers into outcomes: delivered, retry, dead (not recoverable or out of attempts)', () => {
    const p = new RetryPolicy({ attempts: 3, initialDelayMs: 100, jitter: 0 });
    expect(p.outcome({ ok: true }, 1)).toEqual({ kind: 'delivered' });
    expect(p.outcome({ ok: false, recoverable: true, reason: 'HTTP 500' }, 2)).toEqual({
      kind: 'retry',
      delayMs: 200,
      reason: 'HTTP 500',
    });
    expect(p.outcome({ ok: false, recoverable: true, reason: 'HTTP 429', retryAfterMs: 3000 }, 1)).toEqual({
      kind: 'retry',
      delayMs: 3000,
      reason: 'HTTP 429',
      pauseSinkMs: 3000,
    });
    expect(p.outcome({ ok: false, recoverable: true, reason: 'HTTP 500' }, 3)).toEqual({
      kind: 'dead',
      reason: 'gave up after 3 attempts: HTTP 500',
    });
    expect(p.outcome({ ok: false, recoverable: false, reason: 'HTTP 400' }, 1)).toEqual({
      kind: 'dead',
      reason: 'not recoverable: HTTP 400',
    });
  });

  it('rejects nonsense settings', () => {
    expect(() => new RetryPolicy({ attempts: 0 })).toThrow(/attempts must be >= 1/);
    expect(() => new RetryPolicy({ jitter: 2 })).toThrow(/jitter must be in \[0, 1\]/);
  });
});
