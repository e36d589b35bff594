import type { DecodeError, FieldValue, Point, Precision } from '../core/types.js';
import {
  DEFAULT_LIMITS,
  type DecodeLimits,
  exceedsBytes,
  type FieldTypeRegistry,
  isControl,
  limitKey,
  typeName,
} from './limits.js';
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
 *   measurement starting with `#`, control characters (newlines included) in the measurement,
 *   tag keys, tag values and field keys. The limits of limits.ts apply to each metric (its
 *   line-protocol line, names, tags, fields, string values), and to each document its nesting
 *   depth, checked by a linear scan before it is parsed: a document nested deeper is refused
 *   without being built, and nothing about it is ever rendered recursively.
 * - Errors: `line` is the metric's 1-based index inside a single batch document (or, with
 *   `documentLines`, the document's first line), or the line number for JSON Lines; the reason
 *   names the metric's index whenever the document is a batch. A bad metric or line never takes
 *   another with it.
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
  /** What a metric may hold (default DEFAULT_LIMITS). */
  limits?: DecodeLimits;
  /** Refuse fields changing type against what this registry learned from the stream. */
  fieldTypes?: FieldTypeRegistry;
}

const UNIT_NS: Record<Precision, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 };

/**
 * Why a metric is refused. Returned, not thrown: a batch of many bad metrics must not pay for an
 * exception (and its stack trace) each.
 */
class Refusal {
  constructor(readonly message: string) {}
}

export function decodeTelegrafJson(
  text: string,
  opts: JsonOptions,
  points: Point[],
  errors: DecodeError[],
): void {
  if (isBlank(text)) return;
  const maxDepth = (opts.limits ?? DEFAULT_LIMITS).maxJsonDepth;
  if (tooDeepAt(text, 0, text.length, maxDepth) < 0) {
    let doc: unknown;
    let whole = true;
    try {
      doc = JSON.parse(text);
    } catch {
      whole = false;
    }
    if (whole) {
      decodeDocument(doc, text, opts, points, errors, undefined);
      return;
    }
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
      const deep = tooDeepAt(line, 0, line.length, maxDepth);
      if (deep >= 0) {
        errors.push({
          line: lineNo,
          reason: `line ${lineNo}: JSON nested deeper than ${limitKey('maxJsonDepth')} (${maxDepth} levels) at column ${deep + 1}`,
          text: cut(line.trim()),
        });
      } else {
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
    }
    pos = nl + 1;
    lineNo++;
  }
}

/**
 * Position of the bracket that opens level `maxDepth + 1` of the JSON text in [from, to), or -1:
 * one pass over the characters (strings skipped), no recursion, nothing built.
 */
export function tooDeepAt(text: string, from: number, to: number, maxDepth: number): number {
  let depth = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      // a string: skip to its closing quote
      for (i++; i < to; i++) {
        const d = text.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 34) break;
      }
    } else if (c === 91 || c === 123) {
      if (++depth > maxDepth) return i;
    } else if (c === 93 || c === 125) {
      if (depth > 0) depth--;
    }
  }
  return -1;
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

/**
 * JSON text of a value for an error message, cut to ERROR_TEXT_LIMIT characters. Built
 * iteratively and only as far as shown, so neither the value's depth nor its size matters.
 */
function describe(x: unknown): string {
  interface Frame {
    items: readonly unknown[] | undefined;
    obj: Record<string, unknown> | undefined;
    keys: readonly string[];
    i: number;
  }
  const stack: Frame[] = [];
  let out = '';
  let value: unknown = x;
  let pending = true;
  while (out.length <= ERROR_TEXT_LIMIT) {
    if (pending) {
      pending = false;
      if (Array.isArray(value)) {
        out += '[';
        stack.push({ items: value, obj: undefined, keys: [], i: 0 });
      } else if (typeof value === 'object' && value !== null) {
        const obj = value as Record<string, unknown>;
        out += '{';
        stack.push({ items: undefined, obj, keys: Object.keys(obj), i: 0 });
      } else {
        out += scalarText(value);
      }
      continue;
    }
    const top = stack[stack.length - 1];
    if (top === undefined) break;
    if (top.items !== undefined) {
      if (top.i >= top.items.length) {
        out += ']';
        stack.pop();
        continue;
      }
      if (top.i > 0) out += ',';
      value = top.items[top.i++];
    } else {
      if (top.i >= top.keys.length) {
        out += '}';
        stack.pop();
        continue;
      }
      if (top.i > 0) out += ',';
      const k = top.keys[top.i++]!;
      out += scalarText(k) + ':';
      value = top.obj![k];
    }
    pending = true;
  }
  return cut(out);
}

