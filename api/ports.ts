import type {
  AlertEvent,
  CapacityStats,
  CauseRef,
  DecodeError,
  EntityRef,
  Level,
  Severity,
  TopologyView,
} from '../core/types.js';
import type { IncidentDetail, IncidentSummary } from '../correlate/incident.js';
import type { SilenceStore } from '../notify/silences.js';
import type { DeadLetter, QueueCounts, RetryDeadLetterResult } from '../notify/types.js';
import type { EntityHealth } from '../scoring/health.js';

/**
 * What the REST API asks of the engine: small ports, so that the server depends on these and
 * not on the stages' classes. `createEngineBackend` (backend.ts) adapts the real objects
 * (TopologyGraph, Correlator, Notifier, DetectionEngine); tests and other deployments may
 * implement them otherwise. Every method may answer synchronously or with a promise.
 */
export type MaybePromise<T> = T | Promise<T>;

export interface ApiBackend {
  incidents: IncidentsPort;
  topology: TopologyPort;
  health: HealthPort;
  alerts: AlertsPort;
  silences: SilenceStore;
  notifications: NotificationsPort;
  operator: OperatorPort;
  /** Ready only when the consumers and stores are (GET /readyz). */
  readiness(): MaybePromise<Readiness>;
  /** Counters of the stages for /metrics; absent fields are not exported. */
  stats(): MaybePromise<EngineStats>;
  /**
   * The engine's bounded stores by resource (`entities`, and whatever else a stage bounds:
   * incidents, series...): /metrics and GET /api/v1/health show them. Optional.
   */
  capacity?(): MaybePromise<Record<string, CapacityStats>>;
}

export interface IncidentsPort {
  /** Every incident the correlator holds (open and retained resolved ones), newest first. */
  list(): MaybePromise<readonly IncidentSummary[]>;
  get(id: string): MaybePromise<IncidentDetail | undefined>;
  /**
   * Closes an incident in the correlator (an operator's resolve): its alerts stop joining it and
   * a `resolved` event goes out. Optional: without it an operator's resolve is recorded and shown,
   * and lasts until the incident changes again.
   */
  close?(id: string, at: number): MaybePromise<boolean>;
}

/** The live topology, with the one listing the API needs beyond TopologyView. */
export interface TopologyPort extends TopologyView {
  ids(level: Level): Iterable<string>;
  /** Declared by a CMDB record (never expires). */
  isDeclared?(ref: EntityRef): boolean;
  /** Entities held against the topology's cap, evicted and refused there. */
  capacityStats?(): CapacityStats;
}

export interface HealthPort {
  health(ref: EntityRef): MaybePromise<EntityHealth | undefined>;
  /** Every entity of the level, worst first. */
  healthAll(level: Level): MaybePromise<readonly EntityHealth[]>;
}

export interface AlertQuery {
  state?: 'firing' | 'resolved';
  severity?: Severity;
  rule?: string;
  entity?: EntityRef;
  level?: Level;
  predicted?: boolean;
  /** Event-time range of the latest state change (ms). */
  since?: number;
  until?: number;
}

export interface AlertIngestResult {
  accepted: number;
  errors: DecodeError[];
}

export interface AlertsPort {
  /** Firing alerts and recently resolved ones matching the query, newest state change first. */
  list(query: AlertQuery): MaybePromise<readonly AlertEvent[]>;
  /** Firing alerts of one entity. */
  firingOf(ref: EntityRef): MaybePromise<readonly AlertEvent[]>;
  /** Alert state changes from outside (POST /alerts): into the correlator. */
  ingest(alerts: readonly AlertEvent[]): MaybePromise<void>;
  counts(): MaybePromise<{ firing: number; recent: number; received: number }>;
}

export interface NotificationsPort {
  deadLetters(): MaybePromise<readonly DeadLetter[]>;
  retryDeadLetter(id: string, options?: { force?: boolean }): MaybePromise<RetryDeadLetterResult>;
  counts?(): MaybePromise<QueueCounts>;
}

/** What an operator did to an incident (wall-clock time). */
export interface OperatorAction {
  by: string;
  comment: string;
  at: number;
  /** Incident version when it was done (a resolve lasts until the incident changes again). */
  version: number;
}

export interface OperatorState {
  acknowledged?: OperatorAction;
  resolved?: OperatorAction;
}

export type Verdict = 'correct' | 'incorrect';

/** An operator's verdict on an incident's root cause, kept for later learning. */
export interface Feedback {
  id: string;
  incidentId: string;
  incidentVersion: number;
  verdict: Verdict;
  /** The root cause the verdict is about. */
  rootCause: CauseRef;
  /** Ranked candidates at the time (entity and score), to learn which rank was right. */
  candidates: Array<{ entity: CauseRef; score: number }>;
  actualCause?: { level: Level | 'attribute'; id: string; kind?: CauseRef['kind'] };
  comment: string;
  by: string;
  at: number;
}

export interface OperatorPort {
  state(incidentId: string): MaybePromise<OperatorState | undefined>;
  acknowledge(incidentId: string, action: OperatorAction): MaybePromise<void>;
  resolve(incidentId: string, action: OperatorAction): MaybePromise<void>;
  addFeedback(feedback: Feedback): MaybePromise<void>;
  /** Newest first. */
  feedback(filter?: { incidentId?: string; verdict?: Verdict }): MaybePromise<readonly Feedback[]>;
}

export interface ReadinessCheck {
  ok: boolean;
  detail?: string;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, ReadinessCheck>;
}

/** Figures of the stages; /metrics exports those present. */
export interface EngineStats {
  /** Points accepted so far. */
  points?: number;
  /** Malformed lines sent to the dead-letter topic. */
  malformed?: number;
  /** Points the TSDB refused for good, sent to the dead-letter topic. */
  tsdbRefused?: number;
  /** Decoded points held until the TSDB acknowledges them (bounded by kafka.maxInFlightPoints). */
  inFlightPoints?: number;
  /** Kafka consumer lag (messages) per partition key, when the consumer reports it. */
  consumerLag?: Record<string, number>;
  /** Event time of the watermark (ms). */
  watermark?: number;
  /** Entities per level in the topology. */
  entities?: Partial<Record<Level, number>>;
  /** Alert state changes by state, since start. */
  alertEvents?: { firing: number; resolved: number };
  incidents?: { opened: number; updated: number; resolved: number; merged?: number };
  notifications?: QueueCounts;
  /** Annotation template actions that failed to render (each shown in its annotation). */
  templateErrors?: number;
  /** Batches of points whose detection threw. */
  detectionFailures?: number;
}
