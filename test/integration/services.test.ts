// Smoke test of the real-services harness: each service is really there and really answers.

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Kafka, type KafkaMessage, logLevel, Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import {
  isManaged,
  serviceUrls,
  startService,
  stopService,
  tsdbDelete,
  tsdbExport,
  tsdbFlush,
} from './services.js';

const suffix = () => randomBytes(4).toString('hex');

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

type RespReply = string | number | null | RespReply[];

/** Sends one command over a fresh connection and returns its reply (enough RESP for a smoke test). */
function redisCommand(redisUrl: string, ...args: string[]): Promise<RespReply> {
  const { hostname, port } = new URL(redisUrl);
  const request = `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) || 6379 });
    let buffer = Buffer.alloc(0);
    socket.setTimeout(5000, () => socket.destroy(new Error(`redis ${args[0]}: no reply in 5 s`)));
    socket.on('error', reject);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      const parsed = parseResp(buffer, 0);
      if (parsed) {
        socket.end();
        if (parsed.error) reject(new Error(`redis ${args[0]}: ${parsed.error}`));
        else resolve(parsed.value);
      }
    });
  });
}

function parseResp(buf: Buffer, at: number): { value: RespReply; next: number; error?: string } | null {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return null;
  const type = String.fromCharCode(buf[at]!);
  const line = buf.toString('utf8', at + 1, eol);
  switch (type) {
    case '+':
      return { value: line, next: eol + 2 };
    case '-':
      return { value: null, next: eol + 2, error: line };
    case ':':
      return { value: Number(line), next: eol + 2 };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, next: eol + 2 };
      if (buf.length < eol + 2 + length + 2) return null;
      return { value: buf.toString('utf8', eol + 2, eol + 2 + length), next: eol + 2 + length + 2 };
    }
    case '*': {
      const count = Number(line);
      const items: RespReply[] = [];
      let next = eol + 2;
      for (let i = 0; i < count; i++) {
        const item = parseResp(buf, next);
        if (!item) return null;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new Error(`unexpected RESP type ${JSON.stringify(type)}`);
  }
}

describe('real services harness', () => {
  it('hands the same addresses to tests through inject and process.env', () => {
    const urls = serviceUrls();
    expect(urls.kafkaBrokers.length).toBeGreaterThan(0);
    expect(process.env.KAFKA_BROKERS).toBe(urls.kafkaBrokers.join(','));
    expect(process.env.REDIS_URL).toBe(urls.redisUrl);
    expect(process.env.TSDB_URL?.replace(/\/+$/, '')).toBe(urls.tsdbUrl);
    expect(process.env.ALERTMANAGER_URL?.replace(/\/+$/, '')).toBe(urls.alertmanagerUrl);
  });

  it('Kafka: creates a topic with leaders, produces and consumes a message with key and headers', async () => {
    const kafka = new Kafka({
      clientId: 'converge-smoke',
      brokers: serviceUrls().kafkaBrokers,
      logLevel: logLevel.ERROR,
    });
    const topic = `smoke-${suffix()}`;
    const admin = kafka.admin();
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    const consumer = kafka.consumer({ groupId: `smoke-${suffix()}` });
    await admin.connect();
    try {
      const created = await admin.createTopics({
        topics: [{ topic, numPartitions: 2, replicationFactor: 1 }],
        waitForLeaders: true,
      });
      expect(created).toBe(true);
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      expect(metadata.topics[0]?.partitions.map((p) => p.leader).sort()).toEqual([1, 1]);

      await producer.connect();
      const value = 'cpu,host=h1,dc=d1 usage_user=1.5 1717200000000000000\n'.repeat(3);
      const [ack] = await producer.send({
        topic,
        messages: [{ key: 'h1', value, headers: { source: 'smoke' }, partition: 1 }],
      });
      expect(ack?.partition).toBe(1);
      expect(ack?.errorCode).toBe(0);

      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const received = new Promise<{ partition: number; message: KafkaMessage }>((resolve) => {
        void consumer.run({ eachMessage: async ({ partition, message }) => resolve({ partition, message }) });
      });
      const { partition, message } = await withTimeout(received, 60_000, `consuming ${topic}`);
      expect(partition).toBe(1);
      expect(message.offset).toBe('0');
      expect(message.key?.toString()).toBe('h1');
      expect(message.value?.toString()).toBe(value);
      expect(message.headers?.source?.toString()).toBe('smoke');
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });

  it('Redis: PING, SET, GET and DEL over RESP', async () => {
    const { redisUrl } = serviceUrls();
    const key = `converge:smoke:${suffix()}`;
    const value = 'line one\r\nline two, ünïcödé';
    expect(await redisCommand(redisUrl, 'PING')).toBe('PONG');
    expect(await redisCommand(redisUrl, 'SET', key, value, 'EX', '60')).toBe('OK');
    expect(await redisCommand(redisUrl, 'GET', key)).toBe(value);
    expect(await redisCommand(redisUrl, 'DEL', key)).toBe(1);
    expect(await redisCommand(redisUrl, 'GET', key)).toBe(null);
  });

  it('victoria-metrics: InfluxDB v2 line protocol in, the same values and timestamps out', async () => {
    const { tsdbUrl } = serviceUrls();
    const measurement = `smoke_${suffix()}`;
    const lines = [
      `${measurement},host=h1,dc=d1 value=1.5,count=7i 1717200000000000000`,
      `${measurement},host=h1,dc=d1 value=-2.25 1717200001500000000`,
    ].join('\n');
    const write = await fetch(`${tsdbUrl}/api/v2/write?org=converge&bucket=smoke`, {
      method: 'POST',
      body: lines,
    });
    expect(write.status).toBe(204);
    await tsdbFlush();
    try {
      const series = await tsdbExport(`{__name__=~"${measurement}_.*"}`);
      const byName = Object.fromEntries(series.map((s) => [s.metric.__name__, s]));
      expect(Object.keys(byName).sort()).toEqual([`${measurement}_count`, `${measurement}_value`]);
      expect(byName[`${measurement}_value`]).toEqual({
        metric: { __name__: `${measurement}_value`, host: 'h1', dc: 'd1' },
        values: [1.5, -2.25],
        timestamps: [1717200000000, 1717200001500],
      });
      expect(byName[`${measurement}_count`]?.values).toEqual([7]);
      expect(byName[`${measurement}_count`]?.timestamps).toEqual([1717200000000]);
      // The time window is applied: only the second point is after 1717200001 s.
      const later = await tsdbExport(`${measurement}_value`, 1717200001000);
      expect(later[0]?.values).toEqual([-2.25]);
    } finally {
      await tsdbDelete(`{__name__=~"${measurement}_.*"}`);
    }
    expect(await tsdbExport(`{__name__=~"${measurement}_.*"}`)).toEqual([]);
  });

  it('victoria-metrics: a harness-owned TSDB keeps its points across stop and start', async () => {
    if (!isManaged('tsdb')) {
      // TSDB_URL names a service the harness does not own: it must refuse to stop it.
      await expect(stopService('tsdb')).rejects.toThrow(
        /TSDB_URL points at a service the test harness does not own/,
      );
      return;
    }
    const { tsdbUrl } = serviceUrls();
    const measurement = `smoke_restart_${suffix()}`;
    const write = await fetch(`${tsdbUrl}/api/v2/write?org=converge&bucket=smoke&precision=s`, {
      method: 'POST',
      body: `${measurement},host=h2 value=42 1717200000`,
    });
    expect(write.status).toBe(204);
    await tsdbFlush();
    try {
      const stopped = await stopService('tsdb');
      expect(stopped.outcome).toBe('stopped');
      await expect(fetch(`${tsdbUrl}/health`)).rejects.toThrow();
      const started = await startService('tsdb');
      expect(started.alreadyUp).toBe(false);
      const series = await tsdbExport(`${measurement}_value`);
      expect(series.map((s) => [s.metric.host, s.values, s.timestamps])).toEqual([
        ['h2', [42], [1717200000000]],
      ]);
    } finally {
      await tsdbDelete(`${measurement}_value`);
    }
  });

  it('Alertmanager: an alert posted to /api/v2/alerts can be read back', async () => {
    const { alertmanagerUrl } = serviceUrls();
    const alertname = `ConvergeSmoke_${suffix()}`;
    const startsAt = new Date(Date.now() - 60_000).toISOString();
    const posted = await fetch(`${alertmanagerUrl}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        {
          labels: { alertname, host: 'h1', severity: 'critical' },
          annotations: { summary: 'smoke test' },
          startsAt,
          endsAt: new Date(Date.now() + 300_000).toISOString(),
        },
      ]),
    });
    expect(posted.status).toBe(200);
    const filter = encodeURIComponent(`alertname="${alertname}"`);
    let alerts: Array<{
      labels: Record<string, string>;
      annotations: Record<string, string>;
      startsAt: string;
      status: { state: string };
    }> = [];
    for (let attempt = 0; attempt < 50 && alerts.length === 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 100));
      const response = await fetch(`${alertmanagerUrl}/api/v2/alerts?filter=${filter}`);
      expect(response.status).toBe(200);
      alerts = (await response.json()) as typeof alerts;
    }
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.labels).toEqual({ alertname, host: 'h1', severity: 'critical' });
    expect(alerts[0]?.annotations).toEqual({ summary: 'smoke test' });
    expect(Date.parse(alerts[0]!.startsAt)).toBe(Date.parse(startsAt));
    expect(alerts[0]?.status.state).toBe('active');
  });
});
