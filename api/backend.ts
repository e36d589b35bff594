import type { AlertEvent, CapacityStats, Level } from '../core/types.js';
import type { CorrelatorStats } from '../correlate/correlator.js';
import type { IncidentDetail, IncidentSummary } from '../correlate/incident.js';
import { MemorySilenceStore, type SilenceStore } from '../notify/silences.js';
import type { DeadLetter, QueueCounts, RetryDeadLetterResult } from '../notify/types.js';
import { AlertLog } from './alert-log.js';
import { AlertHealth, type DetectionHealth } from './health.js';
import { MemoryOperatorStore } from './operator.js';
import type {
  AlertsPort,
  ApiBackend,
  EngineStats,
  IncidentsPort,
  MaybePromise,
  NotificationsPort,
  OperatorPort,
  Readiness,
  TopologyPort,
} from './ports.js';

/**
 * Adapts the engine's real objects to the API's ports:
 *
 * ```ts
 * const backend = createEngineBackend({
 *   topology: pipeline.topology,            // TopologyGraph
 *   correlator,                             // Correlator
 *   notifier,                               // Notifier (silences, dead letters)
 *   detection,                              // DetectionEngine (health with anomaly scores)
 *   submitAlerts: (alerts) => engine.alerts(alerts), // POST /alerts -> correlator, in event time
 *   readiness: () => engine.readiness(),
 * });
 * detection.onAlert = (a) => { backend.recordAlert(a); correlator.ingest(a); };
 * const api = await createApiServer(backend, config.api);
 * ```
 */
export interface CorrelatorLike {
  incidents(): IncidentSummary[];
  get(id: string): IncidentDetail | undefined;
  ingest?(alert: AlertEvent): void;
  stats?(): CorrelatorStats;
  /** The correlator's bounded stores by resource (e.g. open incidents), if it bounds any. */
  capacity?(): Record<string, CapacityStats>;
}

export interface NotifierLike {
  readonly silences: SilenceStore;
  deadLetters(): Promise<DeadLetter[]>;
  retryDeadLetter(id: string, options?: { force?: boolean }): Promise<RetryDeadLetterResult>;
  counts(): Promise<QueueCounts>;
}

export interface EngineBackendOptions {
  topology: TopologyPort;
  correlator: CorrelatorLike;
  notifier?: NotifierLike;
  detection?: DetectionHealth & { stats?(): { points: number; watermark: number } };
  /**
   * Hands alerts from POST /alerts to the engine, which feeds the correlator and moves event time.
   * Default: `correlator.ingest` (the engine's next advance processes them).
   */
  submitAlerts?: (alerts: readonly AlertEvent[]) => MaybePromise<void>;
  /** Closes an incident in the correlator (operator resolve), if the correlator can. */
  closeIncident?: (id: string, at: number) => MaybePromise<boolean>;
  operator?: OperatorPort;
  alertLog?: AlertLog;
  /** Checks of the engine's consumers and stores, merged into GET /readyz. */
  readiness?: () => MaybePromise<Readiness>;
  /** Figures only the engine knows (points in, consumer lag, malformed lines). */
  stats?: () => MaybePromise<EngineStats>;
  /** Bounded stores of other stages by resource (detection series...), beside topology and correlator. */
  capacity?: () => MaybePromise<Record<string, CapacityStats>>;
  /**
   * How long a listing or an incident's detail may be served from cache while it keeps changing
   * (detail of a 5,000-alert incident costs the correlator ~150 ms). Default 1000 ms.
   */
  cacheMs?: number;
  now?: () => number;
}

export interface EngineBackend extends ApiBackend {
  /** Every alert state change the engine sees (detection's onAlert), for GET /alerts and health. */
  recordAlert(alert: AlertEvent): void;
  readonly alertLog: AlertLog;
}

