import {
  type AlertEvent,
  type Candidate,
  type CauseRef,
  type IncidentEvent,
  type IncidentStatus,
  isLevel,
  type Level,
  type TopologyView,
} from '../core/types.js';
import { BackgroundRate, type BackgroundState } from './background.js';
import { type ElectedCause, type ElectionOptions, elect, mayGroup } from './election.js';
import { AlertRec, EntityRec } from './entities.js';
import { hashHex } from './hash.js';
import { MinHeap } from './heap.js';
import {
  Incident,
  type IncidentDetail,
  type IncidentSnapshot,
  type IncidentSummary,
  type SnapshotAlert,
  snapshotAlert,
} from './incident.js';
import { TopologyCache } from './topology-cache.js';

/**
 * Alerts in, incidents out, in event time.
 *
 * - `ingest(alert)` queues an alert state change; `advance(watermark)` processes everything up
 *   to the watermark in event-time order, firing the correlator's own timers (group wait,
 *   hold-down) at their exact event times in between, so the result does not depend on how the
 *   caller batches alerts and watermarks: a replay gives the same incidents, ids and events.
 * - A new alert joins a live incident whose root cause explains it (same symptom, or a host the
 *   incident already covers); otherwise it waits in a pool. Once the oldest pooled alert has
 *   waited `groupWaitMs`, an election over the pool (and over young incidents, which a better
 *   cause may take over) decides the causes; each becomes an incident and is `opened`.
 *   Unexplained alerts become their own incidents (root cause kind `self`).
 * - `updated` is emitted only when an open incident's root cause or severity changes;
 *   `resolved` once, `holdDownMs` after the last absorbed alert resolved with nothing re-firing,
 *   or when an operator closes it (`resolveIncident`).
 */
export interface CorrelatorOptions {
  /** Wait before the first notification, to let the storm arrive (event time). Default 30 s, at most 10 min. */
  groupWaitMs?: number;
  /** Quiet time after the last absorbed alert resolved before `resolved`. Default 5 min. */
  holdDownMs?: number;
  /**
   * Least event time between two elections, so that a trickle of lone alerts is elected in
   * batches: an alert waits between the group wait and the group wait plus this. Default 1 s.
   */
  electionIntervalMs?: number;
  /**
   * Incidents opened within this long before the oldest pooled alert may be taken over by a
   * cause found later (a storm's first alerts can open an incident of their own). Default 2 min.
   */
  mergeWindowMs?: number;
  /**
   * The same for an app and the lone incidents (root cause `self`) of its own containers raised
   * by a predicted alert with one of its symptoms: predictions (a leak, a disk filling) cross
   * their thresholds in waves minutes apart, and the first wave's containers open incidents of
   * their own before the app's coverage is evident. Threshold alerts keep the merge window (the
   * further back, the likelier two lone alerts of one app meet by chance). Default 15 min.
   */
  appMergeWindowMs?: number;
  /** Incidents larger than this are not re-elected (their cause is settled). Default 200 entities. */
  mergeMaxMembers?: number;
  /**
   * Least chance that an entity alerts by itself within one storm (group wait + merge window).
   * The correlator learns the actual rate from unexplained alerts and uses it when higher.
   * Default 0.01.
   */
  backgroundRate?: number;
  /** Least information (nats) a group cause must add. Default 10. */
  minGain?: number;
  /** Jitter tolerated when checking that causes start first. Default 5 s. */
  slackMs?: number;
  /** Time-order penalty scale. Default 30 s. */
  tauMs?: number;
  /**
   * How far ahead of its victims a noisy container may start. Default 15 min: rules with
   * different `for` durations (5 min on containers, 10 on hosts) shift alert starts by minutes.
   */
  noisyMaxLeadMs?: number;
  /** Host attribute keys that form groups (kernel, model, os, zone ...). Default: every key. */
  attributeKeys?: readonly string[];
  /** Smallest attribute group (hosts). Default 3. */
  minAttributeGroup?: number;
  /** Calls hops followed from a failing upstream app to its callers. Default 2. */
  upstreamDepth?: number;
  /** Candidates listed per incident. Default 5. */
  maxCandidates?: number;
  /** Health of a candidate cause in [0, 1] (or percent), from the scoring stage. */
  health?: (cause: CauseRef) => number | undefined;
  /** How long resolved incidents stay queryable (event time). Default 1 h. */
  retainResolvedMs?: number;
  /** At most this many resolved incidents are kept. Default 10,000. */
  maxResolved?: number;
  /** Timeline entries kept per incident. Default 100. */
  timelineLimit?: number;
}

export interface CorrelatorStats {
  /** Alert state changes processed. */
  alerts: number;
  /** Records dropped by ingest() as malformed. */
  rejected: number;
  firing: number;
  resolved: number;
  /** Resolutions of alerts never seen firing (or already resolved). */
  orphanResolved: number;
  /** Firing alerts for an episode already firing. */
  duplicates: number;
  /** Pooled alerts that resolved before any incident took them (flaps, never notified). */
  flapsDropped: number;
  elections: number;
  electionMs: number;
  opened: number;
  updated: number;
  resolvedIncidents: number;
  /** Incidents closed by hand (resolveIncident); also counted in resolvedIncidents. */
  closedByOperator: number;
  merged: number;
  live: number;
  pooled: number;
  buffered: number;
  activeAlerts: number;
}

export interface CorrelatorSnapshot {
  version: 1;
  now: number;
  lastElection: number;
  buffered: AlertEvent[];
  /** `fallback`: the incident a pooled record joins when nothing else explains it. */
  pool: { since: number; alerts: SnapshotAlert[]; fallback?: string }[];
  incidents: IncidentSnapshot[];
  background: BackgroundState;
  stats: CorrelatorStats;
}

const MAX_GROUP_WAIT_MS = 10 * 60_000;
/** Context incidents larger than this stay out of elections (their domain takes alerts directly). */
const MAX_CONTEXT_MEMBERS = 5000;

export class Correlator {
  private readonly groupWait: number;
  private readonly holdDown: number;
  private readonly electionInterval: number;
  private readonly mergeWindow: number;
  private readonly appMergeWindow: number;
  private readonly mergeMaxMembers: number;
  private readonly retainResolved: number;
  private readonly maxResolved: number;
  private readonly timelineLimit: number;
  private readonly election: ElectionOptions;
  private readonly backgroundFloor: number;
  private readonly background = new BackgroundRate();
  private readonly cache: TopologyCache;

  private nowAt = Number.NEGATIVE_INFINITY;
  private lastElection = Number.NEGATIVE_INFINITY;
  private buffer: AlertEvent[] = [];
  private bufferHead = 0;
  private bufferSorted = true;

