// The DeliveryQueue contract (notify/queue/contract.ts) against BullMQ on the real Redis: the
// same dedup, per-lane order, retry and dead-letter behaviour as the embedded queue.

import { randomBytes } from 'node:crypto';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { BullmqDeliveryQueue } from '../../notify/queue/bullmq.js';
import { delivery, deliveryQueueContract } from '../../notify/queue/contract.js';
import { serviceUrls } from './services.js';

const connections: Redis[] = [];
const prefixes: string[] = [];

function makeQueue(
  sinks: string[],
  prefix = `cnv-test-${randomBytes(4).toString('hex')}`,
  sinkSettings: Record<string, { concurrency?: number; rateLimit?: { max: number; perMs: number } }> = {},
) {
  const { redisUrl } = serviceUrls();
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  connections.push(redis);
  prefixes.push(prefix);
  return new BullmqDeliveryQueue({
    redisUrl,
    redis,
    prefix,
    sinks,
    sinkSettings,
    concurrency: 4,
    keepSentMs: 3_600_000,
    lockDurationMs: 5000,
    stalledIntervalMs: 5000,
    maxAttempts: 10,
  });
}

afterAll(async () => {
  const redis = connections[0];
  if (redis) {
    for (const prefix of prefixes) {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
    }
  }
  await Promise.all(connections.map((c) => c.quit()));
});

describe('BullmqDeliveryQueue on Redis: the DeliveryQueue contract', () => {
  deliveryQueueContract(async (sinks) => makeQueue(sinks), 1);
});

describe('BullmqDeliveryQueue on Redis: durability', () => {
  it('remembers delivered keys across queue instances (a restart) and resumes pending work', async () => {
    const prefix = `cnv-test-${randomBytes(4).toString('hex')}`;
    const first = makeQueue(['s1'], prefix);
    // Enqueued while no worker runs (the handler is never started): durable in Redis.
    const d1 = delivery('s1', 'inc-r', 1);
    const d2 = delivery('s1', 'inc-r', 2);
    expect(await first.enqueue(d1)).toBe('queued');
    expect(await first.enqueue(d2)).toBe('queued');
    expect((await first.counts()).pending).toBe(2);
    await first.shutdown();

    const second = makeQueue(['s1'], prefix);
    const seen: string[] = [];
    await second.start(async (d) => {
      seen.push(d.key);
      return { kind: 'delivered' };
    });
    await second.idle(20_000);
    expect(seen).toEqual([d1.key, d2.key]);
    await second.shutdown();

    const third = makeQueue(['s1'], prefix);
    expect(await third.enqueue(d1)).toBe('duplicate');
    expect(await third.enqueue(d2)).toBe('duplicate');
    expect(await third.enqueue(delivery('s1', 'inc-r', 0))).toBe('stale');
    await third.shutdown();
  });

  it('keeps a sink within its BullMQ rate limit', async () => {
    const q = makeQueue(['s1'], undefined, { s1: { rateLimit: { max: 5, perMs: 500 } } });
    const starts: number[] = [];
    await q.start(async () => {
      starts.push(Date.now());
      return { kind: 'delivered' };
    });
    for (let i = 0; i < 15; i++) await q.enqueue(delivery('s1', `inc-rl-${i}`, 1));
    await q.idle(20_000);
    await q.shutdown();
    expect(starts).toHaveLength(15);
    // 15 deliveries at 5 per 500 ms window span at least two window boundaries.
    expect(starts[14]! - starts[0]!).toBeGreaterThanOrEqual(900);
  });

  it('pauses the whole sink queue when a receiver answers 429 with Retry-After', async () => {
    const q = makeQueue(['s1']);
    const attempts: Array<{ key: string; at: number }> = [];
    let first = true;
    await q.start(async (d) => {
      attempts.push({ key: d.key, at: Date.now() });
      if (first) {
        first = false;
        return { kind: 'retry', delayMs: 800, reason: 'HTTP 429', pauseSinkMs: 800 };
      }
      return { kind: 'delivered' };
    });
    const a = delivery('s1', 'inc-429-a', 1);
    await q.enqueue(a);
    while (attempts.length === 0) await new Promise((r) => setTimeout(r, 10));
    const b = delivery('s1', 'inc-429-b', 1);
    await q.enqueue(b);
    await q.idle(20_000);
    await q.shutdown();
    const firstAt = attempts[0]!.at;
    const bAt = attempts.find((x) => x.key === b.key)!.at;
    // Another incident on the same sink waited for the pause too.
    expect(bAt - firstAt).toBeGreaterThanOrEqual(700);
    expect(attempts.map((x) => x.key).sort()).toEqual([a.key, a.key, b.key].sort());
  });

  it('reconciles after crashes between steps: a head without a job, a job BullMQ failed on its own', async () => {
    const prefix = `cnv-test-${randomBytes(4).toString('hex')}`;
    const { redisUrl } = serviceUrls();
    const producer = makeQueue(['s1'], prefix);
    const lost = delivery('s1', 'inc-lost', 1);
    const failed1 = delivery('s1', 'inc-failed', 1);
    const failed2 = delivery('s1', 'inc-failed', 2);
    for (const d of [lost, failed1, failed2]) expect(await producer.enqueue(d)).toBe('queued');
    await producer.shutdown();

    // The lane head of inc-lost loses its job (as if the process died after the Redis step).
    const raw = new Queue('sink-s1', { connection: { url: redisUrl }, prefix });
    await raw.remove(lost.key);
    expect(await raw.getJob(lost.key)).toBeUndefined();
    // Another worker makes BullMQ fail inc-failed v1 outside the retry policy.
    const rogue = new Worker(
      'sink-s1',
      async (job) => {
        if (job.id === failed1.key) throw new UnrecoverableError('worker crashed hard');
        await new Promise((r) => setTimeout(r, 60_000));
      },
      { connection: { url: redisUrl, maxRetriesPerRequest: null }, prefix, autorun: true, concurrency: 1 },
    );
    const deadline = Date.now() + 10_000;
    while ((await raw.getJob(failed1.key).then((j) => j?.getState())) !== 'failed') {
      if (Date.now() > deadline) throw new Error('rogue worker did not fail the job');
      await new Promise((r) => setTimeout(r, 50));
    }
    await rogue.close(true);
    await raw.close();

    const seen: string[] = [];
    const restarted = makeQueue(['s1'], prefix);
    await restarted.start(async (d) => {
      seen.push(d.key);
      return { kind: 'delivered' };
    });
    await restarted.idle(20_000);
    expect(seen.sort()).toEqual([failed2.key, lost.key].sort());
    const dead = await restarted.deadLetters();
    expect(dead.map((d) => [d.id, d.reason])).toEqual([[failed1.key, 'queue gave up: worker crashed hard']]);
    await restarted.shutdown();
  });
});
