/**
 * Memory and build time of the live topology for fleets of 10k, 100k and 1M containers
 * (100 containers per host, 40 hosts per rack, 4 IDCs, one app per 50 containers spread over
 * hosts, host attributes kernel/model/os), built two ways: from CMDB records (`apply`) and
 * from metric tags (`observe`, host points carrying kernel/model/os tags). Then the observe
 * fast path (every series seen again), one expiry pass over a refreshed fleet, and the expiry
 * of everything.
 *
 * Baseline in the same run: graphology holding every container as a node with its host and
 * app edges (what the layout in topology/graph.ts avoids), for the sizes up to
 * --baseline-max (default 100k; the 1M baseline takes ~15 s).
 *
 *   npx tsx --expose-gc bench/topology.ts [sizes=10000,100000,1000000] [--baseline-max=N]
 *     [--flood=N] [--flood-cap=N]
 *
 * Then a flood of N never-seen entities (default 400,000; 0 skips it), new containers on a few
 * hosts and new hosts on one rack, into a topology capped at --flood-cap (default 100,000)
 * beside the same flood uncapped: memory held and CPU time per point, capped vs uncapped.
 *
 * Memory is V8 heap used plus ArrayBuffer memory (the typed arrays live outside the heap),
 * after a full GC, minus the same figure before building.
 */
import { DirectedGraph } from 'graphology';
import type { TopologyRecord } from '../core/types.js';
import { TopologyGraph } from '../topology/graph.js';

const args = process.argv.slice(2);
const sizes = (args.find((a) => !a.startsWith('--')) ?? '10000,100000,1000000').split(',').map(Number);
const option = (name: string, fallback: number) =>
  Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const baselineMax = option('baseline-max', 100_000);
const flood = option('flood', 400_000);
const floodCap = option('flood-cap', 100_000);

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined)
  console.error('warning: run with --expose-gc (npx tsx --expose-gc ...): memory figures include garbage');

function memory(): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const MiB = 2 ** 20;
const CHUNK = 10_000;
const KERNELS = ['4.19.91-24', '5.10.134-16', '5.10.134-17', '6.1.0-13'];
const MODELS = ['r740xd', 'ebmg7-32x', 'ebmc6-26x'];
const OSES = ['alinux-3', 'alinux-2'];
const APP_KINDS = ['pay', 'order', 'search', 'cart', 'user', 'img', 'ship', 'rec'];

/** Deterministic ids shaped like the JD example's (node-5ccaf122, c-04eee6319b0f). */
function hex(n: number, width: number): string {
  return (n >>> 0).toString(16).padStart(width, '0');
}

interface Fleet {
  containers: number;
  hosts: number;
  racks: number;
  idcs: number;
  apps: number;
  idc(i: number): string;
  rack(i: number): string;
  host(i: number): string;
  container(i: number): string;
  app(i: number): string;
  hostOf(container: number): number;
  appOf(container: number): number;
}

function fleet(containers: number): Fleet {
  const hosts = Math.ceil(containers / 100);
  const racks = Math.ceil(hosts / 40);
  const idcs = Math.min(4, racks);
  const apps = Math.max(1, Math.round(containers / 50));
  return {
    containers,
    hosts,
    racks,
    idcs,
    apps,
    idc: (i) => `gz${i}-04d`,
    rack: (i) => `gz${i % idcs}-04d-r${hex(i, 4)}`,
    host: (i) => `node-${hex(Math.imul(i + 1, 2654435761), 8)}`,
    container: (i) => `c-${hex(Math.imul(i + 1, 2246822519), 8)}${hex(i, 4)}`,
    app: (i) => `${APP_KINDS[i % APP_KINDS.length]}-${hex(i, 4)}`,
    hostOf: (c) => Math.floor(c / 100),
    // Hashed, so each app's ~50 containers land on ~50 different hosts, as in the JD case.
    appOf: (c) => (Math.imul(c + 1, 2654435761) >>> 0) % apps,
  };
}

