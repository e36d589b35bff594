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

/**
 * Influx line protocol, as InfluxData specifies it
 * (https://docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol/):
 *
 *   measurement[,tag=value...] field=value[,field=value...] [timestamp]
 *
 * - Escapes: measurement `\,` `\ `; tag keys, tag values and field keys `\,` `\=` `\ `; string
 *   field values `\"`; `\\` is one backslash everywhere; a backslash before any other character
 *   is a literal backslash.
 * - Field values: floats (`1`, `-1.5`, `1.e+78`), integers `1i` (int64), unsigned `1u` (uint64),
 *   quoted strings, booleans t/T/true/True/TRUE and f/F/false/False/FALSE.
 *   `inf`/`nan` are rejected, as are floats that overflow to infinity.
 * - Tag keys and values must not be empty; a point needs at least one field.
 * - A repeated field key in one line: the last value wins, at the position of the first
 *   occurrence; repeated with another type it is an error. A repeated tag key is an error.
 *   (InfluxDB's TSM semantics, which InfluxDB 3 kept: influxdata/influxdb_iox#4398.)
 * - Timestamp: optional signed integer in the configured precision; the resulting time must lie
 *   in InfluxDB's range -9223372036854775806..9223372036854775806 ns. Without one, the caller's
 *   default time is used.
 * - Names starting with `_` are accepted: the spec reserves them for InfluxDB itself, which is a
 *   storage rule of InfluxDB rather than a syntax rule (victoria-metrics stores them).
 * - Lines end at `\n` (a trailing `\r` is dropped: `\r\n` input works). Blank lines and lines
 *   starting with `#` (after leading spaces/tabs) are skipped. Newlines cannot occur inside
 *   values: the protocol does not support them.
 * - Limits (limits.ts, config `input.limits`): line length, name and tag value sizes, tag and
 *   field counts, string value size. Control characters (C0, DEL, C1) in the measurement, tag
 *   keys, tag values and field keys are refused. With a FieldTypeRegistry, a field whose type
 *   differs from the one its measurement first had is refused (InfluxDB's field type conflict).
 * - Cost is linear in the line's bytes whatever it holds (a line of 100,000 fields included):
 *   repeated field keys are found through a map once a line has more than a few fields.
 *
 * Two decoders with identical results (a property test holds them to it):
 * - decodeLineProtocolBytes, the hot path, works on the UTF-8 bytes of a message. Telegraf emits
 *   the same series in the same order with the same field layout every interval, so for most
 *   lines the measurement+tag section is compared (as int32 words) with the series that followed
 *   the previous line's series last time, or found by a hash of its bytes; the field keys are
 *   compared byte by byte with that series' last layout, and numbers and the timestamp are
 *   parsed from the digits. No UTF-8 decoding and no string is created for such a line; its
 *   point shares the series' frozen tags object and its fields object comes from a per-layout
 *   object-literal function (numbers handed over unboxed). Any other line goes to:
 * - decodeLineProtocol, the text parser, which implements every rule above and builds the
 *   series and layouts the byte path reuses.
 * Measured on this machine (bench/decode.ts): byte loads ~1 ns, charCodeAt ~2 ns, startsWith
 * ~3.5 ns per character; TextDecoder ~0.9 ns per byte; Buffer.from(string) ~0.3 ns per byte.
 */

const TAB = 9;
const SPACE = 32;
const QUOTE = 34;
const HASH = 35;
const COMMA = 44;
const MINUS = 45;
const DOT = 46;
const ZERO = 48;
const NINE = 57;
const EQUALS = 61;
const UPPER_E = 69;
const UPPER_F = 70;
const UPPER_T = 84;
const BACKSLASH = 92;
const LOWER_E = 101;
const LOWER_F = 102;
const LOWER_I = 105;
const LOWER_T = 116;
const LOWER_U = 117;
const CR = 13;
const LF = 10;
const PLUS = 43;

const CODE_FLOAT = 102; // 'f'
const CODE_INT = 105; // 'i'
const CODE_UINT = 117; // 'u'
const CODE_STRING = 115; // 's'
const CODE_BOOL = 98; // 'b'

/** Exact powers of ten representable as doubles (10^0..10^22), for the Clinger fast path. */
const POW10: number[] = [];
for (let i = 0, p = 1; i <= 22; i++, p *= 10) POW10.push(p);

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;
const UINT64_MAX = 18446744073709551615n;

/** Limits of the call in progress (set at the start of each decode call). */
let lim: DecodeLimits = DEFAULT_LIMITS;
/** Field types of the stream being decoded, when type changes are refused. */
let fieldTypes: FieldTypeRegistry | undefined;

/** Error text is cut to this many characters. */
export const ERROR_TEXT_LIMIT = 200;

/** Builds a fields object from values in input order; numeric ones may be read from `nums`. */
type FieldBuilder = (values: readonly FieldValue[], nums: Float64Array) => Record<string, FieldValue>;

/**
 * A field layout: the keys and types of a line's fields, in input order. Immutable and shared by
 * every series with the same layout, so that the per-line checks touch a few hot objects.
 */
interface Layout {
  /** Raw (still escaped) keys, compared with the next line's keys. */
  rawKeys: readonly string[];
  /** The same keys unescaped. */
  keys: readonly string[];
  /** Type codes in input order. */
  inputTypes: string;
  /** The same, in the enumeration order of the fields object (differs only for integer-like keys). */
  types: string;
  /** Builds the fields object: strings and booleans from values, numbers from nums. */
  build: FieldBuilder;
  /** Lines built with this layout so far (up to COMPILE_AFTER). */
  uses: number;
  /** Builds it from values only (lines with bigint values). */
  buildGeneric: FieldBuilder;
  /** The raw keys as UTF-8 bytes, for the byte fast path (empty for layouts too wide for it). */
  keyBytes: readonly (readonly number[])[];
  /** The limits this layout was last found within (fast path: skip the check when unchanged). */
  checked: DecodeLimits | undefined;
}

/** The measurement + tag section of a line, decoded once and shared by every point of the series. */
interface Series {
  /** The raw (escaped) section text, a copy independent of any message. */
  raw: string;
  measurement: string;
  /** Frozen: shared by all points of this series. */
  tags: Readonly<Record<string, string>>;
  /** Field layout of this series' last line. */
  layout: Layout;
  /** The series that followed this one last time. */
  next: Series | undefined;
  // Byte fast path (set once the series is indexed by its bytes):
  /** UTF-8 length of `raw`; -1 while not indexed. */
  byteLength: number;
  /** `raw` as little-endian int32 words (whole words only)... */
  words: number[];
  /** ...and its last 0-3 bytes packed little-endian. */
  tail: number;
  /** The next series in the same hash bucket. */
  sameHash: Series | undefined;
  /** The limits this series was last found within. */
  checked: DecodeLimits | undefined;
  /** The layout last checked against `fieldTypes` (whose stamp was then `typesStamp`). */
  typesLayout: Layout | undefined;
  typesStamp: number;
}

/**
 * Most series kept decoded (~850 bytes of heap each for Telegraf-like series). When full, the
 * cache starts over: each series then costs one text-parsed line to come back. A fleet with
 * more active series than this decodes every line through the text parser (~3x slower), so
 * size it above the fleet's series count (setSeriesCacheLimit).
 */
let seriesCacheLimit = 100_000;

/** Sets the series cache bound (see seriesCacheLimit); returns the previous one. */
export function setSeriesCacheLimit(maxSeries: number): number {
  const previous = seriesCacheLimit;
  seriesCacheLimit = Math.max(1, Math.floor(maxSeries));
  return previous;
}
const seriesCache = new Map<string, Series>();
/** The same series, by a hash of their raw bytes (chained through `sameHash`). */
const seriesByHash = new Map<number, Series>();

