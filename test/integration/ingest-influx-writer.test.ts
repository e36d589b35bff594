import { describe, expect, it } from 'vitest';
import type { Point } from '../../core/types.js';
import { InfluxPointSink } from '../../ingest/tsdb/influx-writer.js';
import { isManaged, serviceUrls, startService, stopService, tsdbExport, tsdbFlush } from './services.js';

const run = Date.now().toString(36);

function points(measurement: string, hosts: number, steps: number, start = Date.UTC(2024, 0, 2)): Point[] {
  const out: Point[] = [];
  for (let t = 0; t < steps; t++) {
    for (let h = 0; h < hosts; h++) {
      out.push({
        measurement,
        tags: { host: `h${h}`, run },
        fields: { used: t + h / 1000, count: t },
        types: 'fi',
        time: start + t * 1000,
        nanos: 0,
      });
    }
  }
  return out;
}

/** Distinct (series, timestamp) samples of one metric name in victoria-metrics. */
async function samples(metric: string): Promise<number> {
  await tsdbFlush();
  const series = await tsdbExport(`{__name__="${metric}",run="${run}"}`);
  let n = 0;
  for (const s of series) n += new Set(s.timestamps).size;
  return n;
}

async function eventually(
  expected: number,
  read: () => Promise<number>,
  timeoutMs = 30_000,
): Promise<number> {
  const t0 = Date.now();
  let got = await read();
  while (got !== expected && Date.now() - t0 < timeoutMs) {
    await new Promise((r) => setTimeout(r, 300));
    got = await read();
  }
  return got;
}

describe('InfluxPointSink against victoria-metrics', () => {
  it('writes 60,000 points in gzipped batches; every one is stored', async () => {
    const sink = new InfluxPointSink({
      url: serviceUrls().tsdbUrl,
      org: 'converge',
      bucket: `b-${run}`,
      batchSize: 5000,
    });
    const all = points('iw_batch', 100, 600);
    await Promise.all([sink.write(all.slice(0, 30_000)), sink.write(all.slice(30_000))]);
    expect(sink.stats()).toMatchObject({ writtenPoints: 60_000, bufferedPoints: 0, failedRequests: 0 });
    expect(sink.stats().requests).toBeGreaterThanOrEqual(12);
    expect(await eventually(60_000, () => samples('iw_batch_used'))).toBe(60_000);
    expect(await eventually(60_000, () => samples('iw_batch_count'))).toBe(60_000);
    await sink.shutdown();
  });

  it('keeps retrying while the TSDB is down, holds the writes, and delivers them after it is back', async () => {
    expect(isManaged('tsdb'), 'this test stops the TSDB: let the harness start it (unset TSDB_URL)').toBe(
      true,
    );
    const sink = new InfluxPointSink({
      url: serviceUrls().tsdbUrl,
      batchSize: 1000,
      maxBufferedPoints: 4000,
      minRetryDelayMs: 50,
      maxRetryDelayMs: 500,
    });
    const all = points('iw_outage', 20, 500); // 10,000 points
    await stopService('tsdb');
    let acked = 0;
    const writes = [];
    for (let i = 0; i < all.length; i += 500)
      writes.push(sink.write(all.slice(i, i + 500)).then(() => acked++));
    await new Promise((r) => setTimeout(r, 3000));
    expect(acked).toBe(0);
    expect(sink.stats().failedRequests).toBeGreaterThan(4);
    expect(sink.stats().bufferedPoints).toBeLessThanOrEqual(4000);
    await startService('tsdb');
    await Promise.all(writes);
    expect(acked).toBe(20);
    expect(sink.stats().peakBufferedPoints).toBeLessThanOrEqual(4000);
    expect(await eventually(10_000, () => samples('iw_outage_used'))).toBe(10_000);
    await sink.shutdown();
  });
});
