/**
 * Distributed-mode figures (engine/distributed/):
 *
 * 1. Alert publish overhead, CPU: what the detection side adds per alert state change (owner
 *    partition lookup, the alerts-topic record: the `--alerts-out` JSON line plus headers) and
 *    what the correlator side pays to read one back (decode + validation). Baseline in the same
 *    run: the bare `--alerts-out` line (JSON of the alert), which any alert output pays.
 * 2. Alert publish overhead, Kafka (with KAFKA_BROKERS): the JD storm's 10,200 state changes
 *    produced the way a detection instance does, in metrics-batch-sized flushes (acks = all,
 *    idempotent, one request in flight): time a metrics batch waits for its alerts' ack before
 *    its offsets may be committed, and alerts/s.
 * 3. The active correlator's checkpoint with the JD incident open (5,100 firing alerts with
 *    the labels detection gives them): snapshot, JSON and gzip size, serialize time, the Redis
 *    write (with REDIS_URL) and what a standby pays to take over (load, parse, restore).
 *
 *   npx tsx bench/distributed.ts [--runs 5]
 *   KAFKA_BROKERS=127.0.0.1:39092 REDIS_URL=redis://127.0.0.1:36379 npx tsx bench/distributed.ts
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { AlertEvent } from '../core/types.js';
import { Correlator, parseAlertLines } from '../correlate/index.js';
import { AlertGate } from '../engine/distributed/alert-gate.js';
import { RedisCheckpointStore } from '../engine/distributed/checkpoint.js';
import { MetricsOwnership } from '../engine/distributed/ownership.js';
import { ensureSinglePartitionTopic } from '../ingest/kafka/alerts-consumer.js';
import { RecordLogProducer } from '../ingest/kafka/alerts-producer.js';
import { alertRecord, decodeAlertsRecord, watermarkRecord } from '../ingest/kafka/alerts-records.js';
import { createKafka } from '../ingest/kafka/client.js';
import { alertJsonLine } from '../rules/alert-json.js';
import { TopologyGraph } from '../topology/graph.js';
import { parseTopologyLines } from '../topology/records.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const runs = arg('runs', 5);
const streams = new URL('../fixtures/streams/', import.meta.url);
const topology = new TopologyGraph();
for (const r of parseTopologyLines(readFileSync(new URL('jd-topology.jsonl', streams), 'utf8'), 'jd').records)
  topology.apply(r, 0);
const parsed = parseAlertLines(readFileSync(new URL('jd-alerts.jsonl', streams), 'utf8'));

// The example alerts carry no labels; detection's carry the series tags and a summary.
const alerts: AlertEvent[] = parsed.alerts.map((a) => {
  const host = a.entity.level === 'host' ? a.entity.id : (topology.parent(a.entity)?.id ?? 'h');
  const rack = topology.parent({ level: 'host', id: host })?.id ?? 'r';
  const labels: Record<string, string> = { host, rack, dc: 'gz0-04d' };
  if (a.entity.level === 'container') {
    labels.container_name = a.entity.id;
    labels.app = topology.appOf(a.entity.id) ?? 'app';
    labels.cpu = 'cpu-total';
  }
  return {
    ...a,
    labels,
    annotations: { summary: `${a.entity.level} ${a.entity.id} CPU 95.3%` },
  };
});

function best(f: () => void): number {
  let min = Number.POSITIVE_INFINITY;
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    f();
    min = Math.min(min, performance.now() - t);
  }
  return min;
}

// 1. CPU per alert.
const ownership = new MetricsOwnership('metrics', 12);
ownership.setAssignment([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
let sink = 0;
const baselineMs = best(() => {
  for (const a of alerts) sink += alertJsonLine(a).length;
});
const encodeMs = best(() => {
  for (const a of alerts)
    sink += alertRecord(a, 'node-a', ownership.partitionOfAlert(a, topology)).value.length;
});
const records = alerts.map((a) => alertRecord(a, 'node-a', ownership.partitionOfAlert(a, topology)));
const buffers = records.map((r) => Buffer.from(r.value));
const decodeMs = best(() => {
  for (let i = 0; i < records.length; i++)
    sink += decodeAlertsRecord(buffers[i]!, records[i]!.headers).kind.length;
});
const bytes = buffers.reduce((n, b) => n + b.length, 0);
const us = (ms: number) => Math.round(((ms * 1000) / alerts.length) * 100) / 100;
console.log(
  JSON.stringify({
    part: 'publish CPU per alert state change (best of runs)',
    alerts: alerts.length,
    baselineAlertsOutLineUs: us(baselineMs),
    publishRecordUs: us(encodeMs),
    overheadVsBaseline: Math.round((encodeMs / baselineMs) * 100) / 100,
    correlatorDecodeUs: us(decodeMs),
    recordBytes: Math.round(bytes / alerts.length),
  }),
);

// 2. Kafka.
const brokers = process.env.KAFKA_BROKERS?.split(',').filter((b) => b.trim() !== '');
if (brokers !== undefined && brokers.length > 0) {
  const kafka = createKafka({ brokers });
  const topic = `bench-alerts-${randomBytes(3).toString('hex')}`;
  await ensureSinglePartitionTopic(kafka, topic);
  const plain = new RecordLogProducer({ kafka, topic, compressAbove: Number.POSITIVE_INFINITY });
  const gzipped = new RecordLogProducer({ kafka, topic });
  await plain.connect();
  await gzipped.connect();
  for (const [perBatch, producer] of [
    [10, gzipped],
    [100, gzipped],
    [1000, gzipped],
    [1000, plain],
  ] as const) {
    const waits: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < records.length; i += perBatch) {
      for (const r of records.slice(i, i + perBatch)) producer.enqueue(r);
      producer.enqueue(watermarkRecord({ instance: 'node-a', watermark: i, partitions: [0], idle: false }));
      const t = performance.now();
      await producer.flush();
      waits.push(performance.now() - t);
    }
    const total = performance.now() - t0;
    waits.sort((a, b) => a - b);
    console.log(
      JSON.stringify({
        part: 'publish to Kafka: a metrics batch waits for its alerts (acks=all) before committing',
        alertsPerBatch: perBatch,
        gzip: producer === gzipped && perBatch > 200,
        batches: waits.length,
        ackWaitMsP50: Math.round(waits[waits.length >> 1]! * 10) / 10,
        ackWaitMsP99: Math.round(waits[Math.floor(waits.length * 0.99)]! * 10) / 10,
        alertsPerSecond: Math.round((records.length / total) * 1000),
      }),
    );
  }
  await plain.shutdown();
  await gzipped.shutdown();
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
} else {
  console.log(JSON.stringify({ part: 'publish to Kafka', skipped: 'set KAFKA_BROKERS to measure' }));
}

// 3. Checkpoint with the JD incident open.
const correlator = new Correlator(topology);
const gate = new AlertGate();
gate.instanceWatermark({ instance: 'node-a', watermark: 0, partitions: [0], idle: false }, 0);
const firing = alerts.filter((a) => a.state === 'firing');
for (const a of firing)
  correlator.ingest(gate.alert(a, 'node-a', ownership.partitionOfAlert(a, topology), 0)!);
correlator.advance(firing[firing.length - 1]!.at + 60_000);
const live = correlator.incidents({ status: 'open' });
let snapshotMs = Number.POSITIVE_INFINITY;
let json = '';
for (let r = 0; r < runs; r++) {
  const t = performance.now();
  const cp = {
    format: 1,
    epoch: 1,
    nextOffset: '10200',
    savedAt: Date.now(),
    correlator: correlator.snapshot(),
    gate: gate.state(),
    outbox: [],
  };
  json = JSON.stringify(cp);
  snapshotMs = Math.min(snapshotMs, performance.now() - t);
}
const { gzipSync, gunzipSync } = await import('node:zlib');
let gz: Buffer = Buffer.alloc(0);
const gzipMs = best(() => {
  gz = gzipSync(json, { level: 1 });
});
const restoreMs = best(() => {
  const cp = JSON.parse(gunzipSync(gz).toString('utf8'));
  Correlator.restore(topology, cp.correlator);
  AlertGate.restore(cp.gate);
});
const figures: Record<string, unknown> = {
  part: 'checkpoint of the JD incident (5,100 firing alerts with labels), best of runs',
  openIncidents: live.length,
  absorbed: live[0]?.absorbed,
  snapshotAndStringifyMs: Math.round(snapshotMs * 10) / 10,
  jsonBytes: json.length,
  gzipMs: Math.round(gzipMs * 10) / 10,
  storedBytes: gz.length,
  takeoverParseAndRestoreMs: Math.round(restoreMs * 10) / 10,
};
if (process.env.REDIS_URL) {
  const redis = new Redis(process.env.REDIS_URL);
  const prefix = `bench-checkpoint-${randomBytes(3).toString('hex')}`;
  const store = new RedisCheckpointStore(redis, prefix);
  const epoch = await store.acquire();
  const cp = JSON.parse(json);
  cp.epoch = epoch;
  const saves: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    const res = await store.save(cp);
    saves.push(performance.now() - t);
    figures.redisWriteMs = Math.round(res.writeMs * 10) / 10;
  }
  const t = performance.now();
  await store.load();
  figures.saveMsBest = Math.round(Math.min(...saves) * 10) / 10;
  figures.loadMs = Math.round((performance.now() - t) * 10) / 10;
  await redis.del(`${prefix}:epoch`, `${prefix}:checkpoint`);
  redis.disconnect();
} else {
  figures.redis = 'set REDIS_URL to measure the write';
}
console.log(JSON.stringify(figures));
if (sink < 0) console.log(sink);