// Why the last line failed: the parse functions return undefined after calling fail(), which is
// much cheaper than throwing (malformed lines are part of normal traffic).
let failColumn = 0;
let failMessage = '';

/** Records why the line is rejected (column: position in the text); returns undefined. */
function fail(column: number, message: string): undefined {
  failColumn = column;
  failMessage = message;
  return undefined;
}

const EMPTY_TAGS: Readonly<Record<string, string>> = Object.freeze({});
const EMPTY_LAYOUT: Layout = {
  rawKeys: [],
  keys: [],
  inputTypes: '',
  types: '',
  build: () => ({}),
  uses: 0,
  buildGeneric: () => ({}),
  keyBytes: [],
  checked: undefined,
};

/** Layouts with more fields keep the loop builder. */
const MAX_LITERAL_FIELDS = 200;

// Scratch state of the line being parsed (module-level so the hot loop does not allocate).
let numValue: number | bigint = 0;
let numCode = 0;
const scratchRaw: string[] = [];
const scratchKeys: string[] = [];
const scratchCodes: number[] = [];
const scratchValues: FieldValue[] = [];
/** Start of each field key in the line text (for error columns). */
const scratchPos: number[] = [];
/**
 * Repeated field keys in a line whose keys differ from its series' last layout: a linear scan
 * of the keys so far for short lines, this map (key -> index) once a line passes DUP_SCAN_MAX
 * fields, so that the check stays constant time per field however wide the line.
 */
const dupIndex = new Map<string, number>();
let dupIndexUsed = false;
const DUP_SCAN_MAX = 16;
/**
 * Numeric values of the line, unboxed: the layout builders read numeric fields from here, so a
 * float is boxed once (into the fields object) instead of up to three times.
 */
const scratchNums = new Float64Array(4096);
/** parseNumberBytes' result when it is a number (numBig is then undefined). */
const numOut = new Float64Array(1);
let numBig: bigint | undefined;
/** Series of the previously decoded line, for predicting the next line's series. */
let lastSeries: Series | undefined;

const layouts = new Map<string, Layout>();
const LAYOUT_CACHE_LIMIT = 10_000;

/**
 * Heap held by the caches, estimated from the characters of series sections and layout keys.
 * The count bounds alone let hostile input of ever new long series (29 tags of 1 KiB) or wide
 * layouts (499 keys of 256 bytes) hold gigabytes; past the budget the caches start over, as
 * when the series count bound is reached. 100,000 Telegraf-like series (~850 bytes each) use a
 * sixth of it.
 */
let cacheCost = 0;
let cacheBudget = 512 << 20;

/** Sets the caches' heap budget in bytes (see cacheBudget); returns the previous one. */
export function setDecoderCacheBudget(bytes: number): number {
  const previous = cacheBudget;
  cacheBudget = Math.max(1 << 20, Math.floor(bytes));
  return previous;
}

function resetCaches(): void {
  seriesCache.clear();
  seriesByHash.clear();
  layouts.clear();
  lastSeries = undefined;
  cacheCost = 0;
}

/** The shared layout of the first `count` scratch keys. */
function internLayout(count: number): Layout {
  const rawKeys = scratchRaw.slice(0, count);
  const inputTypes = codesToString(scratchCodes, count);
  const id = rawKeys.join('\n') + '\n' + inputTypes;
  let layout = layouts.get(id);
  if (layout !== undefined) return layout;
  const keys = scratchKeys.slice(0, count);
  const buildGeneric = genericBuilder(keys);
  layout = {
    rawKeys,
    keys,
    inputTypes,
    types: enumerationTypes(buildGeneric, keys, inputTypes),
    build: loopBuilder(keys, inputTypes),
    uses: 0,
    buildGeneric,
    // Wider layouts never take the fast path (its scratch holds scratchNums.length values).
    keyBytes: count > scratchNums.length ? [] : rawKeys.map((k) => Array.from(Buffer.from(k, 'utf8'))),
    checked: undefined,
  };
  // Keys are held as text three times (id, raw, unescaped) and as one array of bytes.
  cacheCost += id.length * 14 + 300;
  if (cacheCost > cacheBudget) resetCaches();
  else if (layouts.size >= LAYOUT_CACHE_LIMIT) layouts.clear();
  layouts.set(id, layout);
  return layout;
}

/** The first `count` char codes as a string (in slices: apply() takes a bounded argument count). */
function codesToString(codes: readonly number[], count: number): string {
  let out = '';
  for (let i = 0; i < count; i += 8192) {
    out += String.fromCharCode.apply(null, codes.slice(i, Math.min(count, i + 8192)));
  }
  return out;
}

/** A layout's builder is compiled once the layout has been used this often. */
const COMPILE_AFTER = 3;
/** False once the runtime refused code generation (--disallow-code-generation-from-strings). */
let canCompile = true;

/** Counts a use of the layout's builder and compiles it when the layout proves common. */
function countUse(layout: Layout): void {
  if (++layout.uses === COMPILE_AFTER && canCompile && layout.keys.length <= MAX_LITERAL_FIELDS) {
    try {
      layout.build = compileBuilder(layout.keys, layout.inputTypes);
    } catch {
      canCompile = false;
    }
  }
}

/**
 * A function returning an object literal with these keys: V8 creates such objects from one
 * boilerplate map, much faster than adding computed keys one by one. Keys are embedded as JSON
 * string literals (JSON.stringify escapes quotes, backslashes, control characters and lone
 * surrogates). Compiled only for layouts seen a few times, so that a stream of ever new field
 * keys does not turn into a stream of compilations.
 */
function compileBuilder(keys: readonly string[], inputTypes: string): FieldBuilder {
  const props = keys.map((k, i) => {
    const v = isNumericCode(inputTypes.charCodeAt(i)) ? `f[${i}]` : `v[${i}]`;
    return k === '__proto__' ? `["__proto__"]: ${v}` : `${JSON.stringify(k)}: ${v}`;
  });
  return new Function('v', 'f', `return {${props.join(', ')}};`) as FieldBuilder;
}

function isNumericCode(c: number): boolean {
  return c === CODE_FLOAT || c === CODE_INT || c === CODE_UINT;
}

/** The builder before compilation: numbers from `nums`, other values from `values`. */
function loopBuilder(keys: readonly string[], inputTypes: string): FieldBuilder {
  const numeric = keys.map((_, i) => isNumericCode(inputTypes.charCodeAt(i)));
  return (values, nums) => {
    const fields: Record<string, FieldValue> = {};
    for (let i = 0; i < keys.length; i++) setField(fields, keys[i]!, numeric[i] ? nums[i]! : values[i]!);
    return fields;
  };
}

/** Builds from `values` only (any value type, bigints included). */
function genericBuilder(keys: readonly string[]): FieldBuilder {
  return (values) => {
    const fields: Record<string, FieldValue> = {};
    for (let i = 0; i < keys.length; i++) setField(fields, keys[i]!, values[i]!);
    return fields;
  };
}

/** Canonical array index keys ("0", "7") enumerate before other keys, whatever the input order. */
function isArrayIndex(k: string): boolean {
  const c = k.charCodeAt(0);
  if (c < ZERO || c > NINE || (c === ZERO && k.length > 1) || k.length > 10) return false;
  for (let i = 1; i < k.length; i++) {
    const d = k.charCodeAt(i);
    if (d < ZERO || d > NINE) return false;
  }
  return Number(k) < 4294967295;
}

