import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createKafka } from '../../ingest/kafka/client.js';
import { DLQ_HEADERS } from '../../ingest/kafka/dead-letters.js';
import { MetricsProducer } from '../../ingest/kafka/producer.js';
import { readTopic } from '../../ingest/kafka/topic-reader.js';
import {
  checkExport,
  FleetGenerator,
  type FleetMessage,
  type FleetTruth,
} from '../../scripts/produce-metrics.js';
import { ConvergeStart } from './converge-start.js';
import { isManaged, serviceUrls, startService, stopService, tsdbExport, tsdbFlush } from './services.js';

/**
 * The ingest process (ingest/kafka/consume-main.ts) as a child, fed by a producer that keeps
 * producing while the TSDB goes away for 20 s, or while the process is killed with SIGKILL and
 * started again. Every good point must end up in victoria-metrics (at-least-once).
 */

const MAIN = fileURLToPath(new URL('../../ingest/kafka/consume-main.ts', import.meta.url));

interface StatsLine {
  event: string;
  at: number;
  points: number;
  malformed: number;
  inFlightPoints: number;
  peakInFlightPoints: number;
  rss: number;
  heapUsed: number;
  sink: { bufferedPoints: number; peakBufferedPoints: number; failedRequests: number };
}

class IngestProcess {
  readonly lines: StatsLine[] = [];
  readonly exited: Promise<number | null>;
  private stderr = '';
  private readonly child: ChildProcess;

