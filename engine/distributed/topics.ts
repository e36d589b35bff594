import type { Kafka } from 'kafkajs';
import { ensureTopics } from '../../ingest/kafka/client.js';

/**
 * Creates a compacted topic (the latest record per key is kept) when it does not exist. Old keys
 * also expire after `retentionMs` (`compact,delete`): an incident resolved a week ago or a
 * container gone for a day leaves the topic, while live keys are rewritten before that.
 */
export async function ensureCompactedTopic(
  kafka: Kafka,
  topic: string,
  options: { partitions?: number; retentionMs: number },
): Promise<void> {
  await ensureTopics(kafka, [
    {
      topic,
      numPartitions: options.partitions ?? 1,
      configEntries: [
        { name: 'cleanup.policy', value: 'compact,delete' },
        { name: 'retention.ms', value: String(options.retentionMs) },
      ],
    },
  ]);
}

/** Partitions of an existing topic. */
export async function topicPartitions(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const n = meta.topics[0]?.partitions.length ?? 0;
    if (n < 1) throw new Error(`Kafka: topic ${topic} has no partitions`);
    return n;
  } finally {
    await admin.disconnect();
  }
}