function enumerationTypes(build: FieldBuilder, keys: readonly string[], inputTypes: string): string {
  if (!keys.some(isArrayIndex)) return inputTypes;
  const index = new Map<string, number>();
  for (let i = 0; i < keys.length; i++) index.set(keys[i]!, i);
  const codes: number[] = [];
  for (const k in build(keys, scratchNums)) codes.push(inputTypes.charCodeAt(index.get(k)!));
  return codesToString(codes, codes.length);
}

export interface LineProtocolOptions {
  precision: Precision;
  /** Time (ms) for lines without a timestamp. */
  defaultTime: number;
  /** 1-based number of the first line of `text`. */
  firstLine: number;
  /** What a line may hold (default DEFAULT_LIMITS). */
  limits?: DecodeLimits;
  /** Refuse fields changing type against what this registry learned from the stream. */
  fieldTypes?: FieldTypeRegistry;
}

/**
 * Decodes every line of `text`, appending good points to `points` and one DecodeError per bad
 * line to `errors`. Never throws.
 */
export function decodeLineProtocol(
  text: string,
  opts: LineProtocolOptions,
  points: Point[],
  errors: DecodeError[],
): void {
  const precision = opts.precision;
  const defaultTime = opts.defaultTime;
  lim = opts.limits ?? DEFAULT_LIMITS;
  fieldTypes = opts.fieldTypes;
  const n = text.length;
  let lineNo = opts.firstLine;
  let pos = 0;
  // Position of the next backslash at or after `pos` (n when none): lets lines without any
  // backslash skip escape handling, without rescanning the text for every line.
  let nextBackslash = text.indexOf('\\');
  if (nextBackslash < 0) nextBackslash = n;
  while (pos < n) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = n;
    let end = nl;
    if (end > pos && text.charCodeAt(end - 1) === CR) end--;
    if (nextBackslash < pos) {
      nextBackslash = text.indexOf('\\', pos);
      if (nextBackslash < 0) nextBackslash = n;
    }
    let start = pos;
    let c = text.charCodeAt(start);
    while ((c === SPACE || c === TAB) && start < end) c = text.charCodeAt(++start);
    if (start < end && c !== HASH) {
      const bytes = end - pos > lim.maxLineBytes / 3 ? Buffer.byteLength(text.slice(pos, end)) : 0;
      if (bytes > lim.maxLineBytes) {
        errors.push(longLineError(text.slice(pos, pos + ERROR_TEXT_LIMIT + 1), bytes, lineNo));
        pos = nl + 1;
        lineNo++;
        continue;
      }
      try {
        const point = parseLine(text, start, end, nextBackslash < end, precision, defaultTime);
        if (point !== undefined) points.push(point);
        else errors.push(lineError(text, pos, end, lineNo));
      } catch (err) {
        errors.push(lineError(text, pos, end, lineNo, err));
      }
    }
    pos = nl + 1;
    lineNo++;
  }
}

// ---------------------------------------------------------------------------------------------
// Byte fast path
// ---------------------------------------------------------------------------------------------

/**
 * Decodes line protocol from UTF-8 bytes (a Kafka message value), with exactly the results of
 * decodeLineProtocol on the decoded text. Lines of a known series with its last field layout
 * (the steady state of a Telegraf stream) are decoded straight from the bytes: no UTF-8
 * decoding, no strings, byte loads instead of charCodeAt. Every other line (new series or
 * layout, escapes in values, blank and comment lines, errors) is decoded to text and goes
 * through the text parser, which also indexes its series for the fast path. Never throws.
 */
export function decodeLineProtocolBytes(
  input: Uint8Array,
  opts: LineProtocolOptions,
  points: Point[],
  errors: DecodeError[],
): void {
  const n = input.length;
  if (n === 0) return;
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, n);
  const dv = new DataView(buf.buffer, buf.byteOffset, n);
  const precision = opts.precision;
  const defaultTime = opts.defaultTime;
  lim = opts.limits ?? DEFAULT_LIMITS;
  fieldTypes = opts.fieldTypes;
  let lineNo = opts.firstLine;
  let pos = 0;
  while (pos < n) {
    const c = buf[pos]!;
    if (c !== SPACE && c !== TAB && c !== HASH && c !== LF && c !== CR) {
      let point: Point | undefined;
      try {
        point = fastLine(buf, dv, pos, n, precision, defaultTime);
      } catch {
        // Not expected; the text parser decides what the line is.
        point = undefined;
      }
      if (point !== undefined) {
        points.push(point);
        pos = fastNext;
        lineNo++;
        continue;
      }
    }
    let nl = buf.indexOf(LF, pos);
    if (nl < 0) nl = n;
    const bytes = nl > pos && buf[nl - 1] === CR ? nl - 1 - pos : nl - pos;
    if (bytes > lim.maxLineBytes) {
      // Refused unread: its cost is the newline search, whatever it holds.
      errors.push(longLineError(buf.toString('utf8', pos, pos + ERROR_TEXT_LIMIT + 1), bytes, lineNo));
    } else {
      slowLine(buf, pos, nl, lineNo, precision, defaultTime, points, errors);
    }
    pos = nl + 1;
    lineNo++;
  }
}

function longLineError(head: string, bytes: number, lineNo: number): DecodeError {
  return {
    line: lineNo,
    reason: `line ${lineNo}: line of ${bytes} bytes, longer than ${limitKey('maxLineBytes')} (${lim.maxLineBytes})`,
    text: head.length > ERROR_TEXT_LIMIT ? head.slice(0, ERROR_TEXT_LIMIT) + '…' : head,
  };
}

/** One line through the text parser. */
function slowLine(
  buf: Buffer,
  from: number,
  to: number,
  lineNo: number,
  precision: Precision,
  defaultTime: number,
  points: Point[],
  errors: DecodeError[],
): void {
  const text = buf.toString('utf8', from, to);
  let end = text.length;
  if (end > 0 && text.charCodeAt(end - 1) === CR) end--;
  let start = 0;
  let c = text.charCodeAt(0);
  while ((c === SPACE || c === TAB) && start < end) c = text.charCodeAt(++start);
  if (start >= end || c === HASH) return;
  let point: Point | undefined;
  try {
    point = parseLine(text, start, end, text.includes('\\'), precision, defaultTime);
  } catch (err) {
    errors.push(lineError(text, 0, end, lineNo, err));
    return;
  }
  if (point === undefined) {
    errors.push(lineError(text, 0, end, lineNo));
    return;
  }
  points.push(point);
  if (lastSeries !== undefined && lastSeries.byteLength < 0) indexSeries(lastSeries);
}

/** Position after the line the fast path decoded last. */
let fastNext = 0;
/** Recent success of series predictions (see fastLine). */
let predictionScore = 8;

