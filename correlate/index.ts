/**
 * Correlation: alerts + topology -> incidents with a ranked root cause and evidence.
 *
 *   const c = new Correlator(topology, { groupWaitMs: 30_000 });
 *   for (const alert of alerts) c.ingest(alert);
 *   for (const event of c.advance(watermark)) sink.write(renderIncidentEvent(event) + '\n');
 */

export {
  ALERTMANAGER_LABELS,
  type AlertmanagerOptions,
  isAlertmanagerPayload,
  parseAlertmanagerWebhook,
} from './alertmanager.js';
export {
  alertFingerprint,
  alertId,
  parseAlertLine,
  parseAlertLines,
  renderAlertLine,
  toAlertEvent,
} from './alerts.js';
export {
  Correlator,
  type CorrelatorOptions,
  type CorrelatorSnapshot,
  type CorrelatorStats,
} from './correlator.js';
export { type ElectedCause, type ElectionOptions, elect, explanationGain } from './election.js';
export type {
  AlertSummary,
  IncidentDetail,
  IncidentSummary,
  IncidentTreeNode,
  TimelineEntry,
} from './incident.js';
export { incidentEventJson, renderIncidentEvent } from './render.js';
