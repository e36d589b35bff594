// A two-instance `converge start` cluster on the harness's Kafka, Redis and victoria-metrics,
// fed with the JD storm as Telegraf line protocol, for the distributed-* integration tests.
// Everything is named with a per-test suffix (topics, groups, Redis prefixes) and removed after.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import { parseDocument } from 'yaml';
import { parseDuration } from '../../core/duration.js';
import type { Point } from '../../core/types.js';
import { scenarioMetrics } from '../../fixtures/metrics.js';
import { type FaultTruth, jdScenario, type Scenario } from '../../fixtures/scenario.js';
import { encodeLine } from '../../ingest/decode.js';
import { createKafka } from '../../ingest/kafka/client.js';
import { MetricsProducer } from '../../ingest/kafka/producer.js';
import { WebhookReceiver } from '../../notify/testing.js';
import { defaultRulesDir } from '../../rules/load.js';
import { serviceUrls } from './services.js';

export const READ_TOKEN = 'distributed-test-read-token';
export const WRITE_TOKEN = 'distributed-test-write-token';
const SECRET = 'distributed-test-secret';

/**
 * The default rule pack with every `for`/`resolveFor` divided by `factor`: the JD storm's
 * cascade (app containers first, hosts, then the starved neighbours) keeps its order in a few
 * minutes of event time instead of half an hour.
 */
export function compressedRules(dir: string, factor: number): string {
  mkdirSync(dir, { recursive: true });
  const scale = (text: string) => `${Math.max(1, Math.round(parseDuration(text)! / factor / 1000))}s`;
  for (const f of readdirSync(defaultRulesDir())) {
    if (!f.endsWith('.yaml')) continue;
    const pack = parseDocument(readFileSync(join(defaultRulesDir(), f), 'utf8')).toJS() as {
      groups?: Array<{ rules?: Array<Record<string, unknown> & { condition?: Record<string, unknown> }> }>;
    };
    for (const g of pack.groups ?? [])
      for (const r of g.rules ?? []) {
        if (typeof r.for === 'string') r.for = scale(r.for);
        if (typeof r.resolveFor === 'string') r.resolveFor = scale(r.resolveFor);
        if (typeof r.condition?.resolveFor === 'string')
          r.condition.resolveFor = scale(r.condition.resolveFor);
      }
    writeFileSync(join(dir, f), JSON.stringify(pack));
  }
  return dir;
}

export interface Instance {
  name: string;
  port: number;
  child: ChildProcess;
  logPath: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StormFeed {
  scenario: Scenario;
  /** Messages (one per host and step) in step order. */
  steps: Array<Array<{ host: string; value: string; timestamp: number }>>;
  points: number;
  bytes: number;
  faultEndStep: number;
}

/**
 * The JD storm's metrics for the 50 hosts the fault touches (50 app containers, 5,000
 * neighbours), the measurements its rules read (cpu, system, docker_container_cpu), one
 * message per host and step, as Telegraf's Kafka output writes them (keyed by host).
 */
export function jdStormFeed(options: {
  stepMs: number;
  durationMs: number;
  leadMs: number;
  tailMs: number;
}): StormFeed {
  const scenario = jdScenario(7, { durationMs: options.durationMs });
  const fault = scenario.faults[0]!;
  const hosts = new Set<string>();
  for (const e of fault.effects) if (e.entity.level === 'host') hosts.add(e.entity.id);
  const keep = new Set(['cpu', 'system', 'docker_container_cpu']);
  const steps: StormFeed['steps'] = [];
  let points = 0;
  let bytes = 0;
  let faultEndStep = -1;
  for (const batch of scenarioMetrics(scenario, {
    stepMs: options.stepMs,
    from: fault.start - options.leadMs,
    to: fault.end + options.tailMs,
  })) {
    const byHost = new Map<string, string[]>();
    let t = 0;
    for (const p of batch as Point[]) {
      const host = p.tags.host;
      if (host === undefined || !hosts.has(host) || !keep.has(p.measurement)) continue;
      let lines = byHost.get(host);
      if (lines === undefined) {
        lines = [];
        byHost.set(host, lines);
      }
      lines.push(encodeLine(p));
      t = p.time;
      points++;
    }
    if (faultEndStep < 0 && t >= fault.end) faultEndStep = steps.length;
    const messages = [...byHost].map(([host, lines]) => {
      const value = lines.join('\n');
      bytes += value.length;
      return { host, value, timestamp: t };
    });
    steps.push(messages);
  }
  return { scenario, steps, points, bytes, faultEndStep };
}

export class DistributedCluster {
  readonly suffix = randomBytes(4).toString('hex');
  readonly topics = {
    metrics: `metrics-${this.suffix}`,
    dlq: `metrics.dlq-${this.suffix}`,
    topology: `topology-${this.suffix}`,
    alerts: `alerts-${this.suffix}`,
    incidents: `incidents-${this.suffix}`,
    observed: `topology.observed-${this.suffix}`,
  };
  readonly metricsGroup = `cnv-ingest-${this.suffix}`;
  readonly correlatorGroup = `cnv-correlator-${this.suffix}`;
  readonly redisPrefix = `cnv-dist-${this.suffix}`;
  readonly notifyPrefix = `cnv-dist-notify-${this.suffix}`;
  readonly dir = join(tmpdir(), `converge-distributed-${this.suffix}`);
  readonly receiver = new WebhookReceiver(SECRET);
  readonly instances: Instance[] = [];
  readonly kafka = createKafka({ brokers: serviceUrls().kafkaBrokers, clientId: 'distributed-test' });
  configPath = '';