function hashBytes(buf: Buffer, dv: DataView, start: number, len: number): number {
  let h = len ^ 0x811c9dc5;
  const whole = start + (len & ~3);
  let i = start;
  for (; i < whole; i += 4) h = Math.imul(h ^ dv.getInt32(i, true), 0x01000193);
  for (; i < start + len; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  return h ^ (h >>> 16);
}

function indexSeries(series: Series): void {
  const bytes = Buffer.from(series.raw, 'utf8');
  const len = bytes.length;
  const words: number[] = [];
  for (let i = 0; i + 4 <= len; i += 4) words.push(bytes.readInt32LE(i));
  let tail = 0;
  for (let i = words.length * 4, shift = 0; i < len; i++, shift += 8) tail |= bytes[i]! << shift;
  series.byteLength = len;
  series.words = words;
  series.tail = tail;
  const h = hashBytes(bytes, new DataView(bytes.buffer, bytes.byteOffset, len), 0, len);
  series.sameHash = seriesByHash.get(h);
  seriesByHash.set(h, series);
}

/** Whether the series' raw bytes, followed by a space, start at `start`. */
function seriesAt(buf: Buffer, dv: DataView, start: number, n: number, series: Series): boolean {
  const len = series.byteLength;
  if (len < 0 || start + len >= n || buf[start + len] !== SPACE) return false;
  const words = series.words;
  const count = words.length;
  for (let k = 0; k < count; k++) {
    if (dv.getInt32(start + 4 * k, true) !== words[k]) return false;
  }
  let tail = 0;
  for (let i = start + 4 * count, shift = 0; i < start + len; i++, shift += 8) tail |= buf[i]! << shift;
  return tail === series.tail;
}

/**
 * Decodes the line at `start` if it is a known series with its last layout and nothing
 * unusual; sets fastNext to the next line's start. Undefined: use the text parser.
 */
function fastLine(
  buf: Buffer,
  dv: DataView,
  start: number,
  n: number,
  precision: Precision,
  defaultTime: number,
): Point | undefined {
  const prev = lastSeries;
  const predicted = prev === undefined ? undefined : prev.next;
  let series: Series | undefined;
  let linked = true;
  // Checking a wrong prediction costs cache misses; when predictions keep failing (lines in
  // no stable order), stop trying until the looked-up series show the order is back.
  const tryPrediction = predicted !== undefined && predictionScore > 0;
  if (tryPrediction && seriesAt(buf, dv, start, n, predicted)) {
    series = predicted;
    if (predictionScore < 16) predictionScore++;
  } else {
    let sp = start;
    while (sp < n) {
      const ch = buf[sp]!;
      if (ch === SPACE) break;
      if (ch === LF) return undefined;
      sp++;
    }
    if (sp >= n) return undefined;
    const len = sp - start;
    series = seriesByHash.get(hashBytes(buf, dv, start, len));
    while (series !== undefined && !(series.byteLength === len && seriesAt(buf, dv, start, n, series))) {
      series = series.sameHash;
    }
    if (series === undefined) return undefined;
    if (series === predicted) {
      if (predictionScore < 16) predictionScore++;
    } else if (predictionScore > -16) {
      predictionScore -= tryPrediction ? 4 : 1;
    }
    linked = series === predicted;
  }

  let p = start + series.byteLength + 1;
  const layout = series.layout;
  // Checks made once per series and layout (limits, field types) must hold for this call's.
  if (series.checked !== lim || layout.checked !== lim) return undefined;
  if (fieldTypes !== undefined && (series.typesLayout !== layout || series.typesStamp !== fieldTypes.stamp)) {
    return undefined;
  }
  const keyBytes = layout.keyBytes;
  const count = keyBytes.length;
  if (count === 0 || count > scratchNums.length) return undefined;
  const codes = layout.inputTypes;
  let c = 0;
  for (let f = 0; f < count; f++) {
    const key = keyBytes[f]!;
    const kl = key.length;
    if (p + kl >= n) return undefined;
    for (let j = 0; j < kl; j++) if (buf[p + j] !== key[j]) return undefined;
    p += kl;
    if (buf[p] !== EQUALS) return undefined;
    p++;
    const code = codes.charCodeAt(f);
    if (code === CODE_STRING) {
      if (buf[p] !== QUOTE) return undefined;
      let q = p + 1;
      for (;;) {
        if (q >= n) return undefined;
        const ch = buf[q];
        if (ch === QUOTE) break;
        if (ch === BACKSLASH || ch === LF) return undefined;
        q++;
      }
      if (q - p - 1 > lim.maxStringBytes) return undefined;
      scratchValues[f] = buf.toString('utf8', p + 1, q);
      p = q + 1;
    } else if (code === CODE_BOOL) {
      let e = p;
      while (e < n) {
        const ch = buf[e];
        if (ch === COMMA || ch === SPACE || ch === LF || ch === CR) break;
        e++;
      }
      const b = e - p > 5 ? undefined : BOOLEANS.get(buf.toString('latin1', p, e));
      if (b === undefined) return undefined;
      scratchValues[f] = b;
      p = e;
    } else {
      p = parseNumberBytes(buf, p, n);
      if (p < 0 || numCode !== code || numBig !== undefined) return undefined;
      scratchNums[f] = numOut[0]!;
    }
    c = p < n ? buf[p]! : LF;
    if (f < count - 1) {
      if (c !== COMMA) return undefined;
      p++;
    }
  }

  let time = defaultTime;
  let nanos = 0;
  if (c === SPACE) {
    p++;
    let neg = false;
    if (p < n && buf[p] === MINUS) {
      neg = true;
      p++;
    }
    const digitsStart = p;
    while (p < n) {
      const ch = buf[p]!;
      if (ch < ZERO || ch > NINE) break;
      p++;
    }
    const digitsEnd = p;
    if (digitsEnd === digitsStart || digitsEnd - digitsStart > 19) return undefined;
    c = p < n ? buf[p]! : LF;
    const split = Math.max(digitsEnd - (precision === 'ns' ? 6 : precision === 'us' ? 3 : 0), digitsStart);
    if (split - digitsStart > 15) return undefined;
    let hi = 0;
    for (let i = digitsStart; i < split; i++) hi = hi * 10 + (buf[i]! - ZERO);
    let lo = 0;
    for (let i = split; i < digitsEnd; i++) lo = lo * 10 + (buf[i]! - ZERO);
    if (precision === 'us') lo *= 1000;
    else if (precision === 's') hi *= 1000;
    if (neg) {
      if (lo > 0) {
        time = -hi - 1;
        nanos = 1_000_000 - lo;
      } else {
        time = 0 - hi;
      }
    } else {
      time = hi;
      nanos = lo;
    }
    if (
      time > 9223372036854 ||
      time < -9223372036855 ||
      (time === 9223372036854 && nanos > 775806) ||
      (time === -9223372036855 && nanos < 224194)
    ) {
      return undefined;
    }
  }
  if (p - start > lim.maxLineBytes) return undefined;
  if (c === CR) {
    p++;
    c = p < n ? buf[p]! : LF;
  }
  if (c !== LF) return undefined;

  fastNext = p + 1;
  if (layout.uses < COMPILE_AFTER) countUse(layout);
  if (!linked && prev !== undefined) prev.next = series;
  lastSeries = series;
  return {
    measurement: series.measurement,
    tags: series.tags,
    fields: layout.build(scratchValues, scratchNums),
    types: layout.types,
    time,
    nanos,
  };
}

const BOOLEANS = new Map<string, boolean>([
  ['t', true],
  ['T', true],
  ['true', true],
  ['True', true],
  ['TRUE', true],
  ['f', false],
  ['F', false],
  ['false', false],
  ['False', false],
  ['FALSE', false],
]);

/** parseNumber over bytes; a value ends at a comma, space, CR, LF or the end of the buffer. */
function parseNumberBytes(buf: Buffer, start: number, n: number): number {
  let p = start;
  let neg = false;
  let c = p < n ? buf[p]! : LF;
  if (c === MINUS) {
    neg = true;
    p++;
    c = p < n ? buf[p]! : LF;
  }
  let mantissa = 0;
  let intDigits = 0;
  while (c >= ZERO && c <= NINE) {
    mantissa = mantissa * 10 + (c - ZERO);
    intDigits++;
    p++;
    c = p < n ? buf[p]! : LF;
  }
  if (c === LOWER_I || c === LOWER_U) {
    if (intDigits === 0) return -1;
    const after = p + 1;
    const t = after < n ? buf[after]! : LF;
    if (t !== COMMA && t !== SPACE && t !== LF && t !== CR) return -1;
    if (c === LOWER_I) {
      if (intDigits <= 15) {
        numOut[0] = neg ? 0 - mantissa : mantissa;
        numBig = undefined;
      } else {
        const big = BigInt(buf.toString('latin1', start, p));
        if (big > INT64_MAX || big < INT64_MIN) return -1;
        const safe = toSafe(big);
        if (typeof safe === 'bigint') numBig = safe;
        else {
          numOut[0] = safe;
          numBig = undefined;
        }
      }
      numCode = CODE_INT;
    } else {
      if (neg) return -1;
      if (intDigits <= 15) {
        numOut[0] = mantissa;
        numBig = undefined;
      } else {
        const big = BigInt(buf.toString('latin1', start, p));
        if (big > UINT64_MAX) return -1;
        const safe = toSafe(big);
        if (typeof safe === 'bigint') numBig = safe;
        else {
          numOut[0] = safe;
          numBig = undefined;
        }
      }
      numCode = CODE_UINT;
    }
    return after;
  }
  let fracDigits = 0;
  if (c === DOT) {
    p++;
    c = p < n ? buf[p]! : LF;
    while (c >= ZERO && c <= NINE) {
      mantissa = mantissa * 10 + (c - ZERO);
      fracDigits++;
      p++;
      c = p < n ? buf[p]! : LF;
    }
  }
  const digits = intDigits + fracDigits;
  if (digits === 0) return -1;
  let exponent = 0;
  if (c === LOWER_E || c === UPPER_E) {
    p++;
    c = p < n ? buf[p]! : LF;
    let expNeg = false;
    if (c === MINUS || c === PLUS) {
      expNeg = c === MINUS;
      p++;
      c = p < n ? buf[p]! : LF;
    }
    const expStart = p;
    while (c >= ZERO && c <= NINE) {
      if (exponent < 100000) exponent = exponent * 10 + (c - ZERO);
      p++;
      c = p < n ? buf[p]! : LF;
    }
    if (p === expStart) return -1;
    if (expNeg) exponent = -exponent;
  }
  if (c !== COMMA && c !== SPACE && c !== LF && c !== CR) return -1;
  let v: number;
  const scale = exponent - fracDigits;
  if (digits <= 15 && scale >= -22 && scale <= 22) {
    v = scale < 0 ? mantissa / POW10[-scale]! : mantissa * POW10[scale]!;
  } else {
    v = Number.parseFloat(buf.toString('latin1', neg ? start + 1 : start, p));
    if (!Number.isFinite(v)) return -1;
  }
  numOut[0] = neg ? -v : v;
  numBig = undefined;
  numCode = CODE_FLOAT;
  return p;
}

/** The DecodeError of a failed line: from fail()'s record, or from an unexpected exception. */
function lineError(text: string, lineStart: number, end: number, lineNo: number, err?: unknown): DecodeError {
  const reason =
    err === undefined
      ? `line ${lineNo}: ${failMessage} at column ${failColumn - lineStart + 1}`
      : `line ${lineNo}: ${err instanceof Error ? err.message : String(err)}`;
  return { line: lineNo, reason, text: truncate(text, lineStart, end) };
}

export function truncate(text: string, start: number, end: number): string {
  return end - start > ERROR_TEXT_LIMIT
    ? text.slice(start, start + ERROR_TEXT_LIMIT) + '…'
    : text.slice(start, end);
}

/** Quotes a piece of input in an error message: short, on one line, control characters escaped. */
function quote(s: string): string {
  const cut = s.length > 60 ? s.slice(0, 60) + '…' : s;
  return `'${cut.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => (c === '\t' ? '\\t' : c === '\r' ? '\\r' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`))}'`;
}

