import { describe, expect, it } from 'vitest';
import type { DeliveryHandler } from '../types.js';
import { delivery, deliveryQueueContract } from './contract.js';
import { MemoryDeliveryQueue } from './memory.js';

describe('MemoryDeliveryQueue: the DeliveryQueue contract', () => {
  deliveryQueueContract(async () => new MemoryDeliveryQueue({ concurrency: 4 }));
});

describe('MemoryDeliveryQueue: per-sink limits', () => {
  it('keeps a sink within its rate limit across incidents', async () => {
    const q = new MemoryDeliveryQueue({ sinks: { s1: { rateLimit: { max: 5, perMs: 200 } } } });
    const starts: number[] = [];
    await q.start(async () => {
      starts.push(Date.now());
      return { kind: 'delivered' };
    });
    for (let i = 0; i < 15; i++) await q.enqueue(delivery('s1', `inc-${i}`, 1));
    await q.idle(10_000);
    await q.shutdown();
    expect(starts).toHaveLength(15);
    // In any 200 ms window there are at most 5 starts (3 windows' worth took at least 400 ms).
    for (let i = 5; i < starts.length; i++) expect(starts[i]! - starts[i - 5]!).toBeGreaterThanOrEqual(195);
    expect(starts[14]! - starts[0]!).toBeGreaterThanOrEqual(390);
  });

  it('runs at most `concurrency` attempts of a sink at once', async () => {
    const q = new MemoryDeliveryQueue({ sinks: { s1: { concurrency: 3 } } });
    let inFlight = 0;
    let most = 0;
    const handler: DeliveryHandler = async () => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 20));
      inFlight--;
      return { kind: 'delivered' };
    };
    await q.start(handler);
    for (let i = 0; i < 12; i++) await q.enqueue(delivery('s1', `inc-${i}`, 1));
    await q.idle(10_000);
    await q.shutdown();
    expect(most).toBe(3);
  });

  it('pauses the whole sink when a receiver asks for patience (Retry-After)', async () => {
    const q = new MemoryDeliveryQueue({ concurrency: 1 });
    const attempts: Array<{ key: string; at: number }> = [];
    let first = true;
    await q.start(async (d) => {
      attempts.push({ key: d.key, at: Date.now() });
      if (first) {
        first = false;
        return { kind: 'retry', delayMs: 300, reason: 'HTTP 429', pauseSinkMs: 300 };
      }
      return { kind: 'delivered' };
    });
    const t0 = Date.now();
    await q.enqueue(delivery('s1', 'inc-a', 1));
    await q.enqueue(delivery('s1', 'inc-b', 1));
    await q.idle(10_000);
    await q.shutdown();
    expect(attempts.map((a) => a.key)).toEqual(['s1|inc-a|v1', 's1|inc-b|v1', 's1|inc-a|v1']);
    // inc-b, another incident, also waited for the pause.
    expect(attempts[1]!.at - t0).toBeGreaterThanOrEqual(290);
  });

  it('rejects work after shutdown', async () => {
    const q = new MemoryDeliveryQueue();
    await q.start(async () => ({ kind: 'delivered' }));
    await q.shutdown();
    await q.shutdown();
    await expect(q.enqueue(delivery('s1', 'inc-a', 1))).rejects.toThrow(/shut down/);
  });
});
