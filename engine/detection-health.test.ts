import { describe, expect, it } from 'vitest';
import { DetectionHealth } from './detection-health.js';

describe('DetectionHealth', () => {
  it('turns unready when detection fails on every batch, and ready again when one goes through', () => {
    const logged: unknown[] = [];
    let now = 0;
    const health = new DetectionHealth({ error: (o: unknown) => logged.push(o) }, 3, () => now);
    expect(health.run(() => {})).toBe(true);
    expect(health.check()).toEqual({ ok: true, detail: 'running' });

    const boom = () => {
      throw new RangeError('toFixed() digits argument must be between 0 and 100');
    };
    for (let i = 0; i < 2; i++) expect(health.run(boom)).toBe(false);
    expect(health.check().ok).toBe(true); // two in a row may be bad luck
    now += 1000;
    expect(health.run(boom)).toBe(false);
    expect(health.check()).toEqual({
      ok: false,
      detail: 'failed on the last 3 batches: toFixed() digits argument must be between 0 and 100',
    });
    expect(health.failures).toBe(3);
    // Logged once per 10 s, with how many failed in between.
    expect(logged).toHaveLength(1);
    now += 10_000;
    health.run(boom);
    expect(logged).toHaveLength(2);
    expect(logged[1]).toMatchObject({ failedInARow: 4, failedSinceLastLog: 3 });

    expect(health.run(() => {})).toBe(true);
    expect(health.check()).toEqual({ ok: true, detail: 'running (4 failed batches)' });
  });
});
