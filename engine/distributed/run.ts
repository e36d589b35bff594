import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import type { Config } from '../../core/config.js';
import type { Logger } from '../../core/log.js';
import type { IncidentEvent, IncidentEventType } from '../../core/types.js';
import type { Correlator } from '../../correlate/index.js';
import { ensureSinglePartitionTopic } from '../../ingest/kafka/alerts-consumer.js';
import { RecordLogProducer } from '../../ingest/kafka/alerts-producer.js';
import { closeRecord } from '../../ingest/kafka/alerts-records.js';
import { createKafka, ensureTopics, kafkaStartFailure } from '../../ingest/kafka/client.js';
import { KafkaDeadLetterSink } from '../../ingest/kafka/dead-letters.js';
import { KafkaMessageSource } from '../../ingest/kafka/kafkajs-source.js';
import { MetricsConsumer } from '../../ingest/kafka/metrics-consumer.js';
import type { MessageSource, SourceBatch } from '../../ingest/kafka/source.js';
import { TopologyFeed } from '../../ingest/kafka/topology-feed.js';
import type { PointSink } from '../../ingest/sink.js';
import type { TopologyGraph } from '../../topology/graph.js';
import { buildDetection } from '../build.js';
import { DetectionHealth } from '../detection-health.js';
import { Pipeline } from '../pipeline.js';
import { hotReloadRules } from '../rules-reload.js';
import { serveEngine } from '../serve.js';
import { AlertPublisher } from './alert-publisher.js';
import { RedisCheckpointStore } from './checkpoint.js';
import { CorrelatorService } from './correlator-service.js';
import {
  DistributedIncidents,
  IncidentFeed,
  IncidentView,
  incidentViewRecord,
  summaryViewRecord,
} from './incidents-topic.js';
import { MetricsOwnership } from './ownership.js';
import { PartitionClock } from './partition-clock.js';
import { ensureCompactedTopic, topicPartitions } from './topics.js';
import { ObservedTopologyFeed, ObservedTopologyPublisher } from './topology-share.js';

export interface DistributedStartOptions {
  rules?: string;
  host?: string;
  port?: number;
  /** TSDB writer (or the in-memory store). */
  sink: PointSink;
  /** Loads the CMDB files into the graph (the start command's own loader). */
  loadTopology: (topology: TopologyGraph) => Promise<void>;
  logger: Logger;
}

/**
 * `converge start` when correlation is distributed (config `correlate.mode`, default with both
 * `kafka` and `redis`). Each instance is, at once:
 *
 * - a detection instance: one member of the consumer group on `metrics`; the alert state
 *   changes of its partitions go to the `alerts` topic, acknowledged before the metrics batch
 *   is committed, with its watermark; the entities it learns go to `topology.observed`;
 * - a correlator candidate: one member of the `correlate.distributed.group` group on the
 *   one-partition `alerts` topic; the assigned one is active (checkpoints to Redis, sends
 *   incident events to the notifier and the compacted `incidents` topic), the others standby;
 * - an API server: the active instance's API serves the live correlator; the others serve
 *   the view of the `incidents` topic (list, counts, notification timeline; no alert tree).
 *
 * Resolves with the exit code once SIGTERM/SIGINT has stopped everything cleanly.
 */
