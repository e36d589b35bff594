import { HttpError, InfluxDB, type SendOptions, type Transport } from '@influxdata/influxdb-client';
import type { Point, Precision } from '../../core/types.js';
import { escapeForTerminal } from '../limits.js';
import type { PointSink, RefusedHandler } from '../sink.js';
import { LineEncoder } from './line-encoder.js';

/**
 * PointSink over the InfluxDB v2 write API (InfluxDB 2.x/3.x, victoria-metrics), on
 * @influxdata/influxdb-client's HTTP transport (auth header, gzip, HttpError with status and
 * Retry-After), with batching, retries and acknowledgement of our own.
 *
 * Why not the client's WriteApi on top of it: its RetryBuffer silently drops the oldest lines
 * once `maxBufferLines` is exceeded (reporting them only to `writeRetrySkipped`) and gives up
 * after `maxRetries` / `maxRetryTime` (defaults 5 and 180 s); its timer flushes swallow errors
 * with no way to tell which caller's points were in the failed batch; and its WriteBuffer
 * recomputes the UTF-8 length of every record character by character in JavaScript (measured:
 * a fifth of this process's CPU at 100,000 points/s). With `maxRetries: 0` the first two go
 * away but not the third, so the transport is used directly: one request per batch we form,
 * to the same `/api/v2/write?org=&bucket=&precision=` endpoint with the same options.
 * Batching by size and time, the bound on buffered points, unlimited retries with exponential
 * backoff and jitter, and the acknowledgement of each `write()` live here.
 * Lines are encodeLine's (through LineEncoder, its faster equivalent on this path).
 */
export interface InfluxPointSinkOptions {
  /** Base URL of the TSDB, e.g. http://127.0.0.1:8428. */
  url: string;
  token?: string;
  org?: string;
  bucket?: string;
  /** Timestamp precision of the encoded lines and of the write request. Default ns. */
  precision?: Precision;
  /** Points per request; a request is sent as soon as this many are queued. Default 5000. */
  batchSize?: number;
  /**
   * Longest a partial batch waits for more points before it is sent. 0 (the default) sends
   * what is queued as soon as a request slot is free, so points written in the same tick or
   * while all slots are busy still go out together.
   */
  flushIntervalMs?: number;
  /** Request body limit (characters of encoded lines, bytes of `writeLines` bodies). Default 16 MiB. */
  maxBatchBytes?: number;
  /** Bodies larger than this many bytes are gzipped; `false` never gzips. Default 1000. */
  gzipThreshold?: number | false;
  /**
   * Points held at most (queued + being sent + being retried). A `write` that does not fit
   * waits for room, so memory stays bounded while the TSDB is down and the caller's awaits
   * become the backpressure. Default 100,000.
   */
  maxBufferedPoints?: number;
  /** Concurrent write requests. Default 2. */
  maxInFlightRequests?: number;
  /** First retry delay. Default 100 ms. */
  minRetryDelayMs?: number;
  /** Cap on the retry delay. Default 5 s (a recovered TSDB is found again within that). */
  maxRetryDelayMs?: number;
  /** Growth factor of the retry delay. Default 2. */
  exponentialBase?: number;
  /** Socket timeout of one request. Default 10 s. */
  timeoutMs?: number;
  /** How long `shutdown` keeps trying to deliver what is buffered. Default 10 s. */
  shutdownTimeoutMs?: number;
  logger?: SinkLogger;
}

/**
 * A sink that also takes line protocol as bytes, so a consumer whose input is already valid
 * line protocol in the same precision can skip re-encoding (InfluxPointSink).
 */
export interface RawLineSink {
  readonly lineProtocolPrecision: Precision;
  /** `onRefused` as in PointSink.write, its index counting the body's lines. */
  writeLines(body: Buffer, points: number, onRefused?: RefusedHandler): Promise<void>;
}

export function isRawLineSink(sink: unknown): sink is RawLineSink {
  return typeof (sink as RawLineSink | undefined)?.writeLines === 'function';
}

export interface SinkLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface InfluxPointSinkStats {
  /** Points acknowledged by the TSDB. */
  writtenPoints: number;
  /** Points queued, being sent or waiting for a retry. */
  bufferedPoints: number;
  /** The largest `bufferedPoints` seen. */
  peakBufferedPoints: number;
  requests: number;
  failedRequests: number;
  rejectedLines: number;
}