function parseLine(
  text: string,
  start: number,
  end: number,
  hasBackslash: boolean,
  precision: Precision,
  defaultTime: number,
): Point | undefined {
  // --- series (measurement and tags): first try the series that followed the previous line's
  // series last time (Telegraf emits series in a stable order).
  let series: Series | undefined;
  let sp: number;
  // (slice + === compares with memcmp; startsWith compares char by char, ~4x slower here.)
  const predicted = lastSeries === undefined ? undefined : lastSeries.next;
  if (
    predicted !== undefined &&
    text.charCodeAt(start + predicted.raw.length) === SPACE &&
    text.slice(start, start + predicted.raw.length) === predicted.raw
  ) {
    series = predicted;
    sp = start + predicted.raw.length;
  } else {
    // The series section ends at the first unescaped space (quotes are not special there).
    sp = text.indexOf(' ', start);
    if (hasBackslash) {
      while (sp >= 0 && sp < end && oddBackslashesBefore(text, sp, start)) sp = text.indexOf(' ', sp + 1);
    }
    if (sp < 0 || sp >= end) {
      // Report the first structural problem of the lone series section.
      if (parseSeries(flatten(text.slice(start, end)), start) === undefined) return undefined;
      return fail(end, 'missing fields (no space after the measurement and tags)');
    }
    const rawSeries = text.slice(start, sp);
    series = seriesCache.get(rawSeries);
    if (series === undefined) {
      const flat = flatten(rawSeries);
      series = parseSeries(flat, start);
      if (series === undefined) return undefined;
      // The section as text, its words, its tags (keys and values), the series object.
      cacheCost += flat.length * 6 + 400;
      if (seriesCache.size >= seriesCacheLimit || cacheCost > cacheBudget) resetCaches();
      seriesCache.set(flat, series);
    }
    if (lastSeries !== undefined) lastSeries.next = series;
  }
  lastSeries = series;
  // A series decoded under other limits is checked against these once (by parsing it again).
  if (series.checked !== lim) {
    if (parseSeries(series.raw, start) === undefined) return undefined;
    series.checked = lim;
  }
  if (dupIndexUsed) {
    dupIndex.clear();
    dupIndexUsed = false;
  }

  let p = sp + 1;
  while (p < end && text.charCodeAt(p) === SPACE) p++;
  if (p >= end) return fail(p, 'missing fields');

  // --- fields: keys are matched against the series' previous layout; values go to scratch.
  const layout = series.layout;
  const rawKeys = layout.rawKeys;
  const keys = layout.keys;
  const shapeCodes = layout.inputTypes;
  let keysOk = true;
  let typesOk = true;
  let hasBig = false;
  let count = 0;
  for (;;) {
    let key: string;
    const keyStart = p;
    const expected = keysOk ? rawKeys[count] : undefined;
    if (
      expected !== undefined &&
      text.charCodeAt(p + expected.length) === EQUALS &&
      (expected.length <= 12 ? text.slice(p, p + expected.length) === expected : text.startsWith(expected, p))
    ) {
      key = keys[count]!;
      p += expected.length + 1;
    } else {
      keysOk = false;
      let escaped = false;
      for (;;) {
        if (p >= end) return fail(keyStart, `missing '=' after field key ${quote(text.slice(keyStart, p))}`);
        const ch = text.charCodeAt(p);
        if (ch === EQUALS) break;
        if (isControl(ch)) return fail(p, `control character ${charName(ch)} in a field key`);
        if (ch === BACKSLASH) {
          escaped = true;
          if (p + 1 < end && isControl(text.charCodeAt(p + 1))) {
            return fail(p + 1, `control character ${charName(text.charCodeAt(p + 1))} in a field key`);
          }
          p += 2;
          if (p > end) p = end;
          continue;
        }
        if (ch === SPACE || ch === COMMA) {
          return fail(
            p,
            keyStart === p
              ? 'missing field key'
              : `missing '=' after field key ${quote(text.slice(keyStart, p))}`,
          );
        }
        p++;
      }
      if (p === keyStart) return fail(p, 'missing field key');
      const raw = text.slice(keyStart, p);
      key = escaped ? unescapeKey(raw) : raw;
      if (exceedsBytes(key, lim.maxNameBytes)) {
        return fail(
          keyStart,
          `field key ${quote(key)} longer than ${limitKey('maxNameBytes')} (${lim.maxNameBytes} bytes)`,
        );
      }
      scratchRaw[count] = raw;
      p++;
    }

    const valueStart = p;
    if (p >= end) return fail(p, `missing value for field ${quote(key)}`);
    const c = text.charCodeAt(p);
    let value: FieldValue;
    let code: number;
    if (c === QUOTE) {
      let q = p + 1;
      let escaped = false;
      for (;;) {
        if (q >= end) return fail(valueStart, `unterminated string value for field ${quote(key)}`);
        const ch = text.charCodeAt(q);
        if (ch === QUOTE) break;
        if (ch === BACKSLASH) {
          escaped = true;
          q += 2;
          continue;
        }
        q++;
      }
      value = escaped ? unescapeString(text, p + 1, q) : text.slice(p + 1, q);
      if (q - p > lim.maxStringBytes / 3 && exceedsBytes(value, lim.maxStringBytes)) {
        return fail(
          valueStart,
          `string value of field ${quote(key)} longer than ${limitKey('maxStringBytes')} (${lim.maxStringBytes} bytes)`,
        );
      }
      code = CODE_STRING;
      p = q + 1;
    } else if (c === LOWER_T || c === UPPER_T || c === LOWER_F || c === UPPER_F) {
      let q = p + 1;
      while (q < end) {
        const ch = text.charCodeAt(q);
        if (ch === COMMA || ch === SPACE) break;
        q++;
      }
      const b = parseBoolean(text, p, q);
      if (b === undefined) {
        return fail(p, `invalid field value ${quote(text.slice(p, q))} for key ${quote(key)}`);
      }
      value = b;
      code = CODE_BOOL;
      p = q;
    } else {
      const q = parseNumber(text, p, end);
      if (q < 0) {
        let e = p;
        while (e < end) {
          const ch = text.charCodeAt(e);
          if (ch === COMMA || ch === SPACE) break;
          e++;
        }
        return fail(p, `invalid field value ${quote(text.slice(p, e))} for key ${quote(key)}`);
      }
      value = numValue;
      code = numCode;
      p = q;
    }

    if (typesOk && shapeCodes.charCodeAt(count) !== code) typesOk = false;
    let at = count;
    if (!keysOk) {
      // A repeated key: the last value wins, at the first occurrence's position; repeated with
      // another type the line is rejected (InfluxDB TSM semantics).
      if (count <= DUP_SCAN_MAX) {
        for (let k = 0; k < count; k++) {
          if (scratchKeys[k] === key) {
            at = k;
            break;
          }
        }
      } else {
        if (!dupIndexUsed) {
          for (let k = 0; k < count; k++) dupIndex.set(scratchKeys[k]!, k);
          dupIndexUsed = true;
        }
        at = dupIndex.get(key) ?? count;
      }
      if (at < count && scratchCodes[at] !== code) {
        return fail(keyStartOf(text, valueStart), `field ${quote(key)} repeated with another type`);
      }
    }
    scratchValues[at] = value;
    if (typeof value === 'number') scratchNums[at] = value;
    else if (typeof value === 'bigint') hasBig = true;
    if (at === count) {
      if (count >= lim.maxFields) {
        return fail(keyStart, `more than ${lim.maxFields} fields (${limitKey('maxFields')})`);
      }
      scratchKeys[count] = key;
      scratchCodes[count] = code;
      scratchPos[count] = keyStart;
      if (keysOk) scratchRaw[count] = expected!;
      if (dupIndexUsed) dupIndex.set(key, count);
      count++;
    }

    if (p >= end) break;
    const sep = text.charCodeAt(p);
    if (sep === COMMA) {
      p++;
      continue;
    }
    if (sep === SPACE) break;
    return fail(p, `unexpected ${quote(text[p]!)} after value of field ${quote(key)}`);
  }

  let fields: Record<string, FieldValue>;
  let used = layout;
  if (!(keysOk && typesOk && count === keys.length)) {
    used = internLayout(count);
    series.layout = used;
  }
  if (used.checked !== lim) {
    // Fields were counted above; the keys of a layout decoded under other limits are checked here.
    for (let i = 0; i < count; i++) {
      if (exceedsBytes(used.keys[i]!, lim.maxNameBytes)) {
        return fail(
          scratchPos[i]!,
          `field key ${quote(used.keys[i]!)} longer than ${limitKey('maxNameBytes')} (${lim.maxNameBytes} bytes)`,
        );
      }
    }
    used.checked = lim;
  }
  if (hasBig || count > scratchNums.length) {
    fields = used.buildGeneric(scratchValues, scratchNums);
  } else {
    if (used.uses < COMPILE_AFTER) countUse(used);
    fields = used.build(scratchValues, scratchNums);
  }
  const types = used.types;

  // --- timestamp
  while (p < end && text.charCodeAt(p) === SPACE) p++;
  let time = defaultTime;
  let nanos = 0;
  if (p < end) {
    const tsStart = p;
    let neg = false;
    if (text.charCodeAt(p) === MINUS) {
      neg = true;
      p++;
    }
    const digitsStart = p;
    while (p < end) {
      const ch = text.charCodeAt(p);
      if (ch < ZERO || ch > NINE) break;
      p++;
    }
    const digitsEnd = p;
    while (p < end && text.charCodeAt(p) === SPACE) p++;
    if (digitsEnd === digitsStart || p < end) {
      let e = tsStart;
      while (e < end && text.charCodeAt(e) !== SPACE) e++;
      if (e !== digitsEnd || digitsEnd === digitsStart) {
        return fail(tsStart, `invalid timestamp ${quote(text.slice(tsStart, e))}`);
      }
      return fail(p, `unexpected text after timestamp: ${quote(text.slice(p, end).trim())}`);
    }
    // Split the digits into whole milliseconds and the nanosecond remainder, exactly.
    const loDigits = precision === 'ns' ? 6 : precision === 'us' ? 3 : 0;
    const split = Math.max(digitsEnd - loDigits, digitsStart);
    if (split - digitsStart > 15) {
      return fail(tsStart, `timestamp ${quote(text.slice(tsStart, digitsEnd))} out of range`);
    }
    let hi = 0;
    for (let i = digitsStart; i < split; i++) hi = hi * 10 + (text.charCodeAt(i) - ZERO);
    let lo = 0;
    for (let i = split; i < digitsEnd; i++) lo = lo * 10 + (text.charCodeAt(i) - ZERO);
    if (precision === 'us') lo *= 1000;
    else if (precision === 's') hi *= 1000;
    if (neg) {
      if (lo > 0) {
        time = -hi - 1;
        nanos = 1_000_000 - lo;
      } else {
        time = 0 - hi;
      }
    } else {
      time = hi;
      nanos = lo;
    }
    // InfluxDB's timestamp range: -9223372036854775806 ..= 9223372036854775806 ns.
    if (
      time > 9223372036854 ||
      time < -9223372036855 ||
      (time === 9223372036854 && nanos > 775806) ||
      (time === -9223372036855 && nanos < 224194)
    ) {
      return fail(tsStart, `timestamp ${quote(text.slice(tsStart, digitsEnd))} out of range`);
    }
  }

  if (fieldTypes !== undefined && (series.typesLayout !== used || series.typesStamp !== fieldTypes.stamp)) {
    const bad = fieldTypes.check(series.measurement, used.keys, used.inputTypes);
    if (bad >= 0) {
      const k = used.keys[bad]!;
      return fail(
        scratchPos[bad]!,
        `field ${quote(k)} is ${typeName(used.inputTypes.charCodeAt(bad))} here but was ` +
          `${typeName(fieldTypes.known(series.measurement, k) ?? 0)} in earlier points of ` +
          `${quote(series.measurement)} (a TSDB refuses a field changing type)`,
      );
    }
    series.typesLayout = used;
    series.typesStamp = fieldTypes.stamp;
  }
  return { measurement: series.measurement, tags: series.tags, fields, types, time, nanos };
}

