/**
 * A learned baseline per indicator: an exponentially weighted mean and variance on event time,
 * updated with winsorized residuals so that an anomaly does not teach itself as normal within a
 * few samples. It yields a per-series anomaly score in [0, 1] that the health score uses.
 *
 * State lives in a caller-owned Float64Array at an offset (no object per series):
 *   [mean, variance, smoothed score, samples seen]
 * The time since the previous sample comes from the caller (the series keeps it once).
 */

export const BASELINE_STRIDE = 4;
/** Offset of the smoothed score within the state. */
export const BASELINE_SCORE = 2;

export interface BaselineConfig {
  /** Time constant of the mean and variance (ms of event time). */
  tauMs: number;
  /** Spread floor relative to |mean|, so a flat series does not make every wiggle anomalous. */
  relativeFloor: number;
  /** Spread floor in value units (the engine uses 2% of the rule's threshold). */
  absoluteFloor: number;
  /** Residuals are clipped to this many spreads when they update the baseline. */
  clip: number;
  /** Samples before any score is given. */
  warmup: number;
  /** z at which the per-sample score starts rising, and the width over which it reaches 1. */
  zStart: number;
  zWidth: number;
  /** Weight of the newest per-sample score in the smoothed score (persistence over spikes). */
  smoothing: number;
}

export const DEFAULT_BASELINE: Readonly<BaselineConfig> = Object.freeze({
  tauMs: 3_600_000,
  relativeFloor: 0.05,
  absoluteFloor: 0,
  clip: 4,
  warmup: 30,
  zStart: 4,
  zWidth: 8,
  smoothing: 0.3,
});

/** +1: only rises are anomalous (a `>` rule), -1: only falls, 0: both. */
export type Direction = 1 | -1 | 0;

export function initBaseline(d: Float64Array, o: number): void {
  d[o] = Number.NaN;
  d[o + 1] = 0;
  d[o + 2] = 0;
  d[o + 3] = 0;
}

/**
 * Feeds one sample, `dt` ms after the series' previous one; returns the smoothed anomaly score
 * in [0, 1].
 */
export function updateBaseline(
  d: Float64Array,
  o: number,
  x: number,
  dt: number,
  direction: Direction,
  c: BaselineConfig,
): number {
  const mean = d[o]!;
  if (Number.isNaN(mean)) {
    d[o] = x;
    d[o + 3] = 1;
    return 0;
  }
  const variance = d[o + 1]!;
  const n = d[o + 3]!;
  const absMean = mean < 0 ? -mean : mean;
  let spread = Math.sqrt(variance);
  const relFloor = c.relativeFloor * absMean;
  if (spread < relFloor) spread = relFloor;
  if (spread < c.absoluteFloor) spread = c.absoluteFloor;
  if (spread < 1e-12) spread = 1e-12;
  const residual = x - mean;
  let score = d[o + 2]!;
  if (n >= c.warmup) {
    const z = direction === 0 ? Math.abs(residual) / spread : (direction * residual) / spread;
    let s = (z - c.zStart) / c.zWidth;
    s = s < 0 ? 0 : Math.min(s, 1);
    score += c.smoothing * (s - score);
    d[o + 2] = score;
  }
  if (dt > 0) {
    // A plain running mean at first (1/n), the time-based EWMA once it weighs more: the
    // variance is then right from the first samples instead of growing from zero over tau.
    let alpha = dt / (c.tauMs + dt);
    const warm = 1 / (n + 1);
    if (warm > alpha) alpha = warm;
    // The mean moves by at most `clip` spreads per update; the variance learns from residuals
    // clipped at 3 spreads (noise is barely clipped, an outlier run cannot inflate the spread
    // it is judged against much).
    const limit = c.clip * spread;
    const r = residual > limit ? limit : Math.max(residual, -limit);
    const rv = residual > 3 * spread ? 3 * spread : Math.max(residual, -3 * spread);
    d[o] = mean + alpha * r;
    d[o + 1] = (1 - alpha) * (variance + alpha * rv * rv);
    if (n < 1e9) d[o + 3] = n + 1;
  }
  return score;
}

export function baselineScore(d: Float64Array, o: number): number {
  return d[o + 2]!;
}

export function baselineMean(d: Float64Array, o: number): number {
  return d[o]!;
}
