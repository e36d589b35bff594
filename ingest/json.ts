import type { DecodeError, FieldValue, Point, Precision } from '../core/types.js';
import { ERROR_TEXT_LIMIT } from './lineprotocol.js';

/**
 * Telegraf's JSON serializer (https://docs.influxdata.com/telegraf/v1/data_formats/output/json/):
 *
 *   single: {"fields":{"usage_idle":97.5},"name":"cpu","tags":{"host":"h1"},"timestamp":1458229140}
 *   batch:  {"metrics":[ <single>, ... ]}
 *
 * plus JSON Lines (one single or batch document per line), and a top-level array of metrics.
 *
 * - `timestamp` is an integer in Telegraf's `json_timestamp_units` (default 1s); the caller's
 *   precision names that unit (default 's' here). Fractional values are accepted; an RFC 3339
 *   string (Telegraf's `json_timestamp_format`) is accepted too. A missing timestamp takes the
 *   default time.
 * - Numbers always decode as floats ('f'). Telegraf's JSON drops the integer/float distinction
 *   (Go writes 30.0 as `30`), so guessing 'i' for integral values would flip a field's type
 *   between points and make the TSDB reject writes; 'f' keeps every field's type stable.
 *   Strings decode as 's', booleans as 'b'.
 * - Tag values should be strings; numbers and booleans are turned into their text. Empty tag
 *   values are dropped (Telegraf never emits them and line protocol cannot carry them).
 * - Names that line protocol cannot carry are rejected: empty measurement or keys, a
 *   measurement starting with `#`, newlines in measurement, tag keys, tag values and field keys.
 * - Errors: `line` is the metric's 1-based index inside a single batch document (or, with
 *   `documentLines`, the document's first line), or the line number for JSON Lines; the reason
 *   names the metric's index whenever the document is a batch.
 *   Timestamps in ns lose sub-microsecond digits to double precision (JSON.parse); Telegraf's
 *   default unit (s) is exact.
 */

export interface JsonOptions {
  precision: Precision;
  defaultTime: number;
  firstLine: number;
  /**
   * Errors in a whole batch document carry the document's first line (files: `file:line`, the
   * reason names the metric) instead of the metric's index (Kafka messages). Default false.
   */
  documentLines?: boolean;
}

const UNIT_NS: Record<Precision, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 };

class MetricError extends Error {}

export function decodeTelegrafJson(
  text: string,
  opts: JsonOptions,
  points: Point[],
  errors: DecodeError[],
): void {
  let doc: unknown;
  let whole = true;
  try {
    doc = JSON.parse(text);
  } catch {
    whole = false;
  }
  if (whole) {
    if (isBlank(text)) return;
    decodeDocument(doc, text, opts, points, errors, undefined);
    return;
  }
  // JSON Lines: one document per line.
  const n = text.length;
  let pos = 0;
  let lineNo = opts.firstLine;
  while (pos < n) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = n;
    const line = text.slice(pos, nl);
    if (!isBlank(line)) {
      let lineDoc: unknown;
      let parsed = true;
      try {
        lineDoc = JSON.parse(line);
      } catch (err) {
        parsed = false;
        errors.push({
          line: lineNo,
          reason: `line ${lineNo}: invalid JSON: ${(err as Error).message}`,
          text: cut(line.trim()),
        });
      }
      if (parsed) decodeDocument(lineDoc, line, opts, points, errors, lineNo);
    }
    pos = nl + 1;
    lineNo++;
  }
}

function isBlank(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) return false;
  }
  return true;
}

function cut(s: string): string {
  return s.length > ERROR_TEXT_LIMIT ? s.slice(0, ERROR_TEXT_LIMIT) + '…' : s;
}

function describe(x: unknown): string {
  try {
    return cut(JSON.stringify(x) ?? String(x));
  } catch {
    return cut(String(x));
  }
}

/**
 * One parsed document: a metric, a batch or an array. `lineNo` is set for JSON Lines (errors
 * carry the line number); for a whole document errors carry the metric's 1-based index.
 */
