import type { DecodeError, InputFormat, Point, Precision } from '../../core/types.js';
import { type DecodeOptions, decodeBuffer, lineOfPoint } from '../decode.js';
import { type DecodeLimits, FieldTypeRegistry } from '../limits.js';
import type { PointSink, RefusedHandler, RefusedLine } from '../sink.js';
import { isRawLineSink, type RawLineSink } from '../tsdb/influx-writer.js';
import { createKafka, type KafkaClientOptions, type KafkaLogger } from './client.js';
import { deadLettersFor, KafkaDeadLetterSink, refusedLetter } from './dead-letters.js';
import { KafkaMessageSource, type KafkaMessageSourceOptions } from './kafkajs-source.js';
import type { DeadLetter, DeadLetterSink, MessageSource, SourceBatch, SourceMessage } from './source.js';

export interface MetricsConsumerOptions {
  source: MessageSource;
  sink: PointSink;
  deadLetters: DeadLetterSink;
  /** Message format. Default lp. */
  format?: InputFormat;
  /** Timestamp unit of the input; default per format (lp: ns, json: s). */
  precision?: Precision;
  /** What a line may hold (config `input.limits`); default DEFAULT_LIMITS. */
  limits?: DecodeLimits;
  /**
   * Refuse a field changing type within its measurement, as InfluxDB does (config
   * `input.limits.fieldTypeChanges: refuse`). Default true.
   */
  refuseFieldTypeChanges?: boolean;
  /**
   * Receives every batch's points once the sink acknowledged them (topology, detection).
   * Called synchronously on the consume path: keep it cheap, do not throw.
   */
  onPoints?: (points: readonly Point[]) => void;
  /**
   * Decoded points not yet acknowledged by the sink, at most. Decoding waits (heartbeating)
   * while the bound is reached, and kafkajs fetches nothing while a batch is unfinished, so a
   * slow or down sink stops consumption with bounded memory. Default 200,000.
   */
  maxInFlightPoints?: number;
  /** Points from consecutive messages gathered into one `sink.write`. Default 5000. */
  writeChunkPoints?: number;
  /**
   * Line protocol input to a sink that takes lines as bytes (InfluxPointSink) in the input's
   * precision: send the accepted lines as they came (minus the rejected ones) instead of
   * re-encoding the decoded points, when a message is plain (no escapes, quotes, comments,
   * CRs, tabs or edge whitespace) and every line has a timestamp; other messages' points are
   * encoded as usual. Saves the encoding, which was most of the write path's CPU. Default true.
   */
  passThrough?: boolean;
  /** How often to heartbeat the group while waiting on the sink or the DLQ, or decoding. Default 1 s. */
  heartbeatEveryMs?: number;
  /**
   * Longest stretch of decoding before the consumer lets the event loop run (other consumers'
   * heartbeats, the API) and heartbeats its own group when due. Default 50 ms.
   */
  decodeSliceMs?: number;
  /** How long `shutdown` lets the batch in hand finish before it shuts the sink down. Default 5 s. */
  shutdownGraceMs?: number;
  logger?: KafkaLogger;
}

export interface MetricsConsumerStats {
  batches: number;
  messages: number;
  /** Points acknowledged by the sink (counting redeliveries). */
  points: number;
  /** Lines the decoder refused, sent to the dead-letter sink. */
  malformed: number;
  /** Points the TSDB refused for good (HTTP 400 for that line), sent to the dead-letter sink. */
  refused: number;
  inFlightPoints: number;
  peakInFlightPoints: number;
  /** Wall time spent decoding, and waiting for the sink and the DLQ (ms, summed over batches). */
  decodeMs: number;
  sinkWaitMs: number;
  deadLetterMs: number;
  onPointsErrors: number;
}

/**
 * Metrics from a message source into a PointSink, at-least-once: a batch resolves (and its
 * offsets are committed by the source) only after its points are acknowledged by the sink, its
 * undecodable lines and the points the TSDB refused are acknowledged by the dead-letter sink,
 * and `onPoints` has seen them. Decoding yields to the event loop (and heartbeats) every
 * `decodeSliceMs`, so no batch keeps the process from its other work.
 */
