/**
 * Reading the PetShop root-cause dataset (Amazon Science, CC-BY-4.0; see README.md here) in
 * place, and building the evaluation cases: one case per injected issue, the scenario's
 * normal-operation history (`noissue`, where it exists) shifted in time to end one step before
 * the issue window, followed by the issue window itself.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SCENARIOS = ['low_traffic', 'high_traffic', 'temporal_traffic1', 'temporal_traffic2'] as const;
export type Scenario = (typeof SCENARIOS)[number];
export type Split = 'train' | 'test';

/** The data step of the dataset (CloudWatch / X-Ray 5-minute periods). */
export const STEP_S = 300;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Where the dataset is: `explicit` (a --data argument), else `$PETSHOP_DATA`, else
 * `../shared/datasets/petshop` beside the repository, else `/work/shared/datasets/petshop`.
 * Throws naming every place looked at when none holds `dataset/`.
 */
export function resolveDataDir(explicit?: string): string {
  const tried = [
    explicit,
    process.env.PETSHOP_DATA,
    join(ROOT, '..', 'shared', 'datasets', 'petshop'),
    '/work/shared/datasets/petshop',
  ].filter((p): p is string => p !== undefined && p !== '');
  for (const p of tried) if (existsSync(join(p, 'dataset'))) return resolve(p);
  throw new Error(
    `PetShop dataset not found (looked for dataset/ in: ${tried.join(', ')}); pass --data DIR or set PETSHOP_DATA`,
  );
}

export interface Column {
  node: string;
  metric: string;
  statistic: string;
}

/** A metrics.csv: unix seconds per row, one column per (node, metric, statistic), NaN = missing. */
export interface MetricsTable {
  columns: Column[];
  times: number[];
  rows: Float64Array[];
}

/** Parses a metrics.csv (three header rows, a `unix_timestamp` row, then data rows). */
export function parseMetrics(text: string, source: string): MetricsTable {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const cells = (i: number) => (lines[i] ?? '').split(',');
  const [nodes, metrics, stats, marker] = [cells(0), cells(1), cells(2), cells(3)];
  if (nodes[0] !== 'microservice' || metrics[0] !== 'metric' || stats[0] !== 'statistic') {
    throw new Error(`${source}:1: expected header rows microservice / metric / statistic`);
  }
  if (marker[0] !== 'unix_timestamp') throw new Error(`${source}:4: expected the unix_timestamp row`);
  const width = nodes.length;
  if (metrics.length !== width || stats.length !== width) {
    throw new Error(
      `${source}:2: header rows differ in length (${width}, ${metrics.length}, ${stats.length})`,
    );
  }
  const columns: Column[] = [];
  for (let c = 1; c < width; c++)
    columns.push({ node: nodes[c]!, metric: metrics[c]!, statistic: stats[c]! });
  const times: number[] = [];
  const rows: Float64Array[] = [];
  for (let i = 4; i < lines.length; i++) {
    if (lines[i] === '') continue;
    const r = cells(i);
    if (r.length !== width) throw new Error(`${source}:${i + 1}: ${r.length} cells, the header has ${width}`);
    const t = Number(r[0]);
    if (!Number.isFinite(t)) throw new Error(`${source}:${i + 1}: bad timestamp ${JSON.stringify(r[0])}`);
    const row = new Float64Array(width - 1);
    for (let c = 1; c < width; c++) {
      const v = r[c]!;
      const x = v === '' ? Number.NaN : Number(v);
      if (v !== '' && !Number.isFinite(x)) {
        throw new Error(`${source}:${i + 1}: column ${c + 1}: bad value ${JSON.stringify(v)}`);
      }
      row[c - 1] = x;
    }
    times.push(Math.round(t));
    rows.push(row);
  }
  return { columns, times, rows };
}

export interface CallGraph {
  nodes: string[];
  /** [caller, callee] */
  edges: Array<[string, string]>;
}

/** Parses graph.csv: a square adjacency matrix, row node -> column node (caller -> callee). */
export function parseGraph(text: string, source: string): CallGraph {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0]!.split(',').slice(1);
  const edges: Array<[string, string]> = [];
  const nodes: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const r = lines[i]!.split(',');
    const from = r[0]!;
    if (from !== header[i - 1])
      throw new Error(`${source}:${i + 1}: row ${from} is not column ${header[i - 1]}`);
    nodes.push(from);
    for (let c = 1; c < r.length; c++) {
      const v = Number(r[c]);
      if (!Number.isFinite(v)) throw new Error(`${source}:${i + 1}: bad cell ${JSON.stringify(r[c])}`);
      if (v !== 0 && header[c - 1] !== from) edges.push([from, header[c - 1]!]);
    }
  }
  if (nodes.length !== header.length)
    throw new Error(`${source}: ${nodes.length} rows for ${header.length} columns`);
  return { nodes, edges };
}

