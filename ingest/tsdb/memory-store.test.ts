import { describe, expect, it } from 'vitest';
import type { Point } from '../../core/types.js';
import { MemorySeriesStore } from './memory-store.js';

function pt(measurement: string, tags: Record<string, string>, fields: Point['fields'], time: number): Point {
  return { measurement, tags, fields, types: 'f'.repeat(Object.keys(fields).length), time, nanos: 0 };
}

describe('MemorySeriesStore', () => {
  it('returns the samples of one field per matching series within the time range', async () => {
    const store = new MemorySeriesStore();
    const points: Point[] = [];
    for (let t = 0; t < 10; t++) {
      points.push(pt('cpu', { host: 'h1', cpu: 'total' }, { usage_idle: 90 - t, usage_user: t }, 1000 * t));
      points.push(pt('cpu', { host: 'h2', cpu: 'total' }, { usage_idle: 50 + t }, 1000 * t));
    }
    await store.write(points);

    const h1 = store.query('cpu', { host: 'h1' }, 'usage_idle', 2000, 4000);
    expect(h1).toHaveLength(1);
    expect(h1[0]!.tags).toEqual({ host: 'h1', cpu: 'total' });
    expect(h1[0]!.samples).toEqual([
      { time: 2000, value: 88 },
      { time: 3000, value: 87 },
      { time: 4000, value: 86 },
    ]);

    const all = store.query('cpu', undefined, 'usage_idle', 9000, 9000);
    expect(all.map((r) => r.samples[0]!.value).sort()).toEqual([59, 81]);
    expect(store.query('cpu', undefined, 'usage_user', 0, 1e12)).toHaveLength(1);
    expect(store.query('mem', undefined, 'used', 0, 1e12)).toEqual([]);
    expect(store.stats()).toEqual({ series: 2, points: 20, evictedSeries: 0 });
  });

  it('treats the same tag set in another order as the same series', async () => {
    const store = new MemorySeriesStore();
    await store.write([
      pt('mem', { host: 'h1', dc: 'a' }, { used: 1 }, 1000),
      pt('mem', { dc: 'a', host: 'h1' }, { used: 2 }, 2000),
    ]);
    expect(store.stats().series).toBe(1);
    expect(store.query('mem', { dc: 'a' }, 'used', 0, 5000)[0]!.samples.map((s) => s.value)).toEqual([1, 2]);
  });

  it('keeps only the most recent points per series (ring)', async () => {
    const store = new MemorySeriesStore({ pointsPerSeries: 5 });
    const points: Point[] = [];
    for (let t = 0; t < 12; t++) points.push(pt('system', { host: 'h1' }, { load1: t }, t * 1000));
    await store.write(points);
    const samples = store.query('system', {}, 'load1', 0, 1e9)[0]!.samples;
    expect(samples.map((s) => s.time)).toEqual([7000, 8000, 9000, 10000, 11000]);
    expect(store.stats().points).toBe(12);
  });

  it('evicts the least recently written series beyond maxSeries', async () => {
    const store = new MemorySeriesStore({ maxSeries: 3 });
    await store.write([
      pt('cpu', { host: 'a' }, { v: 1 }, 1000),
      pt('cpu', { host: 'b' }, { v: 1 }, 1000),
      pt('cpu', { host: 'c' }, { v: 1 }, 1000),
      pt('cpu', { host: 'a' }, { v: 2 }, 2000), // a is now the most recent
      pt('cpu', { host: 'd' }, { v: 1 }, 1000), // evicts b
    ]);
    const hosts = store
      .query('cpu', undefined, 'v', 0, 1e9)
      .map((r) => r.tags.host)
      .sort();
    expect(hosts).toEqual(['a', 'c', 'd']);
    expect(store.stats()).toEqual({ series: 3, points: 5, evictedSeries: 1 });
  });

  it('sorts late samples and keeps one sample per timestamp when a batch is replayed', async () => {
    const store = new MemorySeriesStore();
    const batch = [3000, 1000, 2000].map((t) => pt('net', { host: 'h1' }, { bytes: t / 1000 }, t));
    await store.write(batch);
    await store.write(batch); // at-least-once redelivery
    await store.write([pt('net', { host: 'h1' }, { bytes: 20 }, 2000)]);
    const samples = store.query('net', undefined, 'bytes', 0, 1e9)[0]!.samples;
    expect(samples).toEqual([
      { time: 1000, value: 1 },
      { time: 2000, value: 20 },
      { time: 3000, value: 3 },
    ]);
  });

  it('keeps strings, booleans and bigints next to numbers in one field', async () => {
    const store = new MemorySeriesStore({ pointsPerSeries: 4 });
    await store.write([
      pt('m', {}, { f: 1.5 }, 1000),
      pt('m', {}, { f: 'up' }, 2000),
      pt('m', {}, { f: true }, 3000),
      pt('m', {}, { f: 2n ** 64n }, 4000),
    ]);
    expect(store.query('m', undefined, 'f', 0, 1e9)[0]!.samples.map((s) => s.value)).toEqual([
      1.5,
      'up',
      true,
      2n ** 64n,
    ]);
  });

  it('rejects writes after shutdown and bad options', async () => {
    const store = new MemorySeriesStore();
    await store.shutdown();
    await expect(store.write([pt('m', {}, { v: 1 }, 1)])).rejects.toThrow(/after shutdown/);
    expect(() => new MemorySeriesStore({ pointsPerSeries: 0 })).toThrow(/pointsPerSeries/);
    expect(() => new MemorySeriesStore({ maxSeries: 1.5 })).toThrow(/maxSeries/);
  });
});
