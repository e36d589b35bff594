import { afterEach, expect, it } from 'vitest';
import { incidentLabels } from '../labels.js';
import { incidentEvent } from '../testing.js';
import type { AttemptOutcome, Delivery, DeliveryHandler, DeliveryQueue } from '../types.js';
import { deliveryKey } from './keys.js';

/**
 * The DeliveryQueue contract, run against the in-process queue (unit tests) and the BullMQ
 * queue on a real Redis (test/integration/notify-bullmq-queue.test.ts): the embedded stand-in
 * must keep the same dedup, order, retry and dead-letter semantics as the real thing.
 */
export type QueueFactory = (sinks: string[]) => Promise<DeliveryQueue>;

export function delivery(sink: string, incidentId: string, version: number): Delivery {
  const event = incidentEvent({ id: incidentId, version });
  return {
    key: deliveryKey(sink, incidentId, version),
    sink,
    incidentId,
    version,
    event,
    labels: incidentLabels(event),
    queuedAt: Date.now(),
  };
}

interface Recorder {
  handler: DeliveryHandler;
  /** Every attempt: key and attempt number, in call order. */
  attempts: Array<{ key: string; attempt: number; at: number }>;
  delivered: string[];
  /** Outcomes to return for a key, in order; then 'delivered'. */
  script: Map<string, AttemptOutcome[]>;
}

function recorder(holdMs = 0): Recorder {
  const r: Recorder = {
    attempts: [],
    delivered: [],
    script: new Map(),
    handler: async (d, attempt) => {
      r.attempts.push({ key: d.key, attempt, at: Date.now() });
      if (holdMs) await new Promise((res) => setTimeout(res, holdMs));
      const next = r.script.get(d.key)?.shift() ?? { kind: 'delivered' };
      if (next.kind === 'delivered') r.delivered.push(d.key);
      return next;
    },
  };
  return r;
}

const retry = (delayMs: number, reason = 'HTTP 500'): AttemptOutcome => ({ kind: 'retry', delayMs, reason });

