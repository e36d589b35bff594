/**
 * The shared vocabulary of every stage. Each top-level folder owns one stage; the records that
 * cross stage boundaries live here so that no stage imports another stage's internals.
 *
 * Times are event times in milliseconds since the Unix epoch (the metrics' own timestamps),
 * never the wall clock. JSON outputs render them as ISO-8601 strings.
 */

/** Levels of the topology, top to bottom; `app` sits beside the hierarchy (app -> container). */
export type Level = 'idc' | 'rack' | 'host' | 'container' | 'app';
export const LEVELS: readonly Level[] = ['idc', 'rack', 'host', 'container', 'app'];
export const HIERARCHY: readonly Level[] = ['idc', 'rack', 'host', 'container'];

export function isLevel(x: unknown): x is Level {
  return x === 'idc' || x === 'rack' || x === 'host' || x === 'container' || x === 'app';
}

export interface EntityRef {
  level: Level;
  id: string;
}

/** Key of an entity in maps and graphs: "host:h1". */
export function entityKey(level: Level, id: string): string {
  return level + ':' + id;
}

// ---------------------------------------------------------------------------------------------
// Points (decoded metrics)
// ---------------------------------------------------------------------------------------------

/**
 * A field value. Integers (`i`) and unsigned integers (`u`) decode to `number` when they are
 * safe integers and to `bigint` otherwise, so that nothing is rounded on the way to the TSDB.
 */
export type FieldValue = number | bigint | string | boolean;

/**
 * One line of line protocol / one Telegraf JSON metric: a measurement at one instant with its
 * tag set and all its fields (InfluxDB counts this as one point).
 */
export interface Point {
  measurement: string;
  /** Tag set in input order. */
  tags: Record<string, string>;
  /** Field set in input order. */
  fields: Record<string, FieldValue>;
  /**
   * One type code per field, in the order of `fields`: `f` float, `i` integer, `u` unsigned,
   * `s` string, `b` boolean. Keeps `5i` and `5` apart for an exact re-encode.
   */
  types: string;
  /** Event time, whole milliseconds since the epoch. */
  time: number;
  /** Sub-millisecond remainder in nanoseconds, 0..999999 (exact time = time * 1e6 + nanos ns). */
  nanos: number;
}

export type Precision = 'ns' | 'us' | 'ms' | 's';
export type InputFormat = 'lp' | 'json';

/** A rejected line, with the reason. `line` is 1-based within the message/file. */
export interface DecodeError {
  line: number;
  reason: string;
  /** The offending input, truncated to a readable length. */
  text: string;
}

export interface DecodeResult {
  points: Point[];
  errors: DecodeError[];
}

// ---------------------------------------------------------------------------------------------
// Topology records (CMDB) and the read-only view other stages use
// ---------------------------------------------------------------------------------------------

/**
 * Explicit topology, from a file or the Kafka topic `topology`, one JSON object per record:
 * `{"level":"host","id":"h1","parent":{"level":"rack","id":"r1"},"attributes":{"kernel":"5.10"}}`.
 * A container may name its `app`; an app may list the apps it `calls` (upstream edges).
 */
export interface TopologyRecord {
  level: Level;
  id: string;
  parent?: EntityRef;
  app?: string;
  attributes?: Record<string, string>;
  calls?: string[];
  /** Optional: remove this entity (and its membership edges). */
  deleted?: boolean;
}

/**
 * What detection, correlation and the API may ask of the live topology. Implemented by the
 * graphology-backed graph in topology/; small so that tests can implement it in a few lines.
 */
/**
 * How full one bounded store is (topology entities, open incidents, detection series...) and
 * what its bound cost so far; the API's /metrics and /api/v1/health show one per resource.
 */
export interface CapacityStats {
  /** Held now. */
  held: number;
  /** The bound. */
  limit: number;
  /** Removed to make room, since start. */
  evicted: number;
  /** Refused for want of room, since start. */
  refused: number;
}

