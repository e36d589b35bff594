import type { SeasonalConfig } from '../rules/model.js';

/**
 * Traffic against its usual shape for the time of day.
 *
 * The day is cut into `buckets` fixed buckets (UTC). Each keeps, in log space, the typical
 * level and the typical absolute deviation around the daily shape. The expected value at an
 * instant is interpolated between the two nearest bucket centres, so a steep morning ramp is
 * followed rather than seen as a step. Log space makes a 3x spike and a drop to a third equally
 * far from normal whatever the traffic volume, and makes the noise of a busy and a quiet hour
 * comparable. Updates are winsorized (clipped at `clip` deviations) so an incident teaches the
 * baseline only slowly, and a bucket learns for the first day as a plain running mean, then as
 * an EWMA with a memory of a few days. Days differ in level (a busy Monday, a quiet holiday): a
 * slow offset (time constant LEVEL_TAU_MS, fed with clipped residuals) follows today's level, so
 * a whole day 15% above the last ones is normal while a jump within minutes is not.
 *
 * State per series: SEASONAL_HEADER doubles, then the buckets' levels and spreads as float32
 * (2 x buckets floats), in a caller-owned buffer seen as Float64Array and Float32Array.
 */

const FIRST_T = 0;
const CUR_BUCKET = 1; // bucket of the previous sample (first-day running means restart per bucket)
const N_IN_BUCKET = 2;
const SCORE = 3;
const LEVEL = 4; // today's level against the learned shape (log), followed over a few hours
export const SEASONAL_HEADER = 5;
/** Offset of the anomaly score within the state. */
export const SEASONAL_SCORE = SCORE;

const DAY_MS = 86_400_000;
/** Memory of a bucket after the first day, in visits of that bucket. */
const DAYS_OF_MEMORY = 3;
const CLIP = 4;
/** Never believe the noise is below this (log units, about 2%). */
const MIN_SPREAD = 0.02;
const LEVEL_TAU_MS = 2 * 3_600_000;
/** Mean absolute deviation -> standard deviation for roughly normal noise. */
const MAD_TO_SD = 1.25;

export function seasonalStride(c: SeasonalConfig): number {
  return SEASONAL_HEADER + c.buckets;
}

export function initSeasonal(d: Float64Array, d32: Float32Array, o: number, c: SeasonalConfig): void {
  d[o + FIRST_T] = Number.NaN;
  d[o + CUR_BUCKET] = -1;
  d[o + N_IN_BUCKET] = 0;
  d[o + SCORE] = 0;
  d[o + LEVEL] = 0;
  const buckets = 2 * (o + SEASONAL_HEADER);
  for (let i = 0; i < 2 * c.buckets; i++) d32[buckets + i] = Number.NaN;
}

export interface SeasonalVerdict {
  breach: boolean;
  clear: boolean;
  /** value / expected value (1 when nothing is learned yet). */
  ratio: number;
  /** Robust z of the log ratio against the bucket's spread. */
  z: number;
  /** Anomaly score in [0, 1]. */
  score: number;
}

export function newSeasonalVerdict(): SeasonalVerdict {
  return { breach: false, clear: true, ratio: 1, z: 0, score: 0 };
}

