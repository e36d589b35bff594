import type { DecodeError, DecodeResult, InputFormat, Point, Precision } from '../core/types.js';
import { decodeTelegrafJson } from './json.js';
import { decodeLineProtocolBytes, encodeLine as encodeLineProtocol } from './lineprotocol.js';

export { setSeriesCacheLimit } from './lineprotocol.js';

/**
 * The one entry point for turning raw metric messages into points. See lineprotocol.ts and
 * json.ts for the exact rules of each format.
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
}

/**
 * Decodes a message or file chunk. Never throws: bad lines come back in `errors`.
 * Line protocol text is decoded through its UTF-8 bytes (Buffer.from is a fast copy, and the byte
 * scanner is several times faster than charCodeAt); lone surrogates become U+FFFD.
 */
export function decode(text: string, format: InputFormat, opts: DecodeOptions = {}): DecodeResult {
  if (format === 'json') return run(text, format, opts);
  return run(Buffer.from(String(text), 'utf8'), format, opts);
}

/** Decodes a Kafka message value (UTF-8). Never throws. */
export function decodeBuffer(buf: Uint8Array, format: InputFormat, opts: DecodeOptions = {}): DecodeResult {
  return run(buf, format, opts);
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

function run(input: string | Uint8Array, format: InputFormat, opts: DecodeOptions): DecodeResult {
  const points: Point[] = [];
  const errors: DecodeError[] = [];
  const defaultTime = opts.defaultTime ?? Date.now();
  const firstLine = opts.firstLine ?? 1;
  try {
    if (format === 'json') {
      const text = typeof input === 'string' ? input : utf8.decode(input);
      decodeTelegrafJson(
        text,
        { precision: opts.precision ?? 's', defaultTime, firstLine, documentLines: opts.documentLines },
        points,
        errors,
      );
    } else {
      const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
      decodeLineProtocolBytes(
        bytes,
        { precision: opts.precision ?? 'ns', defaultTime, firstLine },
        points,
        errors,
      );
    }
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

/** Canonical line protocol for the TSDB, timestamp at `precision` (default ns, exact). */
export function encodeLine(p: Point, precision: Precision = 'ns'): string {
  return encodeLineProtocol(p, precision);
}
