/**
 * Anomaly detection accuracy on third-party labelled series, NAB-style, against two baselines in
 * the same run; and the detector's cost.
 *
 *   npx tsx bench/anomaly.ts            (npm run bench -- anomaly)
 *
 * The series come from GutenTAG (bench/anomaly/generate.mjs: installs the pinned generator into a
 * venv under bench/anomaly/.cache/ and generates the suite there on first use). Every detector
 * runs on every series with one default setting and is thresholded the way a rule would be
 * (bench/anomaly/detectors.ts); alert onsets are scored with NAB's published rules
 * (bench/anomaly/nab.ts). Printed: NAB scores for the three profiles, recall per anomaly kind,
 * false alerts per anomaly-free series-day, throughput on one core and state bytes per series.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  anomalyStride,
  DEFAULT_ANOMALY,
  initAnomaly,
  newAnomalyVerdict,
  updateAnomaly,
} from '../scoring/anomaly.js';
import { DETECTORS, type Detector, onsets, type Series } from './anomaly/detectors.js';
// @ts-expect-error plain ESM script without types
import { CACHE, generate } from './anomaly/generate.mjs';
import {
  type CorpusFile,
  corpusScore,
  PROFILES,
  probationLength,
  type Window,
  windows,
} from './anomaly/nab.js';

interface ManifestSeries {
  name: string;
  step: string;
  stepMs: number;
  base: string;
  noise: number;
  kind: string;
  length: number;
  file: string;
  anomalies: { start: number; length: number }[];
}

const T0 = Date.UTC(2024, 0, 1);
const DAY_MS = 86_400_000;

function load(m: ManifestSeries): Series {
  const text = readFileSync(join(CACHE, m.file), 'utf8');
  const x = new Float64Array(m.length);
  const t = new Float64Array(m.length);
  let i = 0;
  let pos = text.indexOf('\n') + 1; // header: timestamp,value-0,is_anomaly
  while (pos < text.length && i < m.length) {
    const end = text.indexOf('\n', pos);
    const line = text.slice(pos, end < 0 ? text.length : end);
    pos = end < 0 ? text.length : end + 1;
    if (line.length === 0) continue;
    const a = line.indexOf(',');
    const b = line.indexOf(',', a + 1);
    x[i] = Number(line.slice(a + 1, b));
    t[i] = T0 + i * m.stepMs;
    i++;
  }
  if (i !== m.length) throw new Error(`${m.file}: ${i} points, expected ${m.length}`);
  return { t, x };
}

const manifest = JSON.parse(readFileSync(generate(), 'utf8')) as {
  generator: string;
  seed: number;
  series: ManifestSeries[];
};
const suite = manifest.series.map((m) => {
  const anomalies = m.anomalies.map((a) => ({ start: a.start, end: a.start + a.length - 1 }));
  return { m, s: load(m), wins: windows(m.length, anomalies), anomalies };
});
const points = suite.reduce((n, e) => n + e.m.length, 0);
console.log(
  `${suite.length} series, ${points.toLocaleString('en')} points (${manifest.generator}, seed ${manifest.seed}); ` +
    `${suite.filter((e) => e.m.kind === 'none').length} anomaly-free`,
);

interface Result {
  det: Detector;
  scores: number[];
  byStep: Map<string, number>;
  recall: Map<string, [number, number]>;
  falseAlerts: number;
  freeDays: number;
}

function windowOf(wins: readonly Window[], i: number): Window | undefined {
  return wins.find((w) => w.left <= i && i <= w.right);
}

function evaluate(det: Detector): Result {
  const files: (CorpusFile & { step: string })[] = [];
  const recall = new Map<string, [number, number]>();
  let falseAlerts = 0;
  let freeDays = 0;
  for (const { m, s, wins, anomalies } of suite) {
    const breach = new Uint8Array(m.length);
    det.run(s, breach);
    const det0 = onsets(breach, det.minSamples);
    files.push({ length: m.length, windows: wins, detections: det0, step: m.step });
    const probation = probationLength(m.length);
    if (m.kind === 'none') {
      falseAlerts += det0.filter((i) => i >= probation).length;
      freeDays += ((m.length - probation) * m.stepMs) / DAY_MS;
      continue;
    }
    const r = recall.get(m.kind) ?? [0, 0];
    for (const a of anomalies) {
      const w = windowOf(wins, a.start);
      const right = w ? w.right : a.end;
      if (det0.some((i) => i >= a.start && i <= right)) r[0]++;
      r[1]++;
    }
    recall.set(m.kind, r);
  }
  const byStep = new Map<string, number>();
  for (const step of new Set(files.map((f) => f.step))) {
    byStep.set(
      step,
      corpusScore(
        files.filter((f) => f.step === step),
        PROFILES[0]!,
      ),
    );
  }
  return { det, scores: PROFILES.map((p) => corpusScore(files, p)), byStep, recall, falseAlerts, freeDays };
}

const results = DETECTORS.map(evaluate);

const pad = (s: string, n: number) => s.padEnd(n);

const num = (v: number, d = 1) => v.toFixed(d).padStart(8);
console.log('\nNAB-style scores (normalised: null detector 0, perfect 100; alert onsets as detections)');
console.log(
  `${pad('detector', 18)}${PROFILES.map((p) => p.name.padStart(20)).join('')}   by step (standard)`,
);
for (const r of results) {
  const steps = [...r.byStep].map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
  console.log(`${pad(r.det.name, 18)}${r.scores.map((v) => v.toFixed(1).padStart(20)).join('')}   ${steps}`);
}
const kinds = [...results[0]!.recall.keys()];
console.log('\nRecall per anomaly kind (an alert onset between the anomaly start and its window end)');
console.log(`${pad('detector', 18)}${kinds.map((k) => k.padStart(11)).join('')}`);
for (const r of results) {
  console.log(
    `${pad(r.det.name, 18)}${kinds
      .map((k) => {
        const [hit, all] = r.recall.get(k)!;
        return `${hit}/${all}`.padStart(11);
      })
      .join('')}`,
  );
}
console.log('\nFalse alerts on anomaly-free series (after the 15% probation)');
for (const r of results) {
  console.log(
    `${pad(r.det.name, 18)}${num(r.falseAlerts, 0)} alerts in ${r.freeDays.toFixed(1)} series-days = ` +
      `${(r.falseAlerts / r.freeDays).toFixed(3)} per series-day   [${r.det.setting}]`,
  );
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

// Throughput of the detector alone on one core: all series through one state block each, after a
// JIT warm-up pass; rolling z measured the same way as the baseline.
function timeDetector(det: Detector): number {
  const breach = new Uint8Array(suite.reduce((n, e) => Math.max(n, e.m.length), 0));
  for (const { s } of suite.slice(0, 10)) det.run(s, breach);
  const start = process.cpuUsage();
  for (const { s } of suite) det.run(s, breach);
  return points / cpuSeconds(start);
}
function timeCore(): number {
  // The update alone, state blocks in one slab as the engine keeps them.
  const c = DEFAULT_ANOMALY;
  const stride = anomalyStride(c);
  const buf = new ArrayBuffer(stride * 8 * suite.length);
  const d = new Float64Array(buf);
  const d32 = new Float32Array(buf);
  const out = newAnomalyVerdict();
  let sink = 0;
  const pass = () => {
    for (let k = 0; k < suite.length; k++) initAnomaly(d, d32, k * stride, c);
    const start = process.cpuUsage();
    for (let k = 0; k < suite.length; k++) {
      const { t, x } = suite[k]!.s;
      const o = k * stride;
      let prev = Number.NaN;
      for (let i = 0; i < x.length; i++) {
        updateAnomaly(d, d32, o, x[i]!, t[i]!, t[i]! - prev, c, out);
        prev = t[i]!;
        sink += out.likelihood;
      }
    }
    return points / cpuSeconds(start);
  };
  pass();
  const r = pass();
  if (sink === 42) console.log('');
  return r;
}
console.log(
  '\nCost (one core; points per CPU-second of this process, so other load on the machine does not count)',
);
console.log(
  `converge anomaly: updateAnomaly ${(timeCore() / 1e6).toFixed(2)} M points/s; ` +
    `with the rule's breach loop ${(timeDetector(DETECTORS[0]!) / 1e6).toFixed(2)} M points/s; ` +
    `state ${DETECTORS[0]!.stateBytes} bytes per series`,
);
console.log(
  `rolling z-score (baseline): ${(timeDetector(DETECTORS[1]!) / 1e6).toFixed(2)} M points/s, ` +
    `state ${DETECTORS[1]!.stateBytes} bytes per series`,
);
const std = results.map((r) => r.scores[0]!);
const bestZ = Math.max(std[1]!, std[2]!);
console.log(
  `\nstandard score: converge ${std[0]!.toFixed(1)} vs the better rolling z ${bestZ.toFixed(1)} ` +
    `(${(std[0]! / Math.max(bestZ, 1e-9)).toFixed(2)}x; target >= 2x), seasonal ${std[3]!.toFixed(1)}`,
);
