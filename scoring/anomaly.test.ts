import { describe, expect, it } from 'vitest';
import {
  type AnomalyVerdict,
  anomalyStride,
  DEFAULT_ANOMALY,
  DEFAULT_ANOMALY_RULE,
  initAnomaly,
  newAnomalyVerdict,
  updateAnomaly,
} from './anomaly.js';

const T0 = Date.UTC(2024, 0, 1);
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
}

function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(r())) * Math.cos(2 * Math.PI * r());
}

interface Run {
  /** Alert onsets as a rule raises them (default threshold and consecutive samples). */
  onsets: number[];
  /** Verdict per sample (copied). */
  verdicts: AnomalyVerdict[];
}

/** Feeds `n` samples at `stepMs` (or at the times `times` gives) through one state block placed
 * at an offset in a larger slab, as the engine keeps it. */
function feed(
  n: number,
  stepMs: number,
  value: (i: number, t: number, r: () => number) => number,
  opts: { seed?: number; times?: (i: number) => number; keep?: boolean } = {},
): Run {
  const c = DEFAULT_ANOMALY;
  const stride = anomalyStride(c);
  const buf = new ArrayBuffer(stride * 8 * 3);
  const d = new Float64Array(buf);
  const d32 = new Float32Array(buf);
  const o = stride; // the middle block: neighbours must stay untouched
  d.fill(7);
  initAnomaly(d, d32, o, c);
  const out = newAnomalyVerdict();
  const r = lcg(opts.seed ?? 1);
  const onsets: number[] = [];
  const verdicts: AnomalyVerdict[] = [];
  let run = 0;
  let firing = false;
  let prev = Number.NaN;
  for (let i = 0; i < n; i++) {
    const t = opts.times ? opts.times(i) : T0 + i * stepMs;
    updateAnomaly(d, d32, o, value(i, t, r), t, t - prev, c, out);
    prev = t;
    if (opts.keep) verdicts.push({ ...out });
    const breach = out.warm && out.likelihood >= DEFAULT_ANOMALY_RULE.likelihood;
    if (!firing) {
      run = breach ? run + 1 : 0;
      if (run >= DEFAULT_ANOMALY_RULE.minSamples) {
        firing = true;
        run = 0;
        onsets.push(i);
      }
    } else {
      run = breach ? 0 : run + 1;
      if (run >= DEFAULT_ANOMALY_RULE.minSamples) {
        firing = false;
        run = 0;
      }
    }
  }
  for (let i = 0; i < stride; i++) {
    expect(d[i]).toBe(7);
    expect(d[2 * stride + i]).toBe(7);
  }
  return { onsets, verdicts };
}

const daily = (t: number) => Math.sin((2 * Math.PI * (t % DAY)) / DAY);

describe('anomaly detector: state', () => {
  it('keeps its state within 1 KiB per series, in its own block', () => {
    expect(anomalyStride(DEFAULT_ANOMALY) * 8).toBeLessThanOrEqual(1024);
    feed(500, MINUTE, (_i, _t, r) => gaussian(r));
  });

  it('is not warm before it has learned, and never warm on non-finite values', () => {
    const { verdicts } = feed(
      DEFAULT_ANOMALY.warmupSamples + 40,
      MINUTE,
      (i, _t, r) => (i === 100 ? Number.NaN : 10 + gaussian(r)),
      { keep: true },
    );
    expect(verdicts.slice(0, DEFAULT_ANOMALY.warmupSamples).every((v) => !v.warm && v.likelihood === 0)).toBe(
      true,
    );
    expect(verdicts[100]!.warm).toBe(false);
    expect(verdicts[verdicts.length - 1]!.warm).toBe(true);
  });
});

