import { preview, stringMap } from '../core/json-values.js';
import type { AlertEvent, DecodeError, EntityRef, Level, Severity } from '../core/types.js';
import { ALERT_LIMITS, alertFingerprint, alertId, alertTimeProblem } from './alerts.js';

/**
 * Prometheus Alertmanager webhook payloads (version 4) as alert state changes, so Alertmanager
 * (or anything speaking its webhook) can feed the correlator:
 *
 *   {"version":"4","status":"firing","receiver":"converge","groupLabels":{...},
 *    "alerts":[{"status":"firing","labels":{"alertname":"HostDown","host":"h1","severity":"critical"},
 *               "annotations":{...},"startsAt":"2024-03-01T10:00:00Z","endsAt":"0001-01-01T00:00:00Z",
 *               "fingerprint":"e74276cdf4999ae2"}]}
 *
 * - rule: `alertname`; severity: `severity` (critical/page/error/high -> critical,
 *   info/none/low -> info, anything else warning);
 * - entity: the most specific level a label names (container, then host, app, rack, idc), by
 *   the same tag names the topology reads from metrics; Prometheus' `instance` ("host:9100")
 *   names the host when no host label does;
 * - time: a firing alert's `startsAt`; a resolved one's `endsAt` (Alertmanager sets it).
 *
 * Alerts that name no entity or carry bad times become errors naming the alert and the field;
 * the others are kept.
 */
export interface AlertmanagerOptions {
  /** Label names per level, most preferred first. Default: the topology's defaults plus Prometheus ones. */
  mapping?: Partial<Record<Level, readonly string[]>>;
}

export const ALERTMANAGER_LABELS: Readonly<Record<Level, readonly string[]>> = Object.freeze({
  container: ['container_name', 'container', 'pod_name', 'pod'],
  host: ['host', 'hostname', 'node', 'nodename', 'instance'],
  app: ['app', 'appid', 'service'],
  rack: ['rack'],
  idc: ['dc', 'idc', 'zone'],
});

/** Most specific first: an alert about a container on a host is the container's. */
const SPECIFICITY: readonly Level[] = ['container', 'host', 'app', 'rack', 'idc'];

export interface ParsedAlertmanager {
  alerts: AlertEvent[];
  /** `line` is the 1-based index of the alert in `alerts`. */
  errors: DecodeError[];
}

/** Whether a JSON value looks like an Alertmanager webhook payload (rather than native alerts). */
export function isAlertmanagerPayload(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  return Array.isArray(v.alerts) && (typeof v.version === 'string' || typeof v.receiver === 'string');
}

/** Throws AlertmanagerPayloadError when the payload as a whole is unusable. */
export function parseAlertmanagerWebhook(
  payload: unknown,
  options: AlertmanagerOptions = {},
): ParsedAlertmanager {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new AlertmanagerPayloadError('(payload)', 'expected a JSON object');
  }
  const p = payload as Record<string, unknown>;
  if (p.version !== undefined && p.version !== '4') {
    throw new AlertmanagerPayloadError(
      'version',
      `only webhook version "4" is understood (got ${show(p.version)})`,
    );
  }
  if (!Array.isArray(p.alerts)) throw new AlertmanagerPayloadError('alerts', 'expected an array');
  const mapping = { ...ALERTMANAGER_LABELS, ...options.mapping };
  const common = stringMap(p.commonLabels, 'commonLabels', ALERT_LIMITS.labels);
  if (typeof common === 'string') throw new AlertmanagerPayloadError('commonLabels', common);
  const alerts: AlertEvent[] = [];
  const errors: DecodeError[] = [];
  for (let i = 0; i < p.alerts.length; i++) {
    const parsed = alertmanagerAlert(p.alerts[i], mapping, common);
    if (typeof parsed === 'string') {
      errors.push({ line: i + 1, reason: `alerts.${i}: ${parsed}`, text: preview(p.alerts[i], 200) });
    } else alerts.push(parsed);
  }
  return { alerts, errors };
}

