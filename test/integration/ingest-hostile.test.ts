import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createKafka } from '../../ingest/kafka/client.js';
import { DLQ_HEADERS, KafkaDeadLetterSink } from '../../ingest/kafka/dead-letters.js';
import { MetricsProducer } from '../../ingest/kafka/producer.js';
import type { DeadLetter } from '../../ingest/kafka/source.js';
import { readTopic } from '../../ingest/kafka/topic-reader.js';
import { checkExport, FleetGenerator, type FleetMessage } from '../../scripts/produce-metrics.js';
import { ConvergeStart } from './converge-start.js';
import { serviceUrls, tsdbExport, tsdbFlush } from './services.js';

/**
 * `converge start` on the real broker and victoria-metrics, fed a fleet stream with wide and
 * oversized messages mid-stream (issue 10, items 4 and 12): every good point is stored once,
 * what the decoder refuses and what the TSDB refuses both reach the dead-letter topic with the
 * reason, /metrics counts them, the offsets are committed, and the consumer is never evicted
 * (its group keeps the one member it had, with a 6 s session timeout).
 */

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const starts: ConvergeStart[] = [];
afterEach(async () => {
  for (const c of starts.splice(0)) {
    c.kill('SIGKILL');
    await c.exited;
  }
});

async function groupMembers(groupId: string): Promise<string[]> {
  const admin = createKafka({ brokers: serviceUrls().kafkaBrokers }).admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([groupId]);
    return groups[0]!.members.map((m) => m.memberId).sort();
  } finally {
    await admin.disconnect();
  }
}

async function allCommitted(topic: string, group: string, timeoutMs = 120_000): Promise<void> {
  const admin = createKafka({ brokers: serviceUrls().kafkaBrokers }).admin();
  await admin.connect();
  try {
    const t0 = Date.now();
    for (;;) {
      const ends = await admin.fetchTopicOffsets(topic);
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      const at = new Map(committed!.partitions.map((p) => [p.partition, BigInt(p.offset)]));
      if (ends.every((e) => (at.get(e.partition) ?? -1n) >= BigInt(e.high))) return;
      if (Date.now() - t0 > timeoutMs)
        throw new Error(`group ${group} has not committed ${topic} to its end`);
      await sleep(250);
    }
  } finally {
    await admin.disconnect();
  }
}

/** One line of `fields` float fields, keys f0.. */
function wideLine(measurement: string, host: string, fields: number, ts: bigint): string {
  const parts: string[] = [];
  for (let i = 0; i < fields; i++) parts.push(`f${i}=${i}.5`);
  return `${measurement},host=${host} ${parts.join(',')} ${ts}`;
}