  constructor(args: string[]) {
    // node --import tsx runs the script in this very process: a SIGKILL hits the consumer itself.
    this.child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CONVERGE_LOG_LEVEL: 'warn' },
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-8000);
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.lines.push({ ...JSON.parse(line), at: Date.now() });
      } catch {
        this.stderr += `\n(stdout) ${line}`;
      }
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  get last(): StatsLine | undefined {
    for (let i = this.lines.length - 1; i >= 0; i--)
      if (this.lines[i]!.event !== 'started') return this.lines[i];
    return undefined;
  }

  async waitFor(
    what: string,
    cond: (s: StatsLine | undefined) => boolean,
    timeoutMs = 60_000,
  ): Promise<void> {
    const t0 = Date.now();
    while (!cond(this.last)) {
      if (this.child.exitCode !== null)
        throw new Error(`ingest process exited (${this.child.exitCode}) before ${what}:\n${this.stderr}`);
      if (Date.now() - t0 > timeoutMs)
        throw new Error(`timed out waiting for ${what}; stderr:\n${this.stderr}`);
      await sleep(50);
    }
  }

  async started(): Promise<void> {
    const t0 = Date.now();
    while (!this.lines.some((l) => l.event === 'started')) {
      if (this.child.exitCode !== null)
        throw new Error(`ingest process exited (${this.child.exitCode}):\n${this.stderr}`);
      if (Date.now() - t0 > 60_000) throw new Error(`ingest process did not start:\n${this.stderr}`);
      await sleep(50);
    }
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

const processes: IngestProcess[] = [];
afterEach(async () => {
  for (const p of processes.splice(0)) {
    p.kill('SIGKILL');
    await p.exited;
  }
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function ingestArgs(topic: string, group: string, extra: string[] = []): string[] {
  const { kafkaBrokers, tsdbUrl } = serviceUrls();
  return [
    '--brokers',
    kafkaBrokers.join(','),
    '--tsdb-url',
    tsdbUrl,
    '--topic',
    topic,
    '--group',
    group,
    '--partitions',
    '6',
    '--stats-every-ms',
    '100',
    '--session-timeout-ms',
    '10000',
    ...extra,
  ];
}

/** Produces `messages` a few at a time, so that consumption runs while production goes on. */
async function producePaced(
  producer: MetricsProducer,
  messages: FleetMessage[],
  perTick: number,
  tickMs: number,
) {
  for (let i = 0; i < messages.length; i += perTick) {
    await producer.send(messages.slice(i, i + perTick));
    await sleep(tickMs);
  }
}

/** Resolves once the group has committed the end offset of every partition of the topic. */
async function allCommitted(topic: string, group: string, timeoutMs = 90_000): Promise<void> {
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

async function expectAllPointsStored(truth: FleetTruth, hostPrefix: string): Promise<number> {
  let check = checkExport(truth, []);
  const t0 = Date.now();
  while (Date.now() - t0 < 30_000) {
    await tsdbFlush();
    check = checkExport(truth, await tsdbExport(`{host=~"${hostPrefix}.*"}`));
    if (check.points >= truth.goodPoints) break;
    await sleep(300);
  }
  expect(check.points).toBe(truth.goodPoints);
  expect(check.samples).toBe(truth.samples);
  expect(check.missingByMetric).toEqual({});
  // Redelivered batches (at-least-once) are stored once: the harness runs victoria-metrics with
  // -dedup.minScrapeInterval=1ms, as the README asks of a production TSDB.
  expect(check.duplicateSamples).toBe(0);
  return check.duplicateSamples;
}

async function expectDeadLetters(truth: FleetTruth, topic: string): Promise<number> {
  const letters = (
    await readTopic(createKafka({ brokers: serviceUrls().kafkaBrokers }), 'metrics.dlq')
  ).filter((m) => m.headers[DLQ_HEADERS.sourceTopic] === topic);
  const hex = (b: Buffer | null) => (b ?? Buffer.alloc(0)).toString('hex');
  // At-least-once: a redelivered batch dead-letters its lines again, so compare as sets.
  expect(new Set(letters.map((m) => hex(m.value)))).toEqual(new Set(truth.malformed.map((m) => hex(m.line))));
  expect(letters.length).toBeGreaterThanOrEqual(truth.malformed.length);
  return letters.length;
}

function fleetFor(hostPrefix: string): { messages: FleetMessage[]; truth: FleetTruth } {
  const fleet = new FleetGenerator({
    hosts: 40,
    containersPerHost: 10,
    seconds: 100,
    malformedFraction: 0.01,
    hostPrefix,
  });
  const messages = fleet.all();
  expect(fleet.truth.goodPoints).toBe(100_000);
  return { messages, truth: fleet.truth };
}

describe('ingest process under faults (real Kafka and victoria-metrics)', () => {
  it('loses nothing when the TSDB is down for 20 s mid-stream, with memory bounded meanwhile', async () => {
    expect(isManaged('tsdb'), 'this test stops the TSDB: let the harness start it (unset TSDB_URL)').toBe(
      true,
    );
    const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
    const topic = `metrics-outage-${run}`;
    const group = `ingest-outage-${run}`;
    const hostPrefix = `out${run}-`;
    const { messages, truth } = fleetFor(hostPrefix);
    // Production comes in bursts of 10,000 points, more than the in-flight bound: the bound,
    // not the burst size, limits what the process holds while the TSDB is down.
    const maxInFlight = 5000;
    const maxBuffered = 2000;

    const producer = new MetricsProducer({ brokers: serviceUrls().kafkaBrokers, topic, partitions: 6 });
    await producer.connect();
    const ingest = new IngestProcess(
      ingestArgs(topic, group, [
        '--max-in-flight-points',
        String(maxInFlight),
        '--max-buffered-points',
        String(maxBuffered),
        '--max-retry-delay-ms',
        '1000',
      ]),
    );
    processes.push(ingest);
    await ingest.started();
    const producing = producePaced(producer, messages, 20, 500);

    await ingest.waitFor('20,000 points stored', (s) => (s?.points ?? 0) >= 20_000);
    await stopService('tsdb');
    const downAt = Date.now();
    await sleep(20_000);
    const upAt = Date.now();
    await producing; // production went on during the outage
    await startService('tsdb');

    // While down: acknowledgements stopped, the in-flight bound held, RSS stayed flat.
    const during = ingest.lines.filter((l) => l.event === 'stats' && l.at >= downAt + 2000 && l.at <= upAt);
    expect(during.length).toBeGreaterThan(50);
    const before = ingest.lines.filter((l) => l.event === 'stats' && l.at < downAt);
    expect(during[during.length - 1]!.points).toBe(during[0]!.points);
    expect(during[0]!.points).toBeLessThan(truth.goodPoints);
    expect(Math.max(...during.map((l) => l.inFlightPoints))).toBeGreaterThan(maxInFlight / 2);
    expect(Math.max(...during.map((l) => l.inFlightPoints))).toBeLessThanOrEqual(maxInFlight);
    expect(Math.max(...during.map((l) => l.sink.failedRequests))).toBeGreaterThan(3);
    const rssBefore = Math.max(...before.map((l) => l.rss));
    const rssDuring = Math.max(...during.map((l) => l.rss));
    const heapDuring = Math.max(...during.map((l) => l.heapUsed));
    console.log(
      `outage: points acked before ${during[0]!.points}, in-flight peak ${ingest.last!.peakInFlightPoints} ` +
        `(bound ${maxInFlight}), sink buffer peak ${ingest.last!.sink.peakBufferedPoints} (bound ${maxBuffered}), ` +
        `RSS before ${(rssBefore / 2 ** 20).toFixed(0)} MiB, max while down ${(rssDuring / 2 ** 20).toFixed(0)} MiB, ` +
        `heap max while down ${(heapDuring / 2 ** 20).toFixed(0)} MiB`,
    );
    expect(rssDuring).toBeLessThan(rssBefore + 96 * 2 ** 20);

    await allCommitted(topic, group);
    await ingest.waitFor('every point acknowledged', (s) => (s?.points ?? 0) >= truth.goodPoints);
    const last = ingest.last!;
    expect(last.peakInFlightPoints).toBeLessThanOrEqual(maxInFlight);
    expect(last.sink.peakBufferedPoints).toBeLessThanOrEqual(maxBuffered);
    ingest.kill('SIGTERM');
    expect(await ingest.exited).toBe(0);
    await producer.shutdown();

    await expectAllPointsStored(truth, hostPrefix);
    await expectDeadLetters(truth, topic);
  });

  it('loses nothing when the ingest process is killed with SIGKILL mid-stream and restarted', async () => {
    const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
    const topic = `metrics-kill-${run}`;
    const group = `ingest-kill-${run}`;
    const hostPrefix = `kill${run}-`;
    const { messages, truth } = fleetFor(hostPrefix);

    const producer = new MetricsProducer({ brokers: serviceUrls().kafkaBrokers, topic, partitions: 6 });
    await producer.connect();
    // Partial batches linger 300 ms in the first process, so a kill finds work in flight.
    const first = new IngestProcess(ingestArgs(topic, group, ['--flush-interval-ms', '300']));
    processes.push(first);
    await first.started();
    const producing = producePaced(producer, messages, 20, 500);

    await first.waitFor(
      '30,000 points stored and more in flight',
      (s) => (s?.points ?? 0) >= 30_000 && (s?.inFlightPoints ?? 0) > 0,
    );
    const inFlightAtKill = first.last!.inFlightPoints;
    first.kill('SIGKILL');
    expect(await first.exited).toBe(null); // killed by the signal, no exit code
    const killedAt = first.last!.points;
    expect(killedAt).toBeLessThan(truth.goodPoints);

    const second = new IngestProcess(ingestArgs(topic, group));
    processes.push(second);
    await second.started();
    await producing;
    await allCommitted(topic, group);
    second.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    await producer.shutdown();
    const stopped = second.lines.find((l) => l.event === 'stopped')!;
    // The restarted process resumed from the last commit instead of starting over.
    expect(stopped.points).toBeGreaterThan(0);
    expect(stopped.points).toBeLessThan(truth.goodPoints);

    const duplicates = await expectAllPointsStored(truth, hostPrefix);
    const letters = await expectDeadLetters(truth, topic);
    console.log(
      `SIGKILL after ${killedAt} acknowledged points with ${inFlightAtKill} in flight; the restarted process acknowledged ${stopped.points}; ` +
        `duplicate samples in the TSDB ${duplicates}; dead letters ${letters} for ${truth.malformed.length} bad lines`,
    );
  });

  it('loses nothing when `converge start` itself is killed with SIGKILL mid-stream and restarted', async () => {
    const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
    const topic = `metrics-start-${run}`;
    const group = `ingest-start-${run}`;
    const hostPrefix = `start${run}-`;
    const { messages, truth } = fleetFor(hostPrefix);
    const dir = mkdtempSync(join(tmpdir(), 'converge-start-kill-'));
    const configPath = join(dir, 'converge.json');
    const urls = serviceUrls();
    writeFileSync(
      configPath,
      JSON.stringify({
        kafka: {
          brokers: urls.kafkaBrokers,
          clientId: `converge-${run}`,
          groupId: group,
          topics: { metrics: topic, topology: `topology-${run}` },
          partitions: 6,
          sessionTimeout: '10s',
        },
        // Batches linger up to 300 ms, so a kill finds points decoded but not yet acknowledged.
        tsdb: { url: urls.tsdbUrl, flushInterval: '300ms' },
        correlate: { mode: 'embedded' },
        log: { level: 'warn' },
      }),
    );
    const producer = new MetricsProducer({ brokers: urls.kafkaBrokers, topic, partitions: 6 });
    await producer.connect();
    try {
      const first = await ConvergeStart.launch(configPath);
      starts.push(first);
      const producing = producePaced(producer, messages, 20, 500);
      const { points: killedAt, inFlight: inFlightAtKill } = await first.waitForPointsInFlight(30_000);
      const lagBefore = await first.lag();
      first.kill('SIGKILL');
      expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
      expect(killedAt).toBeLessThan(truth.goodPoints);

      const second = await ConvergeStart.launch(configPath);
      starts.push(second);
      await producing;
      await allCommitted(topic, group);
      const secondPoints = await second.points();
      // Caught up: /metrics shows every partition (this instance owns all six) at lag 0.
      await sleep(1100); // past the lag cache
      expect(await second.lag()).toEqual({ 0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0 });
      second.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);
      // The restarted process resumed from the last commit instead of starting over.
      expect(secondPoints).toBeGreaterThan(0);
      expect(secondPoints).toBeLessThan(truth.goodPoints);

      const duplicates = await expectAllPointsStored(truth, hostPrefix);
      const letters = await expectDeadLetters(truth, topic);
      console.log(
        `converge start: SIGKILL after ${killedAt} acknowledged points with ${inFlightAtKill} in flight ` +
          `(lag then ${JSON.stringify(lagBefore)}); the restarted process acknowledged ${secondPoints}; ` +
          `duplicate samples in the TSDB ${duplicates}; dead letters ${letters} for ${truth.malformed.length} bad lines`,
      );
    } finally {
      await producer.shutdown();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const starts: ConvergeStart[] = [];
afterEach(async () => {
  for (const c of starts.splice(0)) {
    c.kill('SIGKILL');
    await c.exited;
  }
});