export function createEngineBackend(options: EngineBackendOptions): EngineBackend {
  const now = options.now ?? Date.now;
  const cacheMs = options.cacheMs ?? 1000;
  const alertLog = options.alertLog ?? new AlertLog();
  const correlator = options.correlator;
  const health = new AlertHealth(
    options.topology,
    alertLog,
    options.detection === undefined ? { now } : { detection: options.detection, now },
  );

  let listCache: { at: number; list: IncidentSummary[] } | undefined;
  const details = new Map<string, { key: string; at: number; detail: IncidentDetail }>();
  const summaryKey = (s: IncidentSummary) => `${s.version}/${s.status}/${s.absorbed.total}/${s.firing}`;

  const list = (): IncidentSummary[] => {
    const t = now();
    if (listCache !== undefined && t - listCache.at < Math.min(cacheMs, 250)) return listCache.list;
    listCache = { at: t, list: correlator.incidents() };
    return listCache.list;
  };

  const incidents: IncidentsPort = {
    list,
    get(id) {
      const t = now();
      const cached = details.get(id);
      const summary = list().find((s) => s.id === id);
      if (cached !== undefined && summary !== undefined) {
        const fresh = cached.key === summaryKey(summary);
        const sameStatus = cached.detail.status === summary.status;
        if (fresh || (sameStatus && t - cached.at < cacheMs)) return cached.detail;
      }
      const detail = correlator.get(id);
      if (detail === undefined) {
        details.delete(id);
        return undefined;
      }
      if (details.size >= 256) details.delete(details.keys().next().value!);
      details.set(id, { key: summaryKey(detail), at: t, detail });
      return detail;
    },
  };
  if (options.closeIncident !== undefined) {
    const close = options.closeIncident;
    incidents.close = async (id, at) => {
      const closed = await close(id, at);
      listCache = undefined;
      details.delete(id);
      return closed;
    };
  }

  const submit =
    options.submitAlerts ??
    ((alerts: readonly AlertEvent[]) => {
      if (correlator.ingest === undefined) throw new Error('this correlator takes no alerts from the API');
      for (const a of alerts) correlator.ingest(a);
    });

  const alerts: AlertsPort = {
    list: (q) => alertLog.list(q),
    firingOf: (ref) => alertLog.firingOf(ref),
    async ingest(batch) {
      for (const a of batch) alertLog.record(a);
      await submit(batch);
      listCache = undefined;
    },
    counts: () => alertLog.counts(),
  };

  const notifier = options.notifier;
  const notifications: NotificationsPort = {
    deadLetters: () => (notifier ? notifier.deadLetters() : []),
    retryDeadLetter: (id, o) =>
      notifier ? notifier.retryDeadLetter(id, o) : { requeued: false, reason: 'no notifier configured' },
    counts: () =>
      notifier ? notifier.counts() : { pending: 0, delivered: 0, muted: 0, retried: 0, deadLettered: 0 },
  };
  const silences = notifier?.silences ?? new MemorySilenceStore(now);

  return {
    alertLog,
    recordAlert: (a) => alertLog.record(a),
    incidents,
    topology: options.topology,
    health,
    alerts,
    silences,
    notifications,
    operator: options.operator ?? new MemoryOperatorStore(),

    async readiness(): Promise<Readiness> {
      const checks: Readiness['checks'] = {};
      try {
        await silences.list();
        checks.silences = { ok: true };
      } catch (e) {
        checks.silences = { ok: false, detail: (e as Error).message };
      }
      if (notifier !== undefined) {
        try {
          await notifier.counts();
          checks.notifications = { ok: true };
        } catch (e) {
          checks.notifications = { ok: false, detail: (e as Error).message };
        }
      }
      if (options.readiness !== undefined) {
        try {
          const r = await options.readiness();
          Object.assign(checks, r.checks);
          if (!r.ready && Object.values(r.checks).every((c) => c.ok))
            checks.engine = { ok: false, detail: 'not ready' };
        } catch (e) {
          checks.engine = { ok: false, detail: (e as Error).message };
        }
      }
      return { ready: Object.values(checks).every((c) => c.ok), checks };
    },

    async capacity(): Promise<Record<string, CapacityStats>> {
      const out: Record<string, CapacityStats> = {};
      const entities = options.topology.capacityStats?.();
      if (entities !== undefined) out.entities = entities;
      Object.assign(out, correlator.capacity?.(), await options.capacity?.());
      return out;
    },

    async stats(): Promise<EngineStats> {
      const s: EngineStats = {};
      const counts = options.topology.counts();
      s.entities = counts as Record<Level, number>;
      s.alertEvents = alertLog.events();
      const cs = correlator.stats?.();
      if (cs !== undefined) {
        s.incidents = {
          opened: cs.opened,
          updated: cs.updated,
          resolved: cs.resolvedIncidents,
          merged: cs.merged,
        };
      }
      const ds = options.detection?.stats?.();
      if (ds !== undefined) {
        s.points = ds.points;
        if (Number.isFinite(ds.watermark)) s.watermark = ds.watermark;
      }
      if (notifier !== undefined) {
        try {
          s.notifications = await notifier.counts();
        } catch {
          // Readiness reports the store; metrics just leave the figures out.
        }
      }
      if (options.stats !== undefined) Object.assign(s, await options.stats());
      return s;
    },
  };
}
