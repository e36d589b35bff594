import type { AlertEvent, Candidate } from '../core/types.js';
import type { IncidentDetail, IncidentSummary, IncidentTreeNode } from '../correlate/incident.js';
import type { Silence } from '../notify/silences.js';
import type { DeadLetter } from '../notify/types.js';
import type { Feedback, OperatorAction, OperatorState } from './ports.js';
import type {
  AlertJson,
  FeedbackJson,
  IncidentDetailJson,
  IncidentSummaryJson,
  TreeNodeJson,
} from './schemas.js';
import { TREE_DEPTH } from './schemas.js';

/**
 * Domain records to the API's JSON (times as ISO-8601 text). Times outside what a Date can
 * write in RFC 3339 never reach a client: they are clamped, so a bad input upstream cannot make a
 * 500 or a response that breaks its schema here.
 */
/** 0000-01-01 .. 9999-12-31: what RFC 3339 (and so JSON schema's date-time) can write. */
const MIN_T = -62_167_219_200_000;
const MAX_T = 253_402_300_799_999;

export function iso(t: number): string {
  if (Number.isNaN(t)) return new Date(0).toISOString();
  return new Date(Math.min(MAX_T, Math.max(MIN_T, t))).toISOString();
}

function actionJson(a: OperatorAction): { by: string; comment: string; at: string; version: number } {
  return { by: a.by, comment: a.comment, at: iso(a.at), version: a.version };
}

function candidatesJson(candidates: readonly Candidate[]): IncidentSummaryJson['candidates'] {
  return candidates.map((c, i) => ({
    entity: { level: c.entity.level, id: c.entity.id, kind: c.entity.kind },
    kind: c.kind,
    score: Number.isFinite(c.score) ? c.score : 0,
    rank: i + 1,
    evidence: c.evidence,
  }));
}

/**
 * The status an operator sees: the correlator's, except that an operator's resolve shows as
 * resolved until the incident changes again (a later version reopens it).
 */
export function effectiveStatus(s: IncidentSummary, op: OperatorState | undefined): 'open' | 'resolved' {
  if (s.status === 'resolved') return 'resolved';
  return op?.resolved !== undefined && op.resolved.version >= s.version ? 'resolved' : 'open';
}

export function incidentSummaryJson(s: IncidentSummary, op: OperatorState | undefined): IncidentSummaryJson {
  const out: IncidentSummaryJson = {
    id: s.id,
    version: s.version,
    status: effectiveStatus(s, op),
    severity: s.severity,
    rootCause: { level: s.rootCause.level, id: s.rootCause.id, kind: s.rootCause.kind },
    candidates: candidatesJson(s.candidates),
    absorbed: { total: s.absorbed.total, byLevel: { ...s.absorbed.byLevel } as Record<string, number> },
    firing: s.firing,
    startsAt: iso(s.startsAt),
    openedAt: iso(s.openedAt),
  };
  if (s.endsAt !== undefined) out.endsAt = iso(s.endsAt);
  if (s.mergedInto !== undefined) out.mergedInto = s.mergedInto;
  if (op?.acknowledged !== undefined) out.acknowledged = actionJson(op.acknowledged);
  if (op?.resolved !== undefined) out.resolvedBy = actionJson(op.resolved);
  return out;
}

export interface TreeLimits {
  childrenPerNode: number;
  alertsPerNode: number;
}

export function incidentDetailJson(
  d: IncidentDetail,
  op: OperatorState | undefined,
  feedback: readonly Feedback[],
  limits: TreeLimits,
): IncidentDetailJson {
  const timeline: IncidentDetailJson['timeline'] = d.timeline.map((t) => ({
    at: iso(t.at),
    kind: t.kind,
    detail: t.detail,
  }));
  // Operator actions are wall-clock; they follow the event-time entries rather than interleave.
  if (op?.acknowledged) {
    timeline.push({
      at: iso(op.acknowledged.at),
      kind: 'acknowledged',
      detail: operatorDetail('acknowledged', op.acknowledged),
    });
  }
  if (op?.resolved) {
    timeline.push({
      at: iso(op.resolved.at),
      kind: 'operator-resolved',
      detail: operatorDetail('resolved', op.resolved),
    });
  }
  for (let i = feedback.length - 1; i >= 0; i--) {
    const f = feedback[i]!;
    timeline.push({ at: iso(f.at), kind: 'feedback', detail: `${f.by}: root cause ${f.verdict}` });
  }
  const roots = d.tree.slice(0, Math.max(limits.childrenPerNode, 1));
  return {
    ...incidentSummaryJson(d, op),
    tree: roots.map((n) => treeNodeJson(n, limits, TREE_DEPTH)),
    omittedRoots: d.tree.length - roots.length,
    timeline,
    feedback: feedback.map(feedbackJson),
  };
}

