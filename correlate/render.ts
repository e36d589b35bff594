import type { Candidate, IncidentEvent } from '../core/types.js';

/**
 * One `--incidents-out` JSON line per notification-worthy incident event, times as ISO-8601:
 *
 *   {"event":"opened","id":"inc-…","version":1,"status":"open","severity":"critical",
 *    "rootCause":{"level":"app","id":"pay-06da","kind":"app"},"candidates":[…],
 *    "absorbed":{"total":5100,"byLevel":{"container":50,"host":50,"neighbour":5000}},
 *    "startsAt":"…","at":"…"}
 *
 * `endsAt` appears once the incident has ended, `mergedInto` on the final event of an incident
 * folded into another one. An attribute group is `{"level":"attribute","id":"kernel=5.10.134-16",
 * "kind":"attribute"}`, an upstream app `{"level":"app","id":"cart","kind":"upstream"}`.
 */
export function renderIncidentEvent(e: IncidentEvent): string {
  return JSON.stringify(incidentEventJson(e));
}

export function incidentEventJson(e: IncidentEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {
    event: e.event,
    id: e.id,
    version: e.version,
    status: e.status,
    severity: e.severity,
    rootCause: { level: e.rootCause.level, id: e.rootCause.id, kind: e.rootCause.kind },
    candidates: e.candidates.map(candidateJson),
    absorbed: { total: e.absorbed.total, byLevel: e.absorbed.byLevel },
    startsAt: iso(e.startsAt),
  };
  if (e.endsAt !== undefined) out.endsAt = iso(e.endsAt);
  out.at = iso(e.at);
  if (e.mergedInto !== undefined) out.mergedInto = e.mergedInto;
  return out;
}

function candidateJson(c: Candidate): Record<string, unknown> {
  return {
    entity: { level: c.entity.level, id: c.entity.id, kind: c.entity.kind },
    kind: c.kind,
    score: c.score,
    evidence: c.evidence,
  };
}

function iso(t: number): string {
  return new Date(t).toISOString();
}
