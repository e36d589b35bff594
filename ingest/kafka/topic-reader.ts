import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';

export interface ReadMessage {
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: number;
  /** Header values as UTF-8 strings (the first value when a header repeats). */
  headers: Record<string, string>;
}

/**
 * Reads a topic from its start up to the end offsets it has when called (for inspecting a
 * dead-letter topic, tests and tools). Uses a throw-away consumer group and commits nothing.
 */
export async function readTopic(kafka: Kafka, topic: string, timeoutMs = 60_000): Promise<ReadMessage[]> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    ends = new Map(
      offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)]),
    );
  } finally {
    await admin.disconnect();
  }
  if (ends.size === 0) return [];
  const out: ReadMessage[] = [];
  const consumer = kafka.consumer({ groupId: `converge-reader-${randomUUID()}`, maxBytes: 16 * 1024 * 1024 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`readTopic(${topic}): not at the end offsets after ${timeoutMs} ms`)),
        timeoutMs,
      );
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const end = ends.get(batch.partition);
            for (const m of batch.messages) {
              if (end === undefined || BigInt(m.offset) >= end) continue;
              const headers: Record<string, string> = {};
              for (const [k, v] of Object.entries(m.headers ?? {})) {
                const first = Array.isArray(v) ? v[0] : v;
                if (first !== undefined) headers[k] = first.toString();
              }
              out.push({
                partition: batch.partition,
                offset: m.offset,
                key: m.key,
                value: m.value,
                timestamp: Number(m.timestamp),
                headers,
              });
            }
            const last = batch.messages[batch.messages.length - 1];
            if (end !== undefined && last && BigInt(last.offset) + 1n >= end) ends.delete(batch.partition);
            if (ends.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}