  private readonly alerts = new Map<string, AlertRec>();
  /** Alerting entities per level, by id (no "level:id" key built per alert). */
  private readonly entities = new EntityTable();
  private poolQueue: EntityRec[] = [];
  private poolSince: number[] = [];
  private poolHead = 0;
  private pooled = 0;

  private readonly byId = new Map<string, Incident>();
  private readonly liveByCause = new Map<string, Incident>();
  /** Hosts an app/noisy incident covers (any alert on them joins it). */
  private readonly cascadeIndex = new Map<string, Incident>();
  /** Hosts running an app incident's containers (alerts with its symptoms join it). */
  private readonly ownHostIndex = new Map<string, Incident>();
  /** Open lone incidents of a predicted alert on an app's containers (or the app entity), by app. */
  private readonly selfByApp = new Map<string, Set<Incident>>();
  private readonly live = new Set<Incident>();
  /** Incidents by opening time, back to the merge window (the ones an election may take over). */
  private recent: Incident[] = [];
  private liveUpstream = 0;
  private liveAttribute = 0;
  private readonly holds = new MinHeap<Incident>();
  private resolvedQueue: Incident[] = [];
  private resolvedHead = 0;

  private out: IncidentEvent[] = [];
  /** Set by explainer(): an incident that would take the entity after the group wait. */
  private tentative: Incident | undefined;
  private readonly counters: Omit<CorrelatorStats, 'live' | 'pooled' | 'buffered' | 'activeAlerts'> = {
    alerts: 0,
    rejected: 0,
    firing: 0,
    resolved: 0,
    orphanResolved: 0,
    duplicates: 0,
    flapsDropped: 0,
    elections: 0,
    electionMs: 0,
    opened: 0,
    updated: 0,
    resolvedIncidents: 0,
    closedByOperator: 0,
    merged: 0,
  };

  constructor(
    private readonly topology: TopologyView,
    options: CorrelatorOptions = {},
  ) {
    this.groupWait = clamp(options.groupWaitMs ?? 30_000, 0, MAX_GROUP_WAIT_MS, 'groupWaitMs');
    this.holdDown = clamp(options.holdDownMs ?? 5 * 60_000, 0, Number.MAX_SAFE_INTEGER, 'holdDownMs');
    this.electionInterval = clamp(
      options.electionIntervalMs ?? 1000,
      0,
      MAX_GROUP_WAIT_MS,
      'electionIntervalMs',
    );
    this.mergeWindow = clamp(
      options.mergeWindowMs ?? 2 * 60_000,
      0,
      Number.MAX_SAFE_INTEGER,
      'mergeWindowMs',
    );
    this.appMergeWindow = clamp(
      options.appMergeWindowMs ?? 15 * 60_000,
      0,
      Number.MAX_SAFE_INTEGER,
      'appMergeWindowMs',
    );
    this.mergeMaxMembers = options.mergeMaxMembers ?? 200;
    this.retainResolved = options.retainResolvedMs ?? 60 * 60_000;
    this.maxResolved = options.maxResolved ?? 10_000;
    this.timelineLimit = Math.max(4, options.timelineLimit ?? 100);
    const backgroundRate = options.backgroundRate ?? 0.01;
    if (!(backgroundRate > 0 && backgroundRate < 0.5)) {
      throw new RangeError(`backgroundRate must be in (0, 0.5), got ${backgroundRate}`);
    }
    this.backgroundFloor = backgroundRate;
    this.election = {
      backgroundRate,
      hostBackgroundRate: backgroundRate,
      minGain: options.minGain ?? 10,
      slackMs: options.slackMs ?? 5000,
      tauMs: options.tauMs ?? 30_000,
      noisyMaxLeadMs: options.noisyMaxLeadMs ?? 15 * 60_000,
      attributeKeys: options.attributeKeys,
      minAttributeGroup: options.minAttributeGroup ?? 3,
      upstreamDepth: options.upstreamDepth ?? 2,
      maxCandidates: options.maxCandidates ?? 5,
      health: options.health,
    };
    this.cache = new TopologyCache(topology, this.election.upstreamDepth);
  }

  /** Event time processed so far. */
  get now(): number {
    return this.nowAt;
  }

  /**
   * Queues an alert state change; it is processed by the `advance` whose watermark reaches it.
   * A record without a finite time, a known level, an entity id, a fingerprint or a firing/resolved
   * state is counted (`stats().rejected`) and dropped: the parsers in alerts.ts report why.
   */
  ingest(alert: AlertEvent): void {
    if (
      !Number.isFinite(alert?.at) ||
      !Number.isFinite(alert.startsAt) ||
      !isLevel(alert.entity?.level) ||
      typeof alert.entity.id !== 'string' ||
      typeof alert.fingerprint !== 'string' ||
      (alert.state !== 'firing' && alert.state !== 'resolved')
    ) {
      this.counters.rejected++;
      return;
    }
    const buf = this.buffer;
    if (buf.length > this.bufferHead && alert.at < buf[buf.length - 1]!.at) this.bufferSorted = false;
    buf.push(alert);
  }

  /**
   * Processes queued alerts with `at <= watermark` and the timers due by then, in event-time
   * order; returns the incident events that produced (notification-worthy ones only).
   */
  advance(watermark: number): IncidentEvent[] {
    this.out = [];
    if (!this.bufferSorted) {
      const rest = this.buffer.slice(this.bufferHead).sort((a, b) => a.at - b.at);
      this.buffer = rest;
      this.bufferHead = 0;
      this.bufferSorted = true;
    }
    const buf = this.buffer;
    for (;;) {
      const hasAlert = this.bufferHead < buf.length;
      const nextAlertAt = hasAlert ? buf[this.bufferHead]!.at : Number.POSITIVE_INFINITY;
      const timerAt = Math.min(this.electionDue(), this.holds.peekKey());
      if (timerAt <= watermark && timerAt < nextAlertAt) {
        this.fireTimers(timerAt);
        continue;
      }
      if (hasAlert && nextAlertAt <= watermark) {
        const alert = buf[this.bufferHead++]!;
        if (alert.at > this.nowAt) this.nowAt = alert.at;
        this.process(alert);
        continue;
      }
      break;
    }
    if (this.bufferHead > 4096 && this.bufferHead * 2 > buf.length) {
      this.buffer = buf.slice(this.bufferHead);
      this.bufferHead = 0;
    }
    if (Number.isFinite(watermark) && watermark > this.nowAt) this.nowAt = watermark;
    this.evictResolved();
    return this.out;
  }