function operatorDetail(what: string, a: OperatorAction): string {
  return `${what} by ${a.by}${a.comment ? `: ${a.comment}` : ''}`;
}

function treeNodeJson(n: IncidentTreeNode, limits: TreeLimits, depth: number): TreeNodeJson {
  const shown = depth > 1 ? n.children.slice(0, limits.childrenPerNode) : [];
  const alerts = n.alerts.slice(0, limits.alertsPerNode).map((a) => {
    const out: TreeNodeJson['alerts'][number] = {
      id: a.id,
      rule: a.rule,
      severity: a.severity,
      state: a.state,
      predicted: a.predicted,
      startsAt: iso(a.startsAt),
    };
    if (a.endsAt !== undefined) out.endsAt = iso(a.endsAt);
    return out;
  });
  const out: TreeNodeJson = {
    entity: { level: n.entity.level, id: n.entity.id },
    role: n.role,
    alertCount: n.alerts.length,
    alerts,
    childCount: n.children.length,
    omittedChildren: n.children.length - shown.length,
  };
  if (depth > 1) out.children = shown.map((c) => treeNodeJson(c, limits, depth - 1));
  return out;
}

export function feedbackJson(f: Feedback): FeedbackJson {
  const out: FeedbackJson = {
    id: f.id,
    incidentId: f.incidentId,
    incidentVersion: f.incidentVersion,
    verdict: f.verdict,
    rootCause: { level: f.rootCause.level, id: f.rootCause.id, kind: f.rootCause.kind },
    candidates: f.candidates.map((c) => ({
      entity: { level: c.entity.level, id: c.entity.id, kind: c.entity.kind },
      score: c.score,
    })),
    comment: f.comment,
    by: f.by,
    at: iso(f.at),
  };
  if (f.actualCause !== undefined) out.actualCause = f.actualCause;
  return out;
}

export function alertJson(a: AlertEvent): AlertJson {
  const out: AlertJson = {
    id: a.id,
    fingerprint: a.fingerprint,
    rule: a.rule,
    severity: a.severity,
    state: a.state,
    entity: { level: a.entity.level, id: a.entity.id },
    predicted: a.predicted,
    at: iso(a.at),
    startsAt: iso(a.startsAt),
    labels: a.labels,
    annotations: a.annotations,
  };
  if (a.etaSeconds !== undefined && Number.isFinite(a.etaSeconds)) out.etaSeconds = a.etaSeconds;
  if (a.score !== undefined && Number.isFinite(a.score)) out.score = a.score;
  return out;
}

export function silenceJson(s: Silence, now: number) {
  return {
    id: s.id,
    matchers: s.matchers,
    startsAt: iso(s.startsAt),
    endsAt: iso(s.endsAt),
    createdBy: s.createdBy,
    comment: s.comment,
    createdAt: iso(s.createdAt),
    active: now >= s.startsAt && now < s.endsAt,
    kind: s.id.startsWith('maintenance:') ? ('maintenance' as const) : ('silence' as const),
  };
}

export function deadLetterJson(d: DeadLetter) {
  return {
    id: d.id,
    sink: d.delivery.sink,
    incidentId: d.delivery.incidentId,
    version: d.delivery.version,
    event: d.delivery.event.event,
    reason: d.reason,
    attempts: d.attempts,
    failedAt: iso(d.failedAt),
    queuedAt: iso(d.delivery.queuedAt),
  };
}