function upperRecords(f: Fleet): TopologyRecord[] {
  const out: TopologyRecord[] = [];
  for (let i = 0; i < f.idcs; i++) out.push({ level: 'idc', id: f.idc(i) });
  for (let i = 0; i < f.racks; i++)
    out.push({ level: 'rack', id: f.rack(i), parent: { level: 'idc', id: f.idc(i % f.idcs) } });
  for (let i = 0; i < f.hosts; i++) {
    out.push({
      level: 'host',
      id: f.host(i),
      parent: { level: 'rack', id: f.rack(Math.floor(i / 40)) },
      attributes: { kernel: KERNELS[i % 4]!, model: MODELS[i % 3]!, os: OSES[i % 2]! },
    });
  }
  for (let i = 0; i < f.apps; i++) {
    out.push({ level: 'app', id: f.app(i), calls: [f.app((i + 1) % f.apps), f.app((i + 7) % f.apps)] });
  }
  return out;
}

function containerRecords(f: Fleet, from: number, to: number): TopologyRecord[] {
  const out: TopologyRecord[] = [];
  for (let c = from; c < to; c++) {
    out.push({
      level: 'container',
      id: f.container(c),
      parent: { level: 'host', id: f.host(f.hostOf(c)) },
      app: f.app(f.appOf(c)),
    });
  }
  return out;
}

function hostTags(f: Fleet, h: number): Record<string, string> {
  const rack = Math.floor(h / 40);
  return {
    cpu: 'cpu-total',
    host: f.host(h),
    dc: f.idc(rack % f.idcs),
    rack: f.rack(rack),
    kernel: KERNELS[h % 4]!,
    model: MODELS[h % 3]!,
    os: OSES[h % 2]!,
  };
}

function containerTags(f: Fleet, c: number): Record<string, string> {
  const h = f.hostOf(c);
  const rack = Math.floor(h / 40);
  return {
    container_name: f.container(c),
    host: f.host(h),
    dc: f.idc(rack % f.idcs),
    rack: f.rack(rack),
    app: f.app(f.appOf(c)),
    engine_host: 'docker',
  };
}

/** Wall-clock and CPU time (this process, all threads: includes GC helpers) of some work. */
interface Timing {
  ms: number;
  cpuMs: number;
}

function timed(work: () => void): Timing {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  work();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
}

function add(a: Timing, b: Timing): Timing {
  return { ms: a.ms + b.ms, cpuMs: a.cpuMs + b.cpuMs };
}

/** Runs `work` over chunks of generated input, timing only `work`. */
function timedChunks<T>(
  total: number,
  make: (from: number, to: number) => T[],
  work: (items: T[]) => void,
): Timing {
  let sum: Timing = { ms: 0, cpuMs: 0 };
  for (let from = 0; from < total; from += CHUNK) {
    const items = make(from, Math.min(total, from + CHUNK));
    sum = add(
      sum,
      timed(() => work(items)),
    );
  }
  return sum;
}

function tagChunk(f: Fleet, from: number, to: number): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (let c = from; c < to; c++) {
    // A host point before its first container, as a host's own metrics would come.
    if (c % 100 === 0) out.push(hostTags(f, f.hostOf(c)));
    out.push(containerTags(f, c));
  }
  return out;
}

/** Bytes of typed arrays per slot in topology/graph.ts: 2 x u8, 2 x f64, 11 x i32. */
const BYTES_PER_SLOT = 2 * 1 + 2 * 8 + 11 * 4;
const T0 = Date.UTC(2024, 0, 1);
const TTL = 15 * 60_000;

interface Row {
  containers: number;
  way: string;
  entities: number;
  build: Timing;
  MiB: number;
}
const rows: Row[] = [];

function seconds(t: Timing): string {
  return `${(t.ms / 1000).toFixed(2).padStart(6)} s (cpu ${(t.cpuMs / 1000).toFixed(2)} s)`;
}

function report(row: Row, extra = ''): void {
  rows.push(row);
  const perEntity = (row.MiB * MiB) / row.entities;
  console.log(
    `${String(row.containers).padStart(9)} containers  ${row.way.padEnd(19)} ${String(row.entities).padStart(9)} entities  ` +
      `build ${seconds(row.build)}  ${row.MiB.toFixed(0).padStart(5)} MiB  ${perEntity.toFixed(0).padStart(5)} B/entity${extra}`,
  );
}

function entityTotal(g: TopologyGraph): number {
  return Object.values(g.counts()).reduce((a, b) => a + b, 0);
}

