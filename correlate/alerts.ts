import { alertFingerprint as fingerprintOf } from '../core/fingerprint.js';
import {
  type AlertEvent,
  type AlertState,
  type DecodeError,
  type EntityRef,
  isLevel,
  LEVELS,
  type Severity,
} from '../core/types.js';

/**
 * Alert records as JSON Lines, the input of `converge replay --alerts FILE` and the shape the
 * detection stage writes with `--alerts-out`:
 *
 *   {"entity":{"level":"container","id":"c1"},"rule":"ContainerCpuHigh","severity":"warning",
 *    "state":"firing","at":"2024-03-01T10:00:00Z"}
 *
 * Required: entity, rule, state, at (ISO-8601 or epoch ms). Optional: severity (default
 * warning), startsAt (default: `at` when firing), id, fingerprint (default: a hash of rule,
 * entity and labels), labels, annotations, predicted, etaSeconds, score.
 */

const SEVERITIES: readonly Severity[] = ['critical', 'warning', 'info'];
const TEXT_LIMIT = 200;

export interface ParsedAlerts {
  alerts: AlertEvent[];
  errors: DecodeError[];
}

/** Stable across episodes: rule + entity + labels (label order ignored); the detection stage's. */
export function alertFingerprint(rule: string, entity: EntityRef, labels: Record<string, string>): string {
  return fingerprintOf(rule, entity.level, entity.id, labels);
}

/** Unique per firing episode. */
export function alertId(fingerprint: string, startsAt: number): string {
  return fingerprint + '@' + startsAt.toString(36);
}

/** Parses one JSON line; `line` is 1-based and only used in the error. */
export function parseAlertLine(json: string, line: number): AlertEvent | DecodeError {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    return { line, reason: `invalid JSON: ${(e as Error).message}`, text: truncate(json) };
  }
  const alert = toAlertEvent(value);
  return typeof alert === 'string' ? { line, reason: alert, text: truncate(json) } : alert;
}

/** Parses JSON Lines text. Blank lines are skipped; bad lines become errors, good ones are kept. */
export function parseAlertLines(text: string, firstLine = 1): ParsedAlerts {
  const alerts: AlertEvent[] = [];
  const errors: DecodeError[] = [];
  let line = firstLine - 1;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    line++;
    let json = text.slice(start, end);
    start = end + 1;
    if (json.endsWith('\r')) json = json.slice(0, -1);
    if (json.trim() === '') continue;
    const parsed = parseAlertLine(json, line);
    if ('reason' in parsed) errors.push(parsed);
    else alerts.push(parsed);
  }
  return { alerts, errors };
}

/** Validates a decoded JSON value; returns the alert or what is wrong with it. */
export function toAlertEvent(value: unknown): AlertEvent | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected a JSON object';
  const v = value as Record<string, unknown>;

  const entity = v.entity;
  if (typeof entity !== 'object' || entity === null || Array.isArray(entity)) {
    return 'entity must be an object {"level","id"}';
  }
  const { level, id } = entity as Record<string, unknown>;
  if (!isLevel(level)) return `entity.level must be one of ${LEVELS.join(', ')} (got ${show(level)})`;
  if (typeof id !== 'string' || id === '') return `entity.id must be a non-empty string (got ${show(id)})`;

  const rule = v.rule;
  if (typeof rule !== 'string' || rule === '') return `rule must be a non-empty string (got ${show(rule)})`;

  let severity: Severity = 'warning';
  if (v.severity !== undefined) {
    if (!SEVERITIES.includes(v.severity as Severity)) {
      return `severity must be one of ${SEVERITIES.join(', ')} (got ${show(v.severity)})`;
    }
    severity = v.severity as Severity;
  }

  const state = v.state;
  if (state !== 'firing' && state !== 'resolved')
    return `state must be firing or resolved (got ${show(state)})`;

  const at = parseTime(v.at);
  if (typeof at === 'string') return `at ${at}`;
  let startsAt = at;
  if (v.startsAt !== undefined) {
    const s = parseTime(v.startsAt);
    if (typeof s === 'string') return `startsAt ${s}`;
    if (s > at) return `startsAt (${new Date(s).toISOString()}) is after at (${new Date(at).toISOString()})`;
    startsAt = s;
  }

  const labels = stringRecord(v.labels, 'labels');
  if (typeof labels === 'string') return labels;
  const annotations = stringRecord(v.annotations, 'annotations');
  if (typeof annotations === 'string') return annotations;

  if (v.predicted !== undefined && typeof v.predicted !== 'boolean') {
    return `predicted must be true or false (got ${show(v.predicted)})`;
  }
  const eta = optionalNumber(v.etaSeconds, 'etaSeconds');
  if (typeof eta === 'string') return eta;
  const score = optionalNumber(v.score, 'score');
  if (typeof score === 'string') return score;

  const ref: EntityRef = { level, id };
  let fingerprint: string;
  if (v.fingerprint === undefined) fingerprint = alertFingerprint(rule, ref, labels);
  else if (typeof v.fingerprint === 'string' && v.fingerprint !== '') fingerprint = v.fingerprint;
  else return `fingerprint must be a non-empty string (got ${show(v.fingerprint)})`;
  let alertIdValue: string;
  if (v.id === undefined) alertIdValue = alertId(fingerprint, startsAt);
  else if (typeof v.id === 'string' && v.id !== '') alertIdValue = v.id;
  else return `id must be a non-empty string (got ${show(v.id)})`;

  const alert: AlertEvent = {
    id: alertIdValue,
    fingerprint,
    rule,
    severity,
    state: state as AlertState,
    entity: ref,
    predicted: v.predicted === true,
    at,
    startsAt,
    labels,
    annotations,
  };
  if (eta !== undefined) alert.etaSeconds = eta;
  if (score !== undefined) alert.score = score;
  return alert;
}

