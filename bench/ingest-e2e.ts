/**
 * End-to-end ingest throughput on the real services: points/s from the Kafka broker through
 * decode into victoria-metrics, until the TSDB acknowledged every point.
 *
 *   npx tsx bench/ingest-e2e.ts [--points 2000000] [--lines-per-message 500] [--partitions 6] [--gzip]
 *
 * Uses KAFKA_BROKERS / TSDB_URL when set, else starts the services with scripts/services.mjs.
 * One run measures, on the same pre-produced topic:
 *   1. the producer (generate + produce with acks=all),
 *   2. consume only (kafkajs fetch + hand-over, messages counted): the baseline,
 *   3. consume + decode (the sink acknowledges at once),
 *   4. consume + decode + write to victoria-metrics (InfluxPointSink), the end-to-end figure,
 * with CPU seconds of this process, the broker and victoria-metrics per phase: where time goes.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from '../core/config.js';
import type { Point } from '../core/types.js';
import { buildEngine } from '../engine/build.js';
import { createKafka } from '../ingest/kafka/client.js';
import { MemoryDeadLetterSink } from '../ingest/kafka/dead-letters.js';
import { KafkaMessageSource } from '../ingest/kafka/kafkajs-source.js';
import { MetricsConsumer } from '../ingest/kafka/metrics-consumer.js';
import { MetricsProducer } from '../ingest/kafka/producer.js';
import type { MessageSource } from '../ingest/kafka/source.js';
import type { PointSink } from '../ingest/sink.js';
import { InfluxPointSink } from '../ingest/tsdb/influx-writer.js';
import { FleetGenerator } from '../scripts/produce-metrics.js';
import { status as serviceStatus, start as startServices } from '../scripts/services.mjs';

const { values } = parseArgs({
  options: {
    points: { type: 'string', default: '2000000' },
    'lines-per-message': { type: 'string', default: '500' },
    partitions: { type: 'string', default: '6' },
    'batch-size': { type: 'string', default: '10000' },
    'in-flight-requests': { type: 'string', default: '4' },
    // Off by default: on loopback, gzip costs both processes CPU and saves nothing.
    gzip: { type: 'boolean', default: false },
  },
});

const targetPoints = Number(values.points);
const linesPerMessage = Number(values['lines-per-message']);
const partitions = Number(values.partitions);
const run = Date.now().toString(36);

/** CPU seconds (user + system) of a process, from /proc. */
function cpuSeconds(pid: number | null | undefined): number {
  if (!pid) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks
  } catch {
    return Number.NaN;
  }
}

interface Phase {
  name: string;
  points: number;
  seconds: number;
  cpu: { self: number; kafka: number; tsdb: number };
}