for (const n of sizes) {
  const f = fleet(n);
  console.log(
    `\n# ${n} containers: ${f.hosts} hosts, ${f.racks} racks, ${f.idcs} IDCs, ${f.apps} apps (each on ~50 hosts)`,
  );

  // --- From CMDB records, measuring the upper levels and the container leaves apart.
  {
    const before = memory();
    const g = new TopologyGraph({ ttlMs: TTL });
    const upper = upperRecords(f);
    const upperTime = timed(() => {
      for (const record of upper) g.apply(record, T0);
    });
    upper.length = 0;
    const afterUpper = memory();
    const containerTime = timedChunks(
      n,
      (from, to) => containerRecords(f, from, to),
      (records) => {
        for (const record of records) g.apply(record, T0);
      },
    );
    const after = memory();
    const s = g.stats();
    report(
      {
        containers: n,
        way: 'apply (CMDB)',
        entities: entityTotal(g),
        build: add(upperTime, containerTime),
        MiB: (after - before) / MiB,
      },
      `\n    where: upper levels ${((afterUpper - before) / MiB).toFixed(1)} MiB (${f.hosts + f.racks + f.idcs + f.apps} ` +
        `graphology nodes, ${s.graphEdges} edges, attribute groups), containers ${((after - afterUpper) / n).toFixed(0)} B each ` +
        `of which slot arrays ${BYTES_PER_SLOT} B + ${(((s.capacity - s.slots) * BYTES_PER_SLOT) / s.slots).toFixed(0)} B ` +
        `growth slack (${s.capacity} slots, ${((s.capacity * BYTES_PER_SLOT) / MiB).toFixed(1)} MiB outside the heap)`,
    );
    let kernels = new Map<string, number>();
    const groups = timed(() => {
      kernels = g.attributeValues('host', 'kernel');
    });
    console.log(
      `    attribute groups: host kernels ${JSON.stringify(Object.fromEntries(kernels))} in ${(groups.ms * 1000).toFixed(0)} us`,
    );
  }

  // --- From metric tags (observe), then the hot path and expiry.
  {
    const before = memory();
    const g = new TopologyGraph({ ttlMs: TTL, attributeTags: ['kernel', 'model', 'os'] });
    const build = timedChunks(
      n,
      (from, to) => tagChunk(f, from, to),
      (points) => {
        for (const tags of points) g.observe(tags, T0);
      },
    );
    const after = memory();
    report({
      containers: n,
      way: 'observe (metrics)',
      entities: entityTotal(g),
      build,
      MiB: (after - before) / MiB,
    });

    // Fast path: every series of the fleet seen again one minute later (each container once:
    // no help from the previous-entity memo).
    const refresh = timedChunks(
      n,
      (from, to) => tagChunk(f, from, to),
      (points) => {
        for (const tags of points) g.observe(tags, T0 + 60_000);
      },
    );
    const points = n + f.hosts;
    console.log(
      `    observe fast path (nothing changed): ${(((points / refresh.cpuMs) * 1000) / 1e6).toFixed(2)} M points/s cpu, ` +
        `${((refresh.cpuMs * 1e6) / points).toFixed(0)} ns/point cpu (${((refresh.ms * 1e6) / points).toFixed(0)} wall)`,
    );

    // The pass where the first filing comes due: everything alive is re-filed once.
    let none: unknown[] = [];
    const refile = timed(() => {
      none = g.expire(T0 + TTL);
    });
    // Passes before the re-filed entries come due (one per event-time second).
    const idle = timed(() => {
      for (let s = 1; s <= 30; s++) g.expire(T0 + TTL + s * 1000);
    });
    let all: unknown[] = [];
    const expireAll = timed(() => {
      all = g.expire(T0 + 60_000 + TTL);
    });
    const st = g.stats();
    console.log(
      `    expiry: re-filing pass ${refile.cpuMs.toFixed(0)} ms cpu (${none.length} expired), idle pass ` +
        `${((idle.cpuMs / 30) * 1000).toFixed(1)} us cpu, expiring all ${all.length} entities ${expireAll.cpuMs.toFixed(0)} ms cpu ` +
        `(${((expireAll.cpuMs * 1e6) / Math.max(1, all.length)).toFixed(0)} ns each; ${st.expiryVisited} index entries looked at in all)`,
    );
  }

  // --- Baseline: graphology holding every container with its host and app edges.
  if (n <= baselineMax) {
    const before = memory();
    const graph = new DirectedGraph();
    const upper = timed(() => {
      for (let i = 0; i < f.idcs; i++) graph.addNode(`idc:${f.idc(i)}`);
      for (let i = 0; i < f.racks; i++) {
        graph.addNode(`rack:${f.rack(i)}`);
        graph.addDirectedEdge(`idc:${f.idc(i % f.idcs)}`, `rack:${f.rack(i)}`);
      }
      for (let i = 0; i < f.hosts; i++) {
        graph.addNode(`host:${f.host(i)}`, { kernel: KERNELS[i % 4], model: MODELS[i % 3], os: OSES[i % 2] });
        graph.addDirectedEdge(`rack:${f.rack(Math.floor(i / 40))}`, `host:${f.host(i)}`);
      }
      for (let i = 0; i < f.apps; i++) graph.addNode(`app:${f.app(i)}`);
    });
    const leaves = timedChunks(
      n,
      (from, to) => containerRecords(f, from, to),
      (records) => {
        for (const r of records) {
          const key = `container:${r.id}`;
          graph.addNode(key, { lastSeen: T0 });
          graph.addDirectedEdge(`host:${r.parent!.id}`, key);
          graph.addDirectedEdge(`app:${r.app}`, key);
        }
      },
    );
    const after = memory();
    const build = add(upper, leaves);
    report({
      containers: n,
      way: 'baseline graphology',
      entities: graph.order,
      build,
      MiB: (after - before) / MiB,
    });
    const ours = rows.find((r) => r.containers === n && r.way === 'apply (CMDB)')!;
    console.log(
      `    apply (CMDB) vs baseline: memory ${(ours.MiB / ((after - before) / MiB)).toFixed(2)}x, ` +
        `build cpu time ${(ours.build.cpuMs / build.cpuMs).toFixed(2)}x`,
    );
  }
}

