// Killing the notifier process (SIGKILL, mid-delivery: requests in flight at the receiver) and
// starting it again loses no notification and acknowledges none twice. The notifier runs as a
// child process (`npx tsx notify/run.ts`); this test process only produces (routes and queues
// into Redis) and counts what the real HTTP receiver acknowledged.
//
// The one window no HTTP delivery can close (the receiver answered 200, the process died
// before recording it in Redis) is kept out of this test on purpose: the kill comes while the
// receiver holds requests unanswered and after 500 ms without an acknowledgement. Those held
// requests are delivered again after the restart and acknowledged once.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNotifyConfig } from '../../notify/config.js';
import { createNotifier, type Notifier } from '../../notify/notifier.js';
import { incidentLifecycle, WebhookReceiver } from '../../notify/testing.js';
import { serviceUrls } from './services.js';

const SECRET = 'restart-test-secret';
const prefix = `cnv-restart-${randomBytes(4).toString('hex')}`;
const receiver = new WebhookReceiver(SECRET);
const children: ChildProcess[] = [];
let producer: Notifier | undefined;

const until = async (what: string, ok: () => boolean, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

function startNotifierProcess(configPath: string): Promise<ChildProcess> {
  // Its own process group, so SIGKILL reaches npx, tsx and the node process running the notifier.
  const child = spawn(
    'npx',
    ['tsx', 'notify/run.ts', '--config', configPath, '--redis', serviceUrls().redisUrl],
    {
      cwd: process.cwd(),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CONVERGE_LOG_LEVEL: 'warn' },
    },
  );
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`notifier process not ready in 30 s: ${stderr}`)),
      30_000,
    );
    child.stdout!.on('data', (c: Buffer) => {
      if (c.toString().includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (code) =>
      reject(new Error(`notifier process exited (${code}) before ready: ${stderr}`)),
    );
  });
}

const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode });
    else child.on('exit', (code, signal) => resolve({ code, signal }));
  });

afterAll(async () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  await producer?.shutdown();
  await receiver.close();
  const redis = new Redis(serviceUrls().redisUrl);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

describe('notifier process killed mid-delivery', () => {
  it('loses nothing and acknowledges nothing twice after SIGKILL and restart', async () => {
    await receiver.start();
    let holding = false;
    receiver.answer = () => (holding ? 'hold' : 'ok');
    receiver.okDelayMs = 100;
    const raw = {
      externalUrl: 'http://converge.test',
      queue: { prefix, concurrency: 3, lockDuration: '3s', stalledInterval: '2s' },
      retry: { attempts: 20, initialDelay: '300ms', maxDelay: '2s' },
      sinks: [{ name: 'hook', type: 'webhook', url: receiver.url, secret: SECRET, timeout: '20s' }],
    };
    const configPath = join(tmpdir(), `${prefix}.json`);
    writeFileSync(configPath, JSON.stringify({ notify: raw }));
    producer = createNotifier({
      config: parseNotifyConfig(raw),
      redisUrl: serviceUrls().redisUrl,
      deliver: false,
    });
    await producer.start();

    const first = await startNotifierProcess(configPath);
    const lifecycles = Array.from({ length: 10 }, (_, i) => incidentLifecycle(`inc-restart-${i}`, 3));
    for (let v = 0; v < 3; v++) for (const events of lifecycles) await producer.notify(events[v]!);

    await until('8 acknowledged deliveries', () => receiver.accepted.length >= 8);
    holding = true;
    await until(
      'requests in flight and 500 ms without an acknowledgement',
      () => receiver.heldCount >= 2 && Date.now() - receiver.lastAcceptedAt() >= 500,
    );
    const inFlight = receiver.heldCount;
    const acceptedBeforeKill = receiver.accepted.length;
    process.kill(-first.pid!, 'SIGKILL');
    expect(await exited(first)).toEqual({ code: null, signal: 'SIGKILL' });
    await until('the receiver to see the dead client hang up', () => receiver.heldConnected === 0, 5000);
    receiver.releaseHeld();
    expect(receiver.dropped).toBe(inFlight);
    expect(acceptedBeforeKill).toBeLessThan(30);
    holding = false;

    const second = await startNotifierProcess(configPath);
    await producer.idle(60_000);

    const keys = receiver.accepted.map((a) => a.key);
    expect(new Set(keys).size).toBe(30);
    expect(keys).toHaveLength(30);
    expect(receiver.accepted.every((a) => a.signatureOk)).toBe(true);
    for (let i = 0; i < 10; i++) {
      const versions = receiver.accepted
        .filter((a) => a.body.incident.id === `inc-restart-${i}`)
        .map((a) => a.body.incident.version);
      expect(versions).toEqual([1, 2, 3]);
    }
    // The requests in flight at the kill reached the wire twice but were acknowledged once.
    expect(receiver.arrivals.length).toBe(30 + inFlight);
    expect(await producer.deadLetters()).toEqual([]);

    process.kill(-second.pid!, 'SIGTERM');
    const stop = await exited(second);
    expect(stop.code === 0 || stop.signal === 'SIGTERM').toBe(true);
    console.log(
      `[notify restart] ${acceptedBeforeKill} acknowledged before the kill, ${inFlight} in flight at the kill, 30 acknowledged in all`,
    );
  });
});
