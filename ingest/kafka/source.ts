import type { Lifecycle } from '../../core/types.js';

/**
 * The ingest stage's own view of a message log, small enough that kafkajs, a librdkafka-based
 * client (@confluentinc/kafka-javascript) or the in-process bus can sit behind it.
 */

export interface SourceMessage {
  topic: string;
  partition: number;
  /** Kafka offsets are 64-bit: kept as decimal strings. */
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  /** Message timestamp (ms since the epoch), producer- or log-append time. */
  timestamp: number;
}

/** Consecutive messages of one partition. */
export interface SourceBatch {
  topic: string;
  partition: number;
  messages: readonly SourceMessage[];
  /**
   * Keeps the consumer's group membership alive during long processing (cheap to call often).
   * Rejects when the group is rebalancing: stop and reject the batch; it will come again.
   */
  heartbeat(): Promise<void>;
  /** False once the source is stopping or the partition was taken away. */
  isActive(): boolean;
}

/**
 * Resolving means every message of the batch is done with (durable downstream): the source
 * commits past it. Rejecting commits nothing; the batch is delivered again (at-least-once).
 */
export type BatchHandler = (batch: SourceBatch) => Promise<void>;

export interface MessageSource extends Lifecycle {
  /** Starts consuming; resolves once the subscription is live (not when consumption ends). */
  run(handler: BatchHandler): Promise<void>;
}

/** An input line that could not be decoded, with where it came from. */
export interface DeadLetter {
  /** The offending line's exact bytes. */
  value: Buffer;
  key: Buffer | null;
  reason: string;
  topic: string;
  partition: number;
  offset: string;
  /** 1-based line number within the source message (for JSON batches: the metric's index). */
  line: number;
  contentType: string;
  /** Timestamp of the source message (ms). */
  timestamp: number;
  /** Who refused it: the decoder (default) or the TSDB. */
  stage?: 'decode' | 'tsdb';
}

export interface DeadLetterSink extends Lifecycle {
  /** Resolves once every letter is durably stored (Kafka: acknowledged by all in-sync replicas). */
  publish(letters: readonly DeadLetter[]): Promise<void>;
}
