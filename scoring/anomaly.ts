/**
 * Streaming anomaly detector for one series of any unit, scale and sampling interval.
 *
 * Per sample it predicts the value (a fast robust level, a damped trend and, where the data
 * shows one, a daily and a weekly profile), measures several signed features of the stream,
 * normalises each by its own learned typical size, takes the largest as the raw score, and
 * turns the raw score into a likelihood the way NAB's "anomaly likelihood" does: how unusual
 * the recent average score is against the distribution of this series' own scores.
 *
 * Features (each divided by its own robust scale, so autocorrelation and heavy tails calibrate
 * themselves; the largest is the raw score):
 *  - residual: value minus prediction (spikes, dips);
 *  - shift: short mean of the residual (level shifts smaller than the noise);
 *  - drift, long drift: 12- and 48-sample means of the value against the slow level and the
 *    seasonal profile (trend changes, slow shifts the fast level absorbs, a daily peak that does
 *    not come; the long one averages out short cycles);
 *  - spread: log ratio of the short mean |residual| to the long one, rises only (variance up);
 *  - roughness, long roughness: log ratio of the short (rises only) and 48-sample mean |step
 *    difference| to the long one (frequency changes, broken patterns, calmer or rougher noise);
 *  - flat run: a run of flat steps as surprising as its probability under a learned Markov
 *    chain of flat steps (a stuck sensor, a platform; smooth crests and quantised series learn
 *    that flat steps come in runs).
 * The short windows judge only rises: the mean of a few small values has a heavy lower tail.
 *
 * Likelihood: the recent score (an EWMA, weight `recentWeight`) against the mean and sd of this
 * series' scores (winsorised at 3 sd), as a Gaussian tail; the tail is multiplied by
 * max(1, referenceStepMs / step) so one threshold means about the same false alerts per day at
 * 1 s as at 5 min.
 *
 * Learning is counted in samples (so the detector behaves the same at 1 s and 30 min), except
 * the seasonal profiles, which are indexed and aged by event time. The sampling interval is
 * learned (a robust running estimate of the step); a step far above it is a gap, across which
 * difference features are not updated. Counters (monotonic series) are recognised during the
 * first samples and modelled as their per-step increase; a drop to near zero is a reset and is
 * skipped. Every update is winsorised so an anomaly teaches itself as normal only slowly.
 *
 * State: ANOMALY_STRIDE float64 slots in a caller-owned buffer seen as Float64Array and
 * Float32Array (the seasonal profiles are float32). No allocation per sample.
 */

export interface AnomalyConfig {
  /** Samples before any verdict is warm (the model and the score distribution are learned). */
  warmupSamples: number;
  /** Memory of the fast level, in samples. */
  levelSamples: number;
  /** Memory of the slow level, spreads and feature scales, in samples. */
  slowSamples: number;
  /** Memory of the score distribution used by the likelihood, in samples. */
  likelihoodSamples: number;
  /** Weight of the newest raw score in the recent average the likelihood judges. */
  recentWeight: number;
  /** Seasonal profiles: days of memory per bucket; a profile is used once it explains at least
   * this fraction of the deviation from the slow level. */
  seasonDays: number;
  seasonGain: number;
  /** The likelihood's tail probability is multiplied by max(1, referenceStepMs / step), so one
   * threshold means about the same false-alert rate per day at any sampling interval (a 1-s
   * series has 300 chances to look unusual for each one of a 5-min series). */
  referenceStepMs: number;
}

export const DEFAULT_ANOMALY: Readonly<AnomalyConfig> = Object.freeze({
  warmupSamples: 120,
  levelSamples: 24,
  slowSamples: 400,
  likelihoodSamples: 1000,
  recentWeight: 0.5,
  seasonDays: 4,
  seasonGain: 0.3,
  referenceStepMs: 300_000,
});

/** How a rule thresholds the detector by default: likelihood and consecutive samples. */
export const DEFAULT_ANOMALY_RULE = Object.freeze({ likelihood: 0.9999, minSamples: 2 });