export function deliveryQueueContract(make: QueueFactory, scale = 1): void {
  const open: DeliveryQueue[] = [];
  const start = async (sinks: string[], r: Recorder) => {
    const q = await make(sinks);
    open.push(q);
    await q.start(r.handler);
    return q;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((q) => q.shutdown()));
  });
  const idleMs = 20_000 * scale;

  it('delivers a key once however often it is enqueued, before and after delivery', async () => {
    const r = recorder(20);
    const q = await start(['s1'], r);
    const d = delivery('s1', 'inc-a', 1);
    const outcomes = await Promise.all([q.enqueue(d), q.enqueue(d), q.enqueue(d)]);
    expect(outcomes.filter((o) => o === 'queued')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(2);
    await q.idle(idleMs);
    expect(await q.enqueue(d)).toBe('duplicate');
    await q.idle(idleMs);
    expect(r.delivered).toEqual([d.key]);
    expect(r.attempts).toHaveLength(1);
    expect((await q.counts()).delivered).toBe(1);
  });

  it('keeps version order per lane: a later version waits while an earlier one retries', async () => {
    const r = recorder();
    const q = await start(['s1'], r);
    const [v1, v2, v3] = [1, 2, 3].map((v) => delivery('s1', 'inc-b', v)) as [Delivery, Delivery, Delivery];
    r.script.set(v1.key, [retry(150 * scale), retry(150 * scale)]);
    expect(await q.enqueue(v1)).toBe('queued');
    expect(await q.enqueue(v2)).toBe('queued');
    expect(await q.enqueue(v3)).toBe('queued');
    await q.idle(idleMs);
    expect(r.delivered).toEqual([v1.key, v2.key, v3.key]);
    expect(r.attempts.map((a) => [a.key, a.attempt])).toEqual([
      [v1.key, 1],
      [v1.key, 2],
      [v1.key, 3],
      [v2.key, 1],
      [v3.key, 1],
    ]);
    // The retry delays were honoured: the third attempt came at least two delays after the first.
    expect(r.attempts[2]!.at - r.attempts[0]!.at).toBeGreaterThanOrEqual(280 * scale);
    expect(await q.enqueue(v2)).toBe('duplicate');
    const v0 = delivery('s1', 'inc-b', 0);
    expect(await q.enqueue(v0)).toBe('stale');
  });

  it('does not hold other incidents or other sinks behind a retrying lane', async () => {
    const r = recorder();
    const q = await start(['s1', 's2'], r);
    const slow = delivery('s1', 'inc-slow', 1);
    r.script.set(slow.key, [retry(600 * scale)]);
    await q.enqueue(slow);
    const others = [delivery('s1', 'inc-x', 1), delivery('s2', 'inc-slow', 1), delivery('s2', 'inc-y', 1)];
    for (const d of others) await q.enqueue(d);
    await q.idle(idleMs);
    // All three others were delivered before the retried one came back.
    expect(r.delivered.slice(0, 3).sort()).toEqual(others.map((d) => d.key).sort());
    expect(r.delivered[3]).toBe(slow.key);
  });

  it('dead-letters, moves the lane on, refuses a superseded replay unless forced', async () => {
    const r = recorder();
    const q = await start(['s1'], r);
    const v1 = delivery('s1', 'inc-c', 1);
    const v2 = delivery('s1', 'inc-c', 2);
    r.script.set(v1.key, [retry(50 * scale), { kind: 'dead', reason: 'gave up after 2 attempts: HTTP 500' }]);
    await q.enqueue(v1);
    await q.enqueue(v2);
    await q.idle(idleMs);
    expect(r.delivered).toEqual([v2.key]);
    const dead = await q.deadLetters();
    expect(dead.map((d) => [d.id, d.attempts, d.reason])).toEqual([
      [v1.key, 2, 'gave up after 2 attempts: HTTP 500'],
    ]);
    expect(dead[0]!.delivery.event.id).toBe('inc-c');
    expect(await q.enqueue(v1)).toBe('dead-lettered');
    expect(await q.retryDeadLetter(v1.key)).toEqual({
      requeued: false,
      reason: 'superseded: version 2 was delivered to s1 since',
    });
    expect(await q.retryDeadLetter('s1|nope|v1')).toMatchObject({ requeued: false });
    expect(await q.retryDeadLetter(v1.key, { force: true })).toEqual({ requeued: true });
    await q.idle(idleMs);
    expect(r.delivered).toEqual([v2.key, v1.key]);
    expect(await q.deadLetters()).toEqual([]);
    expect((await q.counts()).deadLettered).toBe(1);
  });

  it('replays a dead letter that nothing superseded', async () => {
    const r = recorder();
    const q = await start(['s1'], r);
    const v1 = delivery('s1', 'inc-d', 1);
    r.script.set(v1.key, [{ kind: 'dead', reason: 'not recoverable: HTTP 400' }]);
    await q.enqueue(v1);
    await q.idle(idleMs);
    expect(r.delivered).toEqual([]);
    expect(await q.retryDeadLetter(v1.key)).toEqual({ requeued: true });
    await q.idle(idleMs);
    expect(r.delivered).toEqual([v1.key]);
    expect(r.attempts.map((a) => a.attempt)).toEqual([1, 1]);
  });

  it('counts a muted delivery as done: the lane moves on and the key is not sent later', async () => {
    const r = recorder();
    const q = await start(['s1'], r);
    const v1 = delivery('s1', 'inc-e', 1);
    const v2 = delivery('s1', 'inc-e', 2);
    r.script.set(v1.key, [{ kind: 'muted', silenceId: 'sil-1' }]);
    await q.enqueue(v1);
    await q.enqueue(v2);
    await q.idle(idleMs);
    expect(r.delivered).toEqual([v2.key]);
    expect(await q.enqueue(v1)).toBe('duplicate');
    expect((await q.counts()).muted).toBe(1);
  });

  it('lets a late lower version go first while a higher one waits to retry, which keeps its delay', async () => {
    const r = recorder();
    const q = await start(['s1'], r);
    const v1 = delivery('s1', 'inc-f', 1);
    const v2 = delivery('s1', 'inc-f', 2);
    r.script.set(v2.key, [retry(1500 * scale)]);
    await q.enqueue(v2);
    while (r.attempts.length === 0) await new Promise((res) => setTimeout(res, 10));
    await new Promise((res) => setTimeout(res, 100));
    const t0 = Date.now();
    expect(await q.enqueue(v1)).toBe('queued');
    await q.idle(idleMs);
    expect(r.attempts.map((a) => a.key)).toEqual([v2.key, v1.key, v2.key]);
    expect(r.attempts[1]!.at - t0).toBeLessThan(1000 * scale);
    expect(r.attempts[2]!.at - r.attempts[0]!.at).toBeGreaterThanOrEqual(1400 * scale);
  });

  it('delivers in version order, promptly, what was queued out of order before workers started', async () => {
    const r = recorder();
    const q = await make(['s1']);
    open.push(q);
    const versions = [3, 1, 2];
    for (const v of versions) expect(await q.enqueue(delivery('s1', 'inc-g', v))).toBe('queued');
    const t0 = Date.now();
    await q.start(r.handler);
    await q.idle(idleMs);
    expect(r.delivered).toEqual([1, 2, 3].map((v) => delivery('s1', 'inc-g', v).key));
    expect(Date.now() - t0).toBeLessThan(3000 * scale);
  });
}