function scalarText(v: unknown): string {
  if (typeof v === 'string')
    return JSON.stringify(v.length > ERROR_TEXT_LIMIT ? v.slice(0, ERROR_TEXT_LIMIT) : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return JSON.stringify(v);
  return String(v);
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
    let what: string;
    try {
      const p = toPoint(m, opts);
      if (!(p instanceof Refusal)) {
        points.push(p);
        continue;
      }
      what = p.message;
    } catch (err) {
      what = `unexpected error: ${String(err)}`;
    }
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

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Index of the first control character of `s` (C0, DEL, C1; newlines included), or -1. */
function controlAt(s: string): number {
  for (let i = 0; i < s.length; i++) if (isControl(s.charCodeAt(i))) return i;
  return -1;
}

function controlMessage(what: string, s: string, at: number): string {
  const code = s.charCodeAt(at).toString(16).toUpperCase().padStart(4, '0');
  return `${what} contains control character U+${code} at index ${at}`;
}

function defineOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

function toPoint(m: unknown, opts: JsonOptions): Point | Refusal {
  if (!isObject(m)) return new Refusal(`expected a metric object, got ${describe(m)}`);
  const lim = opts.limits ?? DEFAULT_LIMITS;
  const name = m.name;
  if (typeof name !== 'string' || name === '') return new Refusal("missing or empty 'name'");
  if (name.charCodeAt(0) === 35) {
    return new Refusal(`measurement name ${describe(name)} cannot be written as line protocol`);
  }
  let at = controlAt(name);
  if (at >= 0) return new Refusal(controlMessage(`measurement name ${describe(name)}`, name, at));
  if (exceedsBytes(name, lim.maxNameBytes)) {
    return new Refusal(
      `measurement name longer than ${limitKey('maxNameBytes')} (${lim.maxNameBytes} bytes)`,
    );
  }
  // Length of the metric as a line-protocol line, in UTF-16 units (exact bytes computed below
  // when it comes near the limit).
  let size = name.length + 22;

  const tags: Record<string, string> = {};
  if (m.tags !== undefined && m.tags !== null) {
    if (!isObject(m.tags)) return new Refusal(`'tags' must be an object, got ${describe(m.tags)}`);
    let count = 0;
    for (const key of Object.keys(m.tags)) {
      const raw = m.tags[key];
      let value: string;
      if (typeof raw === 'string') value = raw;
      else if (typeof raw === 'number' || typeof raw === 'boolean') value = String(raw);
      else return new Refusal(`tag ${describe(key)} has a non-string value ${describe(raw)}`);
      if (key === '') return new Refusal('empty tag key');
      at = controlAt(key);
      if (at >= 0) return new Refusal(controlMessage(`tag key ${describe(key)}`, key, at));
      at = controlAt(value);
      if (at >= 0) return new Refusal(controlMessage(`the value of tag ${describe(key)}`, value, at));
      if (value === '') continue;
      if (++count > lim.maxTags) return new Refusal(`more than ${lim.maxTags} tags (${limitKey('maxTags')})`);
      if (exceedsBytes(key, lim.maxNameBytes)) {
        return new Refusal(
          `tag key ${describe(key)} longer than ${limitKey('maxNameBytes')} (${lim.maxNameBytes} bytes)`,
        );
      }
      if (exceedsBytes(value, lim.maxTagValueBytes)) {
        return new Refusal(
          `value of tag ${describe(key)} longer than ${limitKey('maxTagValueBytes')} (${lim.maxTagValueBytes} bytes)`,
        );
      }
      size += key.length + value.length + 2;
      defineOwn(tags, key, value);
    }
  }

  if (!isObject(m.fields)) return new Refusal("missing 'fields' object");
  const keys = Object.keys(m.fields);
  if (keys.length > lim.maxFields) {
    return new Refusal(`more than ${lim.maxFields} fields (${limitKey('maxFields')})`);
  }
  const fields: Record<string, FieldValue> = {};
  let types = '';
  for (const key of keys) {
    const v = m.fields[key];
    if (key === '') return new Refusal('empty field key');
    at = controlAt(key);
    if (at >= 0) return new Refusal(controlMessage(`field key ${describe(key)}`, key, at));
    if (exceedsBytes(key, lim.maxNameBytes)) {
      return new Refusal(
        `field key ${describe(key)} longer than ${limitKey('maxNameBytes')} (${lim.maxNameBytes} bytes)`,
      );
    }
    size += key.length + 2;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return new Refusal(`field ${describe(key)} is not a finite number`);
      types += 'f';
      size += 24;
    } else if (typeof v === 'string') {
      if (exceedsBytes(v, lim.maxStringBytes)) {
        return new Refusal(
          `string value of field ${describe(key)} longer than ${limitKey('maxStringBytes')} (${lim.maxStringBytes} bytes)`,
        );
      }
      types += 's';
      size += v.length + 2;
    } else if (typeof v === 'boolean') {
      types += 'b';
      size += 5;
    } else {
      return new Refusal(`field ${describe(key)} has unsupported value ${describe(v)}`);
    }
    defineOwn(fields, key, v);
  }
  if (types.length === 0) return new Refusal('no fields (a point needs at least one)');
  if (size * 3 > lim.maxLineBytes) {
    const bytes = lineBytes(name, tags, fields);
    if (bytes > lim.maxLineBytes) {
      return new Refusal(
        `metric of about ${bytes} bytes as a line, longer than ${limitKey('maxLineBytes')} (${lim.maxLineBytes})`,
      );
    }
  }
  let time = opts.defaultTime;
  let nanos = 0;
  const ts = m.timestamp;
  if (typeof ts === 'number') {
    if (!Number.isFinite(ts)) return new Refusal(`invalid timestamp ${describe(ts)}`);
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
    if (parsed === undefined) return new Refusal(`invalid timestamp ${describe(ts)}`);
    time = parsed.time;
    nanos = parsed.nanos;
  } else if (ts !== undefined && ts !== null) {
    return new Refusal(`invalid timestamp ${describe(ts)}`);
  }
  if (!(time >= -9223372036855 && time <= 9223372036854)) {
    return new Refusal(`timestamp ${describe(ts)} out of range`);
  }
  const registry = opts.fieldTypes;
  if (registry !== undefined) {
    const bad = registry.check(name, keys, types);
    if (bad >= 0) {
      const k = keys[bad]!;
      return new Refusal(
        `field ${describe(k)} is ${typeName(types.charCodeAt(bad))} here but was ` +
          `${typeName(registry.known(name, k) ?? 0)} in earlier points of ${describe(name)} (a TSDB refuses a field changing type)`,
      );
    }
  }
  return { measurement: name, tags, fields, types, time, nanos };
}

/** UTF-8 bytes of the metric as a line-protocol line (escapes aside), timestamp included. */
function lineBytes(name: string, tags: Record<string, string>, fields: Record<string, FieldValue>): number {
  let n = Buffer.byteLength(name) + 20;
  for (const k in tags) n += Buffer.byteLength(k) + Buffer.byteLength(tags[k]!) + 2;
  for (const k in fields) {
    const v = fields[k]!;
    n += Buffer.byteLength(k) + 2 + (typeof v === 'string' ? Buffer.byteLength(v) + 2 : String(v).length);
  }
  return n;
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