export class AlertmanagerPayloadError extends Error {
  override name = 'AlertmanagerPayloadError';
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

function alertmanagerAlert(
  value: unknown,
  mapping: Readonly<Record<Level, readonly string[]>>,
  common: Record<string, string>,
): AlertEvent | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected an object';
  const a = value as Record<string, unknown>;
  if (
    a.labels !== undefined &&
    (typeof a.labels !== 'object' || a.labels === null || Array.isArray(a.labels))
  )
    return 'labels: expected an object of strings';
  const own = stringMap(a.labels, 'labels', ALERT_LIMITS.labels);
  if (typeof own === 'string') return own;
  const labels = { ...common, ...own };
  const annotations = stringMap(a.annotations, 'annotations', ALERT_LIMITS.annotations);
  if (typeof annotations === 'string') return annotations;
  const rule = labels.alertname;
  if (rule === undefined || rule === '') return 'labels.alertname: missing (it names the rule)';
  const entity = entityOf(labels, mapping);
  if (entity === undefined) {
    return `labels: no label names an entity (expected one of ${SPECIFICITY.map((l) => mapping[l].join('/')).join(', ')})`;
  }
  const status = a.status;
  if (status !== 'firing' && status !== 'resolved')
    return `status: expected firing or resolved (got ${show(status)})`;
  const startsAt = amTime(a.startsAt);
  if (startsAt === undefined) return `startsAt: expected an RFC 3339 time (got ${show(a.startsAt)})`;
  const startProblem = alertTimeProblem(startsAt);
  if (startProblem !== undefined) return `startsAt: ${startProblem}`;
  let at = startsAt;
  if (status === 'resolved') {
    const endsAt = amTime(a.endsAt);
    if (endsAt === undefined)
      return `endsAt: a resolved alert needs its RFC 3339 end time (got ${show(a.endsAt)})`;
    const endProblem = alertTimeProblem(endsAt);
    if (endProblem !== undefined) return `endsAt: ${endProblem}`;
    at = Math.max(endsAt, startsAt);
  }
  const fingerprint =
    typeof a.fingerprint === 'string' && a.fingerprint !== ''
      ? 'am:' + a.fingerprint
      : alertFingerprint(rule, entity, labels);
  const alert: AlertEvent = {
    id: alertId(fingerprint, startsAt),
    fingerprint,
    rule,
    severity: severityOf(labels.severity),
    state: status,
    entity,
    predicted: false,
    at,
    startsAt,
    labels,
    annotations,
  };
  return alert;
}

function entityOf(
  labels: Record<string, string>,
  mapping: Readonly<Record<Level, readonly string[]>>,
): EntityRef | undefined {
  for (const level of SPECIFICITY) {
    for (const name of mapping[level]) {
      let id = labels[name];
      if (id === undefined || id === '') continue;
      // Prometheus' instance label is host:port; the host is what the topology knows.
      if (name === 'instance') id = stripPort(id);
      if (id !== '') return { level, id };
    }
  }
  return undefined;
}

function stripPort(instance: string): string {
  if (instance.startsWith('[')) {
    const end = instance.indexOf(']');
    return end > 0 ? instance.slice(1, end) : instance;
  }
  const colon = instance.lastIndexOf(':');
  return colon > 0 && instance.indexOf(':') === colon && /^\d+$/.test(instance.slice(colon + 1))
    ? instance.slice(0, colon)
    : instance;
}

const CRITICAL = new Set(['critical', 'page', 'error', 'high', 'fatal', 'emergency', 'alert', 'p1']);
const INFO = new Set(['info', 'none', 'low', 'informational', 'notice', 'debug']);

function severityOf(label: string | undefined): Severity {
  if (label === undefined) return 'warning';
  const s = label.toLowerCase();
  return CRITICAL.has(s) ? 'critical' : INFO.has(s) ? 'info' : 'warning';
}

/** RFC 3339 text; Alertmanager's zero time ("0001-01-01T00:00:00Z") means unset. */
function amTime(x: unknown): number | undefined {
  if (typeof x !== 'string' || !/^\d{4}-\d{2}-\d{2}T/.test(x) || x.startsWith('0001-')) return undefined;
  const t = Date.parse(x);
  return Number.isFinite(t) ? t : undefined;
}

function show(x: unknown): string {
  return preview(x, 60);
}
