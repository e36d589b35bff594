import { type Consumer, type Kafka, Partitioners } from 'kafkajs';
import type { AlertEvent, TopologyView } from '../../core/types.js';

/**
 * Which `metrics` partitions this instance owns, and which partition an alert belongs to.
 *
 * Metrics are keyed by host, so the partition of an alert is the one its host hashes to with
 * Kafka's default partitioner (murmur2, as every producer that keys by host uses): the owner of
 * that partition sees the host's data and is the only one whose view of the alert counts.
 * Alerts about an app (group rules) are keyed by the app's id: one instance speaks for them
 * (it sees the app's containers on its own hosts only; app-level rules are partial when an
 * app spans instances).
 *
 * The assignment comes from the consumer group itself: `observe(kafka)` returns a client whose
 * consumers report each group join here, so the metrics source needs no change.
 */
export class MetricsOwnership {
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly metadata: Array<{ partitionId: number; leader: number }>;
  private readonly byKey = new Map<string, number>();
  private owned = new Set<number>();
  private listeners: Array<(gained: number[], lost: number[]) => void> = [];
  /** Group joins seen so far (0: no assignment yet). */
  generation = 0;

  constructor(
    readonly topic: string,
    readonly partitions: number,
  ) {
    if (!Number.isInteger(partitions) || partitions < 1)
      throw new RangeError(`partitions must be >= 1, got ${partitions}`);
    this.metadata = Array.from({ length: partitions }, (_, i) => ({
      partitionId: i,
      leader: 0,
      replicas: [0],
      isr: [0],
      partitionErrorCode: 0,
    }));
  }

  /** The partition a host's metrics land in. */
  partitionOfKey(key: string): number {
    let p = this.byKey.get(key);
    if (p === undefined) {
      p = this.partitioner({
        topic: this.topic,
        partitionMetadata: this.metadata as never,
        message: { key, value: null },
      });
      if (this.byKey.size > 1_000_000) this.byKey.clear();
      this.byKey.set(key, p);
    }
    return p;
  }

  /** The partition whose owner speaks for this alert; -1 when it names no host or app. */
  partitionOfAlert(alert: AlertEvent, topology: TopologyView | undefined): number {
    const e = alert.entity;
    switch (e.level) {
      case 'host':
        return this.partitionOfKey(e.id);
      case 'container': {
        const host = alert.labels.host || topology?.parent(e)?.id;
        return host ? this.partitionOfKey(host) : -1;
      }
      case 'app':
        return this.partitionOfKey(e.id);
      default: {
        // Rack and IDC alerts come from every instance's share of them: the one owning the
        // partition of the entity's id speaks for it.
        return this.partitionOfKey(e.id);
      }
    }
  }

  owns(partition: number): boolean {
    return this.owned.has(partition);
  }

  assigned(): number[] {
    return [...this.owned].sort((a, b) => a - b);
  }

  /** Called with what was gained and lost at each assignment change. */
  onChange(listener: (gained: number[], lost: number[]) => void): void {
    this.listeners.push(listener);
  }

  setAssignment(partitions: readonly number[]): void {
    this.generation++;
    const next = new Set(partitions);
    const gained = partitions.filter((p) => !this.owned.has(p));
    const lost = [...this.owned].filter((p) => !next.has(p));
    this.owned = next;
    if (gained.length > 0 || lost.length > 0) for (const l of this.listeners) l(gained, lost);
  }

  /**
   * A client like `kafka` whose consumers report their assignment of `topic` here. Everything
   * else (producers, admin) is the original client's.
   */
  observe(kafka: Kafka): Kafka {
    const observed = Object.create(kafka) as Kafka;
    observed.consumer = (config) => {
      const consumer: Consumer = kafka.consumer(config);
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        this.setAssignment(e.payload.memberAssignment[this.topic] ?? []);
      });
      // A stopped consumer owns nothing: its partitions are someone else's from now on.
      consumer.on(consumer.events.STOP, () => this.setAssignment([]));
      consumer.on(consumer.events.CRASH, () => this.setAssignment([]));
      return consumer;
    };
    return observed;
  }
}