  /** Processes everything queued and every timer (the end of a replay). */
  flush(): IncidentEvent[] {
    return this.advance(Number.POSITIVE_INFINITY);
  }

  /** Incidents, newest first. */
  incidents(filter: { status?: IncidentStatus } = {}): IncidentSummary[] {
    const out: IncidentSummary[] = [];
    for (const inc of this.byId.values()) {
      if (filter.status !== undefined && inc.status !== filter.status) continue;
      out.push(inc.summary());
    }
    out.sort((a, b) => b.startsAt - a.startsAt || (a.id < b.id ? -1 : 1));
    return out;
  }

  /** One incident with its absorbed alerts as a tree by level and its timeline. */
  get(id: string): IncidentDetail | undefined {
    return this.byId.get(id)?.detail();
  }

  /**
   * Closes an open incident by hand (an operator's resolve) at event time `at`, never earlier
   * than the event time already processed, and returns its final `resolved` event. The event is
   * only returned, never repeated in an `advance()` output: the caller hands it to whatever
   * consumes incident events (the pipeline's listeners). Undefined, and nothing changes, when the
   * id is unknown or the incident is no longer open (resolved, merged, evicted).
   *
   * Afterwards the incident takes nothing new. Its alerts still firing stay its own until they
   * resolve (their repeats and resolutions change nothing and notify nobody); every new alert
   * episode, on its entities or elsewhere, goes the usual way: it joins another live incident
   * that explains it, or waits in the pool and its election opens a new incident (with a new id,
   * even when it names the same root cause). An alert processed after the close counts as new
   * even if its event time is earlier: the operator has not seen it.
   */
  resolveIncident(id: string, at: number, reason?: string): IncidentEvent | undefined {
    if (!Number.isFinite(at))
      throw new RangeError(`resolveIncident(${id}): at must be an event time in ms, got ${at}`);
    const inc = this.byId.get(id);
    if (inc === undefined || inc.status !== 'open') return undefined;
    const t = Math.max(at, this.nowAt);
    this.unindex(inc);
    this.live.delete(inc);
    inc.status = 'resolved';
    inc.closedBy = 'operator';
    // Still firing: it ends now; in its hold-down: when its last alert resolved.
    inc.endsAt = inc.firing === 0 && Number.isFinite(inc.lastResolvedAt) ? inc.lastResolvedAt : t;
    inc.resolvedAt = t;
    inc.holdUntil = Number.NaN;
    inc.note(t, 'resolved', reason ? `closed by an operator: ${reason}` : 'closed by an operator');
    for (const e of inc.members.values()) {
      // New alerts on the entity start a fresh record; its firing episodes stay with the incident.
      this.release(e);
      for (const a of e.alerts) {
        if (!a.firing && this.alerts.get(a.event.fingerprint) === a) this.alerts.delete(a.event.fingerprint);
      }
      if (e.firing === 0) e.incident = undefined;
    }
    this.counters.resolvedIncidents++;
    this.counters.closedByOperator++;
    this.retain(inc);
    return inc.event('resolved', t);
  }