function decodeDocument(
  doc: unknown,
  source: string,
  opts: JsonOptions,
  points: Point[],
  errors: DecodeError[],
  lineNo: number | undefined,
): void {
  let metrics: unknown[];
  let batch: boolean;
  if (Array.isArray(doc)) {
    metrics = doc;
    batch = true;
  } else if (isObject(doc) && Array.isArray(doc.metrics) && !('fields' in doc)) {
    metrics = doc.metrics;
    batch = true;
  } else {
    metrics = [doc];
    batch = false;
  }
  for (let i = 0; i < metrics.length; i++) {
    const m = metrics[i];
    try {
      points.push(toPoint(m, opts));
    } catch (err) {
      const what = err instanceof MetricError ? err.message : `unexpected error: ${String(err)}`;
      const line = lineNo ?? (batch && opts.documentLines !== true ? opts.firstLine + i : opts.firstLine);
      const where = lineNo !== undefined ? `line ${lineNo}` : batch ? `metric ${i + 1}` : 'metric';
      const within = lineNo !== undefined && batch ? ` (metric ${i + 1} of the batch)` : '';
      errors.push({
        line,
        reason: `${where}${within}: ${what}`,
        text: batch ? describe(m) : cut(source.trim()),
      });
    }
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function hasNewline(s: string): boolean {
  return s.includes('\n') || s.includes('\r');
}

function defineOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

function toPoint(m: unknown, opts: JsonOptions): Point {
  if (!isObject(m)) throw new MetricError(`expected a metric object, got ${describe(m)}`);
  const name = m.name;
  if (typeof name !== 'string' || name === '') throw new MetricError("missing or empty 'name'");
  if (name.charCodeAt(0) === 35 || hasNewline(name)) {
    throw new MetricError(`measurement name ${describe(name)} cannot be written as line protocol`);
  }

  const tags: Record<string, string> = {};
  if (m.tags !== undefined && m.tags !== null) {
    if (!isObject(m.tags)) throw new MetricError(`'tags' must be an object, got ${describe(m.tags)}`);
    for (const key of Object.keys(m.tags)) {
      const raw = m.tags[key];
      let value: string;
      if (typeof raw === 'string') value = raw;
      else if (typeof raw === 'number' || typeof raw === 'boolean') value = String(raw);
      else throw new MetricError(`tag ${describe(key)} has a non-string value ${describe(raw)}`);
      if (key === '') throw new MetricError('empty tag key');
      if (hasNewline(key) || hasNewline(value)) {
        throw new MetricError(`tag ${describe(key)} contains a newline`);
      }
      if (value !== '') defineOwn(tags, key, value);
    }
  }

  if (!isObject(m.fields)) throw new MetricError("missing 'fields' object");
  const fields: Record<string, FieldValue> = {};
  let types = '';
  for (const key of Object.keys(m.fields)) {
    const v = m.fields[key];
    if (key === '') throw new MetricError('empty field key');
    if (hasNewline(key)) throw new MetricError(`field key ${describe(key)} contains a newline`);
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new MetricError(`field ${describe(key)} is not a finite number`);
      types += 'f';
    } else if (typeof v === 'string') {
      types += 's';
    } else if (typeof v === 'boolean') {
      types += 'b';
    } else {
      throw new MetricError(`field ${describe(key)} has unsupported value ${describe(v)}`);
    }
    defineOwn(fields, key, v);
  }
  if (types.length === 0) throw new MetricError('no fields (a point needs at least one)');

  let time = opts.defaultTime;
  let nanos = 0;
  const ts = m.timestamp;
  if (typeof ts === 'number') {
    if (!Number.isFinite(ts)) throw new MetricError(`invalid timestamp ${describe(ts)}`);
    const unitNs = UNIT_NS[opts.precision];
    if (Number.isSafeInteger(ts) && unitNs < 1e6) {
      // Exact integer arithmetic for ns and us.
      const perMs = 1e6 / unitNs;
      time = Math.floor(ts / perMs);
      nanos = (ts - time * perMs) * unitNs;
    } else {
      const ms = (ts * unitNs) / 1e6;
      time = Math.floor(ms);
      nanos = Math.min(999_999, Math.max(0, Math.round((ms - time) * 1e6)));
    }
  } else if (typeof ts === 'string') {
    const parsed = parseRfc3339(ts);
    if (parsed === undefined) throw new MetricError(`invalid timestamp ${describe(ts)}`);
    time = parsed.time;
    nanos = parsed.nanos;
  } else if (ts !== undefined && ts !== null) {
    throw new MetricError(`invalid timestamp ${describe(ts)}`);
  }
  if (!(time >= -9223372036855 && time <= 9223372036854)) {
    throw new MetricError(`timestamp ${describe(ts)} out of range`);
  }
  return { measurement: name, tags, fields, types, time, nanos };
}

/** RFC 3339 with up to nanosecond fractions, exactly (Date.parse keeps only milliseconds). */
function parseRfc3339(s: string): { time: number; nanos: number } | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/.exec(s);
  if (m === null) return undefined;
  const base = Date.parse(m[1]!.replace(/[t ]/, 'T') + (m[3] === 'z' ? 'Z' : m[3]));
  if (Number.isNaN(base)) return undefined;
  const frac = (m[2] ?? '').padEnd(9, '0');
  const fracNs = Number(frac);
  return { time: base + Math.floor(fracNs / 1e6), nanos: fracNs % 1e6 };
}
