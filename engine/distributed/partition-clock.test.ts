import { describe, expect, it } from 'vitest';
import type { Point } from '../../core/types.js';
import { MetricsOwnership } from './ownership.js';
import { PartitionClock } from './partition-clock.js';

const point = (host: string, time: number): Point => ({
  measurement: 'cpu',
  tags: { host },
  fields: { usage_idle: 50 },
  types: 'f',
  time,
  nanos: 0,
});

describe('PartitionClock', () => {
  it('publishes the least newest time of the owned partitions with data, minus lateness, never back', () => {
    const ownership = new MetricsOwnership('metrics', 4);
    const hosts = new Map<number, string>();
    for (let i = 0; hosts.size < 4; i++)
      if (!hosts.has(ownership.partitionOfKey(`h${i}`)))
        hosts.set(ownership.partitionOfKey(`h${i}`), `h${i}`);
    let now = 0;
    let fallback = Number.NEGATIVE_INFINITY;
    const clock = new PartitionClock(ownership, {
      hostTags: ['host'],
      latenessMs: 5000,
      idleAfterMs: 10_000,
      fallback: () => fallback,
      now: () => now,
    });
    ownership.setAssignment([0, 1]);
    expect(clock.watermark()).toBe(Number.NEGATIVE_INFINITY);
    fallback = 42;
    expect(clock.watermark()).toBe(42); // no metrics yet: the pipeline's own clock (POST /alerts)
    clock.batch(0);
    clock.batch(1);
    clock.observe([point(hosts.get(0)!, 100_000), point(hosts.get(1)!, 60_000), point(hosts.get(2)!, 1)]);
    expect(clock.watermark()).toBe(55_000);
    // Partition 2 arrives minutes behind (a dead instance's backlog): the clock waits for it.
    ownership.setAssignment([0, 1, 2]);
    clock.batch(2);
    clock.observe([point(hosts.get(1)!, 120_000), point(hosts.get(2)!, 30_000)]);
    expect(clock.watermark()).toBe(55_000);
    clock.observe([point(hosts.get(2)!, 90_000)]);
    expect(clock.watermark()).toBe(85_000);
    // Partition 2 goes quiet for longer than idleAfter with messages left to read (the TSDB is
    // slow, consumption waits): it still holds the clock.
    now = 20_000;
    clock.batch(0, '99');
    clock.batch(1, '99');
    clock.batch(2, '49');
    clock.observe([point(hosts.get(0)!, 100_000), point(hosts.get(1)!, 130_000)]);
    now = 40_000;
    clock.batch(0, '199');
    clock.batch(1, '199');
    clock.setOffsets(
      new Map([
        [0, 200n],
        [1, 200n],
        [2, 80n],
      ]),
      new Map(),
    );
    expect(clock.laggingPartitions()).toEqual([2]);
    expect(clock.watermark()).toBe(85_000);
    // Once everything in it has been read, a quiet partition is idle: the others decide.
    clock.setOffsets(new Map([[2, 50n]]), new Map());
    expect(clock.laggingPartitions()).toEqual([]);
    expect(clock.watermark()).toBe(95_000);
  });
});
