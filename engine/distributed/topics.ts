import type { Kafka } from 'kafkajs';

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
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    if (!existing.has(topic)) {
      await admin
        .createTopics({
          waitForLeaders: true,
          topics: [
            {
              topic,
              numPartitions: options.partitions ?? 1,
              replicationFactor: -1,
              configEntries: [
                { name: 'cleanup.policy', value: 'compact,delete' },
                { name: 'retention.ms', value: String(options.retentionMs) },
              ],
            },
          ],
        })
        .catch((e: Error) => {
          if (!/exists/i.test(e.message)) throw e;
        });
    }
    for (let attempt = 0; ; attempt++) {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const t = meta.topics[0];
      if (t !== undefined && t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)) return;
      if (attempt >= 50) throw new Error(`Kafka: topic ${topic} has no leader after 10 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await admin.disconnect();
  }
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
