import type { AlertEvent, EntityRef, Severity } from '../core/types.js';

/**
 * The `--alerts-out` record: one JSON line per alert state change, event times as ISO strings.
 * Keys in a fixed order so that files diff cleanly between runs.
 */
export interface AlertJson {
  id: string;
  fingerprint: string;
  rule: string;
  severity: Severity;
  state: 'firing' | 'resolved';
  entity: EntityRef;
  predicted: boolean;
  etaSeconds?: number;
  score?: number;
  at: string;
  startsAt: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export function alertToJson(e: AlertEvent): AlertJson {
  return {
    id: e.id,
    fingerprint: e.fingerprint,
    rule: e.rule,
    severity: e.severity,
    state: e.state,
    entity: { level: e.entity.level, id: e.entity.id },
    predicted: e.predicted,
    ...(e.etaSeconds === undefined ? {} : { etaSeconds: e.etaSeconds }),
    ...(e.score === undefined ? {} : { score: e.score }),
    at: new Date(e.at).toISOString(),
    startsAt: new Date(e.startsAt).toISOString(),
    labels: e.labels,
    annotations: e.annotations,
  };
}

/** One line of `--alerts-out`, without the trailing newline. */
export function alertJsonLine(e: AlertEvent): string {
  return JSON.stringify(alertToJson(e));
}
