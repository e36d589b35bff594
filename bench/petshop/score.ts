/**
 * Scoring of the PetShop cases: Converge's answer read from `--incidents-out`, the max-|z|
 * baseline, top-k recall with ties, and the table.
 *
 * An answer is a list of tiers, best first; the nodes of one tier are tied (the method gave
 * no order between them). Top-k credit for the truth in a tier of g nodes with p nodes before
 * it is clamp((k - p) / g, 0, 1): the chance it lands in the top k when ties are broken at
 * random. A tier of one is an ordinary rank; an empty answer scores 0.
 */
import { type PetshopCase, STEP_S } from './dataset.js';

export type Answer = string[][];

/** Expected top-k hit of `truth` in `answer` (0..1). */
export function topK(answer: Answer, truth: string, k: number): number {
  let before = 0;
  const seen = new Set<string>();
  for (const tier of answer) {
    const fresh = tier.filter((n) => !seen.has(n));
    for (const n of fresh) seen.add(n);
    if (fresh.length === 0) continue;
    if (fresh.includes(truth)) return Math.min(1, Math.max(0, (k - before) / fresh.length));
    before += fresh.length;
    if (before >= k) return 0;
  }
  return 0;
}

/** A plain ranking as tiers of one. */
export function ranked(nodes: readonly string[]): Answer {
  return nodes.map((n) => [n]);
}

// ---------------------------------------------------------------------------------------------
// Converge
// ---------------------------------------------------------------------------------------------

interface EntityJson {
  level: string;
  id: string;
  kind: string;
}

interface IncidentJson {
  event: 'opened' | 'updated' | 'resolved';
  id: string;
  severity: string;
  rootCause: EntityJson;
  candidates: Array<{ entity: EntityJson; score: number }>;
  absorbed: { total: number };
  at: string;
}

export interface ConvergeOutcome {
  answer: Answer;
  /** Incidents opened before the issue window (during normal operation). */
  openedInHistory: number;
  /** Incidents opened from the window start on. */
  openedInWindow: number;
  /** The first incident(s) opened from the window start on: event time, root causes. */
  first?: { at: number; rootCauses: string[] };
  /** Whether any incident opened in the window names the truth among its candidates. */
  namedAnywhere: boolean;
}

const SEVERITY_RANK: Record<string, number> = { critical: 3, warning: 2, info: 1 };

/** An app is named by its id; anything else (host, attribute, ...) keeps its level in front. */
function nodeOf(e: EntityJson): string {
  return e.level === 'app' ? e.id : `${e.level}:${e.id}`;
}

/**
 * Converge's answer for a case, from its `--incidents-out` lines: the first incident opened at
 * or after the window start (Converge is not told the fault time; it has the whole history
 * before). Its root cause is rank 1, then its other candidates by score, as of its last
 * `opened`/`updated` event. Incidents opened at the same event time are ordered by severity,
 * then by alerts absorbed; what is still equal is a tie. No incident in the window: no answer.
 */
export function convergeAnswer(incidentLines: string, windowStartS: number, truth: string): ConvergeOutcome {
  const windowMs = windowStartS * 1000;
  const openedAt = new Map<string, number>();
  const latest = new Map<string, IncidentJson>();
  for (const line of incidentLines.split('\n')) {
    if (line.trim() === '') continue;
    const e = JSON.parse(line) as IncidentJson;
    if (e.event === 'opened' && !openedAt.has(e.id)) openedAt.set(e.id, Date.parse(e.at));
    if (e.event !== 'resolved') latest.set(e.id, e);
  }
  let openedInHistory = 0;
  let openedInWindow = 0;
  let firstAt = Number.POSITIVE_INFINITY;
  for (const at of openedAt.values()) {
    if (at < windowMs) openedInHistory++;
    else {
      openedInWindow++;
      firstAt = Math.min(firstAt, at);
    }
  }
  let namedAnywhere = false;
  for (const [id, at] of openedAt) {
    if (at < windowMs) continue;
    const e = latest.get(id)!;
    if (nodeOf(e.rootCause) === truth || e.candidates.some((c) => nodeOf(c.entity) === truth))
      namedAnywhere = true;
  }
  if (!Number.isFinite(firstAt)) return { answer: [], openedInHistory, openedInWindow, namedAnywhere };

  const group = [...openedAt]
    .filter(([, at]) => at === firstAt)
    .map(([id]) => latest.get(id)!)
    .map((e) => ({ e, key: [SEVERITY_RANK[e.severity] ?? 0, e.absorbed.total] as const }))
    .sort((a, b) => b.key[0] - a.key[0] || b.key[1] - a.key[1]);
  const answer: Answer = [];
  for (let i = 0; i < group.length; ) {
    let j = i;
    const tier: string[] = [];
    while (
      j < group.length &&
      group[j]!.key[0] === group[i]!.key[0] &&
      group[j]!.key[1] === group[i]!.key[1]
    ) {
      tier.push(nodeOf(group[j]!.e.rootCause));
      j++;
    }
    answer.push(tier);
    i = j;
  }
  const roots = new Set(answer.flat());
  const rest = new Map<string, number>();
  for (const { e } of group) {
    for (const c of e.candidates) {
      const n = nodeOf(c.entity);
      if (!roots.has(n)) rest.set(n, Math.max(rest.get(n) ?? Number.NEGATIVE_INFINITY, c.score));
    }
  }
  const scores = [...new Set(rest.values())].sort((a, b) => b - a);
  for (const s of scores) answer.push([...rest].filter(([, v]) => v === s).map(([n]) => n));
  return {
    answer,
    openedInHistory,
    openedInWindow,
    first: { at: firstAt, rootCauses: group.map(({ e }) => nodeOf(e.rootCause)) },
    namedAnywhere,
  };
}

