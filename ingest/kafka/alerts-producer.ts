import { CompressionTypes, type Kafka, type Message, type Producer } from 'kafkajs';
import type { OutgoingRecord } from './alerts-records.js';
import type { KafkaLogger } from './client.js';

export interface RecordLogProducerOptions {
  kafka: Kafka;
  topic: string;
  /** Records per produce request at most. Default 5000. */
  maxBatch?: number;
  /** Compress requests of more than this many records (gzip). Default 200. */
  compressAbove?: number;
  /** First retry delay after a failed send; doubles up to 10 s. Default 200 ms. */
  retryDelayMs?: number;
  logger?: KafkaLogger;
}

export interface RecordLogProducerStats {
  records: number;
  bytes: number;
  sends: number;
  failedSends: number;
  /** Wall time spent waiting for acknowledgements (ms, summed), and the longest one. */
  sendMs: number;
  maxSendMs: number;
  queued: number;
}

/**
 * Appends records to one topic in the order they were queued, acknowledged by every in-sync
 * replica (acks -1), one request in flight at a time so that order survives retries. `flush()`
 * resolves once everything queued before it is acknowledged: callers commit their input offsets
 * after it (nothing lost). A failed send is retried with backoff until it succeeds or the
 * producer shuts down, so a Kafka outage pauses the caller instead of dropping records it can
 * never produce again (alert state changes are not re-derived by re-reading the input).
 */
export class RecordLogProducer {
  private readonly producer: Producer;
  private readonly maxBatch: number;
  private readonly compressAbove: number;
  private readonly retryDelayMs: number;
  private queue: Message[] = [];
  private tail: Promise<void> = Promise.resolve();
  private connected: Promise<void> | undefined;
  private stopped = false;
  private readonly s: RecordLogProducerStats = {
    records: 0,
    bytes: 0,
    sends: 0,
    failedSends: 0,
    sendMs: 0,
    maxSendMs: 0,
    queued: 0,
  };

  constructor(private readonly options: RecordLogProducerOptions) {
    this.maxBatch = Math.max(1, options.maxBatch ?? 5000);
    this.compressAbove = options.compressAbove ?? 200;
    this.retryDelayMs = options.retryDelayMs ?? 200;
    // Idempotent: a retried request is written once, in order (one request in flight).
    this.producer = options.kafka.producer({
      allowAutoTopicCreation: false,
      idempotent: true,
      maxInFlightRequests: 1,
    });
  }

  get topic(): string {
    return this.options.topic;
  }

  connect(): Promise<void> {
    this.connected ??= this.producer.connect();
    return this.connected;
  }

  /** Queues records; nothing is sent until `flush()`. Synchronous and cheap. */
  enqueue(record: OutgoingRecord, timestamp = Date.now()): void {
    if (this.stopped) throw new Error(`producer of ${this.options.topic} is shut down`);
    this.queue.push({
      key: record.key,
      value: record.value,
      headers: record.headers,
      timestamp: String(timestamp),
    });
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Sends what is queued; resolves when it (and everything queued before) is acknowledged. */
  flush(): Promise<void> {
    if (this.queue.length > 0) {
      const messages = this.queue;
      this.queue = [];
      this.s.queued += messages.length;
      const previous = this.tail;
      this.tail = previous.then(() => this.sendAll(messages));
    }
    return this.tail;
  }

  stats(): RecordLogProducerStats {
    return { ...this.s, queued: this.queue.length };
  }

  /** Sends what is queued (bounded by `graceMs`), then disconnects. */
  async shutdown(graceMs = 5000): Promise<void> {
    if (this.stopped) return;
    const last = this.flush();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      last.catch(() => undefined),
      new Promise((r) => {
        timer = setTimeout(r, graceMs);
      }),
    ]);
    clearTimeout(timer);
    this.stopped = true;
    if (this.connected !== undefined) await this.producer.disconnect().catch(() => undefined);
  }

  private async sendAll(messages: Message[]): Promise<void> {
    for (let i = 0; i < messages.length; i += this.maxBatch) {
      await this.sendWithRetry(messages.slice(i, i + this.maxBatch));
    }
  }

  private async sendWithRetry(messages: Message[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      try {
        await this.connect();
        await this.producer.send({
          topic: this.options.topic,
          acks: -1,
          compression: messages.length > this.compressAbove ? CompressionTypes.GZIP : CompressionTypes.None,
          messages,
        });
        const ms = performance.now() - started;
        this.s.sends++;
        this.s.sendMs += ms;
        if (ms > this.s.maxSendMs) this.s.maxSendMs = ms;
        this.s.records += messages.length;
        for (const m of messages) this.s.bytes += (m.value as string).length;
        return;
      } catch (e) {
        this.s.failedSends++;
        if (this.stopped) throw e;
        const delay = Math.min(10_000, this.retryDelayMs * 2 ** Math.min(attempt, 6));
        this.options.logger?.error(
          { err: (e as Error).message, topic: this.options.topic, records: messages.length, delay },
          'produce failed; retrying',
        );
        await new Promise((r) => setTimeout(r, delay));
        if (this.stopped) throw e;
      }
    }
  }
}