export interface TopologyView {
  has(ref: EntityRef): boolean;
  /** Hierarchy parent: container -> host -> rack -> idc. Apps have none. */
  parent(ref: EntityRef): EntityRef | undefined;
  /** Hierarchy children (for an app: its containers). */
  children(ref: EntityRef): EntityRef[];
  childCount(ref: EntityRef): number;
  /** The app a container belongs to, if known. */
  appOf(container: string): string | undefined;
  /** Apps this app calls (downstream -> upstream dependency edges). */
  calls(app: string): string[];
  /** Apps that call this app. */
  callers(app: string): string[];
  attributes(ref: EntityRef): Readonly<Record<string, string>>;
  /** Event time this entity was last seen in metrics or topology records (ms). */
  lastSeen(ref: EntityRef): number | undefined;
  /** Number of entities per level. */
  counts(): Record<Level, number>;
  /**
   * Attribute groups, kept incrementally by the live graph (optional so that small test views
   * can omit them): how many entities of a level carry each value of `key` (e.g. hosts per
   * kernel), and which ones.
   */
  attributeValues?(level: Level, key: string): Map<string, number>;
  membersWithAttribute?(level: Level, key: string, value: string): EntityRef[];
  /** Attribute keys some entity of the level carries (e.g. kernel, model, os). */
  attributeKeys?(level: Level): string[];
  /**
   * Optional fast paths for per-alert and per-election work on large topologies (callers fall
   * back to the methods above when a view omits them). `placeContainer`: the container's host
   * and app in one lookup, written into `out` without allocating; false (and `out` untouched)
   * when the container is unknown. `callList` / `callerList`: `calls(app)` / `callers(app)` as
   * read-only lists the view may share between calls (no allocation once built).
   */
  placeContainer?(id: string, out: ContainerPlace): boolean;
  callList?(app: string): readonly string[];
  callerList?(app: string): readonly string[];
}

/** Where a container sits: its host and app ids (TopologyView.placeContainer). */
export interface ContainerPlace {
  host: string | undefined;
  app: string | undefined;
}

// ---------------------------------------------------------------------------------------------
// Alerts (detection -> correlation)
// ---------------------------------------------------------------------------------------------

export type Severity = 'critical' | 'warning' | 'info';
export const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

export type AlertState = 'firing' | 'resolved';

/**
 * One alert state change. The `--alerts-out` JSON line is this record with `at` (and
 * `startsAt`) rendered as ISO strings.
 */
export interface AlertEvent {
  /** Unique per firing episode: fingerprint + start time. */
  id: string;
  /** Stable across episodes: hash of rule + entity + labels. */
  fingerprint: string;
  rule: string;
  severity: Severity;
  state: AlertState;
  entity: EntityRef;
  /** True for predictive detectors (leak, fill, anomaly). */
  predicted: boolean;
  /** For predictions: seconds until the predicted breach. */
  etaSeconds?: number;
  /** Health or anomaly score that accompanied the alert, if any. */
  score?: number;
  /** Event time of this state change (ms). */
  at: number;
  /** Event time the episode started firing (ms). */
  startsAt: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// Incidents (correlation -> notification and API)
// ---------------------------------------------------------------------------------------------

export type CauseKind =
  | 'idc'
  | 'rack'
  | 'host'
  | 'container'
  | 'app'
  | 'noisy-neighbour'
  | 'attribute'
  | 'upstream'
  | 'self';

/** An attribute group is written `{level:"attribute", id:"kernel=5.10", kind:"attribute"}`. */
export interface CauseRef {
  level: Level | 'attribute';
  id: string;
  kind: CauseKind;
}

export interface Candidate {
  entity: CauseRef;
  kind: CauseKind;
  score: number;
  evidence: Record<string, unknown>;
}

export type IncidentStatus = 'open' | 'resolved';
export type IncidentEventType = 'opened' | 'updated' | 'resolved';

export interface IncidentEvent {
  event: IncidentEventType;
  id: string;
  /** Increases with every notification-worthy change; (id, version) is unique. */
  version: number;
  status: IncidentStatus;
  severity: Severity;
  rootCause: CauseRef;
  candidates: Candidate[];
  absorbed: { total: number; byLevel: Partial<Record<Level | 'neighbour', number>> };
  startsAt: number;
  endsAt?: number;
  /** Event time of this event (ms). */
  at: number;
  /** On the final `resolved` of an incident folded into another one: the incident it joined. */
  mergedInto?: string;
}

// ---------------------------------------------------------------------------------------------
// Lifecycle shared by every component (OpenTelemetry-style).
// ---------------------------------------------------------------------------------------------

export interface Lifecycle {
  /** Flush what is buffered and release resources; idempotent. */
  shutdown(): Promise<void>;
}
