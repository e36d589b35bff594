import type { Kafka } from 'kafkajs';
import type { TopologyGraph } from '../../topology/graph.js';
import { decodeTopologyMessage } from '../../topology/records.js';
import type { KafkaLogger } from './client.js';
import { type KafkaMessageSource, wholeTopicSource } from './kafkajs-source.js';

export interface TopologyFeedOptions {
  kafka: Kafka;
  topic: string;
  /** Prefix of this instance's own consumer group. */
  groupPrefix: string;
  partitions?: number;
  logger?: KafkaLogger;
}

export interface TopologyFeedStats {
  records: number;
  errors: number;
}

/**
 * Applies CMDB records from the Kafka topic `topology` to the live graph. Every instance needs
 * the whole topology (the correlator asks about any entity), so each one reads every partition
 * from the beginning in a consumer group of its own, not the shared ingest group. A record's
 * event time is its message timestamp. Bad records are logged with topic, partition, offset and
 * line, and consumption goes on.
 */
export class TopologyFeed {
  private readonly source: KafkaMessageSource;
  private readonly counts: TopologyFeedStats = { records: 0, errors: 0 };

  constructor(
    private readonly graph: TopologyGraph,
    private readonly options: TopologyFeedOptions,
  ) {
    this.source = wholeTopicSource({
      kafka: options.kafka,
      topic: options.topic,
      groupPrefix: options.groupPrefix,
      partitions: options.partitions ?? 1,
      logger: options.logger,
    });
  }

  async start(): Promise<void> {
    await this.source.run(async (batch) => {
      for (const m of batch.messages) {
        const where = `${batch.topic}[${batch.partition}]@${m.offset}`;
        const { records, errors } = decodeTopologyMessage(m.value, where);
        for (const r of records) {
          const problem = this.graph.apply(r, m.timestamp);
          if (problem === undefined) this.counts.records++;
          else this.reject(`${where}: ${problem}`);
        }
        for (const e of errors) this.reject(e.message);
      }
    });
  }

  private reject(message: string): void {
    this.counts.errors++;
    this.options.logger?.warn({ problem: message }, 'topology record rejected');
  }

  stats(): TopologyFeedStats {
    return { ...this.counts };
  }

  shutdown(): Promise<void> {
    return this.source.shutdown();
  }
}
