import { describe, expect, it } from 'vitest';
import { Random } from '../fixtures/series/random.js';
import { DEFAULT_BASELINE, initBaseline, updateBaseline } from './baseline.js';

describe('EWMA baseline anomaly score', () => {
  const cfg = { ...DEFAULT_BASELINE, absoluteFloor: 0.5 };

  function run(values: (i: number) => number, direction: 1 | -1 | 0, n: number): number[] {
    const d = new Float64Array(4);
    initBaseline(d, 0);
    const scores: number[] = [];
    for (let i = 0; i < n; i++) scores.push(updateBaseline(d, 0, values(i), 10_000, direction, cfg));
    return scores;
  }

  it('stays at zero for noise around a steady level', () => {
    const rnd = new Random(1);
    const scores = run(() => 40 + rnd.normal(0, 3), 0, 2000);
    expect(Math.max(...scores)).toBeLessThan(0.1);
  });

  it('rises within a few samples after a sustained jump in the watched direction only', () => {
    const rnd = new Random(2);
    const jump = (i: number) => (i < 500 ? 40 : 80) + rnd.normal(0, 3);
    const up = run(jump, 1, 510);
    expect(up[499]).toBe(0);
    expect(up[503]).toBeGreaterThan(0.5);
    expect(up[509]).toBeGreaterThan(0.9);
    expect(Math.max(...run(jump, -1, 510))).toBe(0);
  });

  it('learns a new level over its time constant instead of at once (winsorized updates)', () => {
    const scores = run((i) => (i < 500 ? 40 : 80), 0, 1500);
    // Still anomalous 10 minutes into the new level, normal again within a couple of hours.
    expect(scores[560]).toBeGreaterThan(0.9);
    expect(scores[1499]).toBeLessThan(0.1);
  });
});