export interface AnomalyVerdict {
  /** false until enough has been learned (never breach while !warm). */
  warm: boolean;
  /** Calibrated in [0,1]: how unusual vs this series' own recent scores. */
  likelihood: number;
  /** Above (1) or below (-1) what was expected; 0 when nothing is unusual or not known. */
  direction: 1 | -1 | 0;
  /** What the model expected (for evidence and plots). */
  expected: number;
  /** Robust spread around expected (same unit as x). */
  band: number;
  /** Raw score before calibration (largest normalised feature, in robust sigmas). */
  score: number;
}

export function newAnomalyVerdict(): AnomalyVerdict {
  return { warm: false, likelihood: 0, direction: 0, expected: Number.NaN, band: Number.NaN, score: 0 };
}

// ---- state layout (float64 slots from the block's offset) ----------------------------------
const N = 0; // samples learned by the model
const SEEN = 1; // samples seen (interval / counter detection)
const LAST_T = 2;
const LAST_X = 3; // previous raw value
const STEP = 4; // learned sampling interval (ms)
const MODE = 5; // 0 undecided, 1 gauge, 2 counter
const FIRST_T = 6;
const LEVEL = 7; // fast level
const TREND = 8; // per step
const SLOW = 9; // slow level (deseasonalised)
const SPREAD = 10; // long mean |residual|
const SHIFT = 11; // short mean residual
const VSHORT = 12; // short mean |residual|
const DRIFT = 13; // medium mean of x - slow - season
const DLONG = 14; // long mean |diff|
const DSHORT = 15; // short mean |diff|
const LAST_Y = 16; // previous modelled value
const QUANTUM = 17; // smallest non-zero |diff| seen
const SC_RES = 18; // scales of the features
const SC_SHIFT = 19;
const SC_DRIFT = 20;
const SC_SPREAD = 21;
const SC_ROUGH = 22;
const S_MEAN = 23; // score distribution
const S_VAR = 24;
const S_RECENT = 25;
const E_FLAT = 26; // mean |x - slow| (no season)
const E_DAY = 27; // mean |x - slow - daily|
const E_WEEK = 28; // mean |x - slow - daily - weekly|
const SEASON = 29; // 0 none, 1 daily, 2 daily + weekly
const INCREASES = 30; // counter detection: non-negative steps among the first samples
const DAY_SUM = 31; // sum and count of the known daily buckets (the profile is used centred)
const DAY_CNT = 32;
const WEEK_SUM = 33;
const WEEK_CNT = 34;
const DRIFT2 = 35; // long mean of x - slow - season
const DSHORT2 = 36; // long-window mean |diff|
const SC_DRIFT2 = 37;
const SC_ROUGH2 = 38;
const FLAT_P = 39; // how often a step is flat (|diff| tiny against the long mean |diff|)
const FLAT_RUN = 40; // flat steps in a row now
const FLAT_PC = 41; // how often a flat step follows a flat step (smooth crests, quantised values)
const S_DIR = 42; // recent signed score: the direction of what is unusual now
const HEADER = 44;
const DAY_BUCKETS = 48;
const WEEK_BUCKETS = 7 * 8; // 3-hour buckets of the week
const DAY_SLOT = HEADER; // float32 x DAY_BUCKETS
const WEEK_SLOT = DAY_SLOT + DAY_BUCKETS / 2; // float32 x WEEK_BUCKETS
const STRIDE = WEEK_SLOT + WEEK_BUCKETS / 2;

const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;
const DAY_BUCKET_MS = DAY_MS / DAY_BUCKETS;
const WEEK_BUCKET_MS = WEEK_MS / WEEK_BUCKETS;
/** Samples used to recognise a counter before the model starts. */
const DECIDE = 12;
const SHORT = 0.25; // weight of the short means
const MEDIUM = 1 / 12;
const LONG = 1 / 48; // averages out short cycles: slow shifts and ramps, frequency changes
const CLIP = 4;
const MAD_TO_SD = 1.2533;

export function anomalyStride(_c: AnomalyConfig = DEFAULT_ANOMALY): number {
  return STRIDE;
}