/** Start of the field key whose value starts at `valueStart` (for error columns). */
function keyStartOf(text: string, valueStart: number): number {
  let k = valueStart - 2;
  while (k > 0) {
    const ch = text.charCodeAt(k);
    if ((ch === COMMA || ch === SPACE) && !oddBackslashesBefore(text, k, 0)) return k + 1;
    k--;
  }
  return 0;
}

function oddBackslashesBefore(text: string, at: number, start: number): boolean {
  let k = at - 1;
  while (k >= start && text.charCodeAt(k) === BACKSLASH) k--;
  return ((at - 1 - k) & 1) === 1;
}

/**
 * Copies a slice into its own string so that cached names do not keep the whole message text
 * (V8 slices reference their parent string) alive.
 */
function flatten(s: string): string {
  return s.length < 13 ? s : (' ' + s).slice(1);
}

/** Parses `measurement[,k=v...]` (no unescaped spaces). `offset` is its position in the text for errors. */
function parseSeries(s: string, offset: number): Series | undefined {
  const n = s.length;
  let i = 0;
  let escaped = false;
  while (i < n) {
    const ch = s.charCodeAt(i);
    if (ch === COMMA) break;
    if (ch === BACKSLASH) {
      escaped = true;
      i++;
      if (i >= n) break;
    }
    if (isControl(s.charCodeAt(i))) return controlIn(s, i, offset, 'the measurement');
    i++;
  }
  if (i > n) i = n;
  if (i === 0) return fail(offset, 'missing measurement');
  const measurement = escaped ? unescapeMeasurement(s.slice(0, i)) : s.slice(0, i);
  if (exceedsBytes(measurement, lim.maxNameBytes)) {
    return fail(offset, `measurement longer than ${limitKey('maxNameBytes')} (${lim.maxNameBytes} bytes)`);
  }
  if (i >= n) return newSeries(s, measurement, EMPTY_TAGS);

  const tags: Record<string, string> = {};
  let tagCount = 0;
  while (i < n) {
    // s[i] is a comma
    i++;
    const keyStart = i;
    escaped = false;
    for (;;) {
      if (i >= n) {
        return fail(
          offset + keyStart,
          keyStart === n
            ? 'missing tag key after comma'
            : `missing '=' after tag key ${quote(s.slice(keyStart))}`,
        );
      }
      const ch = s.charCodeAt(i);
      if (ch === EQUALS) break;
      if (ch === COMMA) {
        return fail(
          offset + i,
          keyStart === i
            ? 'missing tag key after comma'
            : `missing '=' after tag key ${quote(s.slice(keyStart, i))}`,
        );
      }
      if (ch === BACKSLASH) {
        escaped = true;
        i++;
        if (i >= n) continue;
      }
      if (isControl(s.charCodeAt(i))) return controlIn(s, i, offset, 'a tag key');
      i++;
    }
    if (i === keyStart) return fail(offset + i, 'missing tag key');
    const key = escaped ? unescapeKey(s.slice(keyStart, i)) : s.slice(keyStart, i);
    if (exceedsBytes(key, lim.maxNameBytes)) {
      return fail(
        offset + keyStart,
        `tag key ${quote(key)} longer than ${limitKey('maxNameBytes')} (${lim.maxNameBytes} bytes)`,
      );
    }
    i++;
    const valueStart = i;
    escaped = false;
    while (i < n) {
      const ch = s.charCodeAt(i);
      if (ch === COMMA) break;
      if (ch === EQUALS) {
        return fail(offset + i, `unescaped '=' in value of tag ${quote(key)}`);
      }
      if (ch === BACKSLASH) {
        escaped = true;
        i++;
        if (i >= n) break;
      }
      if (isControl(s.charCodeAt(i))) return controlIn(s, i, offset, `the value of tag ${quote(key)}`);
      i++;
    }
    if (i > n) i = n;
    if (i === valueStart) return fail(offset + valueStart, `missing value for tag ${quote(key)}`);
    if (Object.hasOwn(tags, key)) return fail(offset + keyStart, `duplicate tag key ${quote(key)}`);
    if (++tagCount > lim.maxTags) {
      return fail(offset + keyStart, `more than ${lim.maxTags} tags (${limitKey('maxTags')})`);
    }
    const value = escaped ? unescapeKey(s.slice(valueStart, i)) : s.slice(valueStart, i);
    if (exceedsBytes(value, lim.maxTagValueBytes)) {
      return fail(
        offset + valueStart,
        `value of tag ${quote(key)} longer than ${limitKey('maxTagValueBytes')} (${lim.maxTagValueBytes} bytes)`,
      );
    }
    setTag(tags, key, value);
  }
  return newSeries(s, measurement, Object.freeze(tags));
}

