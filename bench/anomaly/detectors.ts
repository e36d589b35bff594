/**
 * The detectors the anomaly bench compares, each thresholded the way a rule would threshold it
 * (one default setting for every series, no per-series tuning), and the alert emulation that
 * turns per-sample breaches into alert onsets.
 */
import {
  anomalyStride,
  DEFAULT_ANOMALY,
  DEFAULT_ANOMALY_RULE,
  initAnomaly,
  newAnomalyVerdict,
  updateAnomaly,
} from '../../scoring/anomaly.js';
import { initSeasonal, newSeasonalVerdict, seasonalStride, updateSeasonal } from '../../scoring/seasonal.js';

/** One series: values and their event times (ms). */
export interface Series {
  t: Float64Array;
  x: Float64Array;
}

export interface Detector {
  name: string;
  /** What it is and how it is thresholded, for the printed table. */
  setting: string;
  /** Consecutive breaching samples before an alert fires (and clear ones before it resolves). */
  minSamples: number;
  /** Writes 1 where the sample breaches (warm and past the threshold), else 0. */
  run(s: Series, breach: Uint8Array): void;
  stateBytes: number;
}

/** Converge's detector (scoring/anomaly.ts) at its defaults: likelihood >= 0.9999. */
export const anomalyDetector: Detector = {
  name: 'converge anomaly',
  setting: `likelihood >= ${DEFAULT_ANOMALY_RULE.likelihood}, ${DEFAULT_ANOMALY_RULE.minSamples} samples`,
  minSamples: DEFAULT_ANOMALY_RULE.minSamples,
  stateBytes: anomalyStride(DEFAULT_ANOMALY) * 8,
  run(s, breach) {
    const c = DEFAULT_ANOMALY;
    const buf = new ArrayBuffer(anomalyStride(c) * 8);
    const d = new Float64Array(buf);
    const d32 = new Float32Array(buf);
    initAnomaly(d, d32, 0, c);
    const out = newAnomalyVerdict();
    const th = DEFAULT_ANOMALY_RULE.likelihood;
    let prev = Number.NaN;
    for (let i = 0; i < s.x.length; i++) {
      const t = s.t[i]!;
      updateAnomaly(d, d32, 0, s.x[i]!, t, t - prev, c, out);
      prev = t;
      breach[i] = out.warm && out.likelihood >= th ? 1 : 0;
    }
  },
};

/** Rolling z-score over the previous Z_WINDOW samples (NAB's "windowedGaussian" idea), alerting
 * after `minSamples` breaching samples. Measured at 2 samples (like the others) and at 1 (its
 * better setting here: a lone spike never lasts 2 samples); the comparison uses the better. */
const Z_WINDOW = 120;
const Z_THRESHOLD = 4;
function rollingZ(minSamples: number): Detector {
  return {
    name: `rolling z (${minSamples})`,
    setting: `|z| >= ${Z_THRESHOLD} vs the previous ${Z_WINDOW} samples, ${minSamples} sample${minSamples > 1 ? 's' : ''}`,
    minSamples,
    stateBytes: Z_WINDOW * 8 + 3 * 8,
    run(s, breach) {
      const ring = new Float64Array(Z_WINDOW);
      let sum = 0;
      let sumSq = 0;
      for (let i = 0; i < s.x.length; i++) {
        const x = s.x[i]!;
        let b = 0;
        if (i >= Z_WINDOW) {
          const mean = sum / Z_WINDOW;
          const variance = Math.max(sumSq / Z_WINDOW - mean * mean, 0);
          const sd = Math.sqrt(variance);
          const z = sd > 0 ? Math.abs(x - mean) / sd : x === mean ? 0 : Number.POSITIVE_INFINITY;
          b = z >= Z_THRESHOLD ? 1 : 0;
          const old = ring[i % Z_WINDOW]!;
          sum -= old;
          sumSq -= old * old;
        }
        ring[i % Z_WINDOW] = x;
        sum += x;
        sumSq += x * x;
        breach[i] = b;
      }
    },
  };
}
export const rollingZ1 = rollingZ(1);
export const rollingZ2 = rollingZ(2);

/** The existing `seasonal` detector (scoring/seasonal.ts) with the rule kind's defaults. */
const SEASONAL = {
  buckets: 24,
  threshold: 4,
  minRatio: 1.5,
  direction: 'both' as const,
  learnMs: 86_400_000,
  resolveForMs: 0,
};
export const seasonalDetector: Detector = {
  name: 'seasonal rule',
  setting: 'scoring/seasonal.ts defaults: robust z >= 4 and 1.5x, 24 buckets, 1 day learning, 2 samples',
  minSamples: 2,
  stateBytes: seasonalStride(SEASONAL) * 8,
  run(s, breach) {
    const buf = new ArrayBuffer(seasonalStride(SEASONAL) * 8);
    const d = new Float64Array(buf);
    const d32 = new Float32Array(buf);
    initSeasonal(d, d32, 0, SEASONAL);
    const out = newSeasonalVerdict();
    let prev = Number.NaN;
    for (let i = 0; i < s.x.length; i++) {
      const t = s.t[i]!;
      updateSeasonal(d, d32, 0, s.x[i]!, t, t - prev, SEASONAL, out);
      prev = t;
      breach[i] = out.breach ? 1 : 0;
    }
  },
};

export const DETECTORS: readonly Detector[] = [anomalyDetector, rollingZ1, rollingZ2, seasonalDetector];

/**
 * Alert onsets as a rule raises them: an alert fires at the `minSamples`-th consecutive breaching
 * sample and resolves after `minSamples` consecutive clear ones (`resolveFor` defaults to `for`);
 * while it is firing no new onset can happen.
 */
export function onsets(breach: Uint8Array, minSamples: number): number[] {
  const out: number[] = [];
  let firing = false;
  let run = 0;
  for (let i = 0; i < breach.length; i++) {
    if (!firing) {
      run = breach[i] ? run + 1 : 0;
      if (run >= minSamples) {
        firing = true;
        run = 0;
        out.push(i);
      }
    } else {
      run = breach[i] ? 0 : run + 1;
      if (run >= minSamples) {
        firing = false;
        run = 0;
      }
    }
  }
  return out;
}