  async setUp(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    await this.receiver.start();
    const rulesDir = compressedRules(join(this.dir, 'rules'), 10);
    const urls = serviceUrls();
    const config = {
      kafka: {
        brokers: urls.kafkaBrokers,
        clientId: `converge-${this.suffix}`,
        groupId: this.metricsGroup,
        topics: this.topics,
        partitions: 6,
        sessionTimeout: '8s',
      },
      redis: { url: urls.redisUrl },
      tsdb: { url: urls.tsdbUrl },
      rules: { dir: rulesDir },
      correlate: {
        groupWait: '60s',
        holdDown: '60s',
        mode: 'distributed',
        distributed: {
          group: this.correlatorGroup,
          redisPrefix: this.redisPrefix,
          checkpointInterval: '500ms',
          sessionTimeout: '6s',
          instanceTimeout: '8s',
          handoverGrace: '2m',
          idleAfter: '5s',
          heartbeat: '500ms',
        },
      },
      notify: {
        queue: { prefix: this.notifyPrefix, concurrency: 2, lockDuration: '5s', stalledInterval: '3s' },
        retry: { attempts: 20, initialDelay: '300ms', maxDelay: '2s' },
        sinks: [{ name: 'hook', type: 'webhook', url: this.receiver.url, secret: SECRET, timeout: '10s' }],
      },
      api: {
        tokens: [
          { token: READ_TOKEN, scopes: ['read'] },
          { token: WRITE_TOKEN, scopes: ['read', 'write'] },
        ],
      },
      log: { level: 'info' },
    };
    this.configPath = join(this.dir, 'converge.json');
    writeFileSync(this.configPath, JSON.stringify(config, null, 2));
  }

