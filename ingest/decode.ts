import { isUtf8 } from 'node:buffer';
import type { DecodeError, DecodeResult, InputFormat, Point, Precision } from '../core/types.js';
import { decodeTelegrafJson } from './json.js';
import { DEFAULT_LIMITS, type DecodeLimits, type FieldTypeRegistry } from './limits.js';
import {
  decodeLineProtocolBytes,
  ERROR_TEXT_LIMIT,
  encodeLine as encodeLineProtocol,
} from './lineprotocol.js';

export { setDecoderCacheBudget, setSeriesCacheLimit } from './lineprotocol.js';

/**
 * The one entry point for turning raw metric messages into points. See lineprotocol.ts and
 * json.ts for the exact rules of each format, limits.ts for what a line may hold.
 *
 * Before either format's decoder: a byte order mark at the very start of a stream (of a Kafka
 * message, of a replayed file: `firstLine` 1) is dropped, and a line that is not valid UTF-8
 * (bytes) or holds a lone surrogate (text) is refused with the column of the first bad byte,
 * never decoded with replacement characters.
 *
 * Points of the same series may share one frozen `tags` object: treat points as read-only.
 */
export interface DecodeOptions {
  /**
   * Unit of timestamps in the input. Default for line protocol: 'ns' (Telegraf's default);
   * for JSON: 's' (Telegraf's json_timestamp_units default).
   */
  precision?: Precision;
  /** Time (ms) for lines without a timestamp; default: Date.now() at call time. */
  defaultTime?: number;
  /** 1-based number of the first line (for errors in files read in chunks); default 1. */
  firstLine?: number;
  /**
   * JSON: errors in a whole batch document carry its first line, not the metric's index (for
   * files, whose errors read `file:line`). Default false (Kafka messages: the index).
   */
  documentLines?: boolean;
  /** What a line may hold; default DEFAULT_LIMITS. */
  limits?: DecodeLimits;
  /** The stream's field types: a field changing type against them is refused. Default none. */
  fieldTypes?: FieldTypeRegistry;
}

/**
 * Decodes a message or file chunk. Never throws: bad lines come back in `errors`.
 * Line protocol text is decoded through its UTF-8 bytes (Buffer.from is a fast copy, and the byte
 * scanner is several times faster than charCodeAt).
 */
export function decode(text: string, format: InputFormat, opts: DecodeOptions = {}): DecodeResult {
  return run(String(text), format, opts);
}

/** Decodes a Kafka message value (UTF-8). Never throws. */
export function decodeBuffer(buf: Uint8Array, format: InputFormat, opts: DecodeOptions = {}): DecodeResult {
  return run(buf, format, opts);
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const BOM = '\uFEFF';

function run(input: string | Uint8Array, format: InputFormat, opts: DecodeOptions): DecodeResult {
  const points: Point[] = [];
  let errors: DecodeError[] = [];
  const defaultTime = opts.defaultTime ?? Date.now();
  const firstLine = opts.firstLine ?? 1;
  const limits = opts.limits ?? DEFAULT_LIMITS;
  try {
    // The start of a stream may carry a byte order mark; it is no part of the first name.
    if (firstLine === 1) {
      if (typeof input === 'string') {
        if (input.startsWith(BOM)) input = input.slice(1);
      } else if (input.length >= 3 && input[0] === 0xef && input[1] === 0xbb && input[2] === 0xbf) {
        input = input.subarray(3);
      }
    }
    const refused: DecodeError[] = [];
    input = withoutBadText(input, firstLine, refused);
    if (format === 'json') {
      const text = typeof input === 'string' ? input : utf8.decode(input);
      decodeTelegrafJson(
        text,
        {
          precision: opts.precision ?? 's',
          defaultTime,
          firstLine,
          documentLines: opts.documentLines,
          limits,
          fieldTypes: opts.fieldTypes,
        },
        points,
        errors,
      );
    } else {
      const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
      decodeLineProtocolBytes(
        bytes,
        { precision: opts.precision ?? 'ns', defaultTime, firstLine, limits, fieldTypes: opts.fieldTypes },
        points,
        errors,
      );
    }
    if (refused.length > 0) errors = mergeByLine(refused, errors);
  } catch (err) {
    // Not expected (each line is guarded); kept so that no input can escape as an exception.
    errors.push({
      line: firstLine,
      reason: `internal decoder error: ${err instanceof Error ? err.message : String(err)}`,
      text: '',
    });
  }
  return { points, errors };
}

/**
 * The input with every line that is not well-formed text blanked out (its newline kept, so line
 * numbers stay), one error per such line. Valid input (the normal case) is returned as it is
 * after one native validation pass.
 */
function withoutBadText<T extends string | Uint8Array>(
  input: T,
  firstLine: number,
  errors: DecodeError[],
): T {
  if (typeof input === 'string') {
    if (isWellFormed(input)) return input;
    const lines = input.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (isWellFormed(line) || /^[ \t]*#/.test(line)) continue;
      let col = 0;
      while (col < line.length && !isLoneSurrogateAt(line, col)) col++;
      errors.push(badTextError(firstLine + i, `lone surrogate U+${hex(line.charCodeAt(col))}`, col, line));
      lines[i] = '';
    }
    return lines.join('\n') as T;
  }
  const bytes = input as Uint8Array;
  if (isUtf8(bytes)) return input;
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const parts: Buffer[] = [];
  let pos = 0;
  let lineNo = firstLine;
  while (pos <= buf.length) {
    let nl = buf.indexOf(10, pos);
    if (nl < 0) nl = buf.length;
    const line = buf.subarray(pos, nl);
    if (isUtf8(line) || isBlankOrComment(buf, pos, nl)) {
      parts.push(buf.subarray(pos, Math.min(nl + 1, buf.length)));
    } else {
      const at = firstInvalidUtf8(line);
      errors.push(
        badTextError(lineNo, `invalid UTF-8 (byte 0x${hex(line[at]!, 2)})`, at, line.toString('utf8')),
      );
      if (nl < buf.length) parts.push(NEWLINE);
    }
    pos = nl + 1;
    lineNo++;
  }
  return Buffer.concat(parts) as unknown as T;
}

const NEWLINE = Buffer.from('\n');

function badTextError(lineNo: number, what: string, column: number, text: string): DecodeError {
  return {
    line: lineNo,
    reason: `line ${lineNo}: ${what} at column ${column + 1}`,
    text: text.length > ERROR_TEXT_LIMIT ? text.slice(0, ERROR_TEXT_LIMIT) + '…' : text,
  };
}

function hex(n: number, width = 4): string {
  return n.toString(16).toUpperCase().padStart(width, '0');
}

/** String.prototype.isWellFormed (ES2024; Node.js 20 has it, the configured TypeScript lib does not). */
function isWellFormed(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}

function isLoneSurrogateAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff) {
    const d = s.charCodeAt(i + 1);
    return !(d >= 0xdc00 && d <= 0xdfff);
  }
  if (c >= 0xdc00 && c <= 0xdfff) {
    const b = i > 0 ? s.charCodeAt(i - 1) : 0;
    return !(b >= 0xd800 && b <= 0xdbff);
  }
  return false;
}