async function main(): Promise<void> {
  let brokers = process.env.KAFKA_BROKERS;
  let tsdbUrl = process.env.TSDB_URL;
  if (!brokers || !tsdbUrl) {
    const started = await startServices(['kafka', 'tsdb'], {
      log: (m) => process.stderr.write(`[services] ${m}\n`),
    });
    brokers ??= started.kafka!.url;
    tsdbUrl ??= started.tsdb!.url;
  }
  const pids = Object.fromEntries((await serviceStatus(['kafka', 'tsdb'])).map((s) => [s.name, s.pid]));
  const brokerList = brokers.split(',');
  const kafka = createKafka({ brokers: brokerList, clientId: 'bench-ingest-e2e' });

  const phases: Phase[] = [];
  /** `body` calls `begin()` when the work proper starts (after a consumer group has formed). */
  const measure = async (
    name: string,
    points: number | (() => number),
    body: (begin: () => void) => Promise<void>,
  ) => {
    let c0 = { self: process.cpuUsage(), kafka: cpuSeconds(pids.kafka), tsdb: cpuSeconds(pids.tsdb) };
    let t0 = performance.now();
    let begun = false;
    await body(() => {
      if (begun) return;
      begun = true;
      c0 = { self: process.cpuUsage(), kafka: cpuSeconds(pids.kafka), tsdb: cpuSeconds(pids.tsdb) };
      t0 = performance.now();
    });
    const seconds = (performance.now() - t0) / 1000;
    const self = process.cpuUsage(c0.self);
    const phase: Phase = {
      name,
      points: typeof points === 'number' ? points : points(),
      seconds,
      cpu: {
        self: (self.user + self.system) / 1e6,
        kafka: cpuSeconds(pids.kafka) - c0.kafka,
        tsdb: cpuSeconds(pids.tsdb) - c0.tsdb,
      },
    };
    phases.push(phase);
    process.stderr.write(
      `${name}: ${phase.points} points in ${seconds.toFixed(2)} s = ${Math.round(phase.points / seconds)} points/s\n`,
    );
  };

  // 1. Produce. 25 lines per host and second (5 host + 2 x 10 container measurements).
  const perHostStep = 25;
  const hosts = 200;
  const seconds = Math.max(1, Math.round(targetPoints / (hosts * perHostStep)));
  const fleet = new FleetGenerator({
    hosts,
    containersPerHost: 10,
    seconds,
    linesPerMessage,
    hostPrefix: `bench${run}-`,
  });
  const topic = `bench-ingest-${run}`;
  const producer = new MetricsProducer({ kafka, topic, partitions, concurrency: 4 });
  await producer.connect();
  await measure(
    'produce (generate + send, acks=all)',
    () => fleet.truth.goodPoints,
    () => producer.send(fleet.messages()),
  );
  await producer.shutdown();
  const total = fleet.truth.goodPoints;
  const bytes = fleet.truth.lines * 130;
  process.stderr.write(
    `topic ${topic}: ${fleet.truth.messages} messages, ~${(bytes / 2 ** 20).toFixed(0)} MiB\n`,
  );

  // 2.-4. Consume the same topic with a fresh group each time.
  const consumeWith = async (
    label: string,
    begin: () => void,
    makeSink: () => PointSink,
    raw = false,
    onPoints?: (points: readonly Point[]) => void,
  ) => {
    const kafkaSource = new KafkaMessageSource({
      kafka,
      topic,
      groupId: `bench-${label}-${run}`,
      partitions,
    });
    const source: MessageSource = {
      run: (handler) =>
        kafkaSource.run((batch) => {
          begin();
          return handler(batch);
        }),
      shutdown: () => kafkaSource.shutdown(),
    };
    const sink = makeSink();
    let done: () => void = () => {};
    const finished = new Promise<void>((r) => {
      done = r;
    });
    let consumer: MetricsConsumer | undefined;
    if (raw) {
      let messages = 0;
      await source.run(async (batch) => {
        messages += batch.messages.length;
        if (messages >= fleet.truth.messages) done();
      });
    } else {
      consumer = new MetricsConsumer({ source, sink, deadLetters: new MemoryDeadLetterSink(), onPoints });
      const check = setInterval(() => {
        if (consumer!.stats().points >= total) done();
      }, 5);
      await consumer.start();
      await finished;
      clearInterval(check);
    }
    await finished;
    return { source, sink, consumer };
  };

  let rawSource: MessageSource | undefined;
  await measure('consume only (kafkajs, no decode)', total, async (begin) => {
    rawSource = (await consumeWith('raw', begin, () => new NullSink(), true)).source;
  });
  await rawSource!.shutdown();

  let decodeOnly: MetricsConsumer | undefined;
  await measure('consume + decode (sink acks at once)', total, async (begin) => {
    decodeOnly = (await consumeWith('decode', begin, () => new NullSink())).consumer;
  });
  const decodeStats = decodeOnly!.stats();
  await decodeOnly!.shutdown();

  let e2e: MetricsConsumer | undefined;
  let influx: InfluxPointSink | undefined;
  await measure('consume + decode + write to victoria-metrics (acknowledged)', total, async (begin) => {
    const r = await consumeWith('e2e', begin, () => {
      influx = new InfluxPointSink({
        url: tsdbUrl!,
        batchSize: Number(values['batch-size']),
        maxInFlightRequests: Number(values['in-flight-requests']),
        gzipThreshold: values.gzip ? 1000 : false,
      });
      return influx;
    });
    e2e = r.consumer;
  });
  const e2eStats = e2e!.stats();
  const sinkStats = influx!.stats();
  await e2e!.shutdown();

  // What `converge start` runs on every durable batch: topology, rules and detectors, correlation.
  const engine = buildEngine(loadConfig());
  let full2: MetricsConsumer | undefined;
  await measure('same + engine (topology, default rules, correlation)', total, async (begin) => {
    const r = await consumeWith(
      'engine',
      begin,
      () =>
        new InfluxPointSink({
          url: tsdbUrl!,
          batchSize: Number(values['batch-size']),
          maxInFlightRequests: Number(values['in-flight-requests']),
          gzipThreshold: values.gzip ? 1000 : false,
        }),
      false,
      (points) => {
        engine.pipeline.accept(points);
        engine.pipeline.advance();
      },
    );
    full2 = r.consumer;
  });
  await full2!.shutdown();

  const [produce, raw, decode, full, withEngine] = phases as [Phase, Phase, Phase, Phase, Phase];
  const rate = (p: Phase) => p.points / p.seconds;
  const row = (p: Phase) =>
    `${p.name.padEnd(62)} ${String(Math.round(rate(p))).padStart(9)} points/s  ` +
    `${p.seconds.toFixed(2).padStart(6)} s  cpu: this ${p.cpu.self.toFixed(1)} s, broker ${p.cpu.kafka.toFixed(1)} s, ` +
    `victoria-metrics ${p.cpu.tsdb.toFixed(1)} s`;
  console.log(
    `\ningest end-to-end, ${total} points (${fleet.truth.messages} messages of ${linesPerMessage} lines, ` +
      `${partitions} partitions, gzip ${values.gzip ? 'on' : 'off'}), 2-core machine shared with the services`,
  );
  for (const p of phases) console.log(row(p));
  console.log(
    `\nend-to-end ${Math.round(rate(full))} points/s (target >= 300,000): ` +
      `${(rate(full) / rate(raw)).toFixed(2)}x of consume-only, ${(rate(full) / rate(decode)).toFixed(2)}x of consume+decode, ` +
      `${(rate(full) / rate(produce)).toFixed(2)}x of the producer`,
  );
  console.log(
    `with the engine (what converge start runs) ${Math.round(rate(withEngine))} points/s: ` +
      `${(rate(withEngine) / rate(full)).toFixed(2)}x of ingest alone; pipeline: ${JSON.stringify({
        points: engine.pipeline.stats().points,
        alerts: engine.pipeline.stats().alerts,
        entities: engine.topology.counts(),
      })}`,
  );
  const us = (sec: number) => ((sec * 1e6) / total).toFixed(2);
  const cpuPerPoint = (full.cpu.self + full.cpu.kafka + full.cpu.tsdb) / total;
  console.log(
    `CPU per point end to end: ingest ${us(full.cpu.self)} us, broker ${us(full.cpu.kafka)} us, ` +
      `victoria-metrics ${us(full.cpu.tsdb)} us; CPU-bound ceiling on 2 otherwise idle cores ` +
      `${Math.round(2 / cpuPerPoint)} points/s (the measured rate shares the cores with whatever else runs)`,
  );
  console.log(
    `consumer (decode phase): decode ${(decodeStats.decodeMs / 1000).toFixed(2)} s of handler time; ` +
      `(e2e phase): decode ${(e2eStats.decodeMs / 1000).toFixed(2)} s, waiting for the TSDB ${(e2eStats.sinkWaitMs / 1000).toFixed(2)} s ` +
      `(summed over concurrent batches), batches ${e2eStats.batches}, in-flight peak ${e2eStats.peakInFlightPoints}`,
  );
  console.log(
    `TSDB writer: ${sinkStats.requests} requests (${Math.round(sinkStats.writtenPoints / Math.max(1, sinkStats.requests))} points each), ` +
      `${sinkStats.failedRequests} failed, buffer peak ${sinkStats.peakBufferedPoints}`,
  );
  process.exit(0);
}

class NullSink implements PointSink {
  write(_points: readonly Point[]): Promise<void> {
    return Promise.resolve();
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

main().catch((e: Error) => {
  process.stderr.write(`bench/ingest-e2e: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