export interface Target {
  /** The front-end node, metric and statistic where the issue shows, and when (unix s). */
  node: string;
  metric: string;
  agg: string;
  time: number;
}

export interface CaseRef {
  scenario: Scenario;
  split: Split;
  issue: string;
  /** `low_traffic/test/issue_3` */
  id: string;
  dir: string;
}

/** Every issue of the chosen splits, in scenario order then issue number. */
export function listCases(dataDir: string, splits: readonly Split[] = ['train', 'test']): CaseRef[] {
  const out: CaseRef[] = [];
  for (const scenario of SCENARIOS) {
    for (const split of splits) {
      const base = join(dataDir, 'dataset', scenario, split);
      const issues = readdirSync(base)
        .filter((d) => d.startsWith('issue_'))
        .sort((a, b) => Number(a.slice(6)) - Number(b.slice(6)));
      for (const issue of issues) {
        out.push({ scenario, split, issue, id: `${scenario}/${split}/${issue}`, dir: join(base, issue) });
      }
    }
  }
  return out;
}

export interface PetshopCase {
  ref: CaseRef;
  rootCause: string;
  target: Target;
  graph: CallGraph;
  /** History rows (shifted noissue) then the issue window, one table, union of columns. */
  table: MetricsTable;
  /** Rows of history before the window (0 where the scenario has no noissue data). */
  historyRows: number;
  /** Unix seconds of the first issue-window row. */
  windowStart: number;
  /** Seconds added to the noissue timestamps (0 without history). */
  shift: number;
}

/** Caches the per-scenario files (graph, noissue) across the cases of one process. */
export class PetshopDataset {
  readonly dir: string;
  private readonly graphs = new Map<Scenario, CallGraph>();
  private readonly normal = new Map<Scenario, MetricsTable | null>();

  constructor(dataDir?: string) {
    this.dir = resolveDataDir(dataDir);
  }

  cases(splits: readonly Split[] = ['train', 'test']): CaseRef[] {
    return listCases(this.dir, splits);
  }

  graph(scenario: Scenario): CallGraph {
    let g = this.graphs.get(scenario);
    if (!g) {
      const path = join(this.dir, 'dataset', scenario, 'graph.csv');
      g = parseGraph(readFileSync(path, 'utf8'), path);
      this.graphs.set(scenario, g);
    }
    return g;
  }

  /** The scenario's normal-operation metrics, or null where the dataset lacks them. */
  noissue(scenario: Scenario): MetricsTable | null {
    if (!this.normal.has(scenario)) {
      const path = join(this.dir, 'dataset', scenario, 'noissue', 'metrics.csv');
      this.normal.set(scenario, existsSync(path) ? parseMetrics(readFileSync(path, 'utf8'), path) : null);
    }
    return this.normal.get(scenario)!;
  }

  load(ref: CaseRef): PetshopCase {
    const metricsPath = join(ref.dir, 'metrics.csv');
    const window = parseMetrics(readFileSync(metricsPath, 'utf8'), metricsPath);
    const targetPath = join(ref.dir, 'target.json');
    const t = JSON.parse(readFileSync(targetPath, 'utf8')) as {
      target: { node: string; metric: string; agg: string; timestamp: number };
      root_cause: { node: string };
    };
    if (window.times.length === 0) throw new Error(`${metricsPath}: no data rows`);
    const windowStart = window.times[0]!;
    const history = this.noissue(ref.scenario);
    const shift = history ? windowStart - STEP_S - history.times[history.times.length - 1]! : 0;
    const table = history
      ? concatTables([{ ...history, times: history.times.map((x) => x + shift) }, window])
      : window;
    return {
      ref,
      rootCause: t.root_cause.node,
      target: { node: t.target.node, metric: t.target.metric, agg: t.target.agg, time: t.target.timestamp },
      graph: this.graph(ref.scenario),
      table,
      historyRows: history ? history.times.length : 0,
      windowStart,
      shift,
    };
  }
}

/** Rows of `parts` one after another; columns are the union (first seen first), NaN where absent. */
export function concatTables(parts: MetricsTable[]): MetricsTable {
  const key = (c: Column) => `${c.node}\u0000${c.metric}\u0000${c.statistic}`;
  const index = new Map<string, number>();
  const columns: Column[] = [];
  for (const p of parts) {
    for (const c of p.columns) {
      if (!index.has(key(c))) {
        index.set(key(c), columns.length);
        columns.push(c);
      }
    }
  }
  const times: number[] = [];
  const rows: Float64Array[] = [];
  for (const p of parts) {
    const map = p.columns.map((c) => index.get(key(c))!);
    for (let i = 0; i < p.rows.length; i++) {
      const row = new Float64Array(columns.length).fill(Number.NaN);
      const src = p.rows[i]!;
      for (let c = 0; c < map.length; c++) row[map[c]!] = src[c]!;
      times.push(p.times[i]!);
      rows.push(row);
    }
  }
  return { columns, times, rows };
}