export class MetricsConsumer {
  private readonly format: InputFormat;
  private readonly maxInFlight: number;
  private readonly chunkPoints: number;
  private readonly heartbeatEveryMs: number;
  private readonly decodeSliceMs: number;
  private readonly shutdownGraceMs: number;
  private readonly decodeOpts: DecodeOptions & { defaultTime: number };
  private inFlight = 0;
  /** Set when good input lines can go to the sink as they are (see `passThrough`). */
  private readonly rawSink: RawLineSink | undefined;
  private readonly roomWaiters: Array<() => void> = [];
  private readonly s: MetricsConsumerStats = {
    batches: 0,
    messages: 0,
    points: 0,
    malformed: 0,
    refused: 0,
    inFlightPoints: 0,
    peakInFlightPoints: 0,
    decodeMs: 0,
    sinkWaitMs: 0,
    deadLetterMs: 0,
    onPointsErrors: 0,
  };

  constructor(private readonly options: MetricsConsumerOptions) {
    this.format = options.format ?? 'lp';
    this.maxInFlight = positiveInt(options.maxInFlightPoints ?? 200_000, 'maxInFlightPoints');
    this.chunkPoints = positiveInt(options.writeChunkPoints ?? 5000, 'writeChunkPoints');
    this.heartbeatEveryMs = positiveInt(options.heartbeatEveryMs ?? 1000, 'heartbeatEveryMs');
    this.decodeSliceMs = positiveInt(options.decodeSliceMs ?? 50, 'decodeSliceMs');
    this.decodeOpts = { defaultTime: 0, precision: options.precision, limits: options.limits };
    if (options.refuseFieldTypeChanges !== false) this.decodeOpts.fieldTypes = new FieldTypeRegistry();
    this.shutdownGraceMs = positiveInt(options.shutdownGraceMs ?? 5000, 'shutdownGraceMs');
    const sink = options.sink;
    if (
      options.passThrough !== false &&
      this.format === 'lp' &&
      isRawLineSink(sink) &&
      sink.lineProtocolPrecision === (options.precision ?? 'ns')
    ) {
      this.rawSink = sink;
    }
  }

  start(): Promise<void> {
    return this.options.source.run((batch) => this.handle(batch));
  }

