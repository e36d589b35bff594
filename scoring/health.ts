import type { EntityRef, Level, Severity } from '../core/types.js';

/**
 * Health scores, 0 (dead) to 100 (fine), per entity.
 *
 * Own score = 100 - min(100, alert penalty + anomaly penalty):
 * - alert penalty: the sum over the entity's firing alerts of ALERT_WEIGHTS (a firing critical
 *   alert alone makes an entity Fatal, a warning makes it Warning, predictions weigh less than
 *   breaches because they have not happened yet);
 * - anomaly penalty: ANOMALY_WEIGHT x (0.7 x the highest + 0.3 x the mean) anomaly score of the
 *   entity's indicators (each in [0, 1], from how far a series is from its learned baseline).
 *
 * Roll-ups (children: a host's and an app's containers, a rack's and an IDC's hosts):
 * - children aggregate = 0.5 x mean + 0.5 x mean of the worst quarter, so a few sick children
 *   are visible in a big group without one of a hundred sinking the parent;
 * - host = min(own, 0.6 x own + 0.4 x children);
 * - app, rack, idc = min(own, children) (they rarely have metrics of their own, and when they
 *   do, e.g. an app's traffic anomaly, those count fully).
 *
 * Status: Healthy >= 75 > Warning >= 40 > Fatal.
 *
 * A lower score lowers the bar for alerting: when a rule's condition starts to hold, its `for`
 * duration is multiplied by FOR_FACTOR of the entity's status at that moment (Healthy 1,
 * Warning 0.5, Fatal 0.25), so an entity already in trouble raises its next alerts sooner.
 */

export type HealthStatus = 'healthy' | 'warning' | 'fatal';

export const HEALTHY_MIN = 75;
export const WARNING_MIN = 40;

export const ALERT_WEIGHTS: Readonly<Record<Severity, { breach: number; predicted: number }>> = Object.freeze(
  {
    critical: { breach: 65, predicted: 40 },
    warning: { breach: 30, predicted: 26 },
    info: { breach: 8, predicted: 5 },
  },
);

export const ANOMALY_WEIGHT = 40;
export const HOST_OWN_WEIGHT = 0.6;

export const FOR_FACTOR: Readonly<Record<HealthStatus, number>> = Object.freeze({
  healthy: 1,
  warning: 0.5,
  fatal: 0.25,
});

export function alertWeight(severity: Severity, predicted: boolean): number {
  const w = ALERT_WEIGHTS[severity];
  return predicted ? w.predicted : w.breach;
}

export function healthStatus(score: number): HealthStatus {
  return score >= HEALTHY_MIN ? 'healthy' : score >= WARNING_MIN ? 'warning' : 'fatal';
}

export function ownScore(alertPenalty: number, anomalyMax: number, anomalyMean: number): number {
  const anomaly = ANOMALY_WEIGHT * (0.7 * anomalyMax + 0.3 * anomalyMean);
  const penalty = alertPenalty + anomaly;
  return penalty >= 100 ? 0 : 100 - penalty;
}

/** 0.5 x mean + 0.5 x mean of the worst quarter; undefined without children. Sorts `scores`. */
export function childrenAggregate(scores: number[]): number | undefined {
  const n = scores.length;
  if (n === 0) return undefined;
  scores.sort((a, b) => a - b);
  let sum = 0;
  for (const s of scores) sum += s;
  const worstN = Math.max(1, Math.ceil(n / 4));
  let worst = 0;
  for (let i = 0; i < worstN; i++) worst += scores[i]!;
  return 0.5 * (sum / n) + 0.5 * (worst / worstN);
}

export function rollUp(level: Level, own: number, children: number | undefined): number {
  if (children === undefined) return own;
  if (level === 'host') return Math.min(own, HOST_OWN_WEIGHT * own + (1 - HOST_OWN_WEIGHT) * children);
  if (level === 'container') return own;
  return Math.min(own, children);
}

export interface EntityHealth {
  entity: EntityRef;
  /** 0..100, rounded to one decimal. */
  score: number;
  status: HealthStatus;
  /** The entity's own score (its alerts and indicators), before roll-up. */
  own: number;
  alertPenalty: number;
  /** Highest anomaly score of the entity's own indicators, 0..1. */
  anomaly: number;
  firingAlerts: number;
  /** Roll-up inputs, when the entity has children. */
  children?: { count: number; aggregate: number };
}
