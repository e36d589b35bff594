import { describe, expect, it } from 'vitest';
import { createKafka } from '../../ingest/kafka/client.js';
import { KafkaMessageSource } from '../../ingest/kafka/kafkajs-source.js';
import { MetricsProducer } from '../../ingest/kafka/producer.js';
import { serviceUrls } from './services.js';

/**
 * Consumer lag as `converge start` reports it on /metrics (converge_consumer_lag_messages): a
 * partition's messages behind its end from this member's position, on the real broker. A batch
 * in the handler's hands counts as not yet consumed; once its offsets are committed the lag is 0.
 */
describe('KafkaMessageSource.lag', () => {
  it('counts the messages of a batch still in hand, and none once it is committed', async () => {
    const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
    const topic = `lag-${run}`;
    const kafka = createKafka({ brokers: serviceUrls().kafkaBrokers, clientId: `lag-${run}` });
    const producer = new MetricsProducer({ kafka, topic, partitions: 1 });
    await producer.connect();
    const messages = Array.from({ length: 100 }, (_, i) => ({
      host: 'h1',
      value: `m,host=h1 v=${i} ${i}`,
      timestamp: i,
    }));
    await producer.send(messages);
    await producer.shutdown();

    const source = new KafkaMessageSource({ kafka, topic, groupId: `lag-${run}`, partitions: 1 });
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let seen = 0;
    let firstBatch!: () => void;
    const started = new Promise<void>((r) => {
      firstBatch = r;
    });
    try {
      expect(await source.lag()).toEqual({}); // nothing fetched yet: no position to count from
      await source.run(async (batch) => {
        seen += batch.messages.length;
        firstBatch();
        await gate;
      });
      await started;
      await new Promise((r) => setTimeout(r, 1100)); // past the cache of the first call
      expect(await source.lag()).toEqual({ 0: 100 });
      release();
      const t0 = Date.now();
      let lag = await source.lag();
      while (lag[0] !== 0 && Date.now() - t0 < 20_000) {
        await new Promise((r) => setTimeout(r, 300));
        lag = await source.lag();
      }
      expect(seen).toBe(100);
      expect(lag).toEqual({ 0: 0 });
    } finally {
      release();
      await source.shutdown();
    }
  });
});