  /**
   * Stops consuming, then flushes and closes the sink and the DLQ. A source stops only after
   * the batch in hand is done, which waits on the sink: if that takes longer than
   * `shutdownGraceMs` (the TSDB is down), the sink is shut down first, its pending writes
   * fail, and their batches stay uncommitted, to be consumed again after a restart.
   */
  async shutdown(): Promise<void> {
    const stopping = this.options.source.shutdown();
    let timer: NodeJS.Timeout | undefined;
    const stopped = await Promise.race([
      stopping.then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), this.shutdownGraceMs);
      }),
    ]);
    clearTimeout(timer);
    if (!stopped) await this.options.sink.shutdown();
    await stopping;
    await this.options.sink.shutdown();
    await this.options.deadLetters.shutdown();
  }

  stats(): MetricsConsumerStats {
    return { ...this.s, inFlightPoints: this.inFlight };
  }

  /** The batch handler given to the source (public so that any source or a test can drive it). */
  async handle(batch: SourceBatch): Promise<void> {
    const { sink, onPoints } = this.options;
    const decodeOpts = this.decodeOpts;
    const writes: Promise<void>[] = [];
    const delivered: Point[][] = [];
    const dead: DeadLetter[] = [];
    const refused: DeadLetter[] = [];
    const raw = this.rawSink;
    let chunk: Point[] = [];
    /** Where the points of `chunk` came from, in order. */
    let chunkFrom: Segment[] = [];
    let rawParts: Buffer[] = [];
    /** Where the lines of the raw body came from, in order. */
    let rawFrom: Segment[] = [];
    let rawCount = 0;
    let rawLines = 0;

    const refusedBy =
      (from: Segment[], raw: boolean): RefusedHandler =>
      (r) => {
        refused.push(this.refusedLetter(from, raw, r));
      };
    const flushChunk = () => {
      if (chunk.length > 0) {
        const points = chunk;
        writes.push(this.track(sink.write(points, refusedBy(chunkFrom, false)), points.length));
        chunk = [];
        chunkFrom = [];
      }
      if (rawCount > 0 && raw) {
        const body = rawParts.length === 1 ? rawParts[0]! : joinLines(rawParts);
        writes.push(this.track(raw.writeLines(body, rawCount, refusedBy(rawFrom, true)), rawCount));
        rawParts = [];
        rawFrom = [];
        rawCount = 0;
        rawLines = 0;
      }
    };

    const started = performance.now();
    let waited = 0;
    let sliceStart = started;
    let lastBeat = started;
    for (const message of batch.messages) {
      // A long batch lets the event loop run between messages (the process's other consumers
      // heartbeat, the API answers) and keeps this consumer's membership alive.
      const now = performance.now();
      if (now - sliceStart >= this.decodeSliceMs) {
        await new Promise<void>((r) => setImmediate(r));
        if (now - lastBeat >= this.heartbeatEveryMs) {
          await batch.heartbeat();
          lastBeat = performance.now();
        }
        sliceStart = performance.now();
        waited += sliceStart - now;
      }
      const value = message.value;
      if (value === null || value.length === 0) continue;
      // Room for the message's points is reserved before decoding (its line count bounds them),
      // so the in-flight count never passes the bound, even with several batches at once.
      let reserved = 0;
      if (this.format === 'lp') {
        reserved = countLines(value);
        if (this.inFlight > 0 && this.inFlight + reserved > this.maxInFlight) {
          // Hand over what is gathered first, or batches waiting on each other could hold
          // undelivered points forever.
          flushChunk();
          const t = performance.now();
          await this.waitForRoom(reserved, batch);
          waited += performance.now() - t;
        } else {
          this.take(reserved);
        }
      }
      // With a raw-line sink, decode first with an impossible default time: a point carrying
      // it came from a line without a timestamp, which cannot be passed through as it is.
      decodeOpts.defaultTime = raw ? UNTIMED : message.timestamp;
      let res = decodeBuffer(value, this.format, decodeOpts);
      let passThrough = raw !== undefined && isPlainLineProtocol(value);
      if (raw && hasUntimed(res.points)) {
        decodeOpts.defaultTime = message.timestamp;
        res = decodeBuffer(value, this.format, decodeOpts);
        passThrough = false;
      }
      if (res.errors.length > 0) {
        const letters = deadLettersFor(message, res.errors, this.format);
        for (const d of letters) dead.push(d);
      }
      const points = res.points;
      if (this.format === 'lp') this.give(reserved - points.length);
      else this.take(points.length);
      if (points.length === 0) continue;
      delivered.push(points);
      if (passThrough) {
        // The decoder accepted these lines as they are: send their bytes, minus the bad lines.
        const part = res.errors.length > 0 ? withoutLines(value, res.errors) : value;
        rawParts.push(part);
        rawFrom.push({ message, errors: res.errors, first: rawLines });
        rawLines += countLines(part);
        rawCount += points.length;
        if (rawCount >= this.chunkPoints) flushChunk();
      } else {
        if (chunk.length === 0 && points.length >= this.chunkPoints) {
          const from = [{ message, errors: res.errors, first: 0 }];
          writes.push(this.track(sink.write(points, refusedBy(from, false)), points.length));
        } else {
          chunkFrom.push({ message, errors: res.errors, first: chunk.length });
          for (const p of points) chunk.push(p);
          if (chunk.length >= this.chunkPoints) flushChunk();
        }
      }
      if (this.format === 'json' && this.inFlight > this.maxInFlight) {
        flushChunk();
        const t = performance.now();
        await this.waitForRoom(0, batch);
        waited += performance.now() - t;
      }
    }
    flushChunk();
    this.s.decodeMs += performance.now() - started - waited;

    const t0 = performance.now();
    const published = dead.length > 0 ? this.options.deadLetters.publish(dead) : undefined;
    published?.catch(ignore); // awaited below; guarded in case the sink fails first
    await this.withHeartbeat(Promise.all(writes), batch);
    const t1 = performance.now();
    if (published) await this.withHeartbeat(published, batch);
    // What the TSDB refused is known once the writes are done; the batch is committed only
    // after these letters too are acknowledged.
    if (refused.length > 0) await this.withHeartbeat(this.options.deadLetters.publish(refused), batch);
    this.s.sinkWaitMs += t1 - t0 + waited;
    this.s.deadLetterMs += performance.now() - t1;

    let count = 0;
    for (const points of delivered) {
      count += points.length;
      if (onPoints) {
        try {
          onPoints(points);
        } catch (e) {
          this.s.onPointsErrors++;
          this.options.logger?.error({ err: (e as Error).message }, 'onPoints callback threw');
        }
      }
    }
    this.s.batches++;
    this.s.messages += batch.messages.length;
    this.s.points += count;
    this.s.malformed += dead.length;
    this.s.refused += refused.length;
  }

  /** The dead letter of a point the TSDB refused, traced back to its message and input line. */
  private refusedLetter(from: readonly Segment[], raw: boolean, r: RefusedLine): DeadLetter {
    let k = from.length - 1;
    while (k > 0 && from[k]!.first > r.index) k--;
    const seg = from[k]!;
    const at = r.index - seg.first;
    let line = 0;
    if (raw) {
      // The `at`-th line of the message without its refused lines (ascending, one error each).
      line = at + 1;
      for (const e of seg.errors) if (e.line <= line) line++;
    } else if (this.format === 'lp') {
      line = lineOfPoint(seg.message.value ?? Buffer.alloc(0), seg.errors, at);
    }
    return refusedLetter(seg.message, this.format, line, r);
  }

  private take(n: number): void {
    this.inFlight += n;
    if (this.inFlight > this.s.peakInFlightPoints) this.s.peakInFlightPoints = this.inFlight;
  }

  private give(n: number): void {
    if (n === 0) return;
    this.inFlight -= n;
    for (const w of this.roomWaiters.splice(0)) w();
  }

  private track(write: Promise<void>, n: number): Promise<void> {
    const tracked = write.finally(() => this.give(n));
    // Awaited with the batch; a batch that fails before that must not leave it unhandled.
    tracked.catch(ignore);
    return tracked;
  }

  /** Waits until `n` more points fit, then takes them (in the same tick as the check). */
  private async waitForRoom(n: number, batch: SourceBatch): Promise<void> {
    while (this.inFlight > 0 && this.inFlight + n > this.maxInFlight) {
      await this.withHeartbeat(new Promise<void>((r) => this.roomWaiters.push(r)), batch);
    }
    this.take(n);
  }

  /** Awaits `p`, heartbeating the group meanwhile; rejects if a heartbeat says "rebalancing". */
  private async withHeartbeat<T>(p: Promise<T>, batch: SourceBatch): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const beat = new Promise<never>((_, reject) => {
      timer = setInterval(() => {
        batch.heartbeat().catch(reject);
      }, this.heartbeatEveryMs);
    });
    try {
      return await Promise.race([p, beat]);
    } finally {
      clearInterval(timer);
    }
  }
}