export class SinkShutdownError extends Error {
  constructor(detail: string) {
    super(`InfluxPointSink: ${detail}`);
    this.name = 'SinkShutdownError';
  }
}

interface WriteTicket {
  remaining: number;
  failed: boolean;
  resolve(): void;
  reject(e: Error): void;
  onRefused: RefusedHandler | undefined;
}

/** The encoded lines of (part of) one `write` call. */
interface Chunk {
  /** Newline-separated lines: encoded here (string) or handed over as bytes (writeLines). */
  data: string | Buffer;
  count: number;
  /** Points reserved against the buffer bound for this chunk. */
  reserved: number;
  ticket: WriteTicket;
  /** Index of the chunk's first line within its write (for RefusedLine.index). */
  first: number;
}

/** One line of a refused request, with where it came from. */
interface SentLine {
  text: string;
  chunk: Chunk;
  index: number;
}

interface RoomWaiter {
  count: number;
  resolve(): void;
  reject(e: Error): void;
}

type Failure = { kind: 'retry'; error: Error; delayMs?: number } | { kind: 'refused'; error: Error };

/** The TSDB's reason for refusing, on one line, without victoria-metrics' request prefix. */
export function refusalReason(error: Error): string {
  let detail = error.message;
  let status = '';
  if (error instanceof HttpError) {
    status = `HTTP ${error.statusCode}: `;
    const json = error.json as { message?: unknown } | undefined;
    detail = typeof json?.message === 'string' ? json.message : (error.body ?? error.message);
  }
  detail = detail.replace(/^remoteAddr: [^;]*; requestURI: [^;]*; /, '').trim();
  if (detail.length > 500) detail = detail.slice(0, 500) + '…';
  return escapeForTerminal(status + detail);
}

export class InfluxPointSink implements PointSink, RawLineSink {
  private readonly transport: Transport;
  private readonly path: string;
  private readonly sendOptions: SendOptions;
  private readonly precision: Precision;
  private readonly encoder: LineEncoder;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxBatchBytes: number;
  private readonly maxBuffered: number;
  private readonly maxInFlight: number;
  private readonly minRetryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly exponentialBase: number;
  private readonly shutdownTimeoutMs: number;
  private readonly logger: SinkLogger | undefined;

  private queue: Chunk[] = [];
  private queueHead = 0;
  private queuedPoints = 0;
  private queuedChars = 0;
  private buffered = 0;
  private inFlight = 0;
  private readonly roomWaiters: RoomWaiter[] = [];
  private readonly idleWaiters: Array<() => void> = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private flushDue = false;
  private closing = false;
  private aborted = false;
  private readonly abort = new AbortController();
  private shutdownPromise: Promise<void> | undefined;
  private readonly s: InfluxPointSinkStats = {
    writtenPoints: 0,
    bufferedPoints: 0,
    peakBufferedPoints: 0,
    requests: 0,
    failedRequests: 0,
    rejectedLines: 0,
  };

  constructor(options: InfluxPointSinkOptions) {
    this.precision = options.precision ?? 'ns';
    this.encoder = new LineEncoder(this.precision);
    this.batchSize = positiveInt(options.batchSize ?? 5000, 'batchSize');
    this.flushIntervalMs = nonNegative(options.flushIntervalMs ?? 0, 'flushIntervalMs');
    this.maxBatchBytes = positiveInt(options.maxBatchBytes ?? 16 * 1024 * 1024, 'maxBatchBytes');
    this.maxBuffered = positiveInt(options.maxBufferedPoints ?? 100_000, 'maxBufferedPoints');
    this.maxInFlight = positiveInt(options.maxInFlightRequests ?? 2, 'maxInFlightRequests');
    this.minRetryDelayMs = nonNegative(options.minRetryDelayMs ?? 100, 'minRetryDelayMs');
    this.maxRetryDelayMs = nonNegative(options.maxRetryDelayMs ?? 5000, 'maxRetryDelayMs');
    this.exponentialBase = Math.max(1, options.exponentialBase ?? 2);
    this.shutdownTimeoutMs = nonNegative(options.shutdownTimeoutMs ?? 10_000, 'shutdownTimeoutMs');
    this.logger = options.logger;
    const gzip = options.gzipThreshold ?? 1000;
    this.transport = new InfluxDB({
      url: options.url,
      token: options.token,
      timeout: options.timeoutMs ?? 10_000,
    }).transport;
    const org = encodeURIComponent(options.org ?? 'converge');
    const bucket = encodeURIComponent(options.bucket ?? 'metrics');
    this.path = `/api/v2/write?org=${org}&bucket=${bucket}&precision=${this.precision}`;
    this.sendOptions = {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      ...(gzip === false ? {} : { gzipThreshold: gzip }),
    };
  }

