#!/usr/bin/env node
// Generates the labelled suite of bench/anomaly.ts with GutenTAG (PyPI timeeval-gutentag 1.5.0,
// a third-party generator), into bench/anomaly/.cache/ (not committed):
//
//   node bench/anomaly/generate.mjs [--force]
//
// It makes a Python venv in the cache, installs the pinned GutenTAG into it, writes the suite's
// GutenTAG config (suite.yaml) and a manifest (manifest.json: per series its file, step, base,
// noise, anomaly kind and the exact anomaly positions), and runs
// `gutenTAG --config-yaml suite.yaml --output-dir series --seed 42`. Series files are
// series/<name>/test.csv (timestamp,value-0,is_anomaly). A second run with the same suite
// reuses the cache.
//
// The suite: every anomaly kind GutenTAG has for a single channel that an operator would call an
// anomaly (extremum, mean shift, variance, trend, frequency, pattern, platform), plus
// anomaly-free series, on three bases (flat: level + noise; daily: a sine with a one-day period
// at that step; cycle: a sine of 100 samples, a periodic load without a daily rhythm), at
// 1-second, 1-minute and 5-minute steps and three noise levels (Gaussian, sd 5%, 15%, 40% of the
// base amplitude). Anomalies sit at 65% and 85% of each series (after NAB's 15% probation and
// after a daily profile can have been learned). Frequency, pattern and platform (a
// stretch stuck at the mean, noise on top) need a periodic base.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CACHE = join(dirname(fileURLToPath(import.meta.url)), '.cache');
const VENV = join(CACHE, 'venv');
const GUTENTAG_VERSION = '1.5.0';
const SEED = 42;

const DAY_MS = 86_400_000;
const STEPS = { '1s': 1000, '1m': 60_000, '5m': 300_000 };
/** Points per series without a daily base: 1 s: 5.6 h, 1 min: 7 days, 5 min: 14 days. */
const LENGTH = { '1s': 20_000, '1m': 10_080, '5m': 4032 };
/** With a daily base at 1 s: 2.5 days, one noise level (a 1-s daily series is 86,400 points a day). */
const DAILY_1S_LENGTH = 216_000;
const NOISES = [0.05, 0.15, 0.4];
const KINDS = ['extremum', 'mean', 'variance', 'trend', 'frequency', 'pattern', 'platform', 'none'];
const BASES = ['flat', 'daily', 'cycle'];
const OFFSET = 10;
const CYCLE_POINTS = 100;
/** GutenTAG frequencies are in Hz at 100 points per second (math_func_support.SAMPLING_F). */
const SAMPLING_F = 100;

function base(kind, noise, periodPoints) {
  if (kind === 'flat') return { kind: 'polynomial', polynomial: [OFFSET], variance: noise };
  return {
    kind: 'sine',
    frequency: SAMPLING_F / periodPoints,
    amplitude: 1,
    offset: OFFSET,
    variance: noise,
  };
}

/** GutenTAG anomaly entries for one series (two anomalies of the kind, or none). */
function anomalies(kind, length, periodPoints) {
  const at = [Math.floor(0.65 * length), Math.floor(0.85 * length)];
  const periodic = periodPoints > 0;
  const patternLength = periodic
    ? Math.min(Math.max(Math.floor(periodPoints / 4), 3 * CYCLE_POINTS), 2000)
    : 0;
  switch (kind) {
    case 'none':
      return [];
    case 'extremum':
      return at.map((p, i) => ({
        'exact-position': p,
        length: 1,
        kinds: [{ kind: 'extremum', min: i === 1, local: false }],
      }));
    case 'mean':
      return at.map((p, i) => ({
        'exact-position': p,
        length: 50,
        kinds: [{ kind: 'mean', offset: i ? -1 : 1 }],
      }));
    case 'variance':
      return at.map((p) => ({
        'exact-position': p,
        length: 100,
        kinds: [{ kind: 'variance', variance: 1 }],
      }));
    case 'trend':
      return at.map((p, i) => ({
        'exact-position': p,
        length: 200,
        kinds: [{ kind: 'trend', oscillation: { kind: 'polynomial', polynomial: [0, i ? -0.01 : 0.01] } }],
      }));
    case 'frequency':
      return at.map((p) => ({
        'exact-position': p,
        length: patternLength,
        kinds: [{ kind: 'frequency', frequency_factor: 2 }],
      }));
    case 'pattern':
      return at.map((p) => ({
        'exact-position': p,
        length: patternLength,
        kinds: [{ kind: 'pattern', sinusoid_k: 10 }],
      }));
    case 'platform':
      return at.map((p) => ({
        'exact-position': p,
        length: 100,
        kinds: [{ kind: 'platform', value: OFFSET }],
      }));
    default:
      throw new Error(`unknown kind ${kind}`);
  }
}

