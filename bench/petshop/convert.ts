/**
 * PetShop case -> what Converge and the peers read:
 *
 * - `metrics.lp`: Influx line protocol, second precision, one point per node and 5-minute row
 *   in Converge's application-traffic convention (rules/default/traffic.yaml), so the default
 *   rule pack reads it as it reads any service:
 *
 *     http_requests,app=<node> rate=<req/s>,errors=<err/s>,availability=<%>,
 *       latency_avg=<ms>,latency_p50=<ms>,latency_p90=<ms>,latency_p95=<ms>,latency_p99=<ms> <unix s>
 *
 *   rate = requests Sum / 300 s; errors = rate x (100 - availability) / 100; latencies are the
 *   dataset's seconds x 1000. A missing cell leaves its field out (errors needs both inputs); a
 *   node with no value in a row gets no line for that row.
 * - `topology.jsonl`: CMDB records (topology/records.ts), each node an app, graph.csv's edges
 *   as app -> app `calls` (caller -> callee).
 * - `frame.csv` + `case.json`: the same rows as a wide table (`time` then `node|metric|statistic`
 *   in the dataset's own units, empty = missing) and the case's facts (truth, target, fault
 *   time, window start, call graph) for the peers (peers.py, baseline.ts).
 *
 *   npx tsx bench/petshop/convert.ts [--data DIR] --out DIR [--split train|test|all] [--only ID,...]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Point, TopologyRecord } from '../../core/types.js';
import { encodeLine } from '../../ingest/decode.js';
import { type PetshopCase, PetshopDataset, type Split, STEP_S } from './dataset.js';

export const MEASUREMENT = 'http_requests';

/** Dataset (metric, statistic) -> field and scale; `rate` and `errors` are derived. */
const LATENCY_FIELDS: Record<string, string> = {
  Average: 'latency_avg',
  p50: 'latency_p50',
  p90: 'latency_p90',
  p95: 'latency_p95',
  p99: 'latency_p99',
};

interface NodeColumns {
  node: string;
  requests: number;
  availability: number;
  latency: Array<[field: string, column: number]>;
}

function nodeColumns(c: PetshopCase): NodeColumns[] {
  const byNode = new Map<string, NodeColumns>();
  c.table.columns.forEach((col, i) => {
    let n = byNode.get(col.node);
    if (!n) {
      n = { node: col.node, requests: -1, availability: -1, latency: [] };
      byNode.set(col.node, n);
    }
    if (col.metric === 'requests' && col.statistic === 'Sum') n.requests = i;
    else if (col.metric === 'availability' && col.statistic === 'Average') n.availability = i;
    else if (col.metric === 'latency' && LATENCY_FIELDS[col.statistic] !== undefined) {
      n.latency.push([LATENCY_FIELDS[col.statistic]!, i]);
    } else throw new Error(`${c.ref.id}: unknown column ${col.node} / ${col.metric} / ${col.statistic}`);
  });
  for (const n of byNode.values()) n.latency.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return [...byNode.values()];
}

/** The case's points in time order (row by row, nodes in column order). */
export function casePoints(c: PetshopCase): Point[] {
  const nodes = nodeColumns(c);
  const out: Point[] = [];
  const tags = new Map(nodes.map((n) => [n.node, Object.freeze({ app: n.node })]));
  for (let r = 0; r < c.table.rows.length; r++) {
    const row = c.table.rows[r]!;
    const time = c.table.times[r]! * 1000;
    for (const n of nodes) {
      const fields: Record<string, number> = {};
      const requests = n.requests >= 0 ? row[n.requests]! : Number.NaN;
      const availability = n.availability >= 0 ? row[n.availability]! : Number.NaN;
      const rate = requests / STEP_S;
      if (!Number.isNaN(rate)) fields.rate = tidy(rate);
      if (!Number.isNaN(rate) && !Number.isNaN(availability)) {
        fields.errors = tidy(Math.max(0, (rate * (100 - availability)) / 100));
      }
      if (!Number.isNaN(availability)) fields.availability = availability;
      for (const [field, col] of n.latency) {
        const v = row[col]!;
        if (!Number.isNaN(v)) fields[field] = tidy(v * 1000);
      }
      const count = Object.keys(fields).length;
      if (count === 0) continue;
      out.push({
        measurement: MEASUREMENT,
        tags: tags.get(n.node)!,
        fields,
        types: 'f'.repeat(count),
        time,
        nanos: 0,
      });
    }
  }
  return out;
}

/** Drops float noise from the unit conversions (12 significant digits). */
function tidy(x: number): number {
  return Number(x.toPrecision(12));
}