  get lineProtocolPrecision(): Precision {
    return this.precision;
  }

  /**
   * Resolves when every point is acknowledged by the TSDB or refused by it for good (those go to
   * `onRefused`); waits while the buffer is full.
   */
  write(points: readonly Point[], onRefused?: RefusedHandler): Promise<void> {
    if (this.closing) return Promise.reject(new SinkShutdownError('write after shutdown'));
    if (points.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const ticket: WriteTicket = { remaining: points.length, failed: false, resolve, reject, onRefused };
      this.enqueue(points, ticket).catch((e: Error) => this.failTicket(ticket, e));
    });
  }

  /**
   * Writes line protocol that is already valid, in this sink's precision, as it is (no decode
   * and re-encode): `body` holds `points` newline-separated lines. Resolves when acknowledged.
   * A body of more points than the buffer bound is admitted alone.
   */
  writeLines(body: Buffer, points: number, onRefused?: RefusedHandler): Promise<void> {
    if (this.closing) return Promise.reject(new SinkShutdownError('write after shutdown'));
    if (points <= 0 || body.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const ticket: WriteTicket = { remaining: points, failed: false, resolve, reject, onRefused };
      const reserved = Math.min(points, this.maxBuffered);
      this.reserve(reserved).then(
        () => this.push({ data: body, count: points, reserved, ticket, first: 0 }),
        (e: Error) => this.failTicket(ticket, e),
      );
    });
  }

  /** Sends everything queued now and resolves when nothing is buffered. */
  forceFlush(): Promise<void> {
    if (this.buffered === 0 && this.roomWaiters.length === 0) return Promise.resolve();
    this.flushDue = true;
    this.pump();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops accepting writes, tries for `shutdownTimeoutMs` to deliver what is buffered, then
   * rejects the writes still pending (their points were not acknowledged; a Kafka consumer
   * therefore does not commit them and they are consumed again after a restart).
   */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= (async () => {
      this.closing = true;
      const deadline = new Promise<void>((r) => setTimeout(r, this.shutdownTimeoutMs).unref());
      await Promise.race([this.forceFlush(), deadline]);
      this.aborted = true;
      this.abort.abort();
      this.clearTimer();
      const err = new SinkShutdownError(`shut down with ${this.buffered} points not acknowledged`);
      for (const w of this.roomWaiters.splice(0)) w.reject(err);
      for (let i = this.queueHead; i < this.queue.length; i++) this.failTicket(this.queue[i]!.ticket, err);
      this.queue = [];
      this.queueHead = 0;
      for (const w of this.idleWaiters.splice(0)) w();
    })();
    return this.shutdownPromise;
  }

  stats(): InfluxPointSinkStats {
    return { ...this.s, bufferedPoints: this.buffered };
  }

  private async enqueue(points: readonly Point[], ticket: WriteTicket): Promise<void> {
    // Pieces never exceed the buffer bound, so admitting one into an empty buffer keeps it.
    const piece = Math.min(this.batchSize, this.maxBuffered);
    for (let start = 0; start < points.length; start += piece) {
      const end = Math.min(points.length, start + piece);
      const count = end - start;
      await this.reserve(count);
      let text = '';
      let i = start;
      try {
        for (; i < end; i++) {
          text += i === start ? this.encoder.encode(points[i]!) : '\n' + this.encoder.encode(points[i]!);
        }
      } catch (e) {
        this.release(count);
        throw new Error(
          `InfluxPointSink: cannot encode point ${describePoint(points, i)}: ${(e as Error).message}`,
        );
      }
      this.push({ data: text, count, reserved: count, ticket, first: start });
    }
  }

  private push(chunk: Chunk): void {
    this.queue.push(chunk);
    this.queuedPoints += chunk.count;
    this.queuedChars += chunk.data.length;
    this.pump();
  }

  /** Waits, first come first served, until `count` more points fit the buffer bound. */
  private reserve(count: number): Promise<void> {
    if (this.aborted) return Promise.reject(new SinkShutdownError('shut down'));
    if (this.roomWaiters.length === 0 && (this.buffered + count <= this.maxBuffered || this.buffered === 0)) {
      this.take(count);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.roomWaiters.push({ count, resolve, reject }));
  }

  private take(count: number): void {
    this.buffered += count;
    if (this.buffered > this.s.peakBufferedPoints) this.s.peakBufferedPoints = this.buffered;
  }

  private release(count: number): void {
    this.buffered -= count;
    while (this.roomWaiters.length > 0) {
      const w = this.roomWaiters[0]!;
      if (this.buffered + w.count > this.maxBuffered && this.buffered > 0) break;
      this.roomWaiters.shift();
      this.take(w.count);
      w.resolve();
    }
    if (this.buffered === 0 && this.roomWaiters.length === 0) {
      this.flushDue = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private pump(): void {
    if (this.aborted) return;
    while (this.inFlight < this.maxInFlight && this.queuedPoints > 0) {
      const full = this.queuedPoints >= this.batchSize || this.queuedChars >= this.maxBatchBytes;
      if (!full && !this.flushDue && !this.closing) {
        this.armTimer();
        return;
      }
      this.send(this.takeBatch());
      if (this.queuedPoints === 0) this.flushDue = false;
    }
  }

  private armTimer(): void {
    if (this.timer !== undefined) return;
    const fire = () => {
      this.timer = undefined;
      this.flushDue = true;
      this.pump();
      if (this.queuedPoints === 0) this.flushDue = false;
    };
    this.timer = this.flushIntervalMs === 0 ? setImmediate(fire) : setTimeout(fire, this.flushIntervalMs);
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = undefined;
  }

  private takeBatch(): Chunk[] {
    const batch: Chunk[] = [];
    let points = 0;
    let chars = 0;
    while (this.queueHead < this.queue.length && points < this.batchSize && chars < this.maxBatchBytes) {
      const c = this.queue[this.queueHead++]!;
      batch.push(c);
      points += c.count;
      chars += c.data.length;
    }
    this.queuedPoints -= points;
    this.queuedChars -= chars;
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    return batch;
  }

  private send(batch: Chunk[]): void {
    this.inFlight++;
    this.deliver(batch)
      .then(
        () => {
          for (const c of batch) {
            this.s.writtenPoints += c.count;
            const t = c.ticket;
            t.remaining -= c.count;
            if (t.remaining === 0 && !t.failed) t.resolve();
          }
        },
        (e: Error) => {
          for (const c of batch) this.failTicket(c.ticket, e);
        },
      )
      .finally(() => {
        let count = 0;
        for (const c of batch) count += c.reserved;
        this.inFlight--;
        this.release(count);
        this.pump();
      });
  }

  /**
   * Delivers a batch or rejects only on shutdown. Retryable failures (network, timeouts, 429,
   * 5xx, and 401/403/404, which an operator can fix) are retried forever with exponential
   * backoff and jitter; a refused batch is bisected down to the single lines the TSDB will not
   * take, each handed to its write's `onRefused`.
   */
  private async deliver(batch: Chunk[]): Promise<void> {
    const refused = await this.attempt(batch.map((c) => c.data));
    if (refused === undefined) return;
    const lines: SentLine[] = [];
    for (const chunk of batch) {
      const texts = String(chunk.data).split('\n');
      for (let i = 0; i < texts.length; i++) lines.push({ text: texts[i]!, chunk, index: chunk.first + i });
    }
    await this.bisect(lines, refused);
  }

  /** `lines` were refused together (with `error`): find the ones refused on their own. */
  private async bisect(lines: SentLine[], error: Error): Promise<void> {
    if (lines.length === 1) {
      const l = lines[0]!;
      this.s.rejectedLines++;
      const reason = refusalReason(error);
      const handler = l.chunk.ticket.onRefused;
      if (handler) handler({ index: l.index, line: l.text, reason });
      else this.logger?.error({ err: reason, line: l.text.slice(0, 300) }, 'TSDB refused a line');
      return;
    }
    const mid = lines.length >> 1;
    for (const half of [lines.slice(0, mid), lines.slice(mid)]) {
      const err = await this.attempt([half.map((l) => l.text).join('\n')]);
      if (err !== undefined) await this.bisect(half, err);
    }
  }

  /**
   * Posts `parts` until the TSDB acknowledges them (undefined) or refuses them (the error);
   * retries everything else. Rejects on shutdown.
   */
  private async attempt(parts: Array<string | Buffer>): Promise<Error | undefined> {
    for (let attempt = 1; ; attempt++) {
      if (this.aborted) throw new SinkShutdownError('shut down before the TSDB acknowledged the points');
      const failure = await this.post(parts);
      if (failure === undefined) {
        if (attempt > 1) this.logger?.warn({ attempts: attempt }, 'TSDB write succeeded after retries');
        return undefined;
      }
      this.s.failedRequests++;
      if (failure.kind === 'refused') return failure.error;
      const delay = Math.max(this.backoff(attempt), failure.delayMs ?? 0);
      // Attempts 1, 2, 4, 8, ...: loud enough to be seen, quiet while an outage lasts.
      if ((attempt & (attempt - 1)) === 0) {
        this.logger?.warn(
          { err: failure.error.message, attempt, retryInMs: Math.round(delay) },
          'TSDB write failed, retrying',
        );
      }
      await sleep(delay, this.abort.signal);
    }
  }

  /** One request; undefined on success. */
  private async post(parts: Array<string | Buffer>): Promise<Failure | undefined> {
    this.s.requests++;
    try {
      const status = await this.postBody(joinParts(parts));
      // InfluxDB answers 204; InfluxDB 3 may answer 201 for a partial write. Other 2xx are odd.
      if (status !== 204 && status !== 201 && status !== 200 && status !== 0) {
        return { kind: 'retry', error: new Error(`TSDB answered HTTP ${status} to a write`) };
      }
      return undefined;
    } catch (e) {
      return classify(e as Error, this.maxRetryDelayMs);
    }
  }

  /**
   * One POST; resolves with the status (an HttpError rejects for >= 300). `send`, not
   * `request`: request() would JSON-serialize a Buffer body; send() passes bytes through.
   */
  private postBody(body: string | Buffer): Promise<number> {
    return new Promise((resolve, reject) => {
      let status = 0;
      this.transport.send(this.path, body as string, this.sendOptions, {
        responseStarted: (_headers, code) => {
          status = code ?? 0;
        },
        error: reject,
        complete: () => resolve(status),
      });
    });
  }

  private backoff(attempt: number): number {
    const ceiling = Math.min(
      this.maxRetryDelayMs,
      this.minRetryDelayMs * this.exponentialBase ** (attempt - 1),
    );
    // "Equal jitter": at least half the exponential delay, so retries spread without bunching.
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  private failTicket(ticket: WriteTicket, e: Error): void {
    if (ticket.failed) return;
    ticket.failed = true;
    ticket.reject(e);
  }
}

const NEWLINE = Buffer.from('\n');

/** One request body: a string when every part is one, else the bytes of all parts. */
function joinParts(parts: Array<string | Buffer>): string | Buffer {
  if (parts.length === 1) return parts[0]!;
  let allStrings = true;
  for (const p of parts) if (typeof p !== 'string') allStrings = false;
  if (allStrings) return (parts as string[]).join('\n');
  const buffers: Buffer[] = [];
  for (const p of parts) {
    if (buffers.length > 0) buffers.push(NEWLINE);
    buffers.push(typeof p === 'string' ? Buffer.from(p) : p);
  }
  return Buffer.concat(buffers);
}

function classify(error: Error, maxDelayMs: number): Failure {
  if (error instanceof HttpError) {
    const code = error.statusCode;
    if (code === 400 || code === 413 || code === 422) return { kind: 'refused', error };
    const header = error.headers?.['retry-after'];
    const seconds = typeof header === 'string' ? Number(header) : Number.NaN;
    if (Number.isFinite(seconds) && seconds > 0) {
      return { kind: 'retry', error, delayMs: Math.min(seconds * 1000, maxDelayMs) };
    }
  }
  return { kind: 'retry', error };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function describePoint(points: readonly Point[], index: number): string {
  const p = points[index];
  return p ? `#${index} (${String(p.measurement).slice(0, 80)})` : `#${index}`;
}

function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 1)
    throw new RangeError(`InfluxPointSink: ${name} must be an integer >= 1, got ${v}`);
  return v;
}

function nonNegative(v: number, name: string): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`InfluxPointSink: ${name} must be >= 0, got ${v}`);
  return v;
}