/**
 * One alert as a JSON line: the input shape above, with ISO times. Labels, annotations and the
 * optional fields appear only when set, so an alert built from the short form renders back to it.
 */
export function renderAlertLine(a: AlertEvent): string {
  const out: Record<string, unknown> = {
    entity: { level: a.entity.level, id: a.entity.id },
    rule: a.rule,
    severity: a.severity,
    state: a.state,
    at: new Date(a.at).toISOString(),
  };
  if (a.startsAt !== a.at) out.startsAt = new Date(a.startsAt).toISOString();
  if (a.predicted) out.predicted = true;
  if (a.etaSeconds !== undefined) out.etaSeconds = a.etaSeconds;
  if (a.score !== undefined) out.score = a.score;
  if (Object.keys(a.labels).length > 0) out.labels = a.labels;
  if (Object.keys(a.annotations).length > 0) out.annotations = a.annotations;
  return JSON.stringify(out);
}

/** ISO-8601 text (with a date) or epoch milliseconds. */
export function parseTime(x: unknown): number | string {
  if (typeof x === 'number') {
    return Number.isFinite(x) ? Math.round(x) : `must be a finite number of ms (got ${show(x)})`;
  }
  if (typeof x !== 'string') return `must be an ISO-8601 time or epoch ms (got ${show(x)})`;
  // Date.parse accepts odd shapes ("1", "March 7"); insist on a calendar date first.
  if (!/^\d{4}-\d{2}-\d{2}/.test(x)) return `must be an ISO-8601 time (got ${show(x)})`;
  const t = Date.parse(x);
  return Number.isNaN(t) ? `must be an ISO-8601 time (got ${show(x)})` : t;
}

function stringRecord(x: unknown, name: string): Record<string, string> | string {
  if (x === undefined || x === null) return {};
  if (typeof x !== 'object' || Array.isArray(x)) return `${name} must be an object of strings`;
  const out: Record<string, string> = {};
  for (const [k, value] of Object.entries(x)) {
    if (typeof value === 'string') out[k] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') out[k] = String(value);
    else return `${name}.${k} must be a string (got ${show(value)})`;
  }
  return out;
}

function optionalNumber(x: unknown, name: string): number | undefined | string {
  if (x === undefined || x === null) return undefined;
  return typeof x === 'number' && Number.isFinite(x) ? x : `${name} must be a finite number (got ${show(x)})`;
}

function show(x: unknown): string {
  if (x === undefined) return 'nothing';
  const s = JSON.stringify(x);
  return s === undefined ? String(x) : truncate(s, 60);
}

function truncate(s: string, limit = TEXT_LIMIT): string {
  return s.length > limit ? s.slice(0, limit - 1) + '…' : s;
}