function controlIn(s: string, i: number, offset: number, where: string): undefined {
  return fail(offset + i, `control character ${charName(s.charCodeAt(i))} in ${where}`);
}

/** U+0000 style name of a character, for messages. */
function charName(c: number): string {
  return `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
}

function newSeries(raw: string, measurement: string, tags: Readonly<Record<string, string>>): Series {
  return {
    raw,
    measurement,
    tags,
    layout: EMPTY_LAYOUT,
    next: undefined,
    byteLength: -1,
    words: [],
    tail: 0,
    sameHash: undefined,
    checked: lim,
    typesLayout: undefined,
    typesStamp: 0,
  };
}

function setTag(tags: Record<string, string>, key: string, value: string): void {
  if (key === '__proto__')
    Object.defineProperty(tags, key, { value, enumerable: true, writable: true, configurable: true });
  else tags[key] = value;
}

function setField(fields: Record<string, FieldValue>, key: string, value: FieldValue): void {
  if (key.length === 9 && key === '__proto__') {
    Object.defineProperty(fields, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    fields[key] = value;
  }
}

/** Measurement escapes: `\,` `\ ` `\\`. */
function unescapeMeasurement(raw: string): string {
  let out = '';
  const n = raw.length;
  for (let i = 0; i < n; i++) {
    const ch = raw.charCodeAt(i);
    if (ch === BACKSLASH && i + 1 < n) {
      const next = raw.charCodeAt(i + 1);
      if (next === COMMA || next === SPACE || next === BACKSLASH) {
        out += raw[i + 1];
        i++;
        continue;
      }
    }
    out += raw[i];
  }
  return out;
}

/** Tag key, tag value and field key escapes: `\,` `\=` `\ ` `\\`. */
function unescapeKey(raw: string): string {
  let out = '';
  const n = raw.length;
  for (let i = 0; i < n; i++) {
    const ch = raw.charCodeAt(i);
    if (ch === BACKSLASH && i + 1 < n) {
      const next = raw.charCodeAt(i + 1);
      if (next === COMMA || next === SPACE || next === EQUALS || next === BACKSLASH) {
        out += raw[i + 1];
        i++;
        continue;
      }
    }
    out += raw[i];
  }
  return out;
}

/** String field value escapes: `\"` `\\`. */
function unescapeString(text: string, start: number, end: number): string {
  let out = '';
  for (let i = start; i < end; i++) {
    const ch = text.charCodeAt(i);
    if (ch === BACKSLASH && i + 1 < end) {
      const next = text.charCodeAt(i + 1);
      if (next === QUOTE || next === BACKSLASH) {
        out += text[i + 1];
        i++;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

function parseBoolean(text: string, start: number, end: number): boolean | undefined {
  const len = end - start;
  const c = text.charCodeAt(start);
  if (len === 1) {
    if (c === LOWER_T || c === UPPER_T) return true;
    if (c === LOWER_F || c === UPPER_F) return false;
    return undefined;
  }
  if (len === 4) {
    if (text.startsWith('true', start) || text.startsWith('True', start) || text.startsWith('TRUE', start)) {
      return true;
    }
    return undefined;
  }
  if (len === 5) {
    if (
      text.startsWith('false', start) ||
      text.startsWith('False', start) ||
      text.startsWith('FALSE', start)
    ) {
      return false;
    }
  }
  return undefined;
}

/**
 * Parses a float, `…i` integer or `…u` unsigned at `start`; the value must end at a comma, a
 * space or `end`. Sets numValue/numCode and returns the end position, or -1 if invalid.
 */
function parseNumber(text: string, start: number, end: number): number {
  let p = start;
  let neg = false;
  let c = text.charCodeAt(p);
  if (c === MINUS) {
    neg = true;
    c = text.charCodeAt(++p);
  }
  let mantissa = 0;
  let digits = 0;
  let intDigits = 0;
  while (c >= ZERO && c <= NINE && p < end) {
    mantissa = mantissa * 10 + (c - ZERO);
    intDigits++;
    c = text.charCodeAt(++p);
  }
  digits = intDigits;
  if (p < end && (c === LOWER_I || c === LOWER_U)) {
    if (intDigits === 0) return -1;
    const after = p + 1;
    if (after < end) {
      const t = text.charCodeAt(after);
      if (t !== COMMA && t !== SPACE) return -1;
    }
    if (c === LOWER_I) {
      if (intDigits <= 15) {
        numValue = neg ? 0 - mantissa : mantissa;
      } else {
        const big = BigInt(text.slice(start, p));
        if (big > INT64_MAX || big < INT64_MIN) return -1;
        numValue = toSafe(big);
      }
      numCode = CODE_INT;
    } else {
      if (neg) return -1;
      if (intDigits <= 15) {
        numValue = mantissa;
      } else {
        const big = BigInt(text.slice(start, p));
        if (big > UINT64_MAX) return -1;
        numValue = toSafe(big);
      }
      numCode = CODE_UINT;
    }
    return after;
  }
  let fracDigits = 0;
  if (p < end && c === DOT) {
    c = text.charCodeAt(++p);
    while (c >= ZERO && c <= NINE && p < end) {
      mantissa = mantissa * 10 + (c - ZERO);
      fracDigits++;
      c = text.charCodeAt(++p);
    }
  }
  digits += fracDigits;
  if (digits === 0) return -1;
  let exponent = 0;
  if (p < end && (c === LOWER_E || c === UPPER_E)) {
    c = text.charCodeAt(++p);
    let expNeg = false;
    if (p < end && (c === MINUS || c === PLUS)) {
      expNeg = c === MINUS;
      c = text.charCodeAt(++p);
    }
    const expStart = p;
    while (c >= ZERO && c <= NINE && p < end) {
      if (exponent < 100000) exponent = exponent * 10 + (c - ZERO);
      c = text.charCodeAt(++p);
    }
    if (p === expStart) return -1;
    if (expNeg) exponent = -exponent;
  }
  if (p < end && c !== COMMA && c !== SPACE) return -1;
  let v: number;
  const scale = exponent - fracDigits;
  if (digits <= 15 && scale >= -22 && scale <= 22) {
    // mantissa < 2^53 and 10^|scale| are exact: one IEEE operation rounds correctly.
    v = scale < 0 ? mantissa / POW10[-scale]! : mantissa * POW10[scale]!;
  } else {
    v = Number.parseFloat(text.slice(neg ? start + 1 : start, p));
    if (!Number.isFinite(v)) return -1;
  }
  numValue = neg ? -v : v;
  numCode = CODE_FLOAT;
  return p;
}

function toSafe(big: bigint): number | bigint {
  return big <= 9007199254740991n && big >= -9007199254740991n ? Number(big) : big;
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

function needsEscape(s: string, extra: number): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === COMMA || c === SPACE || c === BACKSLASH || c === extra || c === LF || c === CR) return true;
  }
  return false;
}

function escapeName(s: string, escapeEquals: boolean): string {
  if (!needsEscape(s, escapeEquals ? EQUALS : -1)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === COMMA || c === SPACE || c === BACKSLASH || (escapeEquals && c === EQUALS)) out += '\\' + s[i];
    else if (c === LF) out += '\\n';
    else if (c === CR) out += '\\r';
    else out += s[i];
  }
  return out;
}

function escapeStringValue(s: string): string {
  let out = '"';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === QUOTE || c === BACKSLASH || c === LF || c === CR) {
      out += s.slice(from, i) + (c === LF ? '\\n' : c === CR ? '\\r' : '\\' + s[i]);
      from = i + 1;
    }
  }
  return out + s.slice(from) + '"';
}