export function initAnomaly(d: Float64Array, d32: Float32Array, o: number, _c: AnomalyConfig): void {
  for (let i = 0; i < HEADER; i++) d[o + i] = 0;
  d[o + LAST_T] = Number.NaN;
  d[o + LAST_X] = Number.NaN;
  d[o + LAST_Y] = Number.NaN;
  d[o + STEP] = Number.NaN;
  d[o + FIRST_T] = Number.NaN;
  d[o + QUANTUM] = Number.POSITIVE_INFINITY;
  const f = 2 * (o + DAY_SLOT);
  for (let i = 0; i < DAY_BUCKETS + WEEK_BUCKETS; i++) d32[f + i] = Number.NaN;
}

/** Forgets the model (not the interval): a series that turned out not to be a counter. */
function resetModel(d: Float64Array, d32: Float32Array, o: number): void {
  for (let i = LEVEL; i < HEADER; i++) d[o + i] = 0;
  d[o + N] = 0;
  d[o + LAST_Y] = Number.NaN;
  d[o + QUANTUM] = Number.POSITIVE_INFINITY;
  const f = 2 * (o + DAY_SLOT);
  for (let i = 0; i < DAY_BUCKETS + WEEK_BUCKETS; i++) d32[f + i] = Number.NaN;
}

function clip(v: number, limit: number): number {
  return v > limit ? limit : Math.max(v, -limit);
}

/** Standard normal upper tail Q(z) for z >= 0 (Abramowitz-Stegun 7.1.26 on erfc, |err| < 1.5e-7
 * relative to the tail for the range used here). */
function normalTail(z: number): number {
  if (z <= 0) return 0.5;
  const x = z / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return 0.5 * poly * Math.exp(-x * x);
}

/** Interpolated value of a float32 profile at position `pos` (in buckets), NaN if unknown. */
function profileAt(d32: Float32Array, base: number, buckets: number, pos: number): number {
  const b = Math.floor(pos);
  const frac = pos - b;
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
  const l = d32[base + left]!;
  const r = d32[base + right]!;
  if (Number.isNaN(l)) return Number.isNaN(r) ? Number.NaN : r;
  if (Number.isNaN(r)) return l;
  return (1 - w) * l + w * r;
}

/**
 * Feeds one sample: `x` at event time `t` (ms), `dt` ms after the series' previous sample (NaN
 * for the first). Non-finite values are ignored (the verdict says not warm). Writes the verdict
 * into `out`.
 */
