import { describe, expect, it } from 'vitest';
import { createKafka } from '../../ingest/kafka/client.js';
import { DLQ_HEADERS } from '../../ingest/kafka/dead-letters.js';
import { KafkaMetricsConsumer } from '../../ingest/kafka/metrics-consumer.js';
import { MetricsProducer } from '../../ingest/kafka/producer.js';
import { readTopic } from '../../ingest/kafka/topic-reader.js';
import { InfluxPointSink } from '../../ingest/tsdb/influx-writer.js';
import { checkExport, FleetGenerator, MALFORMED_KINDS } from '../../scripts/produce-metrics.js';
import { serviceUrls, tsdbExport, tsdbFlush } from './services.js';

const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;

async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('Kafka -> decode -> victoria-metrics, with malformed lines mixed in', () => {
  it('stores every good point of 100,000 and dead-letters exactly the 1% malformed lines with reasons', async () => {
    const { kafkaBrokers, tsdbUrl } = serviceUrls();
    const topic = `metrics-dlq-test-${run}`;
    const hostPrefix = `dlq${run}-`;
    // 40 hosts x 25 lines per second x 100 s = 100,000 points; every 20th step's lines carry no
    // timestamp (the message timestamp stands in).
    const fleet = new FleetGenerator({
      hosts: 40,
      containersPerHost: 10,
      seconds: 100,
      malformedFraction: 0.01,
      linesPerMessage: 500,
      hostPrefix,
      untimedEvery: 20,
    });
    const messages = fleet.all();
    const truth = fleet.truth;
    expect(truth.goodPoints).toBe(100_000);
    expect(truth.malformed.length).toBeGreaterThan(800);
    // Malformed lines share messages with good ones.
    const mixed = messages.filter(
      (m) => m.lines > 1 && truth.malformed.some((b) => m.value.includes(b.line)),
    );
    expect(mixed.length).toBeGreaterThan(50);

    const producer = new MetricsProducer({ brokers: kafkaBrokers, topic, partitions: 6 });
    await producer.send(messages);
    await producer.shutdown();

    const sink = new InfluxPointSink({ url: tsdbUrl, org: 'converge', bucket: 'metrics' });
    const consumer = new KafkaMetricsConsumer({
      brokers: kafkaBrokers,
      clientId: `test-${run}`,
      groupId: `ingest-dlq-${run}`,
      topic,
      partitions: 6,
      sink,
    });
    await consumer.start();
    await until(
      'the consumer to acknowledge every point',
      () =>
        consumer.stats().points >= truth.goodPoints && consumer.stats().malformed >= truth.malformed.length,
    );
    await consumer.shutdown();
    const stats = consumer.stats();
    expect(stats.points).toBe(truth.goodPoints);
    expect(stats.malformed).toBe(truth.malformed.length);

    // The TSDB holds every good point: distinct series + timestamp, all fields of each.
    let check = checkExport(truth, []);
    await until('victoria-metrics to show every point', async () => {
      await tsdbFlush();
      check = checkExport(truth, await tsdbExport(`{host=~"${hostPrefix}.*"}`));
      return check.points >= truth.goodPoints;
    });
    expect(check).toEqual({
      points: truth.goodPoints,
      samples: truth.samples,
      duplicateSamples: 0,
      missingByMetric: {},
    });

    // metrics.dlq holds exactly the malformed lines of this topic, each with its reason and origin.
    const kafka = createKafka({ brokers: kafkaBrokers });
    const letters = (await readTopic(kafka, 'metrics.dlq')).filter(
      (m) => m.headers[DLQ_HEADERS.sourceTopic] === topic,
    );
    const hex = (b: Buffer | null) => (b ?? Buffer.alloc(0)).toString('hex');
    expect(letters.map((m) => hex(m.value)).sort()).toEqual(truth.malformed.map((m) => hex(m.line)).sort());
    const byValue = new Map(truth.malformed.map((m) => [hex(m.line), m.kind]));
    const reasonsByKind = new Map<string, Set<string>>();
    for (const m of letters) {
      const line = Number(m.headers[DLQ_HEADERS.sourceLine]);
      expect(m.headers[DLQ_HEADERS.error]).toMatch(new RegExp(`^line ${line}: .+`));
      expect(Number(m.headers[DLQ_HEADERS.sourcePartition])).toBeGreaterThanOrEqual(0);
      expect(BigInt(m.headers[DLQ_HEADERS.sourceOffset]!)).toBeGreaterThanOrEqual(0n);
      expect(m.headers[DLQ_HEADERS.contentType]).toBe('text/plain; charset=utf-8');
      expect(m.key?.toString().startsWith(hostPrefix)).toBe(true);
      const kind = byValue.get(hex(m.value))!;
      const reason = m.headers[DLQ_HEADERS.error]!.replace(/^line \d+: /, '').replace(/ at column \d+$/, '');
      if (!reasonsByKind.has(kind)) reasonsByKind.set(kind, new Set());
      reasonsByKind.get(kind)!.add(reason.replace(/'[^']*'/g, "'…'"));
    }
    expect([...reasonsByKind.keys()].sort()).toEqual([...MALFORMED_KINDS].sort());
    expect([...reasonsByKind.get('bad-timestamp')!].join(' | ')).toMatch(/timestamp/);
    expect([...reasonsByKind.get('bad-field-value')!].join(' | ')).toMatch(/field value|string/);
  });
});
