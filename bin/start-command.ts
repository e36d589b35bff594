import { type Config, correlationMode } from '../core/config.js';
import { createLogger } from '../core/log.js';
import { buildEngine, influxSinkFromConfig } from '../engine/build.js';
import { DetectionHealth } from '../engine/detection-health.js';
import { hotReloadRules } from '../engine/rules-reload.js';
import { serveEngine } from '../engine/serve.js';
import { createKafka, kafkaStartFailure } from '../ingest/kafka/client.js';
import { KafkaMetricsConsumer } from '../ingest/kafka/metrics-consumer.js';
import { TopologyFeed } from '../ingest/kafka/topology-feed.js';
import type { PointSink } from '../ingest/sink.js';
import { MemorySeriesStore } from '../ingest/tsdb/memory-store.js';
import type { TopologyGraph } from '../topology/graph.js';
import { loadTopologyFile } from '../topology/records.js';
import { UsageError } from './errors.js';

/**
 * `converge start --config FILE`: the production process. One instance of the consumer group on
 * the `metrics` topic (run more for more throughput; Kafka balances the partitions), writing to
 * the TSDB, learning the topology from the metrics, the CMDB files and the `topology` topic.
 * SIGTERM/SIGINT stop it cleanly: the batch in hand is finished and committed, nothing is lost.
 */
export async function runStart(
  config: Config,
  opts: { rules?: string; host?: string; port?: number } = {},
): Promise<number> {
  const log = createLogger(config.log.level);
  if (!config.kafka) {
    process.stderr.write(
      'converge start: the config has no `kafka` section (brokers to consume `metrics` from); ' +
        'add one, or run `converge demo` for the embedded engine\n',
    );
    return 2;
  }
  const kafkaConfig = config.kafka;
  if (correlationMode(config) === 'distributed') {
    // Correlation behind the `alerts` topic, one active correlator for all instances.
    const { runDistributed } = await import('../engine/distributed/run.js');
    return runDistributed(config, {
      ...opts,
      sink: pointSink(config, log),
      loadTopology: (topology) => loadTopologyFiles(topology, config.topology.files, log),
      logger: log,
    });
  }
  const engine = buildEngine(config, { rulesDir: opts.rules });
  const { topology, pipeline } = engine;
  await loadTopologyFiles(topology, config.topology.files, log);
  const rulesReload = hotReloadRules(engine.detection, engine.rulesDir, log);

  const sink = pointSink(config, log);
  const detectionHealth = new DetectionHealth(log);

  let fatal: Error | undefined;
  let stop: (code: number) => void = () => {};
  const consumer = new KafkaMetricsConsumer({
    brokers: kafkaConfig.brokers,
    clientId: kafkaConfig.clientId,
    groupId: kafkaConfig.groupId,
    topic: kafkaConfig.topics.metrics,
    dlqTopic: kafkaConfig.topics.dlq,
    partitions: kafkaConfig.partitions,
    format: config.input.format,
    precision: config.input.precision,
    sink,
    maxInFlightPoints: kafkaConfig.maxInFlightPoints,
    onPoints: (points) => {
      detectionHealth.run(() => {
        pipeline.accept(points);
        pipeline.advance();
      });
    },
    consumer: {
      sessionTimeoutMs: kafkaConfig.sessionTimeout,
      heartbeatIntervalMs: Math.max(300, Math.min(3000, Math.floor(kafkaConfig.sessionTimeout / 10))),
      onFatal: (e) => {
        fatal = e;
        log.error(
          { err: e.message },
          'Kafka consumer stopped for good; exiting so that a supervisor restarts it',
        );
        stop(1);
      },
    },
    logger: log,
  });
  const feed = new TopologyFeed(topology, {
    kafka: createKafka({ brokers: kafkaConfig.brokers, clientId: kafkaConfig.clientId, logger: log }),
    topic: kafkaConfig.topics.topology,
    groupPrefix: `${kafkaConfig.groupId}-topology`,
    logger: log,
  });

  let consuming = false;
  const serving = await serveEngine({
    config,
    engine,
    logger: log,
    host: opts.host,
    port: opts.port,
    detectionHealth,
    readiness: () => ({
      ready: consuming,
      checks: { kafka: { ok: consuming, detail: consuming ? 'consuming' : 'connecting' } },
    }),
    stats: async () => {
      const c = consumer.stats();
      // The broker unreachable: the scrape goes on without the lag figures.
      const consumerLag = await consumer.lag().catch(() => undefined);
      return { points: c.points, malformed: c.malformed, inFlightPoints: c.inFlightPoints, consumerLag };
    },
  });
  log.info({ url: serving.url }, 'API listening');

  const done = new Promise<number>((resolve) => {
    let stopping = false;
    stop = (code: number) => {
      if (stopping) return;
      stopping = true;
      clearInterval(timer);
      log.info({ code }, 'stopping');
      Promise.allSettled([rulesReload.shutdown(), consumer.shutdown(), feed.shutdown()])
        .then(async (results) => [...results, ...(await Promise.allSettled([serving.shutdown()]))])
        .then((results) => {
          for (const r of results)
            if (r.status === 'rejected') log.error({ err: String(r.reason) }, 'shutdown step failed');
          resolve(fatal ? 1 : code);
        })
        .catch(() => resolve(1));
    };
  });
  process.once('SIGTERM', () => stop(0));
  process.once('SIGINT', () => stop(0));

  const timer = setInterval(() => {
    const p = pipeline.stats();
    log.info(
      {
        consumer: consumer.stats(),
        pipeline: { points: p.points, unplaced: p.unplaced, expired: p.expired, watermark: p.watermark },
        topology: topology.counts(),
        feed: feed.stats(),
      },
      'stats',
    );
  }, 10_000);
  timer.unref();

  try {
    await Promise.all([consumer.start(), feed.start()]);
  } catch (e) {
    fatal = kafkaStartFailure(e, kafkaConfig.brokers, log);
    stop(1);
    return done;
  }
  consuming = true;
  log.info(
    {
      brokers: kafkaConfig.brokers,
      topic: kafkaConfig.topics.metrics,
      group: kafkaConfig.groupId,
      tsdb: config.tsdb?.url,
    },
    'converge started',
  );
  return done;
}

function pointSink(config: Config, log: ReturnType<typeof createLogger>): PointSink {
  if (!config.tsdb) log.warn('no `tsdb` section: points are kept in memory only (recent window per series)');
  return config.tsdb ? influxSinkFromConfig(config.tsdb, log) : new MemorySeriesStore();
}

async function loadTopologyFiles(
  topology: TopologyGraph,
  files: readonly string[],
  log: ReturnType<typeof createLogger>,
): Promise<void> {
  // CMDB-declared entities never expire, so the load time only stamps their "last seen".
  const at = Date.now();
  for (const file of files) {
    const { records, errors } = await loadTopologyFile(file);
    // A file that cannot be read is a configuration mistake: refuse to start (exit 2). Bad
    // records in a readable file are logged and skipped; the good ones are kept.
    if (errors.length === 1 && errors[0]!.line === 0)
      throw new UsageError(`topology.files: ${errors[0]!.message}`);
    let applied = 0;
    for (const r of records) {
      const problem = topology.apply(r, at);
      if (problem === undefined) applied++;
      else
        errors.push({
          source: file,
          line: 0,
          reason: problem,
          message: `${file}: ${r.level} ${r.id}: ${problem}`,
        });
    }
    for (const e of errors.slice(0, 20)) log.warn({ problem: e.message }, 'topology record rejected');
    log.info({ file, applied, rejected: errors.length }, 'topology file loaded');
  }
}