describe('anomaly detector: catches each kind of anomaly soon after it starts', () => {
  const N = 4000;
  const AT = 3000;
  const cases: {
    name: string;
    value: (i: number, t: number, r: () => number) => number;
    within: number;
    dir?: 1 | -1;
  }[] = [
    // A lone sample must stand out more at 1 s than at 5 min (the likelihood is calibrated per
    // day: a 1-s series has 300 times more chances to look unusual): 12 sd is caught at both.
    { name: 'spike', value: (i, _t, r) => 50 + gaussian(r) + (i === AT ? 12 : 0), within: 1, dir: 1 },
    { name: 'dip', value: (i, _t, r) => 50 + gaussian(r) - (i === AT ? 12 : 0), within: 1, dir: -1 },
    {
      name: 'level shift up by 2 sd',
      value: (i, _t, r) => 50 + gaussian(r) + (i >= AT ? 2 : 0),
      within: 8,
      dir: 1,
    },
    {
      name: 'level shift down',
      value: (i, _t, r) => 50 + gaussian(r) - (i >= AT ? 3 : 0),
      within: 5,
      dir: -1,
    },
    {
      name: 'variance change (x3)',
      value: (i, _t, r) => 50 + gaussian(r) * (i >= AT && i < AT + 200 ? 3 : 1),
      within: 25,
    },
    {
      name: 'trend change (0.05 sd per sample)',
      value: (i, _t, r) => 50 + gaussian(r) + (i >= AT ? 0.05 * (i - AT) : 0),
      within: 60,
      dir: 1,
    },
    {
      name: 'frequency change (cycle of 40 samples becomes 10)',
      value: (i, _t, r) => 50 + 5 * Math.sin((2 * Math.PI * i) / (i >= AT ? 10 : 40)) + 0.3 * gaussian(r),
      within: 15,
    },
    {
      name: 'flat line (a stuck sensor)',
      value: (i, _t, r) => (i >= AT && i < AT + 200 ? 50 : 50 + gaussian(r)),
      within: 15,
      dir: -1,
    },
  ];
  for (const { name, value, within, dir } of cases) {
    for (const stepMs of [SECOND, 5 * MINUTE]) {
      it(`${name} at ${stepMs / 1000}s steps`, () => {
        const { onsets, verdicts } = feed(N, stepMs, value, { keep: true, seed: 3 });
        const hit = onsets.find((i) => i >= AT && i <= AT + within);
        expect(hit, `onsets ${onsets.join(',')}`).toBeDefined();
        // Quiet before: at most one false alert per day (and one in a shorter stretch) between
        // the end of the warm-up and the anomaly.
        const before = onsets.filter((i) => i >= DEFAULT_ANOMALY.warmupSamples && i < AT);
        expect(before.length).toBeLessThanOrEqual(Math.max(1, Math.floor((AT * stepMs) / DAY)));
        if (dir) expect(verdicts[hit!]!.direction).toBe(dir);
      });
    }
  }

  it('reports what it expected and its band in the unit of the series', () => {
    const { verdicts } = feed(N, MINUTE, (i, _t, r) => 1e6 + 1e3 * gaussian(r) + (i >= AT ? 1e4 : 0), {
      keep: true,
    });
    const v = verdicts[AT + 2]!;
    expect(v.expected).toBeGreaterThan(0.99e6);
    expect(v.expected).toBeLessThan(1.005e6);
    expect(v.band).toBeGreaterThan(500);
    expect(v.band).toBeLessThan(2000);
    expect(v.likelihood).toBeGreaterThanOrEqual(DEFAULT_ANOMALY_RULE.likelihood);
  });

  it('learns a daily pattern and catches a missing daily peak it has seen on earlier days', () => {
    // 1-minute samples, 6 days of a daily cycle; on day 5 the afternoon peak does not come.
    const peakless = (t: number) => t >= T0 + 5 * DAY + 10 * HOUR && t < T0 + 5 * DAY + 16 * HOUR;
    const value = (_i: number, t: number, r: () => number) =>
      100 + (peakless(t) ? 0 : 30 * Math.max(0, daily(t - 7 * HOUR))) + 2 * gaussian(r);
    const { onsets } = feed(6 * 1440, MINUTE, value, { seed: 5 });
    const start = 5 * 1440 + 10 * 60;
    expect(onsets.some((i) => i >= start && i <= start + 6 * 60)).toBe(true);
    expect(onsets.filter((i) => i > 2 * 1440 && i < start)).toEqual([]);
  });
});

describe('anomaly detector: no false alerts on normal behaviour', () => {
  const steps = [SECOND, MINUTE, 5 * MINUTE, 30 * MINUTE];
  const series: { name: string; value: (i: number, t: number, r: () => number) => number }[] = [
    { name: 'steady', value: (_i, _t, r) => 20 + 0.5 * gaussian(r) },
    { name: 'noisy (heavy-tailed)', value: (_i, _t, r) => 20 + gaussian(r) / Math.max(0.3, r()) },
    { name: 'quantised small counts', value: (_i, _t, r) => Math.max(0, Math.round(2 + gaussian(r))) },
    { name: 'constant', value: () => 42 },
    { name: 'negative values', value: (_i, _t, r) => -5 + gaussian(r) },
    { name: 'daily seasonal', value: (_i, t, r) => 100 + 40 * daily(t) + 2 * gaussian(r) },
    {
      name: 'counter with resets',
      value: (i, _t, r) => ((i % 3000) + 1) * 1000 + Math.floor(r() * 100),
    },
  ];
  for (const { name, value } of series) {
    for (const stepMs of steps) {
      it(`${name} at ${stepMs / 1000}s steps`, () => {
        // At least 3 days (so a daily shape is learned) or 5000 samples, whichever is more,
        // capped at 20,000 samples.
        const n = Math.min(Math.max(5000, Math.ceil((3 * DAY) / stepMs)), 20_000);
        const { onsets } = feed(n, stepMs, value, { seed: 11 });
        const days = (n * stepMs) / DAY;
        // At most 1 per series-day (and never more than 2 in a short run).
        expect(onsets.length, `onsets ${onsets.join(',')}`).toBeLessThanOrEqual(
          Math.max(2, Math.floor(days)),
        );
      });
    }
  }

  it('gaps and irregular steps (jitter, a 6-hour hole) on a daily series raise nothing', () => {
    const r = lcg(9);
    const times: number[] = [];
    let t = T0;
    for (let i = 0; i < 6000; i++) {
      times.push(t);
      t += i === 3000 ? 6 * HOUR : Math.round(MINUTE * (0.5 + r()));
    }
    const { onsets } = feed(times.length, MINUTE, (_i, tt, rr) => 100 + 40 * daily(tt) + 2 * gaussian(rr), {
      times: (i) => times[i]!,
      seed: 4,
    });
    expect(onsets.length, `onsets ${onsets.join(',')}`).toBeLessThanOrEqual(1);
  });

  it('a counter is judged by its rate: a reset is not an anomaly, a rate jump is', () => {
    let total = 0;
    const { onsets } = feed(4000, 10 * SECOND, (i, _t, r) => {
      if (i === 2000) total = 0; // restart
      total += (i >= 3000 ? 400 : 100) + Math.floor(r() * 20);
      return total;
    });
    expect(onsets.filter((i) => i >= 1900 && i < 3000)).toEqual([]);
    expect(onsets.some((i) => i >= 3000 && i <= 3005)).toBe(true);
  });
});