export async function runDistributed(config: Config, o: DistributedStartOptions): Promise<number> {
  const log = o.logger;
  const kafkaConfig = config.kafka;
  const redisConfig = config.redis;
  if (kafkaConfig === undefined || redisConfig === undefined)
    throw new Error('distributed mode needs the `kafka` and `redis` sections');
  const dist = config.correlate.distributed;
  const topics = kafkaConfig.topics;
  const instance = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;

  // Detection: the embedded engine minus the correlator (it lives behind the alerts topic).
  const { topology, detection, rulesDir } = buildDetection(config, o.rules);
  const pipeline = new Pipeline({ topology, detection }, { latenessMs: config.detect.lateness });
  await o.loadTopology(topology);

  const kafka = createKafka({ brokers: kafkaConfig.brokers, clientId: kafkaConfig.clientId, logger: log });
  try {
    await ensureTopics(kafka, [{ topic: topics.metrics, numPartitions: kafkaConfig.partitions }]);
    await ensureSinglePartitionTopic(kafka, topics.alerts);
    await ensureCompactedTopic(kafka, topics.incidents, { retentionMs: 7 * 86_400_000 });
    await ensureCompactedTopic(kafka, topics.observed, { retentionMs: 86_400_000 });
  } catch (e) {
    throw new Error(
      `cannot create or check the topics on Kafka (${kafkaConfig.brokers.join(', ')}): ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const rulesReload = hotReloadRules(detection, rulesDir, log);
  const ownership = new MetricsOwnership(topics.metrics, await topicPartitions(kafka, topics.metrics));
  const clock = new PartitionClock(ownership, {
    hostTags: topology.resolver.mapping.host,
    latenessMs: config.detect.lateness,
    idleAfterMs: dist.idleAfter,
    fallback: () => pipeline.stats().watermark,
  });

  // Alerts out.
  const alertsProducer = new RecordLogProducer({ kafka, topic: topics.alerts, logger: log });
  const publisher = new AlertPublisher({
    producer: alertsProducer,
    ownership,
    topology,
    instance,
    watermark: () => clock.watermark(),
    partitionTime: (p) => clock.activeTimeOf(p),
    lagging: () => clock.laggingPartitions(),
    heartbeatMs: dist.heartbeat,
    idleAfterMs: dist.idleAfter,
    onError: (e) => log.error({ err: e.message }, 'alerts heartbeat failed'),
  });
  pipeline.on({ onAlert: (a) => publisher.onAlert(a) });

  // Topology learned by each instance, shared.
  const observedProducer = new RecordLogProducer({ kafka, topic: topics.observed, logger: log });
  const observedPublisher = new ObservedTopologyPublisher({
    producer: observedProducer,
    topology,
    ownership,
    attributeTags: config.topology.attributeTags,
  });
  const observedFeed = new ObservedTopologyFeed(topology, {
    kafka,
    topic: topics.observed,
    groupPrefix: `${kafkaConfig.groupId}-observed`,
    logger: log,
  });

  // Incidents: the compacted topic and this instance's view of it.
  const view = new IncidentView();
  const incidentFeed = new IncidentFeed(view, {
    kafka,
    topic: topics.incidents,
    groupPrefix: `${kafkaConfig.groupId}-incidents`,
    logger: log,
  });
  const incidentsProducer = new RecordLogProducer({ kafka, topic: topics.incidents, logger: log });
  const lastNotified = new Map<string, { event: IncidentEventType; at: number }>();
  const publishedState = new Map<string, string>();

  const redis = new Redis(redisConfig.url, { maxRetriesPerRequest: 3, enableOfflineQueue: true });
  redis.on('error', (e) => log.warn({ err: e.message }, 'redis (correlator checkpoint)'));
  const store = new RedisCheckpointStore(redis, dist.redisPrefix);

  let service: CorrelatorService | undefined;
  const incidents = new DistributedIncidents(view, () => service?.correlator);

  let consuming = false;
  const metricsSource = new KafkaMessageSource({
    kafka: ownership.observe(kafka),
    topic: topics.metrics,
    groupId: kafkaConfig.groupId,
    partitions: kafkaConfig.partitions,
    sessionTimeoutMs: kafkaConfig.sessionTimeout,
    heartbeatIntervalMs: Math.max(300, Math.min(3000, Math.floor(kafkaConfig.sessionTimeout / 10))),
    onFatal: (e) => fail(e, 'metrics consumer'),
    logger: log,
  });
  const detectionHealth = new DetectionHealth(log);
  const consumer = new MetricsConsumer({
    source: publishingSource(metricsSource, publisher, clock),
    sink: o.sink,
    deadLetters: new KafkaDeadLetterSink({ kafka, topic: topics.dlq }),
    format: config.input.format,
    precision: config.input.precision,
    maxInFlightPoints: kafkaConfig.maxInFlightPoints,
    onPoints: (points) => {
      clock.observe(points);
      detectionHealth.run(() => {
        pipeline.accept(points);
        pipeline.advance();
      });
    },
    logger: log,
  });
  const cmdbFeed = new TopologyFeed(topology, {
    kafka,
    topic: topics.topology,
    groupPrefix: `${kafkaConfig.groupId}-topology`,
    logger: log,
  });

  const serving = await serveEngine({
    config,
    engine: { topology, detection, pipeline, rulesDir },
    incidents: {
      source: incidents,
      // An operator's resolve travels with the alerts to the active correlator, in order.
      close: async (id, at) => {
        if (!incidents.isOpen(id)) return false;
        alertsProducer.enqueue(closeRecord({ id, at, reason: 'resolved through the API' }, instance));
        await alertsProducer.flush();
        return true;
      },
      // Alerts from other systems carry wall-clock times: one from the future must not drag
      // event time ahead (the embedded pipeline's `maxTime`).
      submitAlerts: async (alerts) => {
        const now = Date.now();
        for (const a of alerts) clock.external(Math.min(a.at, now));
        await publisher.publishExternal(alerts);
      },
    },
    logger: log,
    host: o.host,
    port: o.port,
    detectionHealth,
    readiness: () => {
      const role = service?.currentRole ?? 'standby';
      return {
        ready: consuming,
        checks: {
          kafka: { ok: consuming, detail: consuming ? 'consuming' : 'connecting' },
          correlator: { ok: true, detail: role },
        },
      };
    },
    stats: async () => {
      const c = consumer.stats();
      // The broker unreachable: the scrape goes on without the lag figures.
      const consumerLag = await metricsSource.lag().catch(() => undefined);
      return { points: c.points, malformed: c.malformed, inFlightPoints: c.inFlightPoints, consumerLag };
    },
  });
  log.info({ url: serving.url, instance }, 'API listening');

  const deliver = async (events: readonly IncidentEvent[], correlator: Correlator): Promise<void> => {
    for (const e of events) await serving.notifier.notify(e);
    const summaries = new Map(correlator.incidents().map((s) => [s.id, s]));
    for (const e of events) {
      lastNotified.set(e.id, { event: e.event, at: e.at });
      const summary = summaries.get(e.id);
      incidentsProducer.enqueue({ key: e.id, value: incidentViewRecord(e, summary), headers: {} });
      if (summary !== undefined) publishedState.set(e.id, stateKey(summary));
    }
    await incidentsProducer.flush();
  };

  service = new CorrelatorService({
    kafka,
    topic: topics.alerts,
    groupId: dist.group,
    sessionTimeoutMs: dist.sessionTimeout,
    store,
    topology,
    // Health scores stay with the detection instance owning each host: the active correlator
    // elects on coverage and time order alone, the same whichever instance is active.
    correlator: { groupWaitMs: config.correlate.groupWait, holdDownMs: config.correlate.holdDown },
    gate: {
      instanceTimeoutMs: dist.instanceTimeout,
      handoverGraceMs: dist.handoverGrace,
      latenessMs: config.detect.lateness,
      // Long enough for the metrics group to hand a dead instance's partitions on.
      partitionHoldMs: 2 * kafkaConfig.sessionTimeout + 10_000,
    },
    checkpointIntervalMs: dist.checkpointInterval,
    deliver,
    onRoleChange: (role) => {
      if (role !== 'active') {
        publishedState.clear();
        lastNotified.clear();
      }
    },
    onFatal: (e) => fail(e, 'alerts consumer'),
    logger: log,
  });

  // Between notifications incidents keep absorbing: the view learns the counts every 2 s.
  const viewTimer = setInterval(() => {
    const c = service?.correlator;
    if (c === undefined) return;
    let queued = 0;
    const live = new Set<string>();
    for (const s of c.incidents()) {
      live.add(s.id);
      const key = stateKey(s);
      if (publishedState.get(s.id) === key) continue;
      publishedState.set(s.id, key);
      incidentsProducer.enqueue({
        key: s.id,
        value: summaryViewRecord(s, lastNotified.get(s.id)),
        headers: {},
      });
      queued++;
    }
    for (const id of publishedState.keys()) if (!live.has(id)) publishedState.delete(id);
    for (const id of lastNotified.keys()) if (!live.has(id)) lastNotified.delete(id);
    if (queued > 0)
      incidentsProducer.flush().catch((e: Error) => log.warn({ err: e.message }, 'incident view'));
  }, 2000);
  viewTimer.unref();

  // How far behind each owned partition is: a partition with unread messages is not idle.
  const offsetsAdmin = kafka.admin();
  let offsetsBusy = false;
  const offsetsTimer = setInterval(() => {
    if (offsetsBusy) return;
    offsetsBusy = true;
    (async () => {
      const ends = new Map<number, bigint>();
      for (const o of await offsetsAdmin.fetchTopicOffsets(topics.metrics))
        ends.set(o.partition, BigInt(o.high));
      const committed = new Map<number, bigint>();
      const groups = await offsetsAdmin.fetchOffsets({
        groupId: kafkaConfig.groupId,
        topics: [topics.metrics],
      });
      for (const t of groups)
        for (const o of t.partitions) if (Number(o.offset) >= 0) committed.set(o.partition, BigInt(o.offset));
      clock.setOffsets(ends, committed);
    })()
      .catch((e: Error) => log.warn({ err: e.message }, 'metrics offsets'))
      .finally(() => {
        offsetsBusy = false;
      });
  }, 2000);
  offsetsTimer.unref();

  const observedTimer = setInterval(() => {
    if (observedPublisher.sweep() > 0)
      observedProducer.flush().catch((e: Error) => log.warn({ err: e.message }, 'observed topology'));
  }, 2000);
  observedTimer.unref();

  let fatal: Error | undefined;
  let stop: (code: number) => void = () => {};
  function fail(e: Error, what: string): void {
    fatal = e;
    log.error(
      { err: e.message, what },
      'Kafka consumer stopped for good; exiting so that a supervisor restarts it',
    );
    stop(1);
  }

  const statsTimer = setInterval(() => {
    const p = pipeline.stats();
    log.info(
      {
        instance,
        consumer: consumer.stats(),
        pipeline: {
          points: p.points,
          alerts: p.alerts,
          watermark: p.watermark,
          published: clock.watermark(),
        },
        partitions: ownership.assigned(),
        publisher: publisher.stats(),
        alertsProducer: alertsProducer.stats(),
        correlator: service?.stats(),
        topology: topology.counts(),
        observed: { published: observedPublisher.records, read: observedFeed.records },
        view: view.size,
      },
      'stats',
    );
  }, 10_000);
  statsTimer.unref();

  const done = new Promise<number>((resolve) => {
    let stopping = false;
    stop = (code: number) => {
      if (stopping) return;
      stopping = true;
      clearInterval(viewTimer);
      clearInterval(observedTimer);
      clearInterval(offsetsTimer);
      clearInterval(statsTimer);
      log.info({ code }, 'stopping');
      // Metrics first (the batch in hand is finished, its alerts acknowledged and committed),
      // then the goodbye watermark, then the correlator (last checkpoint; it leaves the group
      // so a standby takes over at once), then the readers and the API.
      const steps: Array<() => Promise<unknown>> = [
        () => rulesReload.shutdown(),
        () => consumer.shutdown(),
        () => publisher.shutdown(),
        () => service?.shutdown() ?? Promise.resolve(),
        () =>
          Promise.all([
            cmdbFeed.shutdown(),
            observedFeed.shutdown(),
            incidentFeed.shutdown(),
            observedProducer.shutdown(),
            incidentsProducer.shutdown(),
          ]),
        () => serving.shutdown(),
        () => offsetsAdmin.disconnect(),
        () => redis.quit(),
      ];
      (async () => {
        for (const step of steps) {
          try {
            await step();
          } catch (e) {
            log.error({ err: String(e) }, 'shutdown step failed');
          }
        }
        resolve(fatal ? 1 : code);
      })().catch(() => resolve(1));
    };
  });
  process.once('SIGTERM', () => stop(0));
  process.once('SIGINT', () => stop(0));

  publisher.start();
  try {
    await offsetsAdmin.connect();
    await Promise.all([
      consumer.start(),
      cmdbFeed.start(),
      observedFeed.start(),
      incidentFeed.start(),
      service.start(),
    ]);
  } catch (e) {
    fatal = kafkaStartFailure(e, kafkaConfig.brokers, log);
    stop(1);
    return done;
  }
  consuming = true;
  log.info(
    {
      instance,
      brokers: kafkaConfig.brokers,
      metrics: topics.metrics,
      alerts: topics.alerts,
      group: kafkaConfig.groupId,
      correlatorGroup: dist.group,
      tsdb: config.tsdb?.url,
    },
    'converge started (distributed)',
  );
  return done;
}

function stateKey(s: {
  version: number;
  status: string;
  absorbed: { total: number };
  firing: number;
  alerts: number;
}): string {
  return `${s.version}/${s.status}/${s.absorbed.total}/${s.firing}/${s.alerts}`;
}

/**
 * The metrics source with one step added to every batch: after the consumer has handed the
 * batch's points to detection, the alert state changes they caused (and the watermark) must be
 * acknowledged by Kafka before the source commits the batch. If the process dies first, the
 * batch is consumed again.
 */
function publishingSource(
  inner: MessageSource,
  publisher: AlertPublisher,
  clock: PartitionClock,
): MessageSource {
  return {
    run: (handler) =>
      inner.run(async (batch: SourceBatch) => {
        await handler(batch);
        clock.batch(batch.partition, batch.messages[batch.messages.length - 1]?.offset);
        await withHeartbeat(publisher.afterBatch(), batch);
      }),
    shutdown: () => inner.shutdown(),
  };
}

async function withHeartbeat<T>(p: Promise<T>, batch: SourceBatch): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const beat = new Promise<never>((_, reject) => {
    timer = setInterval(() => batch.heartbeat().catch(reject), 1000);
  });
  try {
    return await Promise.race([p, beat]);
  } finally {
    clearInterval(timer);
  }
}
