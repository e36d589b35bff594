import { alertFingerprint as fingerprintOf } from '../core/fingerprint.js';
import { preview, stringMap } from '../core/json-values.js';
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

/**
 * Bounds of one alert record (API, replay, Kafka): ids and names, label and annotation counts
 * and sizes. Label values are strings (numbers and booleans are taken as their text); anything
 * nested is refused naming the label.
 */
/**
 * Alert times the intake takes: 1970 to the end of year 9998, so that every time derived from
 * them (hold-downs, windows) still writes as an RFC 3339 year. A time beyond (1e20 ms, year
 * 275760) is refused naming the field, instead of failing later where it is printed.
 */
export const MAX_ALERT_MS = 253_370_764_799_999;

/** Undefined when `t` (ms) is an alert time the engine takes, else what is wrong with it. */
export function alertTimeProblem(t: number): string | undefined {
  if (t >= 0 && t <= MAX_ALERT_MS) return undefined;
  const shown = Math.abs(t) <= 8.64e15 ? new Date(t).toISOString() : String(t);
  return `must be between 1970 and the end of year 9998 (got ${shown})`;
}

export const ALERT_LIMITS = {
  /** entity.id, rule, id, fingerprint (characters). */
  name: 512,
  labels: { entries: 128, name: 256, value: 4096 },
  annotations: { entries: 128, name: 256, value: 16_384 },
} as const;

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
  if (id.length > ALERT_LIMITS.name) return tooLong('entity.id', id);

  const rule = v.rule;
  if (typeof rule !== 'string' || rule === '') return `rule must be a non-empty string (got ${show(rule)})`;
  if (rule.length > ALERT_LIMITS.name) return tooLong('rule', rule);

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
  const atProblem = alertTimeProblem(at);
  if (atProblem !== undefined) return `at ${atProblem}`;
  let startsAt = at;
  if (v.startsAt !== undefined) {
    const s = parseTime(v.startsAt);
    if (typeof s === 'string') return `startsAt ${s}`;
    const startProblem = alertTimeProblem(s);
    if (startProblem !== undefined) return `startsAt ${startProblem}`;
    if (s > at) return `startsAt (${new Date(s).toISOString()}) is after at (${new Date(at).toISOString()})`;
    startsAt = s;
  }

  const labels = stringMap(v.labels, 'labels', ALERT_LIMITS.labels);
  if (typeof labels === 'string') return labels;
  const annotations = stringMap(v.annotations, 'annotations', ALERT_LIMITS.annotations);
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
  else if (typeof v.fingerprint === 'string' && v.fingerprint !== '') {
    if (v.fingerprint.length > ALERT_LIMITS.name) return tooLong('fingerprint', v.fingerprint);
    fingerprint = v.fingerprint;
  } else return `fingerprint must be a non-empty string (got ${show(v.fingerprint)})`;
  let alertIdValue: string;
  if (v.id === undefined) alertIdValue = alertId(fingerprint, startsAt);
  else if (typeof v.id === 'string' && v.id !== '') {
    if (v.id.length > ALERT_LIMITS.name) return tooLong('id', v.id);
    alertIdValue = v.id;
  } else return `id must be a non-empty string (got ${show(v.id)})`;

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

function optionalNumber(x: unknown, name: string): number | undefined | string {
  if (x === undefined || x === null) return undefined;
  return typeof x === 'number' && Number.isFinite(x) ? x : `${name} must be a finite number (got ${show(x)})`;
}

/** A bounded preview: never recursion over a hostile value (a deep one overflowed the stack). */
function show(x: unknown): string {
  return preview(x, 60);
}

function tooLong(field: string, value: string): string {
  return `${field} is ${value.length} characters long (at most ${ALERT_LIMITS.name})`;
}

function truncate(s: string, limit = TEXT_LIMIT): string {
  return s.length > limit ? s.slice(0, limit - 1) + '…' : s;
}