export function updateAnomaly(
  d: Float64Array,
  d32: Float32Array,
  o: number,
  x: number,
  t: number,
  dt: number,
  c: AnomalyConfig,
  out: AnomalyVerdict,
): void {
  out.warm = false;
  out.likelihood = 0;
  out.direction = 0;
  out.score = 0;
  if (!Number.isFinite(x) || !Number.isFinite(t)) return;

  // ---- interval ----
  let step = d[o + STEP]!;
  const seen = d[o + SEEN]! + 1;
  d[o + SEEN] = seen;
  let gap = false;
  if (dt > 0 && Number.isFinite(dt)) {
    if (Number.isNaN(step)) step = dt;
    else {
      gap = dt > 8 * step;
      // Log-space running estimate, each step's pull bounded so gaps barely move it.
      const k = seen <= DECIDE ? 1 / seen : 0.02;
      const ratio = dt / step;
      step *= Math.exp(k * clip(Math.log(ratio), 1));
    }
    d[o + STEP] = step;
  }
  if (Number.isNaN(d[o + FIRST_T]!)) d[o + FIRST_T] = t;
  d[o + LAST_T] = t;

  // ---- counter recognition and the modelled value ----
  const lastX = d[o + LAST_X]!;
  d[o + LAST_X] = x;
  let mode = d[o + MODE]!;
  if (mode === 0) {
    if (!Number.isNaN(lastX) && x >= lastX) d[o + INCREASES] = d[o + INCREASES]! + (x > lastX ? 1 : 0.5);
    if (seen < DECIDE) return;
    // A counter: never decreased and mostly rose over the first samples.
    mode = !Number.isNaN(lastX) && d[o + INCREASES]! >= 0.75 * (DECIDE - 1) ? 2 : 1;
    d[o + MODE] = mode;
    return;
  }
  let y = x;
  if (mode === 2) {
    if (x < lastX) {
      // A reset drops to near zero; any other decrease means this is not a counter.
      if (x <= 0.1 * lastX || x <= 0) return;
      d[o + MODE] = 1;
      resetModel(d, d32, o);
      return;
    }
    y = dt > 0 && step > 0 ? ((x - lastX) * step) / dt : x - lastX;
  }

  // ---- prediction ----
  const n = d[o + N]!;
  const lastY = d[o + LAST_Y]!;
  d[o + LAST_Y] = y;
  if (n === 0) {
    d[o + LEVEL] = y;
    d[o + SLOW] = y;
    d[o + N] = 1;
    return;
  }
  const steps = dt > 0 && step > 0 ? Math.min(dt / step, 10) : 1;
  const firstT = d[o + FIRST_T]!;
  const daysSeen = (t - firstT) / DAY_MS;
  const dayPos = (((t % DAY_MS) + DAY_MS) % DAY_MS) / DAY_BUCKET_MS;
  const weekPos = ((((t + 3 * DAY_MS) % WEEK_MS) + WEEK_MS) % WEEK_MS) / WEEK_BUCKET_MS; // Monday 00:00 UTC = 0
  const dayBase = 2 * (o + DAY_SLOT);
  const weekBase = 2 * (o + WEEK_SLOT);
  // Profiles hold shape only: centred on their mean, so a level shift is never "seasonal".
  let daily = profileAt(d32, dayBase, DAY_BUCKETS, dayPos);
  daily = Number.isNaN(daily) ? 0 : daily - d[o + DAY_SUM]! / d[o + DAY_CNT]!;
  let weekly = profileAt(d32, weekBase, WEEK_BUCKETS, weekPos);
  weekly = Number.isNaN(weekly) ? 0 : weekly - d[o + WEEK_SUM]! / d[o + WEEK_CNT]!;
  const season = d[o + SEASON]!;
  const seasonal = season >= 1 ? daily + (season >= 2 ? weekly : 0) : 0;

  const level = d[o + LEVEL]!;
  const trend = d[o + TREND]!;
  const slow = d[o + SLOW]!;
  const expected = level + trend * steps + seasonal;
  const r = y - expected;

  // Spread floors: quantisation and a tiny fraction of the magnitude.
  let quantum = d[o + QUANTUM]!;
  const diff = Number.isNaN(lastY) ? 0 : y - lastY;
  const absDiff = diff < 0 ? -diff : diff;
  if (absDiff > 0 && absDiff < quantum) quantum = absDiff;
  d[o + QUANTUM] = quantum;
  const mag = Math.abs(slow);
  let floor = 1e-6 * mag;
  if (quantum !== Number.POSITIVE_INFINITY && 0.5 * quantum > floor) floor = 0.5 * quantum;
  if (floor < 1e-12) floor = 1e-12;

  let spread = d[o + SPREAD]!;
  if (n === 1) spread = Math.max(absDiff, floor);
  if (spread < floor) spread = floor;

  // ---- features ----
  const shift = d[o + SHIFT]! + SHORT * (r - d[o + SHIFT]!);
  const absR = r < 0 ? -r : r;
  const vShort = d[o + VSHORT]! + SHORT * (Math.min(absR, 3 * CLIP * spread) - d[o + VSHORT]!);
  const dev = y - slow - seasonal;
  const drift = d[o + DRIFT]! + MEDIUM * (dev - d[o + DRIFT]!);
  const drift2 = d[o + DRIFT2]! + LONG * (dev - d[o + DRIFT2]!);
  let dLong = d[o + DLONG]!;
  let dShort = d[o + DSHORT]!;
  let dShort2 = d[o + DSHORT2]!;
  if (!gap) {
    dShort += SHORT * (absDiff - dShort);
    dShort2 += LONG * (absDiff - dShort2);
  }
  if (n === 1) {
    dLong = absDiff;
    dShort = absDiff;
    dShort2 = absDiff;
  }
  const fSpread = Math.log((vShort + floor) / (spread + floor));
  const fRough = Math.log((dShort + floor) / (dLong + floor));
  const fRough2 = Math.log((dShort2 + floor) / (dLong + floor));

  const a = n < c.slowSamples ? 1 / (n + 1) : 1 / c.slowSamples;
  const warm = n >= c.warmupSamples;

  // Normalised features: each against its own typical size.
  const scRes = Math.max(d[o + SC_RES]!, floor);
  const scShift = Math.max(d[o + SC_SHIFT]!, floor);
  const scDrift = Math.max(d[o + SC_DRIFT]!, floor);
  const scSpread = Math.max(d[o + SC_SPREAD]!, 0.05);
  const scRough = Math.max(d[o + SC_ROUGH]!, 0.05);

  const scDrift2 = Math.max(d[o + SC_DRIFT2]!, floor);
  const scRough2 = Math.max(d[o + SC_ROUGH2]!, 0.02);
  const zRes = r / (MAD_TO_SD * scRes);
  const zShift = shift / (MAD_TO_SD * scShift);
  const zDrift = drift / (MAD_TO_SD * scDrift);
  const zSpread = fSpread > 0 ? fSpread / (MAD_TO_SD * scSpread) : 0;
  // The short windows judge only rises: a mean of 4 small values has a heavy lower tail, so
  // falls are left to the long window and to the flat-run surprise below.
  const zRough = fRough > 0 ? fRough / (MAD_TO_SD * scRough) : 0;
  // A run of flat steps (a stuck sensor, a platform) as surprising as its probability under the
  // learned frequencies: a flat step p0, a flat step after a flat one pc (a Markov chain, so
  // the flat crests of a smooth cycle or a quantised series are not surprising):
  // P = p0 pc^(run-1), as a Gaussian z.
  const flat = !gap && n > 1 && absDiff <= 0.02 * dLong;
  const prevRun = d[o + FLAT_RUN]!;
  const flatRun = flat ? prevRun + 1 : 0;
  const p0 = Math.max(d[o + FLAT_P]!, 1 / c.slowSamples);
  const pc = Math.min(Math.max(d[o + FLAT_PC]!, p0, 0.02), 0.98);
  const zFlat = flatRun > 0 ? -Math.sqrt(-2 * (Math.log(p0) + (flatRun - 1) * Math.log(pc))) : 0;
  const zDrift2 = drift2 / (MAD_TO_SD * scDrift2);
  const zRough2 = fRough2 / (MAD_TO_SD * scRough2);
  let score = zRes < 0 ? -zRes : zRes;
  let dir = zRes;
  const aShift = zShift < 0 ? -zShift : zShift;
  if (aShift > score) {
    score = aShift;
    dir = zShift;
  }
  const aDrift = zDrift < 0 ? -zDrift : zDrift;
  if (aDrift > score) {
    score = aDrift;
    dir = zDrift;
  }
  const aSpread = zSpread < 0 ? -zSpread : zSpread;
  if (aSpread > score) {
    score = aSpread;
    dir = zSpread;
  }
  const aRough = gap ? 0 : zRough < 0 ? -zRough : zRough;
  if (aRough > score) {
    score = aRough;
    dir = zRough;
  }
  const aDrift2 = zDrift2 < 0 ? -zDrift2 : zDrift2;
  if (aDrift2 > score) {
    score = aDrift2;
    dir = zDrift2;
  }
  const aFlat = -zFlat;
  if (aFlat > score) {
    score = aFlat;
    dir = -1;
  }
  const aRough2 = gap ? 0 : zRough2 < 0 ? -zRough2 : zRough2;
  if (aRough2 > score) {
    score = aRough2;
    dir = zRough2;
  }
  if (score > 1e6) score = 1e6;

  // ---- likelihood ----
  const la = n < c.likelihoodSamples ? 1 / (n + 1) : 1 / c.likelihoodSamples;
  const sMean = d[o + S_MEAN]!;
  const sVar = d[o + S_VAR]!;
  const sSd = Math.max(Math.sqrt(sVar), 0.1);
  const recent = d[o + S_RECENT]! + c.recentWeight * (score - d[o + S_RECENT]!);
  d[o + S_RECENT] = recent;
  const signed = d[o + S_DIR]! + c.recentWeight * ((dir < 0 ? -score : score) - d[o + S_DIR]!);
  d[o + S_DIR] = signed;
  const zl = (recent - sMean) / sSd;
  const perDay = step > 0 && step < c.referenceStepMs ? c.referenceStepMs / step : 1;
  const tail = normalTail(zl) * perDay;
  const likelihood = tail >= 1 ? 0 : 1 - tail;
  const sClipped = Math.min(score, sMean + 3 * sSd);
  const sr = sClipped - sMean;
  d[o + S_MEAN] = sMean + la * sr;
  d[o + S_VAR] = (1 - la) * (sVar + la * sr * sr);

  out.warm = warm;
  out.score = score;
  out.expected = expected;
  out.band = MAD_TO_SD * spread;
  if (warm) {
    out.likelihood = likelihood;
    out.direction = signed > 0 ? 1 : signed < 0 ? -1 : 0;
  }

  // ---- learn ----
  const limit = CLIP * MAD_TO_SD * spread;
  const rc = clip(r, limit);
  const al = n < c.levelSamples ? 1 / (n + 1) : 1 / c.levelSamples;
  let newLevel = level + trend * steps + al * rc;
  // A level shift held for a while moves the level at once (the alarm does not drag on).
  if (warm && aShift > 6 && (shift > 0 ? r > 0 : r < 0)) newLevel += SHORT * shift;
  const newTrend = 0.98 * trend + (0.5 / c.slowSamples) * clip((newLevel - level) / steps - trend, limit);
  d[o + LEVEL] = newLevel;
  d[o + TREND] = newTrend;
  d[o + SHIFT] = warm && aShift > 6 ? shift * (1 - SHORT) : shift;
  d[o + VSHORT] = vShort;
  let newSlow = slow + a * clip(y - seasonal - slow, limit * 2);
  if (warm && aDrift2 > 6 && aDrift > 6 && (drift > 0 ? dev > 0 : dev < 0)) {
    // A new regime, held for a while: the slow level moves to it, so the alarm ends and the
    // next change is judged against the new normal.
    newSlow += LONG * drift;
    d[o + DRIFT] = drift * (1 - LONG);
    d[o + DRIFT2] = drift2 * (1 - LONG);
  } else {
    d[o + DRIFT] = drift;
    d[o + DRIFT2] = drift2;
  }
  d[o + SLOW] = newSlow;
  d[o + SPREAD] = spread + a * (Math.min(absR, limit) - spread);
  if (!gap && n > 1) d[o + DLONG] = dLong + a * (Math.min(absDiff, CLIP * (dLong + floor)) - dLong);
  else if (n === 1) d[o + DLONG] = dLong;
  d[o + DSHORT] = dShort;
  d[o + DSHORT2] = dShort2;
  d[o + SC_RES] = scoreScale(d[o + SC_RES]!, r, a, n);
  d[o + SC_SHIFT] = scoreScale(d[o + SC_SHIFT]!, shift, a, n);
  d[o + SC_DRIFT] = scoreScale(d[o + SC_DRIFT]!, drift, a, n);
  if (fSpread >= 0 || n <= 1) d[o + SC_SPREAD] = scoreScale(d[o + SC_SPREAD]!, fSpread, 2 * a, n);
  d[o + SC_DRIFT2] = scoreScale(d[o + SC_DRIFT2]!, drift2, a, n);
  if (!gap) {
    if (fRough >= 0 || n <= 1) d[o + SC_ROUGH] = scoreScale(d[o + SC_ROUGH]!, fRough, 2 * a, n);
    d[o + FLAT_RUN] = flatRun;
    if (n > 1) d[o + FLAT_P] = d[o + FLAT_P]! + a * ((flat ? 1 : 0) - d[o + FLAT_P]!);
    if (prevRun > 0)
      d[o + FLAT_PC] = d[o + FLAT_PC]! + Math.max(a, 0.05) * ((flat ? 1 : 0) - d[o + FLAT_PC]!);
    d[o + SC_ROUGH2] = scoreScale(d[o + SC_ROUGH2]!, fRough2, a, n);
  }

  // Seasonal profiles learn the deseasonalised deviation from the slow level, in event time.
  const devFlat = y - slow;
  const devDay = devFlat - daily;
  const devWeek = devDay - weekly;
  const ea = a;
  d[o + E_FLAT] = d[o + E_FLAT]! + ea * (Math.min(Math.abs(devFlat), limit * 2) - d[o + E_FLAT]!);
  d[o + E_DAY] = d[o + E_DAY]! + ea * (Math.min(Math.abs(devDay), limit * 2) - d[o + E_DAY]!);
  d[o + E_WEEK] = d[o + E_WEEK]! + ea * (Math.min(Math.abs(devWeek), limit * 2) - d[o + E_WEEK]!);
  const span = dt > 0 && Number.isFinite(dt) ? Math.min(dt, DAY_BUCKET_MS) : 0;
  if (step < DAY_BUCKET_MS && span > 0) {
    const db = dayBase + Math.floor(dayPos);
    const mDay = d32[db]!;
    const target = clip(devFlat - (season >= 2 ? weekly : 0), limit * 2);
    const ka = Math.min(1, span / (Math.max(1, Math.min(daysSeen, c.seasonDays)) * DAY_BUCKET_MS));
    const nextDay = Number.isNaN(mDay) ? target : mDay + ka * (target - mDay);
    d32[db] = nextDay;
    d[o + DAY_SUM] = d[o + DAY_SUM]! + d32[db]! - (Number.isNaN(mDay) ? 0 : mDay);
    if (Number.isNaN(mDay)) d[o + DAY_CNT] = d[o + DAY_CNT]! + 1;
    const wb = weekBase + Math.floor(weekPos);
    const mWeek = d32[wb]!;
    const wTarget = clip(devDay, limit * 2);
    const wk = Math.min(1, span / (Math.max(1, Math.min(daysSeen / 7, c.seasonDays)) * WEEK_BUCKET_MS));
    d32[wb] = Number.isNaN(mWeek) ? wTarget : mWeek + wk * (wTarget - mWeek);
    d[o + WEEK_SUM] = d[o + WEEK_SUM]! + d32[wb]! - (Number.isNaN(mWeek) ? 0 : mWeek);
    if (Number.isNaN(mWeek)) d[o + WEEK_CNT] = d[o + WEEK_CNT]! + 1;
    // Use a profile once a full period was seen and it explains enough of the deviation.
    let next = 0;
    if (daysSeen >= 1.5 && d[o + E_DAY]! < (1 - c.seasonGain) * d[o + E_FLAT]!) next = 1;
    if (next === 1 && daysSeen >= 10 && d[o + E_WEEK]! < (1 - c.seasonGain) * d[o + E_DAY]!) next = 2;
    if (next !== season) {
      // Keep the prediction continuous: the level takes what the profile no longer explains.
      const nextSeasonal = next >= 1 ? daily + (next >= 2 ? weekly : 0) : 0;
      d[o + LEVEL] = d[o + LEVEL]! + seasonal - nextSeasonal;
      d[o + SEASON] = next;
    }
  }
  d[o + N] = n + 1;
}

/** Robust scale of a feature: mean |f| with winsorised updates, a running mean at first. */
function scoreScale(s: number, f: number, a: number, n: number): number {
  const af = f < 0 ? -f : f;
  if (n <= 1) return af;
  const capped = s > 0 ? Math.min(af, CLIP * s) : af;
  return s + a * (capped - s);
}
