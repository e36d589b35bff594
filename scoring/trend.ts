import type { TrendConfig } from '../rules/model.js';

/**
 * Time-to-limit prediction for resources that leak: memory towards a container's limit,
 * threads towards pid/nproc limits, a disk towards 100%.
 *
 * Why minima: a garbage-collected heap draws a sawtooth, so raw samples swing by hundreds of
 * MiB while the leak adds a few MiB per minute. The minimum of each window (wider than a GC
 * cycle) is the live set after collection; a leak makes those minima climb steadily, a healthy
 * sawtooth leaves them flat. The slope is the Theil-Sen estimator (median of pairwise slopes)
 * over a fixed ring of window minima, so a few odd windows do not move it; Kendall's tau of the
 * same pairs says whether the growth is steady (monotonic) rather than noise.
 *
 * The ETA is deliberately early: the time until the recent peaks reach the limit, where the
 * peak is the trend line plus 1.1 x the largest recent in-window swing (a slowly decaying
 * maximum, since a process dies on its highest peak, not its average one) and the growth rate
 * is the upper quartile of the pairwise slopes rather than their median. An alert that comes a
 * few minutes early is useful; one that comes after the OOM kill is not. A trend also has to
 * be material (add at least 2% of the limit within the horizon), so that a spurious slope on a
 * flat series near its limit does not predict anything.
 *
 * State per series is fixed: TREND_HEADER doubles plus one float32 per window, in a caller-owned
 * buffer (float precision is plenty for minima: 128 bytes at 2 GiB).
 */

const WIN = 0; // index of the open window (floor(t / windowMs)), NaN before the first sample
const CUR_MIN = 1;
const CUR_MAX = 2;
const SWING = 3; // EWMA of (max - min) per closed window
const SWING_HI = 4; // decaying maximum of the window swings
const LIMIT = 5; // latest limit seen
const HEAD_WIN = 6; // window index of the newest closed window, NaN if none
/** Doubles before the ring; the ring holds one float32 minimum per window (slot = window % k). */
export const TREND_HEADER = 7;
/** The coming peaks will top the recent ones now and then. */
const PEAK_HEADROOM = 1.1;
/** A trend must add at least this share of the limit within the horizon to count. */
const MIN_GROWTH = 0.02;

/** Doubles per series: the header plus the float32 ring, two minima per double. */
export function trendStride(c: TrendConfig): number {
  return TREND_HEADER + Math.ceil(c.windows / 2);
}

/** `d32` is a Float32Array over the same buffer as `d` (the ring is stored at float precision). */
export function initTrend(d: Float64Array, d32: Float32Array, o: number, c: TrendConfig): void {
  d[o + WIN] = Number.NaN;
  d[o + CUR_MIN] = Number.NaN;
  d[o + CUR_MAX] = Number.NaN;
  d[o + SWING] = Number.NaN;
  d[o + SWING_HI] = Number.NaN;
  d[o + LIMIT] = c.limit ?? Number.NaN;
  d[o + HEAD_WIN] = Number.NaN;
  const ring = 2 * (o + TREND_HEADER);
  for (let i = 0; i < c.windows; i++) d32[ring + i] = Number.NaN;
}

/** What a closed window says; reused by the caller (no allocation per window). */
export interface TrendVerdict {
  /** Steady growth that reaches the limit within the horizon. */
  breach: boolean;
  /** Far enough from breaching for a firing alert to resolve (hysteresis). */
  clear: boolean;
  etaSeconds: number;
  tau: number;
  slopePerSecond: number;
  /** End of the closed window (event time, ms). */
  at: number;
}

export function newTrendVerdict(): TrendVerdict {
  return {
    breach: false,
    clear: true,
    etaSeconds: Number.POSITIVE_INFINITY,
    tau: 0,
    slopePerSecond: 0,
    at: 0,
  };
}

/** Scratch for the pairwise slopes; sized for the largest ring (32 windows -> 496 pairs). */
const pairSlopes = new Float64Array(496);
const intercepts = new Float64Array(32);
const minima = new Float64Array(32);

/**
 * Feeds one sample. Returns true when it closed a window and `out` holds a fresh verdict.
 * Samples older than the open window are ignored (late data cannot reopen a closed window).
 */
export function updateTrend(
  d: Float64Array,
  d32: Float32Array,
  o: number,
  x: number,
  limit: number,
  t: number,
  c: TrendConfig,
  out: TrendVerdict,
): boolean {
  if (limit > 0) d[o + LIMIT] = limit;
  const w = Math.floor(t / c.windowMs);
  const open = d[o + WIN]!;
  if (Number.isNaN(open)) {
    d[o + WIN] = w;
    d[o + CUR_MIN] = x;
    d[o + CUR_MAX] = x;
    return false;
  }
  if (w === open) {
    if (x < d[o + CUR_MIN]!) d[o + CUR_MIN] = x;
    if (x > d[o + CUR_MAX]!) d[o + CUR_MAX] = x;
    return false;
  }
  if (w < open) return false;
  closeWindow(d, d32, o, open, c);
  d[o + WIN] = w;
  d[o + CUR_MIN] = x;
  d[o + CUR_MAX] = x;
  evaluate(d, d32, o, open, c, out);
  out.at = (open + 1) * c.windowMs;
  return true;
}