/** Line protocol (second precision) of the case, one line per point, newline-terminated. */
export function caseLineProtocol(c: PetshopCase): string {
  const points = casePoints(c);
  let text = '';
  for (const p of points) text += encodeLine(p, 's') + '\n';
  return text;
}

/** One app record per graph node (and per metrics node the graph lacks), calls = callees. */
export function caseTopology(c: PetshopCase): TopologyRecord[] {
  const calls = new Map<string, string[]>();
  const nodes = [...c.graph.nodes];
  for (const col of c.table.columns) if (!nodes.includes(col.node)) nodes.push(col.node);
  for (const n of nodes) calls.set(n, []);
  for (const [from, to] of c.graph.edges) calls.get(from)!.push(to);
  return nodes.map((id) => {
    const callees = calls.get(id)!;
    return callees.length > 0 ? { level: 'app', id, calls: callees } : { level: 'app', id };
  });
}

/** The wide table for the peers: `time`, then `node|metric|statistic` columns, empty = missing. */
export function caseFrameCsv(c: PetshopCase): string {
  for (const x of c.table.columns) {
    // peers.py splits the column names on '|'; CSV cells are written unquoted.
    if (/[",\n|]/.test(x.node)) throw new Error(`${c.ref.id}: node name ${x.node} would need quoting`);
  }
  const header = ['time', ...c.table.columns.map((x) => `${x.node}|${x.metric}|${x.statistic}`)];
  const lines = [header.join(',')];
  for (let r = 0; r < c.table.rows.length; r++) {
    const row = c.table.rows[r]!;
    let line = String(c.table.times[r]!);
    for (let i = 0; i < row.length; i++) line += ',' + (Number.isNaN(row[i]!) ? '' : String(row[i]!));
    lines.push(line);
  }
  return lines.join('\n') + '\n';
}

/** What the peers and the scorer need to know of a case besides its rows. */
export interface CaseFacts {
  id: string;
  scenario: string;
  split: Split;
  issue: string;
  rootCause: string;
  target: PetshopCase['target'];
  /** The true fault time given to the peers: when the issue shows at the front end (unix s). */
  faultTime: number;
  windowStart: number;
  historyRows: number;
  shift: number;
  rows: number;
  nodes: string[];
  edges: Array<[string, string]>;
}

export function caseFacts(c: PetshopCase): CaseFacts {
  return {
    id: c.ref.id,
    scenario: c.ref.scenario,
    split: c.ref.split,
    issue: c.ref.issue,
    rootCause: c.rootCause,
    target: c.target,
    faultTime: c.target.time,
    windowStart: c.windowStart,
    historyRows: c.historyRows,
    shift: c.shift,
    rows: c.table.rows.length,
    nodes: c.graph.nodes,
    edges: c.graph.edges,
  };
}

export interface CaseFiles {
  dir: string;
  lp: string;
  topology: string;
  frame: string;
  facts: string;
  points: number;
}

/** Writes the four files of a case under `outDir/<scenario>/<split>/<issue>/`. */
export function writeCase(c: PetshopCase, outDir: string): CaseFiles {
  const dir = join(outDir, c.ref.id);
  mkdirSync(dir, { recursive: true });
  const points = casePoints(c);
  let lp = '';
  for (const p of points) lp += encodeLine(p, 's') + '\n';
  const files: CaseFiles = {
    dir,
    lp: join(dir, 'metrics.lp'),
    topology: join(dir, 'topology.jsonl'),
    frame: join(dir, 'frame.csv'),
    facts: join(dir, 'case.json'),
    points: points.length,
  };
  writeFileSync(files.lp, lp);
  writeFileSync(
    files.topology,
    caseTopology(c)
      .map((r) => JSON.stringify(r) + '\n')
      .join(''),
  );
  writeFileSync(files.frame, caseFrameCsv(c));
  writeFileSync(files.facts, JSON.stringify(caseFacts(c), null, 1) + '\n');
  return files;
}

export function splitsOf(arg: string | undefined): Split[] {
  if (arg === undefined || arg === 'test') return ['test'];
  if (arg === 'train') return ['train'];
  if (arg === 'all') return ['train', 'test'];
  throw new Error(`--split must be train, test or all (got ${arg})`);
}

function main(argv: string[]): void {
  const arg = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const out = arg('out');
  if (!out)
    throw new Error('usage: convert.ts [--data DIR] --out DIR [--split train|test|all] [--only ID,...]');
  const data = new PetshopDataset(arg('data'));
  const only = arg('only')?.split(',');
  for (const ref of data.cases(splitsOf(arg('split')))) {
    if (only && !only.includes(ref.id)) continue;
    const files = writeCase(data.load(ref), out);
    console.log(`${ref.id}: ${files.points} points -> ${files.dir}`);
  }
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url)
  main(process.argv.slice(2));