describe('converge start on hostile input (real Kafka and victoria-metrics)', () => {
  it('stores every good point once around wide messages, dead-letters what the decoder and the TSDB refuse, is never evicted', async () => {
    const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
    const topic = `metrics-hostile-${run}`;
    const dlqTopic = `metrics.dlq-hostile-${run}`;
    const group = `ingest-hostile-${run}`;
    const hostPrefix = `hostile${run}-`;
    const fleet = new FleetGenerator({
      hosts: 20,
      containersPerHost: 5,
      seconds: 60,
      malformedFraction: 0.005,
      hostPrefix,
    });
    const messages = fleet.all();
    const truth = fleet.truth;
    // Mid-stream, on one host's partition: a 580 KB message of one 40,000-field line between
    // good lines (within this config's limits, but over victoria-metrics' 256 KiB line limit:
    // it answers 400 for the request), and a 700 KB message of one line over the configured
    // maxLineBytes (refused by the decoder).
    const victim = messages[Math.floor(messages.length / 2)]!;
    const ts = BigInt(victim.timestamp) * 1_000_000n;
    const okHost = `${run}-wideok`;
    const wide = wideLine('wide', `${run}-wide`, 40_000, ts);
    const tooLong = `huge,host=${run}-huge s="${'x'.repeat(700_000)}" ${ts}`;
    const hostile: FleetMessage[] = [
      {
        host: victim.host,
        value: Buffer.from(
          [`wide_ok,host=${okHost} v=1 ${ts}`, wide, `wide_ok,host=${okHost} v=2 ${ts + 1_000_000n}`].join(
            '\n',
          ),
        ),
        timestamp: victim.timestamp,
        lines: 3,
      },
      { host: victim.host, value: Buffer.from(tooLong), timestamp: victim.timestamp, lines: 1 },
    ];
    expect(hostile[0]!.value.length).toBeGreaterThan(500_000);
    const half = messages.indexOf(victim);

    const dir = mkdtempSync(join(tmpdir(), 'converge-hostile-'));
    const configPath = join(dir, 'converge.json');
    const urls = serviceUrls();
    writeFileSync(
      configPath,
      JSON.stringify({
        input: { limits: { maxFields: 50_000, maxLineBytes: 600_000 } },
        kafka: {
          brokers: urls.kafkaBrokers,
          clientId: `converge-${run}`,
          groupId: group,
          topics: { metrics: topic, dlq: dlqTopic, topology: `topology-${run}` },
          partitions: 3,
          sessionTimeout: '6s',
        },
        tsdb: { url: urls.tsdbUrl },
        correlate: { mode: 'embedded' },
        log: { level: 'warn' },
      }),
    );
    const producer = new MetricsProducer({ brokers: urls.kafkaBrokers, topic, partitions: 3 });
    await producer.connect();
    try {
      const start = await ConvergeStart.launch(configPath);
      starts.push(start);
      const members = await groupMembers(group);
      expect(members).toHaveLength(1);
      const paced = async (part: FleetMessage[]) => {
        for (let i = 0; i < part.length; i += 10) {
          await producer.send(part.slice(i, i + 10));
          await sleep(20);
        }
      };
      await paced(messages.slice(0, half));
      // Alone: two of them in one record batch would pass the broker's 1 MB message limit.
      for (const m of hostile) await producer.send([m]);
      await paced(messages.slice(half));
      await allCommitted(topic, group);
      const metrics = await start.metrics();
      // The same member throughout: a decode that stalled past the session timeout would have
      // had it evicted and replaced.
      expect(await groupMembers(group)).toEqual(members);
      expect(start.output).not.toMatch(/rebalanc|not a member|UNKNOWN_MEMBER_ID/i);
      start.kill('SIGTERM');
      expect((await start.exited).code).toBe(0);

      expect(metrics.get('converge_tsdb_refused_points_total')).toBe(1);
      expect(metrics.get('converge_malformed_lines_total')).toBe(truth.malformed.length + 1);

      // Every good point of the fleet, and both neighbours of the wide line, stored once.
      let check = checkExport(truth, []);
      const t0 = Date.now();
      while (Date.now() - t0 < 30_000) {
        await tsdbFlush();
        check = checkExport(truth, await tsdbExport(`{host=~"${hostPrefix}.*"}`));
        if (check.points >= truth.goodPoints) break;
        await sleep(300);
      }
      expect(check).toEqual({
        points: truth.goodPoints,
        samples: truth.samples,
        duplicateSamples: 0,
        missingByMetric: {},
      });
      const neighbours = await tsdbExport(`{__name__="wide_ok_v",host="${okHost}"}`);
      expect(neighbours.flatMap((s) => s.values).sort()).toEqual([1, 2]);
      expect(await tsdbExport(`{host="${run}-wide"}`)).toEqual([]);

      // The dead-letter topic: the fleet's malformed lines and the oversized line (decoder), the
      // wide line with victoria-metrics' reason (TSDB), each with its source message and line.
      const letters = await readTopic(createKafka({ brokers: urls.kafkaBrokers }), dlqTopic);
      const tsdbLetters = letters.filter((m) => m.headers[DLQ_HEADERS.stage] === 'tsdb');
      expect(tsdbLetters).toHaveLength(1);
      const refused = tsdbLetters[0]!;
      expect(refused.value?.toString()).toBe(wide);
      expect(refused.headers[DLQ_HEADERS.sourceLine]).toBe('2');
      expect(refused.headers[DLQ_HEADERS.error]).toMatch(
        /^line 2: refused by the TSDB: HTTP 400: cannot read influx line protocol data: too long line/,
      );
      const decodeLetters = letters.filter((m) => m.headers[DLQ_HEADERS.stage] === 'decode');
      const hex = (b: Buffer | null) => (b ?? Buffer.alloc(0)).toString('hex');
      expect(new Set(decodeLetters.map((m) => hex(m.value)))).toEqual(
        new Set([...truth.malformed.map((m) => hex(m.line)), hex(Buffer.from(tooLong))]),
      );
      const huge = decodeLetters.find((m) => m.value?.length === tooLong.length)!;
      expect(huge.headers[DLQ_HEADERS.error]).toBe(
        `line 1: line of ${tooLong.length} bytes, longer than input.limits.maxLineBytes (600000)`,
      );
    } finally {
      await producer.shutdown();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("dead letters never pass the broker's message size: big sets are split, a letter too big is cut and says so", async () => {
    // Before: all letters of a batch went out in one record batch: over the broker's
    // message.max.bytes (1 MiB by default) the publish failed, the batch stayed uncommitted and
    // came back to fail again, stalling its partition for good.
    const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
    const topic = `metrics.dlq-size-${run}`;
    const kafka = createKafka({ brokers: serviceUrls().kafkaBrokers });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '1048588' }] }],
    });
    await admin.disconnect();
    const letter = (bytes: number, i: number): DeadLetter => ({
      value: Buffer.alloc(bytes, 97 + i),
      key: Buffer.from(`h${i}`),
      reason: `line ${i + 1}: too long`,
      topic: 'metrics',
      partition: 0,
      offset: String(i),
      line: i + 1,
      contentType: 'text/plain; charset=utf-8',
      timestamp: Date.now(),
    });
    const sink = new KafkaDeadLetterSink({ kafka, topic });
    try {
      await sink.publish([...[0, 1, 2, 3].map((i) => letter(400_000, i)), letter(1_500_000, 4)]);
    } finally {
      await sink.shutdown();
    }
    const read = await readTopic(kafka, topic);
    expect(read.map((m) => m.key?.toString())).toEqual(['h0', 'h1', 'h2', 'h3', 'h4']);
    expect(read.slice(0, 4).map((m) => m.value?.length)).toEqual([400_000, 400_000, 400_000, 400_000]);
    const cut = read[4]!;
    expect(cut.headers[DLQ_HEADERS.truncated]).toBe('1500000');
    expect(cut.value!.length).toBeLessThan(900 * 1024);
    expect(cut.value!.every((b) => b === 97 + 4)).toBe(true);
  });
});
