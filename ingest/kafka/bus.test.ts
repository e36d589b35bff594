import { describe, expect, it } from 'vitest';
import { InProcessBus } from './bus.js';
import type { SourceBatch } from './source.js';

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('InProcessBus', () => {
  it('keeps a key in one partition, in order, with consecutive offsets', async () => {
    const bus = new InProcessBus({ partitions: 4 });
    const keys = ['h1', 'h2', 'h3', 'h4', 'h5'];
    for (let i = 0; i < 50; i++) {
      await bus.publish('m', [{ key: keys[i % keys.length]!, value: `v${i}`, timestamp: i }]);
    }
    const seen: SourceBatch[] = [];
    const source = bus.source('m');
    await source.run(async (b) => {
      seen.push(b);
    });
    await until(() => bus.backlog('m') === 0);
    await source.shutdown();
    const partitionOfKey = new Map<string, Set<number>>();
    const valuesOfKey = new Map<string, number[]>();
    for (const b of seen) {
      b.messages.forEach((m, i) => {
        if (i > 0) expect(Number(m.offset)).toBe(Number(b.messages[i - 1]!.offset) + 1);
        const k = m.key!.toString();
        if (!partitionOfKey.has(k)) partitionOfKey.set(k, new Set());
        partitionOfKey.get(k)!.add(m.partition);
        valuesOfKey.set(k, [...(valuesOfKey.get(k) ?? []), Number(m.value!.toString().slice(1))]);
      });
    }
    for (const k of keys) {
      expect(partitionOfKey.get(k)!.size).toBe(1);
      const v = valuesOfKey.get(k)!;
      expect(v).toEqual([...v].sort((a, b) => a - b));
      expect(v).toHaveLength(10);
    }
  });

  it('makes publishers wait while a topic holds maxBacklog unconsumed messages', async () => {
    const bus = new InProcessBus({ partitions: 1, maxBacklog: 10 });
    let published = 0;
    const publishing = (async () => {
      for (let i = 0; i < 25; i++) {
        await bus.publish('m', [{ value: String(i) }]);
        published++;
      }
    })();
    await new Promise((r) => setTimeout(r, 30));
    expect(published).toBe(10);
    expect(bus.backlog('m')).toBe(10);
    const got: string[] = [];
    const source = bus.source('m');
    await source.run(async (b) => {
      for (const m of b.messages) got.push(m.value!.toString());
    });
    await publishing;
    await until(() => got.length === 25);
    await source.shutdown();
    expect(got).toEqual(Array.from({ length: 25 }, (_, i) => String(i)));
  });

  it('delivers a rejected batch again and allows one consumer per topic', async () => {
    const bus = new InProcessBus({ partitions: 1, redeliveryDelayMs: 1 });
    await bus.publish('m', [{ value: 'a' }, { value: 'b' }]);
    let attempts = 0;
    const source = bus.source('m');
    expect(() => bus.source('m')).toThrow(/already has a consumer/);
    await source.run(async () => {
      if (++attempts < 3) throw new Error('not yet');
    });
    await until(() => bus.backlog('m') === 0);
    await source.shutdown();
    expect(attempts).toBe(3);
  });
});