  stats(): CorrelatorStats {
    return {
      ...this.counters,
      electionMs: Math.round(this.counters.electionMs * 1000) / 1000,
      live: this.live.size,
      pooled: this.pooled,
      buffered: this.buffer.length - this.bufferHead,
      activeAlerts: this.alerts.size,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Alerts
  // -------------------------------------------------------------------------------------------

  private process(alert: AlertEvent): void {
    this.counters.alerts++;
    if (alert.state === 'firing') this.firing(alert);
    else this.resolvedAlert(alert);
  }

  private firing(alert: AlertEvent): void {
    this.counters.firing++;
    const existing = this.alerts.get(alert.fingerprint);
    if (existing?.firing) {
      this.counters.duplicates++;
      if (alert.severity !== existing.event.severity) {
        existing.event = { ...existing.event, severity: alert.severity };
        const inc = existing.entity.incident;
        if (inc?.status === 'open' && inc.raiseSeverity(alert.severity)) this.severityRaised(inc);
      }
      return;
    }
    let e = this.entity(alert);
    const member = e.incident;
    if (member !== undefined) {
      if (member.rules.has(alert.rule)) {
        const rec = new AlertRec(alert, e);
        this.alerts.set(alert.fingerprint, rec);
        e.add(rec);
        this.absorbInto(member, rec);
        return;
      }
      // A symptom its incident does not show (a leaking container whose host then crashes):
      // weighed like a new entity, in a record of its own; it falls back to the incident when
      // nothing else explains it.
      e = e.split();
      e.fallback = member;
      this.entities.of(e.ref.level).set(e.ref.id, e);
    }
    const rec = new AlertRec(alert, e);
    this.alerts.set(alert.fingerprint, rec);
    e.add(rec);
    if (!Number.isNaN(e.poolSince)) return;
    const inc = this.explainer(e, alert.rule);
    if (inc !== undefined) {
      this.joinExplained(inc, e);
      return;
    }
    // An incident that would take it, but with a symptom it does not show yet: after the group
    // wait, unless an election finds another cause.
    e.fallback ??= this.tentative;
    this.enterPool(e);
  }

  private resolvedAlert(alert: AlertEvent): void {
    this.counters.resolved++;
    const rec = this.alerts.get(alert.fingerprint);
    if (rec === undefined || !rec.firing) {
      this.counters.orphanResolved++;
      return;
    }
    rec.firing = false;
    rec.endsAt = alert.at;
    const e = rec.entity;
    e.firing--;
    const inc = e.incident;
    if (inc === undefined) return;
    inc.firing--;
    if (inc.status !== 'open') {
      // An alert of an incident an operator closed: it ends there, silently.
      if (this.alerts.get(alert.fingerprint) === rec) this.alerts.delete(alert.fingerprint);
      return;
    }
    if (alert.at > inc.lastResolvedAt) inc.lastResolvedAt = alert.at;
    if (inc.firing === 0) {
      // From when the last absorbed alert resolved (its event time, even if it arrived late).
      inc.holdUntil = inc.lastResolvedAt + this.holdDown;
      this.holds.push(inc.holdUntil, inc);
      inc.note(this.nowAt, 'all-resolved', 'every absorbed alert resolved; hold-down started');
    }
  }

  private entity(alert: AlertEvent): EntityRec {
    const byId = this.entities.of(alert.entity.level);
    let e = byId.get(alert.entity.id);
    if (e === undefined) {
      e = new EntityRec({ level: alert.entity.level, id: alert.entity.id });
      e.place(this.topology, alert.labels, this.cache);
      byId.set(alert.entity.id, e);
    }
    return e;
  }

  /**
   * A live incident whose cause explains this entity and that already shows its symptom or host.
   * Leaves in `tentative` the first one that would take it with a symptom it does not show yet.
   */
  private explainer(e: EntityRec, rule: string): Incident | undefined {
    this.tentative = undefined;
    const idx = this.liveByCause;
    if (idx.size === 0) return undefined;
    const host = e.hostId;
    let inc: Incident | undefined;
    if (host !== undefined) {
      inc = this.cascadeIndex.get(host);
      if (inc !== undefined && this.takes(inc, e, rule)) return inc;
      inc = this.ownHostIndex.get(host);
      if (inc !== undefined && this.takes(inc, e, rule)) return inc;
      inc = idx.get(e.hostKey!);
      if (inc !== undefined && this.takes(inc, e, rule)) return inc;
    }
    const appKey = e.appKey;
    if (appKey !== undefined) {
      inc = idx.get(appKey);
      if (inc !== undefined && this.takes(inc, e, rule)) return inc;
      if (this.liveUpstream > 0) {
        if (e.upstreamKeys === undefined) {
          const app = e.ref.level === 'app' ? e.ref.id : e.appId!;
          e.upstreamKeys = [
            'upstream:' + app,
            ...this.cache.calleesOf(app).map((callee) => 'upstream:' + callee),
          ];
        }
        for (const key of e.upstreamKeys) {
          inc = idx.get(key);
          if (inc !== undefined && this.takes(inc, e, rule)) return inc;
        }
      }
    }
    if (e.rackKey !== undefined) {
      inc = idx.get(e.rackKey);
      if (inc !== undefined && this.takes(inc, e, rule)) return inc;
    }
    if (this.liveAttribute > 0 && host !== undefined) {
      for (const key of e.hostAttrKeys) {
        inc = idx.get(key);
        if (inc !== undefined && this.takes(inc, e, rule)) return inc;
      }
    }
    if (e.idcKey !== undefined) {
      inc = idx.get(e.idcKey);
      if (inc !== undefined && this.takes(inc, e, rule)) return inc;
    }
    return undefined;
  }

  /** Whether `inc` takes the entity now; notes it as tentative when only after the group wait. */
  private takes(inc: Incident, e: EntityRec, rule: string): boolean {
    const a = accepts(inc, e, rule);
    if (a === TENTATIVE) this.tentative ??= inc;
    return a === ACCEPTED;
  }

  private enterPool(e: EntityRec): void {
    e.poolSince = this.nowAt;
    this.poolQueue.push(e);
    this.poolSince.push(this.nowAt);
    this.pooled++;
  }

  private leavePool(e: EntityRec): void {
    if (Number.isNaN(e.poolSince)) return;
    e.poolSince = Number.NaN;
    this.pooled--;
  }

  /** Skips queue entries whose entity has left the pool; returns when the head entered it. */
  private poolHeadSince(): number {
    const q = this.poolQueue;
    while (this.poolHead < q.length) {
      const e = q[this.poolHead]!;
      if (e.poolSince === this.poolSince[this.poolHead]) return e.poolSince;
      this.poolHead++;
    }
    if (this.poolHead > 0) {
      this.poolQueue = [];
      this.poolSince = [];
      this.poolHead = 0;
    }
    return Number.POSITIVE_INFINITY;
  }

  // -------------------------------------------------------------------------------------------
  // Timers
  // -------------------------------------------------------------------------------------------

  private electionDue(): number {
    if (this.pooled === 0) return Number.POSITIVE_INFINITY;
    return Math.max(this.poolHeadSince() + this.groupWait, this.lastElection + this.electionInterval);
  }

  private fireTimers(at: number): void {
    if (at > this.nowAt) this.nowAt = at;
    while (this.holds.peekKey() <= at) {
      const inc = this.holds.pop()!;
      if (inc.status === 'open' && inc.firing === 0 && inc.holdUntil <= at) this.resolve(inc, inc.holdUntil);
    }
    if (this.electionDue() <= at) this.runElection(at);
  }

  private runElection(at: number): void {
    const started = performance.now();
    this.lastElection = at;
    this.counters.elections++;
    const input: EntityRec[] = [];
    const q = this.poolQueue;
    for (let i = this.poolHead; i < q.length; i++) {
      const e = q[i]!;
      if (e.poolSince !== this.poolSince[i]) continue;
      if (!e.placed) e.place(this.topology, e.alerts[0]?.event.labels ?? {}, this.cache);
      // Live incidents have grown since it arrived: one may explain it now.
      const inc = this.explainer(e, e.rule);
      if (inc !== undefined) {
        this.leavePool(e);
        this.joinExplained(inc, e);
        continue;
      }
      if (e.fallback?.status !== 'open') e.fallback = this.tentative;
      input.push(e);
    }
    if (input.length === 0) {
      this.counters.electionMs += performance.now() - started;
      return;
    }
    const pooledCount = input.length;
    // The pool is in arrival order: the entities due now come first.
    let due = 0;
    while (due < input.length && input[due]!.poolSince + this.groupWait <= at) due++;
    // Incidents that began shortly before this storm with one of its symptoms may turn out to
    // be part of it (see settle()); the others cannot be taken over, so they stay out.
    const since = this.poolHeadSince() - this.mergeWindow;
    const rules = new Set<string>();
    for (const e of input) rules.add(e.rule);
    // Live incidents on the same hosts or apps, whatever their age: the context that tells
    // whether these alerts are the next wave of a storm already open (an app's hot containers
    // alerted first, their hosts and neighbours only now).
    const context = new Set<Incident>();
    for (let i = 0; i < pooledCount; i++) {
      const e = input[i]!;
      const host = e.hostId;
      if (host !== undefined) {
        const a = this.ownHostIndex.get(host);
        if (a !== undefined) context.add(a);
        const b = this.cascadeIndex.get(host);
        if (b !== undefined) context.add(b);
        const c = this.liveByCause.get(e.hostKey!);
        if (c !== undefined) context.add(c);
      }
      const appKey = e.appKey;
      if (appKey !== undefined) {
        const d = this.liveByCause.get(appKey);
        if (d !== undefined) context.add(d);
      }
    }
    for (const inc of context) {
      if (inc.members.size > MAX_CONTEXT_MEMBERS) {
        context.delete(inc);
        continue;
      }
      pushMembers(input, inc);
    }
    // Incidents in opening order; those opened before `since` (so started before it) drop off.
    const recent = this.recent;
    let drop = 0;
    while (drop < recent.length && recent[drop]!.openedAt < since) drop++;
    if (drop > 0) recent.splice(0, drop);
    for (const inc of recent) {
      if (inc.status !== 'open' || inc.startsAt < since || inc.members.size > this.mergeMaxMembers) continue;
      if (context.has(inc) || !sharesRule(inc, rules)) continue;
      context.add(inc);
      pushMembers(input, inc);
    }
    // Lone incidents of predicted alerts on the pooled entities' apps with one of their
    // symptoms, within the longer app window: the earlier waves of an app's predictions.
    if (this.selfByApp.size > 0) {
      const appSince = this.poolHeadSince() - this.appMergeWindow;
      for (let i = 0; i < pooledCount; i++) {
        const app = appOf(input[i]!);
        const lone = app === undefined ? undefined : this.selfByApp.get(app);
        if (lone === undefined) continue;
        for (const inc of lone) {
          if (context.has(inc) || inc.startsAt < appSince || !sharesRule(inc, rules)) continue;
          context.add(inc);
          pushMembers(input, inc);
        }
      }
    }
    const counts = this.topology.counts();
    const window = this.groupWait + this.mergeWindow;
    const floor = this.backgroundFloor;
    this.election.backgroundRate = this.background.chance('container', at, counts.container, window, floor);
    this.election.hostBackgroundRate = this.background.chance('host', at, counts.host, window, floor);
    this.cache.refresh(at);
    // Due entities nothing could group with another one (lone background alerts) become their
    // own incidents without an election; the others wait for theirs (a storm still gathering in
    // the pool is elected once its first alerts are due, not again for every lone alert due
    // before then).
    const elected =
      input.length >= 2 && mayGroup(input, due, this.topology, this.election, this.cache)
        ? elect(input, this.topology, this.election, this.cache)
        : [];
    for (const k of elected) this.settle(k, at);
    // Due pool entities nothing explains: the incident that would take them, or their own.
    for (const e of input) {
      if (Number.isNaN(e.poolSince) || e.incident !== undefined) continue;
      if (e.poolSince + this.groupWait > at) continue;
      this.leavePool(e);
      const fallback = e.fallback;
      e.fallback = undefined;
      if (fallback?.status === 'open') {
        this.joinExplained(fallback, e);
        continue;
      }
      this.background.observe(e.ref.level, e.start);
      if (e.firing === 0) {
        this.counters.flapsDropped += e.alerts.length;
        this.forget(e);
        continue;
      }
      this.open(selfCause(e), [e], at);
    }
    this.counters.electionMs += performance.now() - started;
  }

  /** Turns one elected cause into incident changes. */
  private settle(k: ElectedCause, at: number): void {
    const pooled: EntityRec[] = [];
    const touched = new Map<Incident, number>();
    let pooledStart = Number.POSITIVE_INFINITY;
    for (const e of k.members) {
      if (!Number.isNaN(e.poolSince)) {
        pooled.push(e);
        if (e.start < pooledStart) pooledStart = e.start;
      } else if (e.incident !== undefined) touched.set(e.incident, (touched.get(e.incident) ?? 0) + 1);
    }
    // No new alerts: nothing to change (re-electing settled incidents never flips them).
    if (pooled.length === 0) return;
    let target = this.liveByCause.get(k.key);
    if (target === undefined) {
      // Incidents this cause explains completely, which began shortly before its new alerts
      // (within the merge window) with the same symptom, were its first signs: it takes them over.
      const absorbed: Incident[] = [];
      // The storm's symptoms: rules on at least a fifth of its new entities (not a stray one).
      const counts = new Map<string, number>();
      for (const e of pooled) counts.set(e.rule, (counts.get(e.rule) ?? 0) + 1);
      const rules = new Set<string>();
      for (const [rule, n] of counts) if (n * 5 >= pooled.length) rules.add(rule);
      for (const [inc, n] of touched) {
        if (n !== inc.members.size || inc.status !== 'open') continue;
        // An app takes over the lone incidents of its own containers from further back.
        const window =
          k.cause.kind === 'app' && isLoneOwn(inc, k.cause.id)
            ? Math.max(this.appMergeWindow, this.mergeWindow)
            : this.mergeWindow;
        if (inc.startsAt < pooledStart - window) continue;
        for (const r of inc.rules) {
          if (rules.has(r)) {
            absorbed.push(inc);
            break;
          }
        }
      }
      if (absorbed.length > 0) {
        absorbed.sort((a, b) => a.startsAt - b.startsAt || (a.id < b.id ? -1 : 1));
        target = absorbed[0]!;
        this.changeCause(target, k, at);
        for (const other of absorbed.slice(1)) this.merge(other, target, at);
        for (const e of pooled) {
          this.leavePool(e);
          this.joinEntity(target, e, false);
        }
        // One notification for the new root cause, with everything it now holds.
        this.counters.updated++;
        this.out.push(target.event('updated', at));
        return;
      }
    } else {
      target.candidates = k.candidates;
    }
    if (target !== undefined) {
      for (const e of pooled) {
        this.leavePool(e);
        this.joinEntity(target, e);
      }
      target.note(at, 'absorbed', `${pooled.length} entities joined by election`);
      return;
    }
    let due = false;
    for (const e of pooled) if (e.poolSince + this.groupWait <= at) due = true;
    if (!due) return;
    for (const e of pooled) this.leavePool(e);
    this.open({ key: k.key, cause: k.cause, candidates: k.candidates }, pooled, at);
  }

  private open(
    k: { key: string; cause: CauseRef; candidates: Candidate[] },
    members: EntityRec[],
    at: number,
  ): void {
    let firing = 0;
    let startsAt = Number.POSITIVE_INFINITY;
    for (const e of members) {
      firing += e.firing;
      if (e.start < startsAt) startsAt = e.start;
    }
    if (firing === 0) {
      // The whole group came and went within the group wait: a flap, not worth a page.
      for (const e of members) {
        this.counters.flapsDropped += e.alerts.length;
        this.forget(e);
      }
      return;
    }
    let id = 'inc-' + hashHex(k.key + '@' + startsAt);
    for (let n = 2; this.byId.has(id); n++) id = 'inc-' + hashHex(k.key + '@' + startsAt + '#' + n);
    const inc = new Incident(id, k.key, k.cause, k.candidates, startsAt, at, this.timelineLimit);
    for (const e of members) inc.absorbEntity(e);
    this.byId.set(id, inc);
    this.index(inc);
    this.recent.push(inc);
    inc.note(
      at,
      'opened',
      `root cause ${causeText(k.cause)}; ${members.length} entities, ${inc.total} alerts`,
    );
    this.counters.opened++;
    this.out.push(inc.event('opened', at));
  }

  private joinEntity(inc: Incident, e: EntityRec, notify = true): void {
    const before = inc.severity;
    const wasHolding = !Number.isNaN(inc.holdUntil);
    const earlier = e.prev === undefined ? undefined : e.recordIn(inc);
    if (earlier !== undefined) {
      // Back to the incident it already is part of: one member, its alerts together.
      this.fold(e, earlier);
      if (wasHolding && inc.firing > 0) this.cancelHold(inc);
      if (notify && inc.severity > before) this.severityRaised(inc);
      return;
    }
    inc.absorbEntity(e);
    const host = e.hostId;
    if (host !== undefined && (inc.cause.kind === 'app' || inc.cause.kind === 'noisy-neighbour')) {
      if (inc.cascadeHosts.has(host) && !this.cascadeIndex.has(host)) this.cascadeIndex.set(host, inc);
      if (inc.ownHosts.has(host) && !this.ownHostIndex.has(host)) this.ownHostIndex.set(host, inc);
    }
    if (wasHolding && inc.firing > 0) this.cancelHold(inc);
    if (notify && inc.severity > before) this.severityRaised(inc);
  }

  /**
   * Joins an incident that takes the entity without an election (its host is covered, it shows
   * the symptom, or nothing else explained it). Symptoms the incident does not show stay the
   * entity's own: only an election says what a storm's symptoms are, and they decide what the
   * incident takes from other entities (a crashed host's noisy containers must not teach a
   * kernel incident to take every host with a full disk).
   */
  private joinExplained(inc: Incident, e: EntityRec): void {
    for (const a of e.alerts) if (!inc.rules.has(a.event.rule)) a.secondary = true;
    this.joinEntity(inc, e);
  }

  /** Moves a newer record's alerts into the entity's record in an incident. */
  private fold(e: EntityRec, into: EntityRec): void {
    const inc = into.incident!;
    e.poolSince = Number.NaN;
    e.fallback = undefined;
    for (const rec of e.alerts) {
      rec.entity = into;
      into.add(rec);
      inc.absorbAlert(rec);
    }
    e.alerts = [];
    e.firing = 0;
    if (into.next === e) into.next = e.next;
    if (e.next !== undefined) e.next.prev = into;
    const byId = this.entities.of(e.ref.level);
    if (byId.get(e.ref.id) === e) byId.set(e.ref.id, into);
  }

  private absorbInto(inc: Incident, rec: AlertRec): void {
    const raised = inc.absorbAlert(rec);
    if (!Number.isNaN(inc.holdUntil) && inc.firing > 0) this.cancelHold(inc);
    if (raised) this.severityRaised(inc);
  }

  private cancelHold(inc: Incident): void {
    inc.holdUntil = Number.NaN;
    inc.note(this.nowAt, 'refired', 'an absorbed alert fires again; resolution cancelled');
  }

  private severityRaised(inc: Incident): void {
    inc.note(this.nowAt, 'severity', `severity raised to ${inc.severityName}`);
    this.counters.updated++;
    this.out.push(inc.event('updated', this.nowAt));
  }

  /** The caller notifies (once the incident holds what the new cause brings). */
  private changeCause(inc: Incident, k: ElectedCause, at: number): void {
    const before = inc.cause;
    this.unindex(inc);
    inc.cause = k.cause;
    inc.causeKey = k.key;
    inc.candidates = k.candidates;
    inc.recount();
    this.index(inc);
    inc.note(at, 'updated', `root cause ${causeText(before)} -> ${causeText(k.cause)}`);
  }

  /** Folds `from` into `into`: its entities and alerts move, and it ends with a final `resolved`. */
  private merge(from: Incident, into: Incident, at: number): void {
    this.unindex(from);
    this.live.delete(from);
    for (const e of from.members.values()) this.joinEntity(into, e, false);
    from.status = 'resolved';
    from.endsAt = at;
    from.resolvedAt = at;
    from.mergedInto = into.id;
    from.holdUntil = Number.NaN;
    from.note(at, 'merged', `merged into ${into.id} (root cause ${causeText(into.cause)})`);
    into.note(at, 'merged', `took over ${from.id}`);
    this.counters.merged++;
    this.out.push(from.event('resolved', at));
    this.retain(from);
  }

  private resolve(inc: Incident, at: number): void {
    this.unindex(inc);
    this.live.delete(inc);
    inc.status = 'resolved';
    inc.endsAt = inc.lastResolvedAt;
    inc.resolvedAt = at;
    inc.holdUntil = Number.NaN;
    inc.note(at, 'resolved', 'hold-down passed with every absorbed alert resolved');
    for (const e of inc.members.values()) {
      e.incident = undefined;
      this.forget(e);
    }
    this.counters.resolvedIncidents++;
    this.out.push(inc.event('resolved', at));
    this.retain(inc);
  }

  /** Drops an entity with nothing firing, and its alert episodes, from the live state. */
  private forget(e: EntityRec): void {
    this.release(e);
    for (const a of e.alerts)
      if (this.alerts.get(a.event.fingerprint) === a) this.alerts.delete(a.event.fingerprint);
  }

  /** Drops the entity record from the table; its earlier record in an open incident comes back. */
  private release(e: EntityRec): void {
    this.entities.forget(e);
    const prev = e.prev;
    if (prev === undefined) return;
    if (prev.next === e) prev.next = undefined;
    if (prev.incident?.status === 'open') {
      const byId = this.entities.of(prev.ref.level);
      if (!byId.has(prev.ref.id)) byId.set(prev.ref.id, prev);
    }
  }

  private index(inc: Incident): void {
    this.live.add(inc);
    this.liveByCause.set(inc.causeKey, inc);
    const loneApp = loneAppOf(inc);
    if (loneApp !== undefined) {
      let set = this.selfByApp.get(loneApp);
      if (set === undefined) {
        set = new Set();
        this.selfByApp.set(loneApp, set);
      }
      set.add(inc);
    }
    if (inc.cause.kind === 'upstream') this.liveUpstream++;
    if (inc.cause.kind === 'attribute') this.liveAttribute++;
    if (inc.cause.kind === 'app' || inc.cause.kind === 'noisy-neighbour') {
      for (const host of inc.cascadeHosts) if (!this.cascadeIndex.has(host)) this.cascadeIndex.set(host, inc);
      for (const host of inc.ownHosts) if (!this.ownHostIndex.has(host)) this.ownHostIndex.set(host, inc);
    }
  }

  private unindex(inc: Incident): void {
    if (this.liveByCause.get(inc.causeKey) === inc) this.liveByCause.delete(inc.causeKey);
    const loneApp = loneAppOf(inc);
    if (loneApp !== undefined) {
      const set = this.selfByApp.get(loneApp);
      if (set?.delete(inc) && set.size === 0) this.selfByApp.delete(loneApp);
    }
    if (inc.cause.kind === 'upstream') this.liveUpstream--;
    if (inc.cause.kind === 'attribute') this.liveAttribute--;
    for (const host of inc.cascadeHosts) {
      if (this.cascadeIndex.get(host) === inc) this.cascadeIndex.delete(host);
    }
    for (const host of inc.ownHosts) if (this.ownHostIndex.get(host) === inc) this.ownHostIndex.delete(host);
  }

  private retain(inc: Incident): void {
    this.resolvedQueue.push(inc);
  }

  private evictResolved(): void {
    const q = this.resolvedQueue;
    const oldest = this.nowAt - this.retainResolved;
    while (this.resolvedHead < q.length) {
      const inc = q[this.resolvedHead]!;
      const kept = q.length - this.resolvedHead;
      if (kept <= this.maxResolved && (inc.resolvedAt ?? 0) >= oldest) break;
      if (this.byId.get(inc.id) === inc) this.byId.delete(inc.id);
      if (inc.closedBy !== undefined && inc.firing > 0) {
        // Alerts that never resolved after an operator's close: forgotten with their incident.
        for (const a of inc.alerts) {
          if (this.alerts.get(a.event.fingerprint) === a) this.alerts.delete(a.event.fingerprint);
        }
      }
      this.resolvedHead++;
    }
    if (this.resolvedHead > 1024 && this.resolvedHead * 2 > q.length) {
      this.resolvedQueue = q.slice(this.resolvedHead);
      this.resolvedHead = 0;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Snapshot / restore: open incidents survive a restart without repeated notifications.
  // -------------------------------------------------------------------------------------------

  /** Serializable state (JSON-safe): queued alerts, the pool, live and retained incidents. */
  snapshot(): CorrelatorSnapshot {
    const pool: CorrelatorSnapshot['pool'] = [];
    const q = this.poolQueue;
    for (let i = this.poolHead; i < q.length; i++) {
      const e = q[i]!;
      if (e.poolSince !== this.poolSince[i]) continue;
      const entry: CorrelatorSnapshot['pool'][number] = {
        since: e.poolSince,
        alerts: e.alerts.map(snapshotAlert),
      };
      if (e.fallback?.status === 'open') entry.fallback = e.fallback.id;
      pool.push(entry);
    }
    const incidents: IncidentSnapshot[] = [];
    for (const inc of this.byId.values()) incidents.push(inc.snapshot());
    return {
      version: 1,
      now: this.nowAt,
      lastElection: this.lastElection,
      buffered: this.buffer.slice(this.bufferHead),
      pool,
      incidents,
      background: this.background.state(),
      stats: this.stats(),
    };
  }

  /** A correlator continuing from a snapshot (same topology view and options as before). */
  static restore(
    topology: TopologyView,
    snapshot: CorrelatorSnapshot,
    options: CorrelatorOptions = {},
  ): Correlator {
    if (snapshot?.version !== 1) throw new Error('unsupported correlator snapshot (expected version 1)');
    const c = new Correlator(topology, options);
    c.nowAt = snapshot.now ?? Number.NEGATIVE_INFINITY;
    c.lastElection = snapshot.lastElection ?? Number.NEGATIVE_INFINITY;
    const { live: _l, pooled: _p, buffered: _b, activeAlerts: _a, ...counters } = snapshot.stats;
    Object.assign(c.counters, counters);
    if (snapshot.background !== undefined) c.background.restore(snapshot.background);
    const restoreAlert = (s: SnapshotAlert, e: EntityRec): AlertRec => {
      const rec = new AlertRec(s.event, e);
      rec.firing = s.firing;
      rec.endsAt = s.endsAt;
      rec.secondary = s.secondary === true;
      e.add(rec);
      c.alerts.set(s.event.fingerprint, rec);
      return rec;
    };
    // An entity may have a record in several open incidents (alerts with different causes):
    // one record per incident, chained oldest first, the one without newer alerts current.
    const records = new Map<string, EntityRec[]>();
    const sorted = snapshot.incidents.slice().sort((a, b) => (a.resolvedAt ?? 0) - (b.resolvedAt ?? 0));
    for (const s of sorted) {
      const inc = new Incident(
        s.id,
        s.causeKey,
        s.cause,
        s.candidates,
        s.startsAt,
        s.openedAt,
        c.timelineLimit,
      );
      inc.version = s.version;
      inc.status = s.status;
      inc.endsAt = s.endsAt;
      inc.lastResolvedAt = s.lastResolvedAt ?? Number.NEGATIVE_INFINITY;
      inc.holdUntil = s.holdUntil ?? Number.NaN;
      inc.resolvedAt = s.resolvedAt;
      inc.mergedInto = s.mergedInto;
      inc.closedBy = s.closedBy;
      inc.timeline.push(...s.timeline);
      c.byId.set(inc.id, inc);
      if (s.status === 'open') {
        const local = new Map<string, EntityRec>();
        for (const a of s.alerts) {
          const key = a.event.entity.level + ':' + a.event.entity.id;
          let e = local.get(key);
          if (e === undefined) {
            e = new EntityRec({ level: a.event.entity.level, id: a.event.entity.id });
            e.place(topology, a.event.labels, c.cache);
            local.set(key, e);
            const list = records.get(key);
            if (list === undefined) records.set(key, [e]);
            else list.push(e);
            if (a.superseded !== true) c.entities.of(e.ref.level).set(e.ref.id, e);
          }
          const rec = restoreAlert(a, e);
          inc.addMember(e);
          inc.absorbAlert(rec);
        }
        inc.severity = s.severity;
        inc.recount();
        c.index(inc);
        c.recent.push(inc);
        if (!Number.isNaN(inc.holdUntil)) c.holds.push(inc.holdUntil, inc);
      } else {
        const entities = new Map<string, EntityRec>();
        for (const a of s.alerts) {
          const key = a.event.entity.level + ':' + a.event.entity.id;
          let e = entities.get(key);
          if (e === undefined) {
            e = new EntityRec(a.event.entity);
            e.place(topology, a.event.labels);
            entities.set(key, e);
          }
          const rec = new AlertRec(a.event, e);
          rec.firing = a.firing;
          rec.endsAt = a.endsAt;
          rec.secondary = a.secondary === true;
          e.add(rec);
          inc.members.add(e);
          inc.absorbAlert(rec);
          if (s.closedBy !== undefined && rec.firing && !c.alerts.has(a.event.fingerprint)) {
            // Still firing when an operator closed it: its resolution ends there, silently.
            e.incident = inc;
            c.alerts.set(a.event.fingerprint, rec);
          }
        }
        inc.severity = s.severity;
        inc.recount();
        c.resolvedQueue.push(inc);
      }
    }
    c.recent.sort((a, b) => a.openedAt - b.openedAt);
    for (const list of records.values()) {
      if (list.length < 2) continue;
      const current = list.find((e) => c.entities.of(e.ref.level).get(e.ref.id) === e);
      const chain = current === undefined ? list : [...list.filter((e) => e !== current), current];
      for (let i = 1; i < chain.length; i++) {
        chain[i]!.prev = chain[i - 1];
        chain[i - 1]!.next = chain[i];
      }
    }
    for (const p of snapshot.pool) {
      let e: EntityRec | undefined;
      const first = p.alerts[0];
      if (first === undefined) continue;
      const ref = first.event.entity;
      const byId = c.entities.of(ref.level);
      let latest = byId.get(ref.id);
      // The entity's records in open incidents: the pooled alerts are weighed in one of their own.
      if (latest === undefined) {
        for (const r of records.get(ref.level + ':' + ref.id) ?? []) latest = r;
      }
      if (latest?.incident !== undefined) {
        e = latest.split();
        byId.set(ref.id, e);
      } else {
        e = c.entity(first.event);
      }
      const fallback = p.fallback === undefined ? undefined : c.byId.get(p.fallback);
      if (fallback?.status === 'open') e.fallback = fallback;
      for (const a of p.alerts) restoreAlert(a, e);
      if (Number.isNaN(e.poolSince)) {
        e.poolSince = p.since;
        c.poolQueue.push(e);
        c.poolSince.push(p.since);
        c.pooled++;
      }
    }
    for (const a of snapshot.buffered) c.ingest(a);
    return c;
  }
}

/**
 * Whether a live incident takes a new alert without an election: on a host it already covers,
 * or with a symptom it already shows (tentatively: after the group wait, unless an election
 * finds another cause). Wide causes (rack, IDC, attribute group) take containers
 * only on hosts they cover: a container alert somewhere in an IDC is not evidence enough.
 */
function accepts(inc: Incident, e: EntityRec, rule: string): Acceptance {
  const host = e.hostId;
  if (host !== undefined && inc.cascadeHosts.has(host)) return ACCEPTED;
  const kind = inc.cause.kind;
  const shows = inc.rules.has(rule);
  // The faulty app itself, its containers or the noisy container: whatever else they show, but
  // a symptom it does not show yet only once the group wait found no other cause (its host may
  // be crashing).
  if ((kind === 'app' || kind === 'noisy-neighbour') && isOwn(inc, e)) return shows ? ACCEPTED : TENTATIVE;
  if (!shows) return REFUSED;
  switch (kind) {
    case 'rack':
    case 'idc':
    case 'attribute':
      return e.ref.level !== 'container' ? ACCEPTED : REFUSED;
    case 'app':
    case 'noisy-neighbour':
      // A host running one of its containers, starting to show the storm's symptoms.
      return host !== undefined && inc.ownHosts.has(host) ? ACCEPTED : REFUSED;
    default:
      return ACCEPTED;
  }
}

const REFUSED = 0;
const TENTATIVE = 1;
const ACCEPTED = 2;
type Acceptance = typeof REFUSED | typeof TENTATIVE | typeof ACCEPTED;

/** An incident's members as election context, but not a record whose newer one is pooled. */
function pushMembers(input: EntityRec[], inc: Incident): void {
  for (const e of inc.members) {
    if (e.next !== undefined && !Number.isNaN(e.next.poolSince)) continue;
    input.push(e);
  }
}

function appOf(e: EntityRec): string | undefined {
  return e.ref.level === 'app' ? e.ref.id : e.appId;
}

/** For a lone incident (root cause `self`) raised by a predicted alert on a container or an app: that app. */
function loneAppOf(inc: Incident): string | undefined {
  if (inc.cause.kind !== 'self') return undefined;
  for (const e of inc.members) return e.alerts[0]?.event.predicted === true ? appOf(e) : undefined;
  return undefined;
}

/** A lone incident of a predicted alert on one of the app's containers (or on the app entity). */
function isLoneOwn(inc: Incident, app: string): boolean {
  return loneAppOf(inc) === app;
}

function sharesRule(inc: Incident, rules: ReadonlySet<string>): boolean {
  for (const r of inc.rules) if (rules.has(r)) return true;
  return false;
}

function isOwn(inc: Incident, e: EntityRec): boolean {
  const id = inc.cause.id;
  return inc.cause.kind === 'app'
    ? e.appId === id || (e.ref.level === 'app' && e.ref.id === id)
    : e.ref.level === 'container' && e.ref.id === id;
}

function selfCause(e: EntityRec): { key: string; cause: CauseRef; candidates: Candidate[] } {
  const cause: CauseRef = { level: e.ref.level, id: e.ref.id, kind: 'self' };
  const rules = [...new Set(e.alerts.map((a) => a.event.rule))];
  return {
    key: 'self:' + e.key,
    cause,
    candidates: [
      {
        entity: cause,
        kind: 'self',
        score: 0,
        evidence: { explained: 1, alerts: e.alerts.length, rules, firstAlertAt: iso(e.start) },
      },
    ],
  };
}

function causeText(c: CauseRef): string {
  return c.kind === 'attribute'
    ? c.id
    : c.kind === c.level
      ? `${c.level} ${c.id}`
      : `${c.kind} ${c.level} ${c.id}`;
}

function iso(t: number): string {
  return Number.isFinite(t) ? new Date(t).toISOString() : String(t);
}

function clamp(x: number, lo: number, hi: number, name: string): number {
  if (!Number.isFinite(x) || x < lo) throw new RangeError(`${name} must be a number >= ${lo}, got ${x}`);
  return Math.min(x, hi);
}

/** Alerting entities by level and id. */
class EntityTable {
  private readonly idc = new Map<string, EntityRec>();
  private readonly rack = new Map<string, EntityRec>();
  private readonly host = new Map<string, EntityRec>();
  private readonly container = new Map<string, EntityRec>();
  private readonly app = new Map<string, EntityRec>();

  of(level: Level): Map<string, EntityRec> {
    switch (level) {
      case 'container':
        return this.container;
      case 'host':
        return this.host;
      case 'app':
        return this.app;
      case 'rack':
        return this.rack;
      default:
        return this.idc;
    }
  }

  /** Drops the entity if it is the one recorded under its id. */
  forget(e: EntityRec): void {
    const byId = this.of(e.ref.level);
    if (byId.get(e.ref.id) === e) byId.delete(e.ref.id);
  }
}
