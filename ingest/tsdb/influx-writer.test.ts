import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { Point } from '../../core/types.js';
import type { RefusedLine } from '../sink.js';
import { InfluxPointSink, SinkShutdownError } from './influx-writer.js';

/**
 * The retry, bisect and bound logic against a local HTTP endpoint that answers like an
 * InfluxDB v2 write API would (the real victoria-metrics is exercised in
 * test/integration/ingest-influx-writer.test.ts).
 */
interface Received {
  path: string;
  lines: string[];
  gzip: boolean;
}

type Answer = (req: Received) => { status: number; body?: string; headers?: Record<string, string> };

let server: Server | undefined;

async function endpoint(answer: Answer): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      const gzip = req.headers['content-encoding'] === 'gzip';
      if (gzip) body = gunzipSync(body);
      const r: Received = { path: req.url ?? '', lines: body.toString().split('\n'), gzip };
      const a = answer(r);
      if (a.status === 204) received.push(r);
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
      res.end(a.body ?? (a.status === 204 ? '' : JSON.stringify({ code: 'x', message: 'nope' })));
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

function points(n: number, from = 0, measurement = 'cpu'): Point[] {
  return Array.from({ length: n }, (_, i) => ({
    measurement,
    tags: { host: `h${(from + i) % 7}` },
    fields: { v: from + i },
    types: 'f',
    time: 1704067200000 + (from + i) * 1000,
    nanos: 0,
  }));
}

