import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { DecodeError, InputFormat, Level, Point, Precision } from '../core/types.js';
import { decodeBuffer, lineOfPoint } from '../ingest/decode.js';
import { type DecodeLimits, FieldTypeRegistry } from '../ingest/limits.js';
import type { PointSink } from '../ingest/sink.js';
import type { Pipeline } from './pipeline.js';

/**
 * `converge replay`: drives the pipeline from a recorded stream (a file or stdin) in event time,
 * as fast as the CPU allows. The input is read in chunks cut at line boundaries, so memory stays
 * flat whatever the file size. Lines without a timestamp take the newest event time seen so far
 * (the wall clock only for a stream that starts with such lines), keeping replays deterministic.
 */
export interface ReplayOptions {
  format: InputFormat;
  precision?: Precision;
  /** Where durable points go (a TSDB when the config names one); none: points are only counted. */
  sink?: PointSink;
  /** What a line may hold (config `input.limits`); default DEFAULT_LIMITS. */
  limits?: DecodeLimits;
  /** Refuse a field changing type within its measurement (InfluxDB's rule). Default true. */
  refuseFieldTypeChanges?: boolean;
  /**
   * Called for each rejected line (already numbered within the whole input): refused by the
   * decoder, or by the TSDB (reason `line N: refused by the TSDB: ...`; N is 0 for JSON input).
   */
  onError?: (error: DecodeError) => void;
  /** Called about every `progressEveryMs` of wall time on long inputs. */
  onProgress?: (p: ReplayProgress) => void;
  progressEveryMs?: number;
  /** Bytes read per chunk. Default 1 MiB. */
  chunkBytes?: number;
}

export interface ReplayProgress {
  lines: number;
  points: number;
  malformed: number;
  bytes: number;
  wallMs: number;
  /** Newest event time seen (ms). */
  eventTime: number;
}

export interface ReplaySummary {
  points: number;
  malformed: number;
  /** Points the TSDB refused for good (only with a TSDB sink). */
  refused: number;
  series: number;
  entities: Record<Level, number>;
  alerts: number;
  incidents: number;
  wallMs: number;
}

export async function replay(
  input: string | Readable,
  pipeline: Pipeline,
  options: ReplayOptions,
): Promise<ReplaySummary> {
  const started = performance.now();
  const stream =
    typeof input === 'string'
      ? createReadStream(input, { highWaterMark: options.chunkBytes ?? 1 << 20 })
      : input;
  // Bytes, not text: the decoders scan bytes (decodeBuffer, as for Kafka values), and chunks are
  // cut at the last newline byte, which never falls inside a UTF-8 sequence.
  const series = new SeriesCounter();
  const progressEvery = options.progressEveryMs ?? 2000;
  let nextProgress = started + progressEvery;
  /** Bytes after the last newline so far: chunks kept apart until one ends a line, so that a very
   * long line costs one copy, not one per chunk. */
  const carry: Buffer[] = [];
  let line = 1;
  let points = 0;
  let malformed = 0;
  let refused = 0;
  let bytes = 0;
  let newest: number | undefined;
  const fieldTypes = options.refuseFieldTypeChanges === false ? undefined : new FieldTypeRegistry();

  const consume = async (text: Buffer): Promise<void> => {
    const firstLine = line;
    const res = decodeBuffer(text, options.format, {
      precision: options.precision,
      firstLine,
      documentLines: true,
      defaultTime: newest ?? Date.now(),
      limits: options.limits,
      fieldTypes,
    });
    line += countLines(text);
    malformed += res.errors.length;
    if (options.onError) for (const e of res.errors) options.onError(e);
    const batch = res.points;
    if (batch.length === 0) return;
    points += batch.length;
    series.addAll(batch);
    if (options.sink) {
      await options.sink.write(batch, (r) => {
        refused++;
        const at = options.format === 'lp' ? lineOfPoint(text, res.errors, r.index, firstLine) : 0;
        options.onError?.({ line: at, reason: `line ${at}: refused by the TSDB: ${r.reason}`, text: r.line });
      });
    }
    pipeline.accept(batch);
    pipeline.advance();
    const t = pipeline.stats().maxEventTime;
    if (Number.isFinite(t)) newest = t;
  };

  for await (const raw of stream as AsyncIterable<Buffer | string>) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
    bytes += chunk.length;
    const cut = chunk.lastIndexOf(NEWLINE);
    if (cut < 0) {
      carry.push(chunk);
      continue;
    }
    const text =
      carry.length === 0 ? chunk.subarray(0, cut + 1) : Buffer.concat([...carry, chunk.subarray(0, cut + 1)]);
    carry.length = 0;
    if (cut + 1 < chunk.length) carry.push(chunk.subarray(cut + 1));
    await consume(text);
    if (options.onProgress && performance.now() >= nextProgress) {
      nextProgress = performance.now() + progressEvery;
      options.onProgress({
        lines: line - 1,
        points,
        malformed,
        bytes,
        wallMs: performance.now() - started,
        eventTime: newest ?? Number.NaN,
      });
    }
  }
  if (carry.length > 0) await consume(Buffer.concat(carry));
  if (options.sink) await options.sink.forceFlush();
  pipeline.finish();
  const stats = pipeline.stats();

  return {
    points,
    malformed,
    refused,
    series: series.size,
    entities: pipeline.topology.counts(),
    alerts: stats.alerts,
    incidents: stats.incidents,
    wallMs: Math.round(performance.now() - started),
  };
}

const NEWLINE = 0x0a;

function countLines(text: Buffer): number {
  let n = 0;
  for (let i = text.indexOf(NEWLINE); i >= 0; i = text.indexOf(NEWLINE, i + 1)) n++;
  return n;
}

/**
 * Distinct series (measurement + tag set, tag order ignored). The key reuses the tag object's
 * own order when its keys are already sorted, which is how Telegraf writes them.
 */
export class SeriesCounter {
  private readonly keys = new Set<string>();

  get size(): number {
    return this.keys.size;
  }

  addAll(points: readonly Point[]): void {
    for (let i = 0; i < points.length; i++) this.keys.add(seriesKey(points[i]!));
  }
}

export function seriesKey(p: Point): string {
  let names = Object.keys(p.tags);
  for (let i = 1; i < names.length; i++) {
    if (names[i - 1]! > names[i]!) {
      names = names.slice().sort();
      break;
    }
  }
  let key = p.measurement;
  for (const k of names) key += '\u0000' + k + '\u0001' + p.tags[k];
  return key;
}
