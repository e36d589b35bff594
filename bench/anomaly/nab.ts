/**
 * NAB's published scoring (Numenta Anomaly Benchmark; Lavin & Ahmad, "Evaluating Real-time
 * Anomaly Detection Algorithms - the Numenta Anomaly Benchmark", ICMLA 2015), reimplemented from
 * the rules of numenta/NAB:
 *
 * - Windows (nab/labeler.py, `applyWindows`): each labelled anomaly gets a window of
 *   windowLength = int(0.10 * fileLength / numberOfAnomalies) points centred on it
 *   (front = a - windowLength/2, back = a + windowLength/2, clipped to the file); overlapping
 *   windows merge (`checkWindows`). GutenTAG labels ranges, not points: the window is centred on
 *   the anomaly's first point and stretched to its last point when the anomaly is longer.
 * - Probation (nab/sweeper.py, `_getProbationaryLength`): the first min(floor(0.15 n), 0.15 x
 *   5000) points are not scored (no detection there counts, windows there do not count).
 * - Scaled sigmoid (nab/sweeper.py, `scaledSigmoid`): sigma(y) = 2 / (1 + e^(5y)) - 1, and -1 for
 *   y >= 3.
 * - Detections (nab/sweeper.py, `calcSweepScore` / `calcScoreByThreshold`): a detection inside a
 *   window at index i scores sigma(-(right - i + 1) / width) * tpWeight / sigma(-1) (width =
 *   right - left + 1); only the window's best (earliest) detection counts, and a window without
 *   one scores -fnWeight. A detection outside every window scores sigma(y) * fpWeight with y =
 *   |i - previousRight| / (previousWidth - 1) after a window, y = 3 (so -fpWeight) before any.
 * - Profiles (config/profiles.json): standard tp 1, fp 0.11, fn 1; reward_low_FP_rate tp 1,
 *   fp 0.22, fn 1; reward_low_FN_rate tp 1, fp 0.11, fn 2.
 * - Normalisation (nab/runner.py, `normalize`): 100 * (raw - null) / (perfect - null) over the
 *   whole corpus, where the null detector detects nothing and the perfect one detects every
 *   window at its first point.
 *
 * NAB turns every point whose anomaly score passes the threshold into a detection; here the
 * detections are alert onsets (what a rule raises), given as point indices.
 */

export interface Profile {
  name: string;
  tp: number;
  fp: number;
  fn: number;
}

export const PROFILES: readonly Profile[] = [
  { name: 'standard', tp: 1, fp: 0.11, fn: 1 },
  { name: 'reward_low_FP_rate', tp: 1, fp: 0.22, fn: 1 },
  { name: 'reward_low_FN_rate', tp: 1, fp: 0.11, fn: 2 },
];

/** An anomaly window, inclusive point indices. */
export interface Window {
  left: number;
  right: number;
}

/** Labelled anomalies (first and last index, inclusive) of a file of `length` points. */
export interface Anomaly {
  start: number;
  end: number;
}

export function probationLength(length: number): number {
  return Math.min(Math.floor(0.15 * length), 0.15 * 5000);
}

export function scaledSigmoid(y: number): number {
  if (y >= 3) return -1;
  return 2 / (1 + Math.exp(5 * y)) - 1;
}

export function windows(length: number, anomalies: readonly Anomaly[]): Window[] {
  if (anomalies.length === 0) return [];
  const windowLength = Math.floor((0.1 * length) / anomalies.length);
  const half = Math.floor(windowLength / 2);
  const raw = anomalies
    .map((a) => ({
      left: Math.max(a.start - half, 0),
      right: Math.min(Math.max(a.start + half, a.end), length - 1),
    }))
    .sort((a, b) => a.left - b.left);
  const merged: Window[] = [];
  for (const w of raw) {
    const last = merged[merged.length - 1];
    if (last && w.left <= last.right) last.right = Math.max(last.right, w.right);
    else merged.push({ ...w });
  }
  return merged;
}

export interface FileScore {
  raw: number;
  tp: number;
  fn: number;
  fp: number;
  /** Windows that count (some of their points are after the probation). */
  windows: number;
}

/**
 * Scores one file: `detections` are sorted point indices, `wins` sorted windows.
 */
export function scoreFile(
  length: number,
  wins: readonly Window[],
  detections: readonly number[],
  p: Profile,
): FileScore {
  const probation = probationLength(length);
  const maxTP = scaledSigmoid(-1);
  // Window of each detection by a merge walk.
  const best = new Array<number>(wins.length).fill(Number.NEGATIVE_INFINITY);
  let fpScore = 0;
  let fp = 0;
  let w = 0;
  for (const i of detections) {
    if (i < probation || i >= length) continue;
    while (w < wins.length && wins[w]!.right < i) w++;
    const win = wins[w];
    if (win && win.left <= i) {
      const width = win.right - win.left + 1;
      const s = (scaledSigmoid(-(win.right - i + 1) / width) * p.tp) / maxTP;
      if (s > best[w]!) best[w] = s;
      continue;
    }
    fp++;
    const prev = wins[w - 1];
    let y = 3;
    if (prev) {
      const prevWidth = prev.right - prev.left + 1;
      y = prevWidth > 1 ? Math.abs(i - prev.right) / (prevWidth - 1) : 3;
    }
    fpScore += scaledSigmoid(y) * p.fp;
  }
  let raw = fpScore;
  let tp = 0;
  let fn = 0;
  let counted = 0;
  for (let k = 0; k < wins.length; k++) {
    if (wins[k]!.right < probation) continue;
    counted++;
    if (best[k] === Number.NEGATIVE_INFINITY) {
      raw -= p.fn;
      fn++;
    } else {
      raw += best[k]!;
      tp++;
    }
  }
  return { raw, tp, fn, fp, windows: counted };
}

/** The detections of the perfect detector: each window's first scored point. */
export function perfectDetections(length: number, wins: readonly Window[]): number[] {
  const probation = probationLength(length);
  return wins.filter((w) => w.right >= probation).map((w) => Math.max(w.left, Math.ceil(probation)));
}

export interface CorpusFile {
  length: number;
  windows: readonly Window[];
  detections: readonly number[];
}

/** NAB's normalised corpus score: 100 * (raw - null) / (perfect - null). */
export function corpusScore(files: readonly CorpusFile[], p: Profile): number {
  let raw = 0;
  let nul = 0;
  let perfect = 0;
  for (const f of files) {
    raw += scoreFile(f.length, f.windows, f.detections, p).raw;
    nul += scoreFile(f.length, f.windows, [], p).raw;
    perfect += scoreFile(f.length, f.windows, perfectDetections(f.length, f.windows), p).raw;
  }
  return perfect === nul ? 0 : (100 * (raw - nul)) / (perfect - nul);
}