describe('InfluxPointSink', () => {
  it('batches by size, gzips, and addresses org/bucket/precision', async () => {
    const { url, received } = await endpoint(() => ({ status: 204 }));
    const sink = new InfluxPointSink({ url, org: 'o1', bucket: 'b1', batchSize: 100, gzipThreshold: 10 });
    await Promise.all([sink.write(points(250)), sink.write(points(50, 250))]);
    expect(received.map((r) => r.lines.length).reduce((a, b) => a + b)).toBe(300);
    expect(Math.max(...received.map((r) => r.lines.length))).toBeLessThanOrEqual(200);
    expect(received.length).toBeGreaterThanOrEqual(3);
    expect(received[0]!.path).toBe('/api/v2/write?org=o1&bucket=b1&precision=ns');
    expect(received.every((r) => r.gzip)).toBe(true);
    expect(received[0]!.lines[0]).toBe('cpu,host=h0 v=0 1704067200000000000');
    expect(sink.stats()).toMatchObject({ writtenPoints: 300, bufferedPoints: 0 });
    await sink.shutdown();
  });

  it('sends a partial batch after flushIntervalMs', async () => {
    const { url, received } = await endpoint(() => ({ status: 204 }));
    const sink = new InfluxPointSink({ url, batchSize: 1000, flushIntervalMs: 150, precision: 's' });
    const t0 = Date.now();
    const a = sink.write(points(3));
    const b = sink.write(points(2, 3));
    await Promise.all([a, b]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(received).toHaveLength(1);
    expect(received[0]!.lines).toHaveLength(5);
    expect(received[0]!.lines[0]).toBe('cpu,host=h0 v=0 1704067200');
    await sink.shutdown();
  });

  it('retries 503s and connection failures with backoff until acknowledged', async () => {
    let calls = 0;
    const { url, received } = await endpoint(() => (++calls <= 4 ? { status: 503 } : { status: 204 }));
    const sink = new InfluxPointSink({ url, minRetryDelayMs: 10, maxRetryDelayMs: 40 });
    await sink.write(points(10));
    expect(calls).toBe(5);
    expect(received).toHaveLength(1);
    expect(sink.stats()).toMatchObject({ writtenPoints: 10, failedRequests: 4 });
    await sink.shutdown();

    // Nothing listening: ECONNREFUSED is retried like a 503.
    const dead = new InfluxPointSink({
      url: 'http://127.0.0.1:1',
      minRetryDelayMs: 5,
      maxRetryDelayMs: 10,
      shutdownTimeoutMs: 100,
    });
    const w = dead.write(points(1));
    await new Promise((r) => setTimeout(r, 150));
    expect(dead.stats().failedRequests).toBeGreaterThan(3);
    await dead.shutdown();
    await expect(w).rejects.toBeInstanceOf(SinkShutdownError);
  });

  it('bisects a refused batch down to the bad line, hands it to its write with the reason, delivers the rest', async () => {
    const { url, received } = await endpoint((r) =>
      r.lines.some((l) => l.startsWith('poison'))
        ? {
            status: 400,
            body: 'remoteAddr: "127.0.0.1:5"; requestURI: /api/v2/write; cannot parse \u001b[31mpoison',
            headers: { 'content-type': 'text/plain' },
          }
        : { status: 204 },
    );
    const sink = new InfluxPointSink({ url });
    const refused: RefusedLine[] = [];
    const other: RefusedLine[] = [];
    const a = sink.write([...points(20), ...points(1, 20, 'poison'), ...points(20, 21)], (r) =>
      refused.push(r),
    );
    const b = sink.write([...points(3, 100), ...points(2, 103, 'poison')], (r) => other.push(r));
    await Promise.all([a, b]);
    expect(refused).toEqual([
      {
        index: 20,
        line: 'poison,host=h6 v=20 1704067220000000000',
        reason: 'HTTP 400: cannot parse \\u001b[31mpoison',
      },
    ]);
    expect(other.map((r) => r.index)).toEqual([3, 4]);
    expect(received.flatMap((r) => r.lines)).toHaveLength(43);
    expect(sink.stats().rejectedLines).toBe(3);
    await sink.shutdown();
  });

  it('numbers refused lines of a raw body by their line in it, across the pieces of a request', async () => {
    const { url } = await endpoint((r) =>
      r.lines.some((l) => l.includes('bad')) ? { status: 400 } : { status: 204 },
    );
    const sink = new InfluxPointSink({ url, batchSize: 7 });
    const seen: [string, number][] = [];
    const body = (tag: string, bad: number) =>
      Buffer.from(
        Array.from({ length: 5 }, (_, i) => `m,t=${tag} ${i === bad ? 'bad' : 'v'}=1 ${i}`).join('\n'),
      );
    await Promise.all([
      sink.writeLines(body('a', 3), 5, (r) => seen.push(['a', r.index])),
      sink.write(points(4, 0, 'cpu'), (r) => seen.push(['p', r.index])),
      sink.writeLines(body('b', 0), 5, (r) => seen.push(['b', r.index])),
    ]);
    expect(seen.sort()).toEqual([
      ['a', 3],
      ['b', 0],
    ]);
    await sink.shutdown();
  });

  it('holds at most maxBufferedPoints while the TSDB refuses, and loses nothing', async () => {
    let up = false;
    const { url, received } = await endpoint(() => (up ? { status: 204 } : { status: 500 }));
    const sink = new InfluxPointSink({
      url,
      batchSize: 100,
      maxBufferedPoints: 300,
      minRetryDelayMs: 5,
      maxRetryDelayMs: 20,
    });
    let acked = 0;
    const writes = Array.from({ length: 20 }, (_, i) => sink.write(points(50, i * 50)).then(() => acked++));
    await new Promise((r) => setTimeout(r, 200));
    expect(acked).toBe(0);
    expect(sink.stats().bufferedPoints).toBeLessThanOrEqual(300);
    expect(sink.stats().bufferedPoints).toBeGreaterThanOrEqual(250);
    up = true;
    await Promise.all(writes);
    const values = received.flatMap((r) => r.lines).map((l) => Number(/ v=(\d+)/.exec(l)![1]));
    expect(new Set(values).size).toBe(1000);
    expect(sink.stats().peakBufferedPoints).toBeLessThanOrEqual(300);
    await sink.shutdown();
  });

  it('splits a single write larger than the buffer bound instead of exceeding it', async () => {
    const { url, received } = await endpoint(() => ({ status: 204 }));
    const sink = new InfluxPointSink({ url, batchSize: 5000, maxBufferedPoints: 300 });
    await sink.write(points(1000));
    expect(received.flatMap((r) => r.lines)).toHaveLength(1000);
    expect(sink.stats().peakBufferedPoints).toBe(300);
    await sink.shutdown();
  });

  it('sends writeLines bodies as bytes, also mixed with encoded points in one request', async () => {
    const { url, received } = await endpoint(() => ({ status: 204 }));
    const sink = new InfluxPointSink({ url, gzipThreshold: false, flushIntervalMs: 50 });
    await Promise.all([
      sink.writeLines(
        Buffer.from('raw,host=é v=1 1704067200000000000\nraw,host=b v=2 1704067201000000000'),
        2,
      ),
      sink.write(points(1)),
    ]);
    expect(received).toHaveLength(1);
    expect(received[0]!.lines).toEqual([
      'raw,host=é v=1 1704067200000000000',
      'raw,host=b v=2 1704067201000000000',
      'cpu,host=h0 v=0 1704067200000000000',
    ]);
    expect(sink.stats().writtenPoints).toBe(3);
    await sink.shutdown();
  });

  it('rejects writes after shutdown and invalid options', async () => {
    const { url } = await endpoint(() => ({ status: 204 }));
    const sink = new InfluxPointSink({ url });
    await sink.shutdown();
    await expect(sink.write(points(1))).rejects.toThrow(/after shutdown/);
    expect(() => new InfluxPointSink({ url, batchSize: 0 })).toThrow(/batchSize/);
    expect(() => new InfluxPointSink({ url, flushIntervalMs: -1 })).toThrow(/flushIntervalMs/);
  });
});