function closeWindow(d: Float64Array, d32: Float32Array, o: number, win: number, c: TrendConfig): void {
  const k = c.windows;
  const min = d[o + CUR_MIN]!;
  const swing = d[o + CUR_MAX]! - min;
  const prevSwing = d[o + SWING]!;
  d[o + SWING] = Number.isNaN(prevSwing) ? swing : prevSwing + 0.25 * (swing - prevSwing);
  const hi = d[o + SWING_HI]!;
  d[o + SWING_HI] = Number.isNaN(hi) || swing > hi ? swing : 0.95 * hi + 0.05 * swing;
  const ring = 2 * (o + TREND_HEADER);
  const headWin = d[o + HEAD_WIN]!;
  // Windows without samples stay NaN in the ring, so the x positions keep their spacing.
  if (!Number.isNaN(headWin)) {
    const from = Math.max(headWin + 1, win - k + 1);
    for (let g = from; g < win; g++) d32[ring + (g % k)] = Number.NaN;
  }
  d32[ring + (win % k)] = min;
  d[o + HEAD_WIN] = win;
}

function evaluate(
  d: Float64Array,
  d32: Float32Array,
  o: number,
  newest: number,
  c: TrendConfig,
  out: TrendVerdict,
): void {
  const k = c.windows;
  const ring = 2 * (o + TREND_HEADER);
  // Position i = 0 is the oldest window kept, k - 1 the newest.
  for (let i = 0; i < k; i++) minima[i] = d32[ring + ((newest - k + 1 + i) % k)]!;
  let pairs = 0;
  let concordant = 0;
  let discordant = 0;
  let valid = 0;
  for (let i = 0; i < k; i++) {
    const yi = minima[i]!;
    if (Number.isNaN(yi)) continue;
    valid++;
    for (let j = i + 1; j < k; j++) {
      const yj = minima[j]!;
      if (Number.isNaN(yj)) continue;
      const diff = yj - yi;
      pairSlopes[pairs++] = diff / (j - i);
      if (diff > 0) concordant++;
      else if (diff < 0) discordant++;
    }
  }
  out.breach = false;
  out.clear = true;
  if (valid < c.minWindows || pairs === 0) {
    out.etaSeconds = Number.POSITIVE_INFINITY;
    out.tau = 0;
    out.slopePerSecond = 0;
    return;
  }
  const slopePerWindow = medianInPlace(pairSlopes, pairs);
  const fastSlopePerWindow = quantileInPlace(pairSlopes, pairs, 0.75);
  const tau = (concordant - discordant) / pairs;
  let n = 0;
  for (let i = 0; i < k; i++) {
    const yi = minima[i]!;
    if (!Number.isNaN(yi)) intercepts[n++] = yi - slopePerWindow * i;
  }
  const intercept = medianInPlace(intercepts, n);
  // Trend line at the end of the newest window (position k - 1 is its minimum, near its middle).
  const baseNow = intercept + slopePerWindow * (k - 0.5);
  const swingHi = d[o + SWING_HI]!;
  const peakNow = baseNow + (Number.isNaN(swingHi) ? 0 : PEAK_HEADROOM * swingHi);
  const windowS = c.windowMs / 1000;
  const slopePerSecond = slopePerWindow / windowS;
  const fastPerSecond = fastSlopePerWindow / windowS;
  const limit = d[o + LIMIT]!;
  let eta = Number.POSITIVE_INFINITY;
  if (slopePerSecond > 0 && fastPerSecond > 0 && limit > 0) {
    eta = (limit - peakNow) / fastPerSecond;
    if (eta < 0) eta = 0;
  }
  out.etaSeconds = eta;
  out.tau = tau;
  out.slopePerSecond = slopePerSecond;
  const horizonS = c.horizonMs / 1000;
  // Material growth: at least MIN_GROWTH of the limit within the horizon (a spurious slope on a
  // flat series adds next to nothing, a leak adds a visible share).
  const material = limit > 0 && fastPerSecond * horizonS >= MIN_GROWTH * limit;
  out.breach = tau >= c.minTau && material && eta < horizonS;
  // Hysteresis: resolve only once the ETA is well past the horizon or the growth has faded.
  out.clear = tau < c.minTau * 0.75 || eta > horizonS * 1.5;
}

/** Median of the first n values; reorders them (quickselect, no allocation). */
export function medianInPlace(a: Float64Array, n: number): number {
  if (n === 0) return Number.NaN;
  const mid = n >> 1;
  const hi = select(a, 0, n - 1, mid);
  if (n & 1) return hi;
  let lo = a[0]!;
  for (let i = 1; i < mid; i++) if (a[i]! > lo) lo = a[i]!;
  return (lo + hi) / 2;
}

/** The q-quantile (nearest rank) of the first n values; reorders them. */
export function quantileInPlace(a: Float64Array, n: number, q: number): number {
  if (n === 0) return Number.NaN;
  return select(a, 0, n - 1, Math.min(n - 1, Math.floor(q * (n - 1) + 0.5)));
}

/** k-th smallest of a[left..right]; afterwards a[left..k-1] <= a[k]. */
function select(a: Float64Array, left: number, right: number, k: number): number {
  let l = left;
  let r = right;
  while (l < r) {
    const pivot = a[(l + r) >> 1]!;
    let i = l;
    let j = r;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const tmp = a[i]!;
        a[i] = a[j]!;
        a[j] = tmp;
        i++;
        j--;
      }
    }
    if (k <= j) r = j;
    else if (k >= i) l = i;
    else return a[k]!;
  }
  return a[k]!;
}
