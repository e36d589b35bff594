/**
 * Detection cost: rules + detectors of the default pack per decoded point, and state bytes per
 * series.
 *
 *   npx tsx bench/detect.ts [--hosts 200] [--containers 20] [--intervals 40] [--memory-series 100000]
 *
 * The fleet mix is what Telegraf sends per host and interval (10 s): cpu (cpu-total + 4 cores),
 * mem, system, disk x2, diskio x2, net x2, processes, procstat, and per container
 * docker_container_cpu, docker_container_mem, docker_container_status, docker_container_net and
 * the app's http_requests. Lines are generated as line protocol and decoded by ingest/decode.ts,
 * so the points are exactly what the pipeline hands the engine (shared tags objects, integer
 * fields as numbers). Throughput is measured after a warm-up (every series seen), against a
 * baseline loop that only reads every field of every point. Memory: heap + typed-array
 * buffers after GC with the engine holding `--memory-series` series, minus the same after the
 * engine is dropped (the decoded points stay alive throughout, so only the engine is counted).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Point } from '../core/types.js';
import { telegrafFleetLines } from '../fixtures/series/telegraf.js';
import { decode } from '../ingest/decode.js';
import { DetectionEngine } from '../rules/engine.js';
import { defaultRulesDir, loadRules } from '../rules/load.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const HOSTS = arg('hosts', 200);
const CONTAINERS = arg('containers', 20);
const INTERVALS = arg('intervals', 40);
const MEMORY_SERIES = arg('memory-series', 100_000);
const STEP_S = 10;

function decodeFleet(hosts: number, containers: number, intervals: number): Point[][] {
  const out: Point[][] = [];
  for (let i = 0; i < intervals; i++) {
    const r = decode(telegrafFleetLines(hosts, containers, i, STEP_S), 'lp', { precision: 'ns' });
    if (r.errors.length) throw new Error(`fixture does not decode: ${JSON.stringify(r.errors[0])}`);
    out.push(r.points);
  }
  return out;
}

const rules = loadRules(defaultRulesDir());
if (rules.errors.length) throw new Error('default pack has errors');

// ---------------------------------------------------------------------------------------------
// Throughput
// ---------------------------------------------------------------------------------------------

const intervals = decodeFleet(HOSTS, CONTAINERS, INTERVALS);
const perInterval = intervals[0]!.length;
const WARMUP = 3;
const measured = intervals.slice(WARMUP);
const measuredPoints = measured.reduce((n, b) => n + b.length, 0);

function baseline(): number {
  let sink = 0;
  const start = process.hrtime.bigint();
  for (const batch of measured) {
    for (let i = 0; i < batch.length; i++) {
      const fields = batch[i]!.fields;
      for (const k in fields) {
        const v = fields[k];
        if (typeof v === 'number') sink += v;
      }
    }
  }
  const ns = Number(process.hrtime.bigint() - start);
  if (sink === 42) console.log('');
  return ns;
}

function engineRun(): { ns: number; engine: DetectionEngine; events: number } {
  const engine = new DetectionEngine({ rules: rules.rules });
  let events = 0;
  for (const batch of intervals.slice(0, WARMUP)) {
    for (const p of batch) engine.process(p);
    events += engine.advance(batch[0]!.time - 5000).length;
  }
  const start = process.hrtime.bigint();
  for (const batch of measured) {
    for (let i = 0; i < batch.length; i++) engine.process(batch[i]!);
    events += engine.advance(batch[0]!.time - 5000).length;
  }
  return { ns: Number(process.hrtime.bigint() - start), engine, events };
}

// Warm both paths up (JIT), then take the best of three short runs each.
baseline();
engineRun();
const baseNs = Math.min(baseline(), baseline(), baseline());
const runs = [engineRun(), engineRun(), engineRun()];
const best = runs.reduce((a, b) => (b.ns < a.ns ? b : a));
const stats = best.engine.stats();
const enginePps = measuredPoints / (best.ns / 1e9);
const basePps = measuredPoints / (baseNs / 1e9);

console.log('detect: rules + detectors of the default pack on decoded Telegraf points');
console.log(
  `  fleet: ${HOSTS} hosts x ${CONTAINERS} containers, ${perInterval} points (= series) per ${STEP_S}s interval, ${INTERVALS} intervals (${WARMUP} warm-up)`,
);
console.log(`  rules: ${rules.rules.rules.length}; series tracked: ${stats.series}; alerts: ${best.events}`);
console.log(
  `  baseline (read every field):  ${(basePps / 1e6).toFixed(2)} M points/s  (${(baseNs / measuredPoints).toFixed(1)} ns/point)`,
);
console.log(
  `  engine.process + advance:     ${(enginePps / 1e6).toFixed(2)} M points/s  (${(best.ns / measuredPoints).toFixed(1)} ns/point)`,
);
console.log(
  `  ratio engine / baseline cost: ${(best.ns / baseNs).toFixed(2)}x   target >= 2 M points/s: ${enginePps >= 2e6 ? 'met' : 'NOT met'}`,
);

// The JSON decoder builds a new tags object per point: the engine then checks the predicted
// series by content instead of by identity.
{
  const fresh = intervals.slice(0, WARMUP + 10).map((b) => b.map((p) => ({ ...p, tags: { ...p.tags } })));
  const freshPoints = fresh.slice(WARMUP).reduce((n, b) => n + b.length, 0);
  let bestNs = Number.POSITIVE_INFINITY;
  for (let rep = 0; rep < 3; rep++) {
    const engine = new DetectionEngine({ rules: rules.rules });
    for (const batch of fresh.slice(0, WARMUP)) {
      for (const p of batch) engine.process(p);
      engine.advance(batch[0]!.time - 5000);
    }
    const start = process.hrtime.bigint();
    for (const batch of fresh.slice(WARMUP)) {
      for (let i = 0; i < batch.length; i++) engine.process(batch[i]!);
      engine.advance(batch[0]!.time - 5000);
    }
    bestNs = Math.min(bestNs, Number(process.hrtime.bigint() - start));
  }
  console.log(
    `  same, a new tags object per point (JSON decoder): ${(freshPoints / (bestNs / 1e9) / 1e6).toFixed(2)} M points/s  (${(bestNs / freshPoints).toFixed(1)} ns/point)`,
  );
}

// ---------------------------------------------------------------------------------------------
// Memory per series
// ---------------------------------------------------------------------------------------------

intervals.length = 0;
runs.length = 0;
const memHosts = Math.ceil(MEMORY_SERIES / (15 + 5 * CONTAINERS));
const memIntervals = decodeFleet(memHosts, CONTAINERS, 2);
/** Heap plus typed-array backing stores (the engine's tables live there), after full GCs. */
function retained(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
let memEngine: DetectionEngine | undefined = new DetectionEngine({ rules: rules.rules });
for (const batch of memIntervals) {
  for (const p of batch) memEngine.process(p);
  memEngine.advance(batch[0]!.time - 5000);
}
const memStats = memEngine.stats();
const tables = memEngine.tableBytes();
const withEngine = retained();
memEngine = undefined;
const withoutEngine = retained();
const engineBytes = withEngine - withoutEngine;
const perSeries = engineBytes / memStats.series;
console.log(
  `  state: ${memStats.series} series (${memStats.entities.host} hosts, ${memStats.entities.container} containers, ${memStats.entities.app} apps): engine holds ${(engineBytes / 1048576).toFixed(1)} MiB = ${perSeries.toFixed(0)} bytes/series   target <= 256: ${perSeries <= 256 ? 'met' : 'NOT met'}`,
);
const per = (bytes: number) => (bytes / memStats.series).toFixed(0);
console.log(
  `    typed arrays per series: records ${per(tables.series)}, detector blocks ${per(tables.blocks)} (live ${per(tables.blocksLive)}), entities ${per(tables.entities)}, index ${per(tables.index)}; the rest is JS maps and objects`,
);
if (memIntervals.length === 0) console.log('');
