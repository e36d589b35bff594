import type { Kafka } from 'kafkajs';
import type { EntityRef } from '../../core/types.js';
import type { RecordLogProducer } from '../../ingest/kafka/alerts-producer.js';
import type { KafkaLogger } from '../../ingest/kafka/client.js';
import { type KafkaMessageSource, wholeTopicSource } from '../../ingest/kafka/kafkajs-source.js';
import type { TopologyGraph } from '../../topology/graph.js';
import type { MetricsOwnership } from './ownership.js';

/**
 * Topology learned from metrics, shared between instances. Each instance sees only its share of
 * `metrics`, but the correlator asks about every host and app (how many containers a host runs,
 * how many an app has: the coverage ratios of an election). So each instance publishes the
 * containers and hosts of its own partitions to the compacted `topology.observed` topic
 * (key `level:id`, value `{"tags":{...},"at":ms}`: the tags a point of it would carry), again
 * whenever a third of the topology TTL has passed in event time, and every instance feeds what
 * it reads to `topology.observe` as if it had seen a point: the entities expire the same way
 * as locally seen ones once their owner stops refreshing them.
 */
export interface ObservedTopologyPublisherOptions {
  producer: RecordLogProducer;
  topology: TopologyGraph;
  ownership: MetricsOwnership;
  /** Host tags that carry attributes (config topology.attributeTags). */
  attributeTags?: readonly string[];
  /** Event time between two publications of the same entity. Default: a third of the topology TTL. */
  refreshMs?: number;
}

export class ObservedTopologyPublisher {
  private published = new Map<string, number>();
  private readonly refreshMs: number;
  private readonly tag: { idc: string; rack: string; host: string; container: string; app: string };
  records = 0;

  constructor(private readonly options: ObservedTopologyPublisherOptions) {
    this.refreshMs = options.refreshMs ?? Math.max(1000, Math.floor(options.topology.ttlMs / 3));
    const m = options.topology.resolver.mapping;
    this.tag = {
      idc: m.idc[0]!,
      rack: m.rack[0]!,
      host: m.host[0]!,
      container: m.container[0]!,
      app: m.app[0]!,
    };
  }

  /** Queues records for this instance's entities that are new or due for a refresh. */
  sweep(): number {
    const { topology, ownership } = this.options;
    const next = new Map<string, number>();
    let queued = 0;
    for (const host of topology.ids('host')) {
      if (!ownership.owns(ownership.partitionOfKey(host))) continue;
      const hostRef: EntityRef = { level: 'host', id: host };
      const hostTags = this.hostTags(hostRef);
      queued += this.offer(hostRef, hostTags, next);
      for (const c of topology.children(hostRef)) {
        if (c.level !== 'container') continue;
        const tags: Record<string, string> = { ...hostTags, [this.tag.container]: c.id };
        const app = topology.appOf(c.id);
        if (app !== undefined) tags[this.tag.app] = app;
        queued += this.offer(c, tags, next);
      }
    }
    this.published = next;
    this.records += queued;
    return queued;
  }

  private offer(ref: EntityRef, tags: Record<string, string>, next: Map<string, number>): number {
    const { topology, producer } = this.options;
    const key = ref.level + ':' + ref.id;
    const seen = topology.lastSeen(ref);
    const prev = this.published.get(key);
    if (seen === undefined || topology.isDeclared(ref)) return 0;
    if (prev !== undefined && seen - prev < this.refreshMs) {
      next.set(key, prev);
      return 0;
    }
    producer.enqueue({ key, value: JSON.stringify({ tags, at: seen }), headers: {} });
    next.set(key, seen);
    return 1;
  }

  private hostTags(host: EntityRef): Record<string, string> {
    const { topology } = this.options;
    const tags: Record<string, string> = { [this.tag.host]: host.id };
    const rack = topology.parent(host);
    if (rack !== undefined) {
      tags[this.tag.rack] = rack.id;
      const idc = topology.parent(rack);
      if (idc !== undefined) tags[this.tag.idc] = idc.id;
    }
    const keys = this.options.attributeTags;
    if (keys !== undefined && keys.length > 0) {
      const attrs = topology.attributes(host);
      for (const k of keys) if (attrs[k] !== undefined) tags[k] = attrs[k]!;
    }
    return tags;
  }
}

export interface ObservedTopologyFeedOptions {
  kafka: Kafka;
  topic: string;
  groupPrefix: string;
  logger?: KafkaLogger;
}

/** Feeds the `topology.observed` topic into this instance's graph. */
export class ObservedTopologyFeed {
  private readonly source: KafkaMessageSource;
  records = 0;
  rejected = 0;

  constructor(
    private readonly topology: TopologyGraph,
    private readonly options: ObservedTopologyFeedOptions,
  ) {
    this.source = wholeTopicSource({
      kafka: options.kafka,
      topic: options.topic,
      groupPrefix: options.groupPrefix,
      partitions: 1,
      logger: options.logger,
    });
  }

  async start(): Promise<void> {
    await this.source.run(async (batch) => {
      for (const m of batch.messages) {
        if (m.value === null) continue;
        const problem = this.apply(m.value);
        if (problem !== undefined) {
          this.rejected++;
          if (this.rejected <= 20)
            this.options.logger?.warn(
              { problem, where: `${batch.topic}[${batch.partition}]@${m.offset}` },
              'observed topology record rejected',
            );
        }
      }
    });
  }

  /** Applies one record; the problem when it is not one. */
  apply(value: Buffer): string | undefined {
    let v: { tags?: unknown; at?: unknown };
    try {
      v = JSON.parse(value.toString('utf8')) as typeof v;
    } catch (e) {
      return `invalid JSON: ${(e as Error).message}`;
    }
    const tags = v?.tags;
    if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) return 'tags must be an object';
    for (const x of Object.values(tags)) if (typeof x !== 'string') return 'tag values must be strings';
    if (typeof v.at !== 'number' || !Number.isFinite(v.at)) return 'at must be ms';
    if (!this.topology.observe(tags as Record<string, string>, v.at))
      return 'the tags name no host and no container, or the topology is full (topology.maxEntities)';
    this.records++;
    return undefined;
  }

  shutdown(): Promise<void> {
    return this.source.shutdown();
  }
}
