import { hostname } from 'node:os';
import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { ensureTopics, type KafkaLogger } from './client.js';
import type { BatchHandler, MessageSource, SourceBatch, SourceMessage } from './source.js';

export interface KafkaMessageSourceOptions {
  kafka: Kafka;
  topic: string;
  groupId: string;
  /** Partitions of the topic when this source has to create it. Default 12. */
  partitions?: number;
  /** Start from the earliest offset when the group has no committed offset. Default true. */
  fromBeginning?: boolean;
  /**
   * Batches processed at once (one per partition at a time). Default: the topic's partition
   * count, so one fetch's batches are worked on together and their writes share requests.
   */
  partitionsConsumedConcurrently?: number;
  /** Bytes fetched per partition per fetch. Default 4 MiB. */
  maxBytesPerPartition?: number;
  /** Bytes per fetch response. Default 16 MiB. */
  maxBytes?: number;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /**
   * Called when kafkajs gives up on the consumer (a crash it will not restart from), so the
   * process can exit and be restarted rather than idle. Retriable crashes restart by themselves.
   */
  onFatal?: (error: Error) => void;
  logger?: KafkaLogger;
}

/**
 * MessageSource over a kafkajs consumer group, with offsets committed only for batches whose
 * handler resolved (autoCommit off, eachBatchAutoResolve off).
 *
 * Memory: kafkajs 2.x does not prefetch. Its fetcher hands one fetch response to the workers
 * and waits until every batch of it has been processed before it fetches again
 * (src/consumer/fetcher.js: `await workerQueue.push(...batches)`). So while a handler awaits a
 * slow TSDB, no more data is read: the handler's await is the pause, and at most one fetch
 * response (`maxBytes`) is held undecoded. The handler must call `heartbeat()` while it waits,
 * since kafkajs heartbeats only from its run loop.
 */
export class KafkaMessageSource implements MessageSource {
  private readonly consumer: Consumer;
  private readonly partitions: number;
  private running = false;
  private stopped = false;
  /** Partitions this member owns since the last rebalance. */
  private assigned = new Set<number>();
  /** Next offset to consume per partition: after the last committed batch, else the last fetch's first. */
  private readonly positions = new Map<number, bigint>();
  /** Connected on the first lag() (one admin client however many scrapes overlap). */
  private admin: Promise<Admin> | undefined;
  private lagCache: { at: number; lag: Promise<Record<string, number>> } | undefined;

