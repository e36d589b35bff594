import { describe, expect, it } from 'vitest';
import {
  anomalyStride,
  DEFAULT_ANOMALY,
  DEFAULT_ANOMALY_RULE,
  initAnomaly,
  newAnomalyVerdict,
  updateAnomaly,
} from './anomaly.js';

const T0 = Date.UTC(2024, 0, 1);

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
}

/** Alarm onsets as a rule would raise them: likelihood over the default threshold for the
 * default number of consecutive samples; one onset per episode. */
function alarms(
  values: (i: number, r: () => number) => number,
  n: number,
  stepMs: number,
  seed = 1,
): number[] {
  const c = DEFAULT_ANOMALY;
  const buf = new ArrayBuffer(anomalyStride(c) * 8);
  const d = new Float64Array(buf);
  const d32 = new Float32Array(buf);
  initAnomaly(d, d32, 0, c);
  const out = newAnomalyVerdict();
  const r = lcg(seed);
  const onsets: number[] = [];
  let run = 0;
  for (let i = 0; i < n; i++) {
    updateAnomaly(d, d32, 0, values(i, r), T0 + i * stepMs, i === 0 ? Number.NaN : stepMs, c, out);
    if (out.warm && out.likelihood >= DEFAULT_ANOMALY_RULE.likelihood) {
      run++;
      if (run === DEFAULT_ANOMALY_RULE.minSamples) onsets.push(i);
    } else run = 0;
  }
  return onsets;
}

describe('anomaly detector', () => {
  it('keeps its state within 1 KiB per series', () => {
    expect(anomalyStride(DEFAULT_ANOMALY) * 8).toBeLessThanOrEqual(1024);
  });

  it('flags a level shift within a few samples of its onset', () => {
    const onsets = alarms((i, r) => 10 + gaussian(r) + (i >= 3000 ? 3 : 0), 4000, 60_000);
    expect(onsets.some((i) => i >= 3000 && i <= 3010)).toBe(true);
  });

  it('says nothing on a constant series', () => {
    expect(alarms(() => 5, 5000, 1000)).toEqual([]);
  });
});
