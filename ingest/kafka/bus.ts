import type { BatchHandler, MessageSource, SourceBatch, SourceMessage } from './source.js';

/**
 * The embedded stand-in for Kafka: topics with keyed partitions inside the process, consumed
 * through the same MessageSource shape, with the same at-least-once contract (a batch whose
 * handler rejects is delivered again) and bounded memory (publishers wait while a topic holds
 * `maxBacklog` unconsumed messages).
 */
export interface InProcessBusOptions {
  /** Partitions per topic. Default 4. */
  partitions?: number;
  /** Unconsumed messages a topic holds before `publish` waits. Default 10,000. */
  maxBacklog?: number;
  /** Messages per delivered batch. Default 500. */
  maxBatchMessages?: number;
  /** Pause before a rejected batch is delivered again. Default 100 ms. */
  redeliveryDelayMs?: number;
}

export interface BusMessage {
  key?: string | Buffer | null;
  value: string | Buffer;
  /** ms since the epoch; default the wall clock at publish (as a Kafka producer would). */
  timestamp?: number;
}

interface Partition {
  log: SourceMessage[];
  /** Offset of log[0]. */
  base: number;
}

class BusTopic {
  readonly parts: Partition[];
  backlog = 0;
  readonly spaceWaiters: Array<() => void> = [];
  dataWaiter: (() => void) | undefined;
  consumed = false;
  /** Round robin for unkeyed messages. */
  next = 0;

  constructor(
    readonly name: string,
    partitions: number,
  ) {
    this.parts = Array.from({ length: partitions }, () => ({ log: [], base: 0 }));
  }

  signalData(): void {
    const w = this.dataWaiter;
    this.dataWaiter = undefined;
    w?.();
  }

  signalSpace(): void {
    for (const w of this.spaceWaiters.splice(0)) w();
  }
}

export class InProcessBus {
  private readonly topics = new Map<string, BusTopic>();
  private readonly partitions: number;
  private readonly maxBacklog: number;
  private readonly maxBatch: number;
  private readonly redeliveryDelayMs: number;

  constructor(options: InProcessBusOptions = {}) {
    this.partitions = options.partitions ?? 4;
    this.maxBacklog = options.maxBacklog ?? 10_000;
    this.maxBatch = options.maxBatchMessages ?? 500;
    this.redeliveryDelayMs = options.redeliveryDelayMs ?? 100;
    if (!Number.isInteger(this.partitions) || this.partitions < 1) {
      throw new RangeError(`InProcessBus: partitions must be an integer >= 1, got ${this.partitions}`);
    }
  }

  /** Appends messages (keyed ones to the key's partition); waits while the topic is full. */
  async publish(topicName: string, messages: readonly BusMessage[]): Promise<void> {
    const topic = this.topic(topicName);
    for (const m of messages) {
      while (topic.backlog >= this.maxBacklog) {
        await new Promise<void>((r) => topic.spaceWaiters.push(r));
      }
      const key = m.key == null ? null : Buffer.isBuffer(m.key) ? m.key : Buffer.from(m.key);
      const p = key === null ? topic.next++ % topic.parts.length : partitionOf(key, topic.parts.length);
      const part = topic.parts[p]!;
      part.log.push({
        topic: topicName,
        partition: p,
        offset: String(part.base + part.log.length),
        key,
        value: Buffer.isBuffer(m.value) ? m.value : Buffer.from(m.value),
        timestamp: m.timestamp ?? Date.now(),
      });
      topic.backlog++;
    }
    topic.signalData();
  }

  /** Unconsumed messages of a topic. */
  backlog(topicName: string): number {
    return this.topics.get(topicName)?.backlog ?? 0;
  }

  /** The single consumer of a topic. */
  source(topicName: string): MessageSource {
    const topic = this.topic(topicName);
    if (topic.consumed) throw new Error(`InProcessBus: topic ${topicName} already has a consumer`);
    topic.consumed = true;
    return new BusSource(topic, this.maxBatch, this.redeliveryDelayMs);
  }

  private topic(name: string): BusTopic {
    let t = this.topics.get(name);
    if (t === undefined) {
      t = new BusTopic(name, this.partitions);
      this.topics.set(name, t);
    }
    return t;
  }
}

class BusSource implements MessageSource {
  private stopped = false;
  private loops: Promise<void>[] = [];
  private readonly wake: Array<() => void> = [];

  constructor(
    private readonly topic: BusTopic,
    private readonly maxBatch: number,
    private readonly redeliveryDelayMs: number,
  ) {}

  run(handler: BatchHandler): Promise<void> {
    if (this.loops.length > 0) return Promise.reject(new Error('InProcessBus: run() called twice'));
    this.loops = this.topic.parts.map((part, i) => this.loop(part, i, handler));
    return Promise.resolve();
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const w of this.wake.splice(0)) w();
    this.topic.signalData();
    await Promise.all(this.loops);
  }

  private async loop(part: Partition, index: number, handler: BatchHandler): Promise<void> {
    while (!this.stopped) {
      if (part.log.length === 0) {
        await this.nextData();
        continue;
      }
      const messages = part.log.slice(0, this.maxBatch);
      const batch: SourceBatch = {
        topic: this.topic.name,
        partition: index,
        messages,
        heartbeat: () => Promise.resolve(),
        isActive: () => !this.stopped,
      };
      try {
        await handler(batch);
      } catch {
        if (!this.stopped) await this.sleep(this.redeliveryDelayMs);
        continue;
      }
      part.log.splice(0, messages.length);
      part.base += messages.length;
      this.topic.backlog -= messages.length;
      this.topic.signalSpace();
    }
  }

  /** One waiter per topic is enough to wake every partition loop: each re-checks its log. */
  private nextData(): Promise<void> {
    return new Promise<void>((resolve) => {
      const previous = this.topic.dataWaiter;
      this.topic.dataWaiter = () => {
        previous?.();
        resolve();
      };
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        const i = this.wake.indexOf(done);
        if (i >= 0) this.wake.splice(i, 1);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wake.push(done);
    });
  }
}

/** FNV-1a of the key: stable, so a host's messages always meet in one partition. */
function partitionOf(key: Buffer, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}