  constructor(private readonly options: KafkaMessageSourceOptions) {
    this.partitions = options.partitions ?? 12;
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      maxBytesPerPartition: options.maxBytesPerPartition ?? 4 * 1024 * 1024,
      maxBytes: options.maxBytes ?? 16 * 1024 * 1024,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: options.heartbeatIntervalMs ?? 3000,
      allowAutoTopicCreation: false,
    });
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      const err = e.payload.error;
      options.logger?.error(
        { err: err.message, groupId: e.payload.groupId, restart: e.payload.restart },
        'Kafka consumer crashed',
      );
      if (!e.payload.restart && !this.stopped) options.onFatal?.(err);
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      const mine = e.payload.memberAssignment[options.topic] ?? [];
      this.assigned = new Set(mine);
      for (const p of this.positions.keys()) if (!this.assigned.has(p)) this.positions.delete(p);
    });
  }

  /**
   * Messages behind the end of each owned partition (`"0": 120, ...`), from this member's
   * position and the partitions' high watermarks asked of the broker (cached for 1 s, so a
   * scrape every second costs one request). It keeps growing while a slow TSDB holds the
   * consumer back. A partition owned but not fetched from yet is left out.
   */
  lag(): Promise<Record<string, number>> {
    const now = Date.now();
    if (this.lagCache !== undefined && now - this.lagCache.at < 1000) return this.lagCache.lag;
    const lag = this.fetchLag();
    this.lagCache = { at: now, lag };
    // A failed fetch is not kept: the next scrape asks again.
    lag.catch(() => {
      if (this.lagCache?.lag === lag) this.lagCache = undefined;
    });
    return lag;
  }

  private async fetchLag(): Promise<Record<string, number>> {
    if (this.positions.size === 0 || this.stopped) return {};
    if (this.admin === undefined) {
      const admin = this.options.kafka.admin();
      this.admin = admin.connect().then(
        () => admin,
        (e: unknown) => {
          this.admin = undefined; // the next scrape tries again
          throw e;
        },
      );
    }
    const ends = await (await this.admin).fetchTopicOffsets(this.options.topic);
    const out: Record<string, number> = {};
    for (const e of ends) {
      const at = this.positions.get(e.partition);
      if (at === undefined || !this.assigned.has(e.partition)) continue;
      const behind = BigInt(e.high) - at;
      out[String(e.partition)] = behind > 0n ? Number(behind) : 0;
    }
    return out;
  }

  async run(handler: BatchHandler): Promise<void> {
    if (this.running) throw new Error('KafkaMessageSource: run() called twice');
    this.running = true;
    const { topic } = this.options;
    await ensureTopics(this.options.kafka, [{ topic, numPartitions: this.partitions }]);
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [topic], fromBeginning: this.options.fromBeginning ?? true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? this.partitions,
      eachBatch: (payload) => this.onBatch(payload, handler),
    });
  }

  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.consumer.disconnect();
    const admin = await this.admin?.catch(() => undefined);
    await admin?.disconnect().catch(() => undefined);
  }

  private async onBatch(payload: EachBatchPayload, handler: BatchHandler): Promise<void> {
    const { batch } = payload;
    if (batch.messages.length === 0) return;
    if (!this.positions.has(batch.partition))
      this.positions.set(batch.partition, BigInt(batch.firstOffset()!));
    const messages: SourceMessage[] = new Array(batch.messages.length);
    for (let i = 0; i < batch.messages.length; i++) {
      messages[i] = toSourceMessage(batch.topic, batch.partition, batch.messages[i]!);
    }
    const sourceBatch: SourceBatch = {
      topic: batch.topic,
      partition: batch.partition,
      messages,
      heartbeat: () => payload.heartbeat(),
      isActive: () => !this.stopped && payload.isRunning() && !payload.isStale(),
    };
    await handler(sourceBatch);
    // A seek was requested meanwhile: the position is no longer ours to move. (A rebalance makes
    // the commit fail with a stale generation instead; the batch is then consumed again.)
    if (payload.isStale()) return;
    const last = batch.messages[batch.messages.length - 1]!.offset;
    payload.resolveOffset(last);
    const next = nextOffset(last);
    await payload.commitOffsetsIfNecessary({
      topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }],
    });
    this.positions.set(batch.partition, BigInt(next));
  }
}

function toSourceMessage(topic: string, partition: number, m: KafkaMessage): SourceMessage {
  return {
    topic,
    partition,
    offset: m.offset,
    key: m.key,
    value: m.value,
    timestamp: Number(m.timestamp),
  };
}

function nextOffset(offset: string): string {
  return (BigInt(offset) + 1n).toString();
}

/**
 * A source that reads a whole topic from the beginning in a consumer group of this process's
 * own (not a shared group): for the state every instance needs entire (CMDB topology, the
 * compacted incidents and observed-topology topics).
 */
export function wholeTopicSource(options: {
  kafka: Kafka;
  topic: string;
  /** The group is `${groupPrefix}-${hostname}-${pid}-${start time}`. */
  groupPrefix: string;
  partitions?: number;
  logger?: KafkaLogger;
}): KafkaMessageSource {
  return new KafkaMessageSource({
    kafka: options.kafka,
    topic: options.topic,
    groupId: `${options.groupPrefix}-${hostname()}-${process.pid}-${Date.now()}`,
    partitions: options.partitions ?? 1,
    fromBeginning: true,
    logger: options.logger,
  });
}