function ignore(): void {}

/** The points or body lines of one message within a write, from index `first`. */
interface Segment {
  message: SourceMessage;
  /** Its decode errors (line-ordered). */
  errors: readonly DecodeError[];
  first: number;
}

/** A default time no line-protocol timestamp can produce (below int64 ns and us ranges). */
const UNTIMED = -(2 ** 52);

function hasUntimed(points: readonly Point[]): boolean {
  for (const p of points) if (p.time === UNTIMED) return true;
  return false;
}

/**
 * Lines the TSDB's own parser reads exactly as our decoder did: no escapes or quoted strings
 * (where parsers differ in corner cases), no comments, no CRs or tabs, no whitespace at the
 * start or end of a line. Telegraf's output always qualifies.
 */
function isPlainLineProtocol(value: Buffer): boolean {
  return (
    value[0] !== 0xef && // a byte order mark, dropped by the decoder
    value.indexOf(92) < 0 && // backslash
    value.indexOf(34) < 0 && // double quote
    value.indexOf(35) < 0 && // '#'
    value.indexOf(13) < 0 && // CR
    value.indexOf(9) < 0 && // tab
    value[0] !== 32 &&
    value[value.length - 1] !== 32 &&
    value.indexOf(LEADING_SPACE) < 0 &&
    value.indexOf(TRAILING_SPACE) < 0
  );
}

const LEADING_SPACE = Buffer.from('\n ');
const TRAILING_SPACE = Buffer.from(' \n');

