import { type CorrelatorLike, createEngineBackend, type EngineBackend } from '../api/backend.js';
import type { ApiToken } from '../api/config.js';
import type { EngineStats, MaybePromise, Readiness } from '../api/ports.js';
import { type ApiServer, createApiServer } from '../api/server.js';
import type { Config } from '../core/config.js';
import type { Logger } from '../core/log.js';
import type { AlertEvent, IncidentEvent } from '../core/types.js';
import { parseNotifyConfig } from '../notify/config.js';
import { createNotifier, type Notifier } from '../notify/notifier.js';
import { templateRenderErrors } from '../rules/template.js';
import type { BuiltEngine } from './build.js';
import type { DetectionHealth } from './detection-health.js';

/**
 * What `converge start` and `converge demo` add around the engine: the notifier (incident events
 * to the configured sinks), the REST API over the engine's state, and the glue between them.
 */
export interface ServeOptions {
  config: Config;
  /** Distributed mode builds no local correlator (see `incidents`). */
  engine: Omit<BuiltEngine, 'correlator'> & { correlator?: BuiltEngine['correlator'] };
  /**
   * Where the API's incidents come from when they are not the local correlator's (distributed
   * mode: the active correlator or the incidents-topic view), and how an operator's resolve
   * reaches the correlator. Incident events are then delivered by whoever produces them.
   */
  incidents?: {
    source: CorrelatorLike;
    close?: (id: string, at: number) => MaybePromise<boolean>;
    /** Where POST /alerts goes instead of the local pipeline (distributed: the alerts topic). */
    submitAlerts?: (alerts: readonly AlertEvent[]) => MaybePromise<void>;
  };
  logger: Logger;
  /** Override api.host / api.port (command-line flags). */
  host?: string;
  port?: number;
  /** Tokens added to the configured ones (the demo's generated write token). */
  extraTokens?: ApiToken[];
  /** Checks of the consumers and stores, for /readyz. */
  readiness?: () => Readiness;
  /** Detection's own check (/readyz `detection`) and failure count (/metrics), when batches go through it. */
  detectionHealth?: DetectionHealth;
  /** Figures of the ingest stage, for /metrics. */
  stats?: () => EngineStats | Promise<EngineStats>;
}

export interface Serving {
  notifier: Notifier;
  backend: EngineBackend;
  api: ApiServer;
  url: string;
  /** Resolves when every incident event handed over so far is queued for delivery. */
  drained(): Promise<void>;
  shutdown(): Promise<void>;
}

export async function serveEngine(o: ServeOptions): Promise<Serving> {
  const { engine, config, logger } = o;
  const notifier = createNotifier({
    config: config.notify ?? parseNotifyConfig({}),
    redisUrl: config.redis?.url,
    topology: engine.topology,
    logger,
  });
  await notifier.start();

  const correlator = engine.correlator;
  const source = o.incidents?.source ?? correlator;
  if (source === undefined)
    throw new Error('serveEngine: the engine has no correlator and no incidents source was given');
  const backend = createEngineBackend({
    topology: engine.topology,
    correlator: source,
    notifier,
    detection: engine.detection,
    // Alerts from other systems (POST /alerts, Alertmanager) carry wall-clock times.
    submitAlerts:
      o.incidents?.submitAlerts ??
      ((alerts) => {
        const now = Date.now();
        for (const a of alerts) engine.pipeline.acceptAlert(a, { maxTime: now });
        engine.pipeline.advance();
      }),
    // An operator's resolve closes the incident in the correlator; its `resolved` event goes
    // through the pipeline's listeners like any other (the notifier sends it).
    closeIncident:
      o.incidents?.close ??
      ((id, at) => {
        const event = correlator?.resolveIncident(id, at, 'resolved through the API');
        if (event === undefined) return false;
        engine.pipeline.emitIncident(event);
        return true;
      }),
    readiness: () => {
      const r: Readiness = o.readiness?.() ?? { ready: true, checks: {} };
      const detection = o.detectionHealth?.check();
      if (detection === undefined) return r;
      return { ready: r.ready && detection.ok, checks: { ...r.checks, detection } };
    },
    stats: async () => {
      const p = engine.pipeline.stats();
      return {
        points: p.points,
        watermark: Number.isFinite(p.watermark) ? p.watermark : undefined,
        entities: engine.topology.counts(),
        templateErrors: templateRenderErrors(),
        detectionFailures: o.detectionHealth?.failures,
        ...(await o.stats?.()),
      };
    },
  });

  // Incident events go to the notifier one at a time, in order; a failure (Redis down) is
  // retried until it succeeds, so no event is lost and none overtakes another.
  let chain: Promise<void> = Promise.resolve();
  let closing = false;
  const deliver = async (e: IncidentEvent): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        await notifier.notify(e);
        return;
      } catch (err) {
        if (closing) throw err;
        const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
        logger.error(
          { err: (err as Error).message, incident: e.id, version: e.version, delay },
          'notify failed; retrying',
        );
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  };
  engine.pipeline.on({
    onAlert: (a) => backend.recordAlert(a),
    onIncident: (e) => {
      chain = chain
        .then(() => deliver(e))
        .catch((err) => logger.error({ err: String(err) }, 'notify gave up'));
    },
  });

  const api = await createApiServer(backend, {
    ...config.api,
    host: o.host ?? config.api.host,
    port: o.port ?? config.api.port,
    tokens: [...config.api.tokens, ...(o.extraTokens ?? [])],
    logger,
  });
  const url = await api.listen();

  return {
    notifier,
    backend,
    api,
    url,
    drained: () => chain,
    shutdown: async () => {
      await api.close();
      // Give queued incident events up to 5 s to reach the notifier; never hold the exit longer.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([chain, new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
      closing = true;
      await notifier.shutdown();
    },
  };
}