/** `hi * 10^digits + lo` as a decimal string, exactly (hi may be negative, 0 <= lo < 10^digits). */
function joinScaled(hi: number, lo: number, digits: number): string {
  if (digits === 0) return String(hi);
  const unit = 10 ** digits;
  if (hi >= 0) return hi === 0 ? String(lo) : String(hi) + String(lo).padStart(digits, '0');
  if (lo === 0) return String(hi) + '0'.repeat(digits);
  const h = -hi - 1;
  const l = unit - lo;
  return '-' + (h === 0 ? String(l) : String(h) + String(l).padStart(digits, '0'));
}

/** The point's timestamp as an integer in `precision` (rounded down to it). */
export function formatTimestamp(time: number, nanos: number, precision: Precision = 'ns'): string {
  switch (precision) {
    case 'ns':
      return joinScaled(time, nanos, 6);
    case 'us':
      return joinScaled(time, Math.floor(nanos / 1000), 3);
    case 'ms':
      return String(time);
    case 's':
      return String(Math.floor(time / 1000));
  }
}

/**
 * Canonical line protocol for one point, timestamp in `precision` (default ns).
 * What line protocol cannot carry is dropped rather than producing a line the TSDB would
 * misread: tags with an empty key or value, fields with an empty key, non-finite floats.
 * Newlines and carriage returns in names and values become the two characters `\n` / `\r`.
 */
export function encodeLine(p: Point, precision: Precision = 'ns'): string {
  let line = escapeName(p.measurement, false);
  const tags = p.tags;
  for (const k in tags) {
    const v = tags[k]!;
    if (k === '' || v === '') continue;
    line += ',' + escapeName(k, true) + '=' + escapeName(v, true);
  }
  let sep = ' ';
  let i = 0;
  const types = p.types;
  const fields = p.fields;
  for (const k in fields) {
    const v = fields[k]!;
    const code = types.charCodeAt(i++);
    if (k === '') continue;
    let encoded: string;
    if (typeof v === 'string') encoded = escapeStringValue(v);
    else if (typeof v === 'boolean') encoded = v ? 'true' : 'false';
    else if (typeof v === 'bigint') encoded = String(v) + (code === CODE_UINT ? 'u' : 'i');
    else if (code === CODE_INT || code === CODE_UINT) {
      if (!Number.isFinite(v)) continue;
      encoded = BigInt(Math.trunc(v)).toString() + (code === CODE_UINT ? 'u' : 'i');
    } else if (!Number.isFinite(v)) continue;
    else encoded = Object.is(v, -0) ? '-0' : String(v);
    line += sep + escapeName(k, true) + '=' + encoded;
    sep = ',';
  }
  return line + ' ' + formatTimestamp(p.time, p.nanos, precision);
}