// CPU time is the figure that holds on a shared machine; wall time is printed beside it.
for (const r of rows.filter((r) => r.containers >= 1_000_000 && r.way !== 'baseline graphology')) {
  const ok = r.MiB < 1536 && r.build.cpuMs < 10_000;
  console.log(
    `target 1M containers < 1.5 GiB and < 10 s (${r.way}): ${r.MiB.toFixed(0)} MiB, ${seconds(r.build)} -> ${ok ? 'met' : 'MISSED'}`,
  );
}

// --- A flood of never-seen entities (hostile tags, a misconfigured agent): capped vs uncapped.
if (flood > 0) {
  console.log(`\n# flood of ${flood} new entities, capped at ${floodCap} vs uncapped`);
  const shapes: Array<[string, (i: number) => Record<string, string>]> = [
    [
      'new containers',
      (i) => ({ container_name: `flood-${hex(i, 8)}`, host: `fh-${i % 16}`, rack: 'fr', dc: 'fd' }),
    ],
    ['new hosts', (i) => ({ host: `flood-${hex(i, 8)}`, rack: 'fr', dc: 'fd' })],
  ];
  for (const [shape, tags] of shapes) {
    const figures = [undefined, floodCap].map((cap) => {
      const before = memory();
      const g = new TopologyGraph(cap === undefined ? { ttlMs: TTL } : { ttlMs: TTL, maxEntities: cap });
      const t = timedChunks(
        flood,
        (from, to) => Array.from({ length: to - from }, (_, k) => tags(from + k)),
        (chunk) => {
          for (let k = 0; k < chunk.length; k++) g.observe(chunk[k]!, T0 + k);
        },
      );
      const MiBs = (memory() - before) / MiB;
      const c = g.capacityStats();
      console.log(
        `  ${shape.padEnd(15)} ${cap === undefined ? 'uncapped' : `cap ${cap}`.padEnd(10)} held ${String(c.held).padStart(7)}  ` +
          `evicted ${String(c.evicted).padStart(7)}  refused ${c.refused}  ${MiBs.toFixed(0).padStart(4)} MiB  ` +
          `${((t.cpuMs * 1000) / flood).toFixed(2)} us/point cpu (${((t.ms * 1000) / flood).toFixed(2)} wall)`,
      );
      return { MiBs, t };
    });
    const [free, capped] = figures as [{ MiBs: number; t: Timing }, { MiBs: number; t: Timing }];
    console.log(
      `    capped vs uncapped: memory ${(capped.MiBs / free.MiBs).toFixed(2)}x, cpu per point ${(capped.t.cpuMs / free.t.cpuMs).toFixed(2)}x`,
    );
  }
}
