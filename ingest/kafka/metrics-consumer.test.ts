import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config.js';
import type { Point } from '../../core/types.js';
import { FleetGenerator } from '../../scripts/produce-metrics.js';
import type { PointSink, RefusedHandler } from '../sink.js';
import { InfluxPointSink, type RawLineSink } from '../tsdb/influx-writer.js';
import { MemorySeriesStore } from '../tsdb/memory-store.js';
import { InProcessBus } from './bus.js';
import { DLQ_HEADERS, deadLetterHeaders, MemoryDeadLetterSink } from './dead-letters.js';
import { MetricsConsumer } from './metrics-consumer.js';
import type { DeadLetter, DeadLetterSink, SourceBatch } from './source.js';

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function hex(b: Buffer): string {
  return b.toString('hex');
}

/** A sink that holds every write until `open` is true, recording what it holds. */
class GatedSink implements PointSink {
  open = false;
  held = 0;
  peakHeld = 0;
  written: Point[] = [];
  private waiters: Array<() => void> = [];

  async write(points: readonly Point[]): Promise<void> {
    this.held += points.length;
    this.peakHeld = Math.max(this.peakHeld, this.held);
    while (!this.open) await new Promise<void>((r) => this.waiters.push(r));
    this.held -= points.length;
    for (const p of points) this.written.push(p);
  }
  release(): void {
    this.open = true;
    for (const w of this.waiters.splice(0)) w();
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

describe('MetricsConsumer on the in-process bus', () => {
  it('stores every good point and dead-letters exactly the malformed lines with their origin', async () => {
    const bus = new InProcessBus({ partitions: 3 });
    const fleet = new FleetGenerator({
      hosts: 12,
      containersPerHost: 4,
      seconds: 40,
      malformedFraction: 0.02,
      linesPerMessage: 100,
    });
    const messages = fleet.all();
    await bus.publish(
      'metrics',
      messages.map((m) => ({ key: m.host, value: m.value, timestamp: m.timestamp })),
    );
    const store = new MemorySeriesStore();
    const dlq = new MemoryDeadLetterSink();
    const seen: number[] = [];
    const consumer = new MetricsConsumer({
      source: bus.source('metrics'),
      sink: store,
      deadLetters: dlq,
      onPoints: (points) => seen.push(points.length),
    });
    await consumer.start();
    await until(() => bus.backlog('metrics') === 0);
    await consumer.shutdown();

    const truth = fleet.truth;
    expect(truth.malformed.length).toBeGreaterThan(100);
    expect(store.stats().points).toBe(truth.goodPoints);
    expect(store.stats().series).toBe(truth.series);
    expect(seen.reduce((a, b) => a + b, 0)).toBe(truth.goodPoints);
    expect(consumer.stats()).toMatchObject({
      points: truth.goodPoints,
      malformed: truth.malformed.length,
      inFlightPoints: 0,
    });

    const letters = dlq.letters();
    expect(letters.map((d) => hex(d.value)).sort()).toEqual(truth.malformed.map((m) => hex(m.line)).sort());
    for (const d of letters) {
      expect(d.reason).toMatch(new RegExp(`^line ${d.line}: `));
      expect(d.topic).toBe('metrics');
      expect(d.contentType).toBe('text/plain; charset=utf-8');
      // The letter names the message and line it came from.
      const source = messages.filter((m) => m.host === d.key?.toString());
      expect(source.length).toBeGreaterThan(0);
    }
    const kinds = new Set(truth.malformed.map((m) => m.kind));
    expect(kinds.size).toBe(5);
  });

  it('gives lines without a timestamp the message timestamp', async () => {
    const bus = new InProcessBus({ partitions: 2 });
    const fleet = new FleetGenerator({ hosts: 2, containersPerHost: 1, seconds: 6, untimedEvery: 3 });
    const messages = fleet.all();
    expect(messages.some((m) => !m.value.toString().includes(' 17040'))).toBe(true);
    await bus.publish(
      'metrics',
      messages.map((m) => ({ key: m.host, value: m.value, timestamp: m.timestamp })),
    );
    const store = new MemorySeriesStore();
    const consumer = new MetricsConsumer({
      source: bus.source('metrics'),
      sink: store,
      deadLetters: new MemoryDeadLetterSink(),
    });
    await consumer.start();
    await until(() => bus.backlog('metrics') === 0);
    await consumer.shutdown();
    const start = fleet.options.start;
    const times = store
      .query('mem', { host: fleet.truth.hosts[0]! }, 'used_percent', 0, 2e12)[0]!
      .samples.map((s) => s.time);
    expect(times).toEqual([0, 1, 2, 3, 4, 5].map((i) => start + i * 1000));
  });

  it('reads Telegraf JSON timestamps in seconds unless the config names another unit', async () => {
    // What `converge start` passes: the config's input section, precision left to the format.
    const metric = (ts: number) =>
      JSON.stringify({ name: 'mem', tags: { host: 'h1' }, fields: { used_percent: 50 }, timestamp: ts });
    for (const [input, ts, expected] of [
      [{ format: 'json' }, 1_700_000_000, 1_700_000_000_000],
      [{ format: 'json', precision: 'ms' }, 1_700_000_000_123, 1_700_000_000_123],
    ] as const) {
      const config = parseConfig({ input });
      const bus = new InProcessBus({ partitions: 1 });
      await bus.publish('metrics', [{ key: 'h1', value: Buffer.from(metric(ts)), timestamp: 0 }]);
      const store = new MemorySeriesStore();
      const consumer = new MetricsConsumer({
        source: bus.source('metrics'),
        sink: store,
        deadLetters: new MemoryDeadLetterSink(),
        format: config.input.format,
        precision: config.input.precision,
      });
      await consumer.start();
      await until(() => bus.backlog('metrics') === 0);
      await consumer.shutdown();
      const [series] = store.query('mem', { host: 'h1' }, 'used_percent', 0, 2e12);
      expect(series!.samples.map((x) => x.time)).toEqual([expected]);
    }
  });

  it('keeps in-flight points under the bound while the sink is stuck, then delivers everything', async () => {
    const bus = new InProcessBus({ partitions: 4, maxBatchMessages: 50 });
    const fleet = new FleetGenerator({ hosts: 16, containersPerHost: 5, seconds: 50, linesPerMessage: 60 });
    const messages = fleet.all();
    await bus.publish(
      'metrics',
      messages.map((m) => ({ key: m.host, value: m.value, timestamp: m.timestamp })),
    );
    const sink = new GatedSink();
    const bound = 2000;
    const consumer = new MetricsConsumer({
      source: bus.source('metrics'),
      sink,
      deadLetters: new MemoryDeadLetterSink(),
      maxInFlightPoints: bound,
      writeChunkPoints: 500,
    });
    await consumer.start();
    await until(() => consumer.stats().inFlightPoints > 0);
    await new Promise((r) => setTimeout(r, 200));
    // Stuck: nothing acknowledged, consumption stopped at the bound.
    expect(consumer.stats().points).toBe(0);
    expect(consumer.stats().inFlightPoints).toBeGreaterThan(bound / 2);
    expect(consumer.stats().inFlightPoints).toBeLessThanOrEqual(bound);
    expect(bus.backlog('metrics')).toBe(messages.length);
    sink.release();
    await until(() => bus.backlog('metrics') === 0);
    await consumer.shutdown();
    expect(sink.written.length).toBe(fleet.truth.goodPoints);
    expect(consumer.stats().peakInFlightPoints).toBeLessThanOrEqual(bound);
    expect(sink.peakHeld).toBeLessThanOrEqual(bound);
  });

  it('redelivers a batch whose write failed (at-least-once) and commits nothing before', async () => {
    const bus = new InProcessBus({ partitions: 1, redeliveryDelayMs: 5 });
    const store = new MemorySeriesStore();
    let failures = 3;
    const flaky: PointSink = {
      write: (points) => (failures-- > 0 ? Promise.reject(new Error('TSDB down')) : store.write(points)),
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    };
    const dlq = new MemoryDeadLetterSink();
    await bus.publish('metrics', [
      {
        key: 'h1',
        value: 'cpu,host=h1 v=1 1704067200000000000\nbad line\ncpu,host=h1 v=2 1704067201000000000',
      },
    ]);
    const consumer = new MetricsConsumer({ source: bus.source('metrics'), sink: flaky, deadLetters: dlq });
    await consumer.start();
    await until(() => bus.backlog('metrics') === 0);
    await consumer.shutdown();
    expect(failures).toBe(-1);
    expect(store.query('cpu', { host: 'h1' }, 'v', 0, 2e12)[0]!.samples.map((s) => s.value)).toEqual([1, 2]);
    // The DLQ saw the bad line once per delivery attempt (at-least-once too).
    expect(new Set(dlq.letters().map((d) => d.value.toString()))).toEqual(new Set(['bad line']));
    expect(dlq.letters()[0]).toMatchObject({ line: 2, offset: '0', partition: 0 });
  });

  it('passes plain, timestamped lines through as bytes minus the bad lines, and encodes the rest', async () => {
    const bodies: string[] = [];
    const encoded: Point[] = [];
    const sink: PointSink & RawLineSink = {
      lineProtocolPrecision: 'ns',
      writeLines: (body, points) => {
        expect(
          body
            .toString()
            .split('\n')
            .filter((l) => l !== ''),
        ).toHaveLength(points);
        bodies.push(body.toString());
        return Promise.resolve();
      },
      write: (points) => {
        encoded.push(...points);
        return Promise.resolve();
      },
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    };
    const bus = new InProcessBus({ partitions: 1 });
    await bus.publish('metrics', [
      {
        key: 'h1',
        value: 'cpu,host=h1 v=1 1704067200000000000\nbad\ncpu,host=h1 v=2 1704067201000000000\nworse',
        timestamp: 5,
      },
      { key: 'h1', value: 'mem,host=h1 used=3', timestamp: 1704067202000 }, // no timestamp
      { key: 'h1', value: 'disk,host=h1,path=/a\\ b used=4 1704067203000000000', timestamp: 5 }, // escape
      {
        key: 'h1',
        value: 'net,host=h1 rx=5i 1704067204000000000\n  net,host=h1 rx=6i 1704067205000000000',
        timestamp: 5,
      },
    ]);
    const dlq = new MemoryDeadLetterSink();
    const seen: Point[] = [];
    const consumer = new MetricsConsumer({
      source: bus.source('metrics'),
      sink,
      deadLetters: dlq,
      onPoints: (points) => seen.push(...points),
    });
    await consumer.start();
    await until(() => bus.backlog('metrics') === 0);
    await consumer.shutdown();
    expect(bodies).toEqual(['cpu,host=h1 v=1 1704067200000000000\ncpu,host=h1 v=2 1704067201000000000\n']);
    expect(encoded.map((p) => [p.measurement, p.time])).toEqual([
      ['mem', 1704067202000],
      ['disk', 1704067203000],
      ['net', 1704067204000],
      ['net', 1704067205000],
    ]);
    expect(seen.map((p) => p.measurement)).toEqual(['cpu', 'cpu', 'mem', 'disk', 'net', 'net']);
    expect(dlq.letters().map((d) => d.value.toString())).toEqual(['bad', 'worse']);
    expect(consumer.stats()).toMatchObject({ points: 6, malformed: 2, inFlightPoints: 0 });
  });

  it('shuts down within its grace period while the TSDB is unreachable, leaving the batch uncommitted', async () => {
    const bus = new InProcessBus({ partitions: 1 });
    await bus.publish('metrics', [{ key: 'h1', value: 'cpu,host=h1 v=1 1704067200000000000' }]);
    const sink = new InfluxPointSink({
      url: 'http://127.0.0.1:1',
      minRetryDelayMs: 10,
      shutdownTimeoutMs: 100,
    });
    const consumer = new MetricsConsumer({
      source: bus.source('metrics'),
      sink,
      deadLetters: new MemoryDeadLetterSink(),
      shutdownGraceMs: 200,
    });
    await consumer.start();
    await until(() => sink.stats().failedRequests > 2);
    const t0 = Date.now();
    await consumer.shutdown();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(consumer.stats().points).toBe(0);
    expect(bus.backlog('metrics')).toBe(1);
  });

  it('consumes Telegraf JSON: a bad metric of a batch document dead-letters that metric, JSON Lines the line', async () => {
    const bus = new InProcessBus({ partitions: 1 });
    const batchDoc = JSON.stringify(
      {
        metrics: [
          { name: 'cpu', tags: { host: 'h1' }, fields: { usage_idle: 90 }, timestamp: 1704067200 },
          { name: '', tags: { host: 'h1' }, fields: { usage_idle: 91 }, timestamp: 1704067201 },
          { name: 'cpu', tags: { host: 'h1' }, fields: { usage_idle: 92 } },
        ],
      },
      null,
      2,
    );
    const jsonLines = [
      JSON.stringify({ name: 'mem', tags: { host: 'h1' }, fields: { used: 1 }, timestamp: 1704067200 }),
      '{not json',
      JSON.stringify({ name: 'mem', tags: { host: 'h1' }, fields: { used: 2 }, timestamp: 1704067201 }),
    ].join('\n');
    await bus.publish('metrics', [
      { key: 'h1', value: batchDoc, timestamp: 1704067205000 },
      { key: 'h1', value: jsonLines, timestamp: 1704067205000 },
    ]);
    const store = new MemorySeriesStore();
    const dlq = new MemoryDeadLetterSink();
    const consumer = new MetricsConsumer({
      source: bus.source('metrics'),
      sink: store,
      deadLetters: dlq,
      format: 'json',
    });
    await consumer.start();
    await until(() => bus.backlog('metrics') === 0);
    await consumer.shutdown();
    const cpu = store.query('cpu', { host: 'h1' }, 'usage_idle', 0, 2e12)[0]!.samples;
    expect(cpu).toEqual([
      { time: 1704067200000, value: 90 },
      { time: 1704067205000, value: 92 }, // no timestamp: the message's
    ]);
    expect(store.query('mem', undefined, 'used', 0, 2e12)[0]!.samples.map((s) => s.value)).toEqual([1, 2]);
    const letters = dlq.letters();
    expect(letters.map((d) => [d.value.toString(), d.line, d.contentType])).toEqual([
      // The metric alone: dead-lettering the whole document once per bad metric made the letters
      // grow with (document size x bad metrics) and could pass the broker's message size.
      [
        JSON.stringify({ name: '', tags: { host: 'h1' }, fields: { usage_idle: 91 }, timestamp: 1704067201 }),
        2,
        'application/json',
      ],
      ['{not json', 2, 'application/json'],
    ]);
  });

  describe('points the TSDB refuses', () => {
    let server: Server | undefined;
    afterEach(async () => {
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      server = undefined;
    });

    /** An InfluxDB v2 write endpoint that refuses (400, victoria-metrics style) any body holding `poison`. */
    async function tsdb(stored: string[]): Promise<string> {
      server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          if (body.includes('poison')) {
            res.writeHead(400, { 'content-type': 'text/plain' });
            res.end('remoteAddr: "127.0.0.1:9"; requestURI: /api/v2/write; cannot parse poison');
            return;
          }
          for (const l of body.split('\n')) if (l !== '') stored.push(l);
          res.writeHead(204);
          res.end();
        });
      });
      await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    }

    /** Holds every publish until released, so that the test can see nothing is committed before. */
    class GatedDeadLetters implements DeadLetterSink {
      readonly letters: DeadLetter[] = [];
      open = false;
      private waiters: Array<() => void> = [];
      async publish(letters: readonly DeadLetter[]): Promise<void> {
        while (!this.open) await new Promise<void>((r) => this.waiters.push(r));
        this.letters.push(...letters);
      }
      release(): void {
        this.open = true;
        for (const w of this.waiters.splice(0)) w();
      }
      shutdown(): Promise<void> {
        return Promise.resolve();
      }
    }

    for (const passThrough of [true, false]) {
      it(`dead-letters them with the TSDB's reason and their input line, before committing (${passThrough ? 'lines passed through' : 'points encoded'})`, async () => {
        // Before: the sink logged them and the batch was committed: gone without a trace.
        const stored: string[] = [];
        const sink = new InfluxPointSink({ url: await tsdb(stored) });
        const bus = new InProcessBus({ partitions: 1 });
        await bus.publish('metrics', [
          {
            key: 'h1',
            value:
              'cpu,host=h1 v=1 1704067200000000000\nbad\ncpu,host=h1 poison=2 1704067201000000000\ncpu,host=h1 v=3 1704067202000000000',
            timestamp: 5,
          },
          {
            key: 'h2',
            value: '# c\n\nmem,host=h2 poison=4 1704067203000000000\nmem,host=h2 v=5 1704067204000000000',
            timestamp: 6,
          },
        ]);
        const dlq = new GatedDeadLetters();
        const consumer = new MetricsConsumer({
          source: bus.source('metrics'),
          sink,
          deadLetters: dlq,
          passThrough,
        });
        await consumer.start();
        await until(() => stored.length === 3);
        await new Promise((r) => setTimeout(r, 50));
        expect(bus.backlog('metrics')).toBe(2); // nothing committed while the DLQ has not acknowledged
        dlq.release();
        await until(() => bus.backlog('metrics') === 0);
        await consumer.shutdown();
        expect(stored.map((l) => l.split(' ')[1]).sort()).toEqual(['v=1', 'v=3', 'v=5']);
        const tsdbLetters = dlq.letters
          .filter((d) => d.stage === 'tsdb')
          .sort((a, b) => a.offset.localeCompare(b.offset));
        expect(
          tsdbLetters.map((d) => [d.key?.toString(), d.offset, d.line, d.value.toString(), d.reason]),
        ).toEqual([
          [
            'h1',
            '0',
            3,
            'cpu,host=h1 poison=2 1704067201000000000',
            'line 3: refused by the TSDB: HTTP 400: cannot parse poison',
          ],
          [
            'h2',
            '1',
            3,
            'mem,host=h2 poison=4 1704067203000000000',
            'line 3: refused by the TSDB: HTTP 400: cannot parse poison',
          ],
        ]);
        expect(deadLetterHeaders(tsdbLetters[0]!)[DLQ_HEADERS.stage]).toBe('tsdb');
        expect(dlq.letters.filter((d) => d.stage !== 'tsdb').map((d) => d.value.toString())).toEqual(['bad']);
        expect(consumer.stats()).toMatchObject({ malformed: 1, refused: 2 });
      });
    }

    it('a refusal from a sink without the writer (any PointSink) is traced the same way', async () => {
      const sink: PointSink = {
        write: (points, onRefused?: RefusedHandler) => {
          points.forEach((p, i) => {
            if (p.fields.v === 2) onRefused?.({ index: i, line: 'sent', reason: 'no' });
          });
          return Promise.resolve();
        },
        forceFlush: () => Promise.resolve(),
        shutdown: () => Promise.resolve(),
      };
      const bus = new InProcessBus({ partitions: 1 });
      await bus.publish('metrics', [
        { key: 'a', value: 'm v=1 1\nm v=9 9', timestamp: 1 },
        { key: 'b', value: 'oops\n  # note\nm v=1 3\n\nm v=2 4', timestamp: 1 },
      ]);
      const dlq = new MemoryDeadLetterSink();
      const consumer = new MetricsConsumer({ source: bus.source('metrics'), sink, deadLetters: dlq });
      await consumer.start();
      await until(() => bus.backlog('metrics') === 0);
      await consumer.shutdown();
      const refused = dlq.letters().filter((d) => d.stage === 'tsdb');
      expect(refused.map((d) => [d.key?.toString(), d.line, d.value.toString()])).toEqual([
        ['b', 5, 'm v=2 4'],
      ]);
    });
  });

  it('lets the event loop run and heartbeats while decoding a long batch', async () => {
    // 400 messages of 200 lines: far more than one decode slice.
    const messages = Array.from({ length: 400 }, (_, m) => ({
      key: 'h',
      value: Array.from(
        { length: 200 },
        (_, i) =>
          `cpu,host=h${i % 50} ${Array.from({ length: 20 }, (_, f) => `f${f}=${i + f}.5`).join(',')} ${m * 200 + i}`,
      ).join('\n'),
      timestamp: 1,
    }));
    let beats = 0;
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const consumer = new MetricsConsumer({
      source: { run: async () => {}, shutdown: async () => {} },
      // A sink with no work of its own: the time is the decoder's.
      sink: {
        write: () => Promise.resolve(),
        forceFlush: () => Promise.resolve(),
        shutdown: () => Promise.resolve(),
      },
      deadLetters: new MemoryDeadLetterSink(),
      decodeSliceMs: 5,
      heartbeatEveryMs: 10,
    });
    const batch: SourceBatch = {
      topic: 'metrics',
      partition: 0,
      messages: messages.map((m, i) => ({
        topic: 'metrics',
        partition: 0,
        offset: String(i),
        key: Buffer.from(m.key),
        value: Buffer.from(m.value),
        timestamp: m.timestamp,
      })),
      heartbeat: async () => {
        beats++;
      },
      isActive: () => true,
    };
    const t0 = performance.now();
    await consumer.handle(batch);
    const ms = performance.now() - t0;
    clearInterval(timer);
    expect(consumer.stats().points).toBe(80_000);
    // Without slices the timer could not fire and nobody heartbeats until the batch is done.
    expect(ticks).toBeGreaterThan(ms / 40);
    expect(beats).toBeGreaterThanOrEqual(Math.floor(ms / 100));
  });

  it('a message starting with a byte order mark is decoded without it and never passed through with it', async () => {
    const bodies: string[] = [];
    const encoded: Point[] = [];
    const sink: PointSink & RawLineSink = {
      lineProtocolPrecision: 'ns',
      writeLines: (body) => {
        bodies.push(body.toString());
        return Promise.resolve();
      },
      write: (points) => {
        encoded.push(...points);
        return Promise.resolve();
      },
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    };
    const bus = new InProcessBus({ partitions: 1 });
    await bus.publish('metrics', [
      {
        key: 'h1',
        value: Buffer.concat([
          Buffer.from([0xef, 0xbb, 0xbf]),
          Buffer.from('cpu,host=h1 v=1 1704067200000000000'),
        ]),
      },
    ]);
    const consumer = new MetricsConsumer({
      source: bus.source('metrics'),
      sink,
      deadLetters: new MemoryDeadLetterSink(),
    });
    await consumer.start();
    await until(() => bus.backlog('metrics') === 0);
    await consumer.shutdown();
    expect(bodies).toEqual([]);
    expect(encoded.map((p) => p.measurement)).toEqual(['cpu']);
  });
});