/** Offset of the first byte that does not belong to a well-formed UTF-8 sequence (RFC 3629). */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  const n = b.length;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let len: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c === 0xe0) lo = 0xa0;
      else if (c === 0xed) hi = 0x9f; // no surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c === 0xf0) lo = 0x90;
      else if (c === 0xf4) hi = 0x8f;
    } else return i;
    if (i + len > n) return i;
    const c1 = b[i + 1]!;
    if (c1 < lo || c1 > hi) return i;
    for (let k = 2; k < len; k++) {
      const ck = b[i + k]!;
      if (ck < 0x80 || ck > 0xbf) return i;
    }
    i += len;
  }
  return n;
}

/** Two line-ordered error lists as one. */
function mergeByLine(a: DecodeError[], b: DecodeError[]): DecodeError[] {
  if (b.length === 0) return a;
  const out: DecodeError[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]!.line <= b[j]!.line)) out.push(a[i++]!);
    else out.push(b[j++]!);
  }
  return out;
}

/**
 * The line of a line-protocol message (numbered from `firstLine`) that became its `index`-th point
 * (0-based), given the message's decode errors: lines are counted the way the decoder does
 * (blank lines and comments make no point, refused lines neither). 0 when there is no such line.
 * For mapping a point a TSDB refused back to its input line; linear in the message.
 */
export function lineOfPoint(
  value: Uint8Array,
  errors: readonly DecodeError[],
  index: number,
  firstLine = 1,
): number {
  const n = value.length;
  let pos = 0;
  let line = firstLine;
  let e = 0;
  let seen = 0;
  while (pos < n) {
    let nl = value.indexOf(10, pos);
    if (nl < 0) nl = n;
    while (e < errors.length && errors[e]!.line < line) e++;
    const refused = e < errors.length && errors[e]!.line === line;
    if (!refused && !isBlankOrComment(value, pos, nl)) {
      if (seen === index) return line;
      seen++;
    }
    pos = nl + 1;
    line++;
  }
  return 0;
}

function isBlankOrComment(b: Uint8Array, from: number, to: number): boolean {
  let i = from;
  // A byte order mark at the start of the input is no part of the first line.
  if (from === 0 && to >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) i = 3;
  while (i < to && (b[i] === 32 || b[i] === 9)) i++;
  if (i >= to || b[i] === 35) return true;
  return i === to - 1 && b[i] === 13;
}

/** Canonical line protocol for the TSDB, timestamp at `precision` (default ns, exact). */
export function encodeLine(p: Point, precision: Precision = 'ns'): string {
  return encodeLineProtocol(p, precision);
}