// ---------------------------------------------------------------------------------------------
// The max-|z| baseline
// ---------------------------------------------------------------------------------------------

/** Rows (indices) of the case from the one whose 5-minute period holds the true fault time. */
export function faultRow(c: PetshopCase): number {
  const times = c.table.times;
  const first = times.findIndex((t) => t >= c.windowStart);
  let row = first;
  for (let i = first; i < times.length; i++) if (times[i]! <= c.target.time) row = i;
  return row;
}

/**
 * Baseline with no topology, given the true fault time: every node scored by the largest |z| of
 * any of its metrics in the rows from the fault row on, against the hour before it (12 rows;
 * fewer where the case has fewer: the temporal scenarios); a metric needs 2 reference values
 * and a non-zero spread. Nodes ranked by score; nodes with no score are left out.
 */
export function maxZBaseline(c: PetshopCase, referenceRows = 3600 / STEP_S): string[] {
  const from = faultRow(c);
  const refStart = Math.max(0, from - referenceRows);
  const best = new Map<string, number>();
  c.table.columns.forEach((col, j) => {
    let n = 0;
    let sum = 0;
    let sq = 0;
    for (let r = refStart; r < from; r++) {
      const x = c.table.rows[r]![j]!;
      if (Number.isNaN(x)) continue;
      n++;
      sum += x;
      sq += x * x;
    }
    if (n < 2) return;
    const mean = sum / n;
    const sd = Math.sqrt(Math.max(0, (sq - n * mean * mean) / (n - 1)));
    if (!(sd > 1e-12 * Math.max(1, Math.abs(mean)))) return;
    let z = 0;
    for (let r = from; r < c.table.rows.length; r++) {
      const x = c.table.rows[r]![j]!;
      if (!Number.isNaN(x)) z = Math.max(z, Math.abs(x - mean) / sd);
    }
    best.set(col.node, Math.max(best.get(col.node) ?? 0, z));
  });
  return [...best]
    .filter(([, z]) => z > 0)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([n]) => n);
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

export interface MethodRow {
  name: string;
  /** What the method is told beyond the metrics (e.g. "fault time, history"). */
  given: string;
  /** case id -> answer */
  answers: Map<string, Answer>;
}

export interface CaseTruth {
  id: string;
  scenario: string;
  rootCause: string;
}

export interface Recall {
  n: number;
  top1: number;
  top3: number;
  empty: number;
}

export function recall(row: MethodRow, cases: readonly CaseTruth[]): Recall {
  const r: Recall = { n: cases.length, top1: 0, top3: 0, empty: 0 };
  for (const c of cases) {
    const a = row.answers.get(c.id) ?? [];
    if (a.length === 0) r.empty++;
    r.top1 += topK(a, c.rootCause, 1);
    r.top3 += topK(a, c.rootCause, 3);
  }
  return r;
}

const pct = (x: number, n: number) => (n === 0 ? '-' : `${Math.round((100 * x) / n)}%`);

/** Markdown table: per scenario and overall, top-1 / top-3 recall, and how many had no answer. */
export function formatTable(
  rows: readonly MethodRow[],
  cases: readonly CaseTruth[],
  scenarios: readonly string[],
): string {
  const groups = scenarios.map((s) => ({ s, cases: cases.filter((c) => c.scenario === s) }));
  const header = [
    'method',
    'given',
    ...groups.map((g) => `${g.s} (${g.cases.length})`),
    `all (${cases.length})`,
    'no answer',
  ];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`];
  for (const row of rows) {
    const cells = [row.name, row.given];
    for (const g of groups) {
      const r = recall(row, g.cases);
      cells.push(`${pct(r.top1, r.n)} / ${pct(r.top3, r.n)}`);
    }
    const all = recall(row, cases);
    cells.push(`**${pct(all.top1, all.n)} / ${pct(all.top3, all.n)}**`);
    cells.push(String(all.empty));
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
