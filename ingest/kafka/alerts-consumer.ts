import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { ensureTopics, type KafkaLogger } from './client.js';

/**
 * The `alerts` topic read by one member of a consumer group at a time: the topic has ONE
 * partition, so of every instance subscribed with the same group id exactly one is assigned it
 * (the active correlator); the others stay standby, heartbeating, and one of them is assigned
 * the partition by the rebalance that follows the active one's death (session timeout) or
 * clean exit (it leaves the group).
 *
 * The position that matters is the one the caller stores with its own state (its checkpoint):
 * `onAssigned` lets it load that state, and a batch may start before or after the stored
 * position (Kafka's committed offset is written after the checkpoint, so it can lag). The
 * handler skips what its state already holds and calls `seek` when the batch starts past it.
 */
export interface LogRecord {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string | undefined>;
  /** Producer (create) time, ms. */
  timestamp: number;
}

export interface LogBatch {
  records: readonly LogRecord[];
  /** Keeps the membership alive during long processing; rejects when the group rebalances. */
  heartbeat(): Promise<void>;
  /** False once the consumer is stopping or the assignment was lost. */
  isActive(): boolean;
}

export interface AssignmentListener {
  /** The partition was assigned to this member (it becomes the active one). */
  onAssigned(): Promise<void> | void;
  /** The partition is no longer this member's (a rebalance gave it away, or the consumer stops). */
  onRevoked(): Promise<void> | void;
  /** A rebalance has started: the current assignment may move. */
  onRebalancing?(): void;
}

export interface SinglePartitionConsumerOptions {
  kafka: Kafka;
  topic: string;
  groupId: string;
  /** Death detection: a member silent this long loses the partition. Default 10 s (min 6 s in Kafka). */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Longest fetch wait; keep well under the session timeout. Default min(1000, session/4). */
  maxWaitTimeMs?: number;
  /** Retention of the topic when this consumer creates it. Default 7 days. */
  retentionMs?: number;
  onFatal?: (error: Error) => void;
  logger?: KafkaLogger;
}

/**
 * Resolving `false` leaves the position where it was (the batch comes again): the handler
 * could not take it now (it is not the active one any more, as far as it knows).
 */
export type LogBatchHandler = (batch: LogBatch) => Promise<boolean | undefined>;

export class SinglePartitionConsumer {
  private readonly consumer: Consumer;
  private assigned = false;
  private stopped = false;
  private listenerChain: Promise<void> = Promise.resolve();

  constructor(
    private readonly options: SinglePartitionConsumerOptions,
    private readonly listener: AssignmentListener,
  ) {
    const session = options.sessionTimeoutMs ?? 10_000;
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: session,
      heartbeatInterval: options.heartbeatIntervalMs ?? Math.max(300, Math.floor(session / 6)),
      maxWaitTimeInMs: options.maxWaitTimeMs ?? Math.min(1000, Math.floor(session / 4)),
      maxBytes: 16 * 1024 * 1024,
      maxBytesPerPartition: 8 * 1024 * 1024,
      allowAutoTopicCreation: false,
    });
    const { GROUP_JOIN, REBALANCING, CRASH, STOP } = this.consumer.events;
    this.consumer.on(GROUP_JOIN, (e) => {
      const mine = (e.payload.memberAssignment[options.topic] ?? []).includes(0);
      this.setAssigned(mine);
    });
    this.consumer.on(REBALANCING, () => this.listener.onRebalancing?.());
    this.consumer.on(STOP, () => this.setAssigned(false));
    this.consumer.on(CRASH, (e) => {
      const err = e.payload.error;
      options.logger?.error({ err: err.message, restart: e.payload.restart }, 'alerts consumer crashed');
      this.setAssigned(false);
      if (!e.payload.restart && !this.stopped) options.onFatal?.(err);
    });
  }

  /** Whether this member holds the partition (as of the last group join). */
  get isAssigned(): boolean {
    return this.assigned;
  }

  /** Checks the topic (creating it with one partition), joins the group and starts consuming. */
  async run(handler: LogBatchHandler): Promise<void> {
    await ensureSinglePartitionTopic(this.options.kafka, this.options.topic, this.options.retentionMs);
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [this.options.topic], fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.onBatch(payload, handler),
    });
  }

  /** The next batch starts at `offset` (the state's position). */
  seek(offset: string): void {
    this.consumer.seek({ topic: this.options.topic, partition: 0, offset });
  }

  /** Commits `offset` (the next record to read) for the group: what lag monitors show. */
  async commit(offset: string): Promise<void> {
    await this.consumer.commitOffsets([{ topic: this.options.topic, partition: 0, offset }]);
  }

  /** Leaves the group (a standby takes over at once) after the batch in hand is done. */
  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.consumer.disconnect();
    this.setAssigned(false);
    await this.listenerChain;
  }

  /** Resolves when the assignment listeners called so far have finished. */
  settled(): Promise<void> {
    return this.listenerChain;
  }

  private setAssigned(mine: boolean): void {
    if (mine === this.assigned) return;
    this.assigned = mine;
    // Listeners run one after the other, in the order the changes happened.
    this.listenerChain = this.listenerChain
      .then(() => (mine ? this.listener.onAssigned() : this.listener.onRevoked()))
      .catch((e) => this.options.logger?.error({ err: String(e) }, 'alerts assignment listener failed'));
  }

  private async onBatch(payload: EachBatchPayload, handler: LogBatchHandler): Promise<void> {
    const { batch } = payload;
    if (batch.messages.length === 0) return;
    await this.listenerChain;
    const records: LogRecord[] = new Array(batch.messages.length);
    for (let i = 0; i < batch.messages.length; i++) {
      const m = batch.messages[i]!;
      const headers: Record<string, string | undefined> = {};
      if (m.headers !== undefined) {
        for (const k in m.headers) {
          const v = m.headers[k];
          const first = Array.isArray(v) ? v[0] : v;
          if (first !== undefined) headers[k] = first.toString();
        }
      }
      records[i] = {
        offset: m.offset,
        key: m.key,
        value: m.value,
        headers,
        timestamp: Number(m.timestamp),
      };
    }
    const consumed = await handler({
      records,
      heartbeat: () => payload.heartbeat(),
      isActive: () => !this.stopped && this.assigned && payload.isRunning() && !payload.isStale(),
    });
    // After a seek the batch is stale: the position is the seek's, not this batch's end.
    if (consumed === false || payload.isStale()) return;
    payload.resolveOffset(batch.messages[batch.messages.length - 1]!.offset);
  }
}

/**
 * Creates the topic with one partition when it does not exist, and refuses one with more: a
 * second partition would make a second active correlator, each seeing half of the alerts.
 */
export async function ensureSinglePartitionTopic(
  kafka: Kafka,
  topic: string,
  retentionMs?: number,
): Promise<void> {
  const partitions = await ensureTopics(kafka, [
    {
      topic,
      numPartitions: 1,
      configEntries: [{ name: 'retention.ms', value: String(retentionMs ?? 7 * 86_400_000) }],
    },
  ]);
  const n = partitions.get(topic) ?? 0;
  if (n > 1) {
    throw new Error(
      `Kafka topic ${topic} has ${n} partitions; the correlator needs exactly one ` +
        '(one active correlator sees every alert in order): recreate it with one partition',
    );
  }
}
