/**
 * A standalone ingest process: Kafka `metrics` -> decode -> TSDB (or the in-memory store), with
 * undecodable lines to `metrics.dlq`. Used by the integration tests as the process they kill,
 * and by `converge start` through the same classes.
 *
 *   npx tsx ingest/kafka/consume-main.ts --brokers 127.0.0.1:9092 --tsdb-url http://127.0.0.1:8428
 *
 * stdout: one JSON object per line: {"event":"started"}, then {"event":"stats",...} every
 * --stats-every-ms, and {"event":"stopped",...} after SIGTERM/SIGINT. Logs go to stderr.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../../core/log.js';
import type { InputFormat, Precision } from '../../core/types.js';
import type { PointSink } from '../sink.js';
import { InfluxPointSink } from '../tsdb/influx-writer.js';
import { MemorySeriesStore } from '../tsdb/memory-store.js';
import { KafkaMetricsConsumer } from './metrics-consumer.js';

const { values } = parseArgs({
  options: {
    brokers: { type: 'string', default: process.env.KAFKA_BROKERS },
    topic: { type: 'string', default: 'metrics' },
    'dlq-topic': { type: 'string', default: 'metrics.dlq' },
    group: { type: 'string', default: 'converge-ingest' },
    'client-id': { type: 'string', default: 'converge-ingest' },
    partitions: { type: 'string', default: '12' },
    format: { type: 'string', default: 'lp' },
    precision: { type: 'string' },
    'tsdb-url': { type: 'string', default: process.env.TSDB_URL },
    org: { type: 'string', default: 'converge' },
    bucket: { type: 'string', default: 'metrics' },
    token: { type: 'string', default: process.env.TSDB_TOKEN ?? '' },
    memory: { type: 'boolean', default: false },
    'batch-size': { type: 'string', default: '5000' },
    'flush-interval-ms': { type: 'string', default: '0' },
    'max-buffered-points': { type: 'string', default: '100000' },
    'max-in-flight-points': { type: 'string', default: '200000' },
    'max-retry-delay-ms': { type: 'string', default: '2000' },
    'no-gzip': { type: 'boolean', default: false },
    'session-timeout-ms': { type: 'string', default: '30000' },
    'stats-every-ms': { type: 'string', default: '1000' },
  },
});

function int(name: keyof typeof values): number {
  const raw = values[name];
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(n) || n < 0) {
    throw new Error(`--${name}: expected a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function fail(message: string): never {
  process.stderr.write(`consume-main: ${message}\n`);
  process.exit(2);
}

const log = createLogger();
const out = (obj: object) => process.stdout.write(JSON.stringify(obj) + '\n');

async function main(): Promise<void> {
  if (!values.brokers) fail('no Kafka brokers: pass --brokers host:port or set KAFKA_BROKERS');
  const format = values.format as InputFormat;
  if (format !== 'lp' && format !== 'json') fail(`--format must be lp or json, got ${values.format}`);
  const precision = values.precision as Precision | undefined;
  if (precision !== undefined && !['ns', 'us', 'ms', 's'].includes(precision)) {
    fail(`--precision must be ns, us, ms or s, got ${precision}`);
  }
  let sink: PointSink;
  let sinkStats: () => object;
  if (values.memory) {
    const store = new MemorySeriesStore();
    sink = store;
    sinkStats = () => store.stats();
  } else {
    if (!values['tsdb-url']) fail('no TSDB: pass --tsdb-url http://host:port, set TSDB_URL, or use --memory');
    const influx = new InfluxPointSink({
      url: values['tsdb-url'],
      org: values.org,
      bucket: values.bucket,
      token: values.token,
      batchSize: int('batch-size'),
      flushIntervalMs: int('flush-interval-ms'),
      maxBufferedPoints: int('max-buffered-points'),
      maxRetryDelayMs: int('max-retry-delay-ms'),
      gzipThreshold: values['no-gzip'] ? false : 1000,
      logger: log,
    });
    sink = influx;
    sinkStats = () => influx.stats();
  }
  const consumer = new KafkaMetricsConsumer({
    brokers: values.brokers.split(','),
    clientId: values['client-id'],
    groupId: values.group,
    topic: values.topic,
    dlqTopic: values['dlq-topic'],
    partitions: int('partitions'),
    format,
    precision,
    sink,
    maxInFlightPoints: int('max-in-flight-points'),
    consumer: {
      sessionTimeoutMs: int('session-timeout-ms'),
      onFatal: (e) => {
        log.error({ err: e.message }, 'Kafka consumer stopped for good; exiting so that it is restarted');
        process.exit(1);
      },
    },
    logger: log,
  });

  const stats = () => ({
    ...consumer.stats(),
    sink: sinkStats(),
    rss: process.memoryUsage().rss,
    heapUsed: process.memoryUsage().heapUsed,
  });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    clearInterval(timer);
    try {
      await consumer.shutdown();
    } catch (e) {
      log.error({ err: (e as Error).message }, 'shutdown failed');
    }
    out({ event: 'stopped', ...stats() });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  const timer = setInterval(() => out({ event: 'stats', ...stats() }), int('stats-every-ms'));
  await consumer.start();
  out({ event: 'started', topic: values.topic, group: values.group });
}

main().catch((e: Error) => {
  log.error({ err: e.message, stack: e.stack }, 'consume-main failed');
  process.stderr.write(`consume-main: ${e.message}\n`);
  process.exit(1);
});