/** `dt`: ms since the series' previous sample (NaN for the first). Samples must move forward. */
export function updateSeasonal(
  d: Float64Array,
  d32: Float32Array,
  o: number,
  x: number,
  t: number,
  dt: number,
  c: SeasonalConfig,
  out: SeasonalVerdict,
): void {
  out.breach = false;
  out.clear = true;
  out.ratio = 1;
  out.z = 0;
  out.score = 0;
  if (!(x >= 0)) return;
  let firstT = d[o + FIRST_T]!;
  if (Number.isNaN(firstT)) {
    firstT = t;
    d[o + FIRST_T] = t;
  }
  const buckets = c.buckets;
  const bucketMs = DAY_MS / buckets;
  const y = Math.log1p(x);
  const dayPos = (((t % DAY_MS) + DAY_MS) % DAY_MS) / bucketMs;
  const b = Math.floor(dayPos);
  const means = 2 * (o + SEASONAL_HEADER);
  const spreads = means + buckets;

  // Expected level and spread, interpolated between the two nearest bucket centres.
  const frac = dayPos - b;
  let left: number;
  let right: number;
  let w: number;
  if (frac < 0.5) {
    left = (b + buckets - 1) % buckets;
    right = b;
    w = frac + 0.5;
  } else {
    left = b;
    right = (b + 1) % buckets;
    w = frac - 0.5;
  }
  const mL = d32[means + left]!;
  const mR = d32[means + right]!;
  const sL = d32[spreads + left]!;
  const sR = d32[spreads + right]!;
  const learned =
    t - firstT >= c.learnMs + bucketMs &&
    !Number.isNaN(mL) &&
    !Number.isNaN(mR) &&
    !Number.isNaN(sL) &&
    !Number.isNaN(sR);
  let residual = 0;
  if (!Number.isNaN(mL) && !Number.isNaN(mR)) residual = y - ((1 - w) * mL + w * mR);
  const level = d[o + LEVEL]!;
  // Against today's level: the anomaly is what the level does not explain.
  const deviation = residual - level;
  let spread = MAD_TO_SD * ((1 - w) * sL + w * sR);
  if (!(spread > MIN_SPREAD)) spread = MIN_SPREAD;
  if (learned) {
    const z = deviation / spread;
    const absZ = z < 0 ? -z : z;
    const absR = deviation < 0 ? -deviation : deviation;
    const minLog = Math.log(c.minRatio);
    const dirOk = c.direction === 'both' || (c.direction === 'up' ? deviation > 0 : deviation < 0);
    out.z = z;
    out.ratio = Math.exp(deviation);
    out.breach = dirOk && absZ >= c.threshold && absR >= minLog;
    out.clear = !(dirOk && absZ >= 0.75 * c.threshold && absR >= 0.75 * minLog);
    let score = (absZ - c.threshold / 2) / c.threshold;
    score = score < 0 ? 0 : Math.min(score, 1);
    if (minLog > 0 && absR < minLog) score *= absR / minLog;
    out.score = dirOk ? score : 0;
    d[o + SCORE] = out.score;
  }

  // Learn.
  if (!(dt > 0)) dt = bucketMs / 30;
  if (dt > bucketMs) dt = bucketMs;
  if (learned) {
    const limit = (c.threshold / 2) * spread;
    const step = deviation > limit ? limit : Math.max(deviation, -limit);
    d[o + LEVEL] = level + (dt / (LEVEL_TAU_MS + dt)) * step;
  }
  const m = d32[means + b]!;
  const firstDay = t - firstT < DAY_MS;
  if (d[o + CUR_BUCKET] !== b) {
    d[o + CUR_BUCKET] = b;
    d[o + N_IN_BUCKET] = 0;
  }
  const n = d[o + N_IN_BUCKET]! + 1;
  d[o + N_IN_BUCKET] = n;
  if (Number.isNaN(m)) {
    d32[means + b] = y;
    return;
  }
  const s = d32[spreads + b]!;
  if (firstDay) {
    // Running mean and mean absolute deviation over the bucket's first visit.
    const dev = Math.abs(y - m);
    d32[means + b] = m + (y - m) / n;
    d32[spreads + b] = Number.isNaN(s) ? dev : s + (dev - s) / n;
    return;
  }
  const bucketSpread = !Number.isNaN(s) && s * MAD_TO_SD > MIN_SPREAD ? s * MAD_TO_SD : MIN_SPREAD;
  const clip = CLIP * bucketSpread;
  const r = y - m;
  const clipped = r > clip ? clip : Math.max(r, -clip);
  const alpha = dt / (DAYS_OF_MEMORY * bucketMs);
  d32[means + b] = m + alpha * clipped;
  // The spread is measured around the interpolated shape at today's level: the noise, not the
  // in-bucket slope or the day's level.
  const dev = Math.min(Math.abs(deviation), clip);
  d32[spreads + b] = Number.isNaN(s) ? dev : s + alpha * (dev - s);
}

export function seasonalScore(d: Float64Array, o: number): number {
  return d[o + SCORE]!;
}