  /** Spawns `converge start` in its own process group (SIGKILL reaches npx, tsx and node). */
  async start(name: string): Promise<Instance> {
    const port = await freePort();
    const logPath = join(this.dir, `${name}.log`);
    const log = createWriteStream(logPath);
    const child = spawn(
      'npx',
      ['tsx', 'bin/cli.ts', 'start', '--config', this.configPath, '--port', String(port)],
      {
        cwd: process.cwd(),
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env },
      },
    );
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    const instance: Instance = { name, port, child, logPath, exited };
    this.instances.push(instance);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`${name} exited before ready:\n${tail(logPath)}`);
      const r = await readiness(instance).catch(() => undefined);
      if (r?.ready) return instance;
      if (Date.now() > deadline) throw new Error(`${name} not ready in 60 s:\n${tail(logPath)}`);
      await sleep(250);
    }
  }

  /** Waits until both groups are stable with every instance and one correlator is active. */
  async settled(members: number, timeoutMs = 60_000): Promise<Instance> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { groups } = await admin.describeGroups([this.metricsGroup, this.correlatorGroup]);
        const stable = groups.every((g) => g.state === 'Stable' && g.members.length === members);
        if (stable) {
          const roles = await Promise.all(this.live().map(async (i) => [i, await role(i)] as const));
          const active = roles.filter(([, r]) => r === 'active');
          if (active.length === 1) return active[0]![0];
        }
        if (Date.now() > deadline)
          throw new Error(
            `groups not settled in ${timeoutMs} ms: ${JSON.stringify(groups.map((g) => [g.groupId, g.state, g.members.length]))}`,
          );
        await sleep(300);
      }
    } finally {
      await admin.disconnect();
    }
  }

  live(): Instance[] {
    return this.instances.filter((i) => i.child.exitCode === null && i.child.signalCode === null);
  }

  /** Produces the storm step by step, `paceMs` apart; `onStep` runs after each step is acknowledged. */
  async produce(
    feed: StormFeed,
    paceMs: number,
    onStep?: (step: number) => Promise<void> | void,
  ): Promise<void> {
    const producer = new MetricsProducer({
      brokers: serviceUrls().kafkaBrokers,
      topic: this.topics.metrics,
      partitions: 6,
      compression: 'gzip',
    });
    try {
      for (let i = 0; i < feed.steps.length; i++) {
        const started = Date.now();
        await producer.send(feed.steps[i]!);
        await onStep?.(i);
        const left = paceMs - (Date.now() - started);
        if (left > 0) await sleep(left);
      }
    } finally {
      await producer.shutdown();
    }
  }

  async tearDown(): Promise<void> {
    for (const i of this.live()) {
      try {
        process.kill(-i.child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    await Promise.race([Promise.all(this.instances.map((i) => i.exited)), sleep(20_000)]);
    for (const i of this.live()) {
      try {
        process.kill(-i.child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await this.receiver.close();
    // CONVERGE_KEEP_TOPICS=1 leaves the topics and Redis keys for a post-mortem.
    if (process.env.CONVERGE_KEEP_TOPICS === '1') return;
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const mine = Object.values(this.topics).filter((t) => existing.has(t));
      if (mine.length > 0) await admin.deleteTopics({ topics: mine }).catch(() => undefined);
    } finally {
      await admin.disconnect();
    }
    const redis = new Redis(serviceUrls().redisUrl);
    try {
      for (const prefix of [this.redisPrefix, this.notifyPrefix]) {
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(...keys);
      }
    } finally {
      redis.disconnect();
    }
  }
}

export interface ReadinessBody {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

export async function readiness(i: Instance): Promise<ReadinessBody> {
  const r = await fetch(`http://127.0.0.1:${i.port}/readyz`);
  return (await r.json()) as ReadinessBody;
}

export async function role(i: Instance): Promise<string | undefined> {
  return (await readiness(i).catch(() => undefined))?.checks.correlator?.detail;
}

export async function apiGet<T>(i: Instance, path: string): Promise<T> {
  const r = await fetch(`http://127.0.0.1:${i.port}/api/v1${path}`, {
    headers: { authorization: `Bearer ${READ_TOKEN}` },
  });
  if (!r.ok) throw new Error(`GET ${path} on ${i.name}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

export async function apiPost<T>(i: Instance, path: string, body: unknown): Promise<T> {
  const r = await fetch(`http://127.0.0.1:${i.port}/api/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${WRITE_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`POST ${path} on ${i.name}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

/** The JSON log lines of an instance with this message. */
export function logLines(i: Instance, msg: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of readFileSync(i.logPath, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const j = JSON.parse(line) as Record<string, unknown>;
      if (j.msg === msg) out.push(j);
    } catch {
      // a partial line
    }
  }
  return out;
}

export function tail(path: string, lines = 40): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function until(
  what: string,
  ok: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A TCP port free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * The JD storm as the webhook saw it: one incident naming the app, opened once and resolved once
 * with 50 containers, 50 hosts and 5,000 neighbours, every delivery once. Returns the events.
 */
export function expectOneJdIncident(receiver: WebhookReceiver, fault: FaultTruth) {
  const events = receiver.accepted.map((d) => d.body.incident);
  const opened = events.filter((e) => e.event === 'opened');
  const resolved = events.filter((e) => e.event === 'resolved');
  expect(opened).toHaveLength(1);
  expect(resolved).toHaveLength(1);
  expect(events.filter((e) => e.event === 'updated').length).toBeLessThanOrEqual(1);
  expect(new Set(events.map((e) => e.id))).toEqual(new Set([opened[0]!.id]));
  expect(opened[0]!.rootCause).toEqual(fault.cause);
  expect(resolved[0]!.id).toBe(opened[0]!.id);
  expect(resolved[0]!.absorbed.byLevel).toMatchObject({ container: 50, host: 50, neighbour: 5000 });
  expect(new Set(receiver.accepted.map((d) => d.key)).size).toBe(receiver.accepted.length);
  return { events, opened: opened[0]!, resolved: resolved[0]! };
}