export function suite() {
  const series = [];
  for (const [step, stepMs] of Object.entries(STEPS)) {
    for (const b of BASES) {
      for (const noise of NOISES) {
        if (b === 'daily' && step === '1s' && noise !== 0.15) continue;
        const length = b === 'daily' && step === '1s' ? DAILY_1S_LENGTH : LENGTH[step];
        const periodPoints = b === 'daily' ? DAY_MS / stepMs : b === 'cycle' ? CYCLE_POINTS : 0;
        for (const kind of KINDS) {
          // These change a period's shape: a flat base has none (GutenTAG adds the noise on top of a
          // platform, so a platform at the level of a flat base would change nothing).
          if ((kind === 'frequency' || kind === 'pattern' || kind === 'platform') && b === 'flat') continue;
          const name = `${step}-${b}-n${Math.round(noise * 100)}-${kind}`;
          series.push({
            name,
            step,
            stepMs,
            base: b,
            noise,
            kind,
            length,
            gutentag: {
              name,
              length,
              'base-oscillations': [base(b, noise, periodPoints)],
              anomalies: anomalies(kind, length, periodPoints),
            },
          });
        }
      }
    }
  }
  return series;
}

/** YAML of the GutenTAG config (JSON is valid YAML 1.2, which GutenTAG's PyYAML reads). */
function configYaml(series) {
  return JSON.stringify({ timeseries: series.map((s) => s.gutentag) }, null, 1);
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`})`);
}

function ensureGutentag() {
  const bin = join(VENV, 'bin', 'gutenTAG');
  const marker = join(VENV, `.gutentag-${GUTENTAG_VERSION}`);
  if (existsSync(bin) && existsSync(marker)) return bin;
  mkdirSync(CACHE, { recursive: true });
  console.error(`anomaly bench: installing timeeval-gutentag ${GUTENTAG_VERSION} into ${VENV}`);
  run('python3', ['-m', 'venv', VENV]);
  run(join(VENV, 'bin', 'pip'), ['install', '--quiet', `timeeval-gutentag==${GUTENTAG_VERSION}`]);
  writeFileSync(marker, '');
  return bin;
}

/** Generates the suite unless the cache holds this exact suite; returns the manifest path. */
export function generate(force = false) {
  const list = suite();
  const yaml = configYaml(list);
  const digest = createHash('sha256').update(`${yaml}|seed=${SEED}|${GUTENTAG_VERSION}`).digest('hex');
  const manifestPath = join(CACHE, 'manifest.json');
  if (!force && existsSync(manifestPath)) {
    const old = JSON.parse(readFileSync(manifestPath, 'utf8'));
    if (old.digest === digest) return manifestPath;
  }
  const bin = ensureGutentag();
  const out = join(CACHE, 'series');
  rmSync(out, { recursive: true, force: true });
  writeFileSync(join(CACHE, 'suite.yaml'), yaml);
  console.error(`anomaly bench: generating ${list.length} series with GutenTAG (seed ${SEED})`);
  run(bin, [
    '--config-yaml',
    join(CACHE, 'suite.yaml'),
    '--output-dir',
    out,
    '--seed',
    String(SEED),
    '--n_jobs',
    '1',
  ]);
  const manifest = {
    digest,
    generator: `timeeval-gutentag ${GUTENTAG_VERSION}`,
    seed: SEED,
    series: list.map(({ gutentag, ...s }) => ({
      ...s,
      file: join('series', s.name, 'test.csv'),
      anomalies: gutentag.anomalies.map((a) => ({ start: a['exact-position'], length: a.length })),
    })),
  };
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 1));
  return manifestPath;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(generate(process.argv.includes('--force')));
}