/** `value` without the lines named by `errors` (1-based, ascending). */
function withoutLines(value: Buffer, errors: readonly DecodeError[]): Buffer {
  const parts: Buffer[] = [];
  let lineNo = 1;
  let pos = 0;
  let keepFrom = 0;
  for (const err of errors) {
    if (err.line < lineNo) continue;
    while (lineNo < err.line && pos <= value.length) {
      const nl = value.indexOf(10, pos);
      pos = nl < 0 ? value.length + 1 : nl + 1;
      lineNo++;
    }
    if (pos > value.length) break;
    const nl = value.indexOf(10, pos);
    const next = nl < 0 ? value.length : nl + 1;
    if (pos > keepFrom) parts.push(value.subarray(keepFrom, pos));
    keepFrom = next;
    pos = next;
    lineNo++;
  }
  if (keepFrom < value.length) parts.push(value.subarray(keepFrom));
  return Buffer.concat(parts);
}

const NEWLINE = Buffer.from('\n');

function joinLines(parts: readonly Buffer[]): Buffer {
  const all: Buffer[] = [];
  for (const p of parts) {
    if (all.length > 0) all.push(NEWLINE);
    all.push(p);
  }
  return Buffer.concat(all);
}

/** Upper bound on the points of a line-protocol message. */
function countLines(buf: Buffer): number {
  let n = 1;
  let i = buf.indexOf(10);
  while (i >= 0) {
    n++;
    i = buf.indexOf(10, i + 1);
  }
  return n;
}

export interface KafkaMetricsConsumerOptions extends KafkaClientOptions {
  sink: PointSink;
  /** Default `metrics`. */
  topic?: string;
  /** Default `metrics.dlq`. */
  dlqTopic?: string;
  /** Default `converge-ingest`. */
  groupId?: string;
  /** Partitions of `topic` when it has to be created. Default 12. */
  partitions?: number;
  format?: InputFormat;
  precision?: Precision;
  limits?: DecodeLimits;
  refuseFieldTypeChanges?: boolean;
  onPoints?: (points: readonly Point[]) => void;
  maxInFlightPoints?: number;
  writeChunkPoints?: number;
  passThrough?: boolean;
  shutdownGraceMs?: number;
  /** Passed to the kafkajs consumer. */
  consumer?: Pick<
    KafkaMessageSourceOptions,
    | 'partitionsConsumedConcurrently'
    | 'maxBytesPerPartition'
    | 'maxBytes'
    | 'sessionTimeoutMs'
    | 'heartbeatIntervalMs'
    | 'fromBeginning'
    | 'onFatal'
  >;
  logger?: KafkaLogger;
}

/** The `metrics` topic through kafkajs into a PointSink, with undecodable lines to `metrics.dlq`. */
export class KafkaMetricsConsumer extends MetricsConsumer {
  private readonly kafkaSource: KafkaMessageSource;

  constructor(options: KafkaMetricsConsumerOptions) {
    const kafka = createKafka(options);
    const source = new KafkaMessageSource({
      kafka,
      topic: options.topic ?? 'metrics',
      groupId: options.groupId ?? 'converge-ingest',
      partitions: options.partitions ?? 12,
      ...options.consumer,
      logger: options.logger,
    });
    const deadLetters = new KafkaDeadLetterSink({ kafka, topic: options.dlqTopic ?? 'metrics.dlq' });
    super({
      source,
      sink: options.sink,
      deadLetters,
      format: options.format,
      precision: options.precision,
      limits: options.limits,
      refuseFieldTypeChanges: options.refuseFieldTypeChanges,
      onPoints: options.onPoints,
      maxInFlightPoints: options.maxInFlightPoints,
      writeChunkPoints: options.writeChunkPoints,
      passThrough: options.passThrough,
      shutdownGraceMs: options.shutdownGraceMs,
      logger: options.logger,
    });
    this.kafkaSource = source;
  }

  /** Consumer lag in messages per owned partition (KafkaMessageSource.lag). */
  lag(): Promise<Record<string, number>> {
    return this.kafkaSource.lag();
  }
}

function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 1)
    throw new RangeError(`MetricsConsumer: ${name} must be an integer >= 1, got ${v}`);
  return v;
}
