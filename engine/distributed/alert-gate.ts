import type { AlertEvent } from '../../core/types.js';
import type { WatermarkRecord } from '../../ingest/kafka/alerts-records.js';

/**
 * What stands between the `alerts` topic and the correlator when detection runs in several
 * instances. Three jobs, all in log order so that a correlator restored from a checkpoint and
 * replaying the log from the checkpoint's offset ends where the previous one would have:
 *
 * 1. Event time. Each instance reports how far it has got in each `metrics` partition it owns;
 *    the correlator may only move to the least of those times (minus the allowed lateness) over
 *    every partition with data: the per-input minimum of stream processors, across instances.
 *    A partition between owners (its owner died or gave it up) holds event time where it was:
 *    its alerts are still to come from the next owner. It holds for up to `partitionHoldMs` of
 *    record time while nobody owns it, and then, once a live instance owns it, until that one
 *    has read from it (or says there is nothing to read). Idle partitions (quiet, nothing left
 *    to read) hold nothing back; a partition whose owner is behind does (backpressure).
 *    An instance is gone when its last record is `instanceTimeoutMs` older than the newest
 *    record of anyone (record timestamps, so a replay decides the same), or at once when it
 *    says it is leaving. Instances that report no partition times count with their watermark.
 * 2. Ownership. An alert belongs to the instance that published its firing, for the `metrics`
 *    partition its host hashes to. When a partition moves (rebalance, death), the new owner
 *    starts with empty detector state: it re-fires what still holds after the rule's `for`
 *    (which moves ownership to it; the correlator counts the repeat as a duplicate), and a late
 *    `resolved` from the former owner is dropped (the new owner now speaks for that alert).
 * 3. Handover. An alert whose owner is gone or lost its partition, and that the partition's
 *    new owner does not confirm within `handoverGraceMs` of that partition's own event time
 *    past the handover point, is resolved by the gate at the time it was last vouched for:
 *    otherwise a fault that ended during the handover would keep its incident open forever (no
 *    one left to say `resolved`). The grace is counted in the partition's event time as its new
 *    owner reports it (`partitionTimes`), not in the correlator's: a new owner first works
 *    through the backlog the dead one left, while its other partitions are minutes ahead.
 *
 * Alerts that name no instance (written to the topic by another system) or no partition
 * (POST /alerts) are nobody's to hand over: they resolve when their source says so.
 */
export interface AlertGateOptions {
  /** An instance whose records stop for this long (record time) is gone. Default 30 s. */
  instanceTimeoutMs?: number;
  /** Partition event time a new owner has to confirm an inherited firing alert. Default 15 min. */
  handoverGraceMs?: number;
  /**
   * Allowed lateness: event time is a partition's newest time minus this; with no live instance,
   * alerts from outside move event time to their time minus this. Default 5 s.
   */
  latenessMs?: number;
  /**
   * How long (record time) a partition nobody owns holds event time back after its owner left
   * it. Default 60 s. Once a live instance owns it, it holds until that one has read it.
   */
  partitionHoldMs?: number;
}

export interface GateInstanceState {
  id: string;
  watermark: number | null;
  lastRecordAt: number;
  partitions: number[];
  /** Newest event time it reported per partition (partition, ms). */
  partitionTimes: Array<[number, number]>;
  /** Partitions with data in its last report (null: it reports no partition times). */
  active: number[] | null;
  idle: boolean;
  gone: boolean;
  /** Partitions it no longer owns while it still owns alerts there, with the partition's event time then. */
  lost: Array<[number, number | null]>;
}

/** The fields of a firing alert the gate needs to end it (the correlator matches on fingerprint). */
export interface GateAlert {
  fingerprint: string;
  id: string;
  rule: string;
  severity: AlertEvent['severity'];
  entity: AlertEvent['entity'];
  startsAt: number;
  at: number;
  predicted: boolean;
  owner: string | undefined;
  partition: number;
}

export interface AlertGateState {
  version: 1;
  /** Partitions between owners: partition, the event time it holds, record time it was left. */
  orphans?: Array<[number, number, number]>;
  watermark: number | null;
  newestRecordAt: number | null;
  externalMax: number | null;
  instances: GateInstanceState[];
  firing: GateAlert[];
}

export interface AlertGateStats {
  alerts: number;
  /** Resolutions from a former owner, dropped. */
  staleResolved: number;
  /** Firing alerts that moved to a new owner. */
  handedOver: number;
  /** Firing alerts ended by the gate after the handover grace. */
  expired: number;
  instances: number;
  liveInstances: number;
  firing: number;
}

interface InstanceRec {
  id: string;
  watermark: number;
  lastRecordAt: number;
  partitions: Set<number>;
  partitionTimes: Map<number, number>;
  active: number[] | undefined;
  idle: boolean;
  gone: boolean;
  lost: Map<number, number>;
}

const NONE = Number.NEGATIVE_INFINITY;

export class AlertGate {
  private readonly instanceTimeout: number;
  private readonly grace: number;
  private readonly lateness: number;
  private readonly hold: number;
  /** Partitions between owners: the event time they hold, and the record time they were left. */
  private readonly orphans = new Map<number, { hold: number; at: number }>();
  private readonly instances = new Map<string, InstanceRec>();
  private readonly firing = new Map<string, GateAlert>();
  /** `owner\u0000partition` -> fingerprints, so a handover touches only what it hands over. */
  private readonly byOwner = new Map<string, Set<string>>();
  private wm = NONE;
  private newestRecordAt = NONE;
  private externalMax = NONE;
  private readonly counts = { alerts: 0, staleResolved: 0, handedOver: 0, expired: 0 };

  constructor(options: AlertGateOptions = {}) {
    this.instanceTimeout = options.instanceTimeoutMs ?? 30_000;
    this.grace = options.handoverGraceMs ?? 15 * 60_000;
    // Instances without partition data count with their own watermark (alerts sent to their
    // API move it, as in the embedded pipeline).
    this.lateness = options.latenessMs ?? 5000;
    this.hold = options.partitionHoldMs ?? 60_000;
    if (!(this.instanceTimeout > 0)) throw new RangeError('instanceTimeoutMs must be positive');
    if (!(this.grace >= 0)) throw new RangeError('handoverGraceMs must be >= 0');
  }

  /** The correlator's event time: never goes back. */
  get watermark(): number {
    return this.wm;
  }

  /**
   * An alert record. Returns the alert to hand to the correlator, or undefined when it is
   * dropped (a former owner's late `resolved`).
   */
  alert(
    alert: AlertEvent,
    instance: string | undefined,
    partition: number,
    recordAt: number,
  ): AlertEvent | undefined {
    this.counts.alerts++;
    this.seen(instance, recordAt);
    if (instance === undefined && alert.at > this.externalMax) this.externalMax = alert.at;
    const fp = alert.fingerprint;
    const known = this.firing.get(fp);
    if (alert.state === 'firing') {
      if (known === undefined) {
        const g: GateAlert = {
          fingerprint: fp,
          id: alert.id,
          rule: alert.rule,
          severity: alert.severity,
          entity: alert.entity,
          startsAt: alert.startsAt,
          at: alert.at,
          predicted: alert.predicted,
          owner: instance,
          partition,
        };
        this.firing.set(fp, g);
        this.index(g);
      } else {
        if (known.owner !== instance || known.partition !== partition) {
          this.unindex(known);
          known.owner = instance;
          known.partition = partition;
          this.index(known);
          this.counts.handedOver++;
        }
        known.at = alert.at;
        known.severity = alert.severity;
      }
      return alert;
    }
    if (known !== undefined) {
      if (known.owner !== undefined && instance !== undefined && known.owner !== instance) {
        this.counts.staleResolved++;
        return undefined;
      }
      this.firing.delete(fp);
      this.unindex(known);
    }
    return alert;
  }

  /** A watermark record: the instance's progress, partitions and liveness. */
  instanceWatermark(w: WatermarkRecord, recordAt: number): void {
    const rec = this.instance(w.instance, recordAt);
    if (w.watermark !== null && w.watermark > rec.watermark) rec.watermark = w.watermark;
    rec.idle = w.idle;
    rec.gone = false;
    const now = new Set(w.leaving ? [] : w.partitions);
    // Times first: a partition given up in this record is left at its latest time.
    rec.active = undefined;
    if (w.partitionTimes !== undefined && !w.leaving) {
      rec.active = [];
      for (let i = 0; i < w.partitions.length; i++) {
        const t = w.partitionTimes[i];
        const p = w.partitions[i]!;
        if (t === null || t === undefined) continue;
        rec.active.push(p);
        if (t > (rec.partitionTimes.get(p) ?? NONE)) rec.partitionTimes.set(p, t);
      }
    }
    for (const p of rec.partitions) if (!now.has(p)) this.lose(rec, p, recordAt);
    for (const p of now) {
      rec.lost.delete(p);
      // The new owner takes over holding event time once it has read from the partition, or
      // says there is nothing to read. While it has not read what is there, the hold stays.
      if (rec.active === undefined || rec.active.includes(p) || !(w.lagging ?? []).includes(p))
        this.orphans.delete(p);
    }
    rec.partitions = now;
    if (w.leaving) rec.gone = true;
    this.findGone();
  }

  /**
   * Moves event time as far as the live instances allow; returns the alerts the gate ends
   * (handovers nobody confirmed) to hand to the correlator before it advances.
   */
  advance(): AlertEvent[] {
    let least = Number.POSITIVE_INFINITY;
    let live = 0;
    for (const rec of this.instances.values()) {
      if (rec.gone || rec.idle) continue;
      if (rec.active !== undefined && rec.active.length > 0) {
        for (const p of rec.active) {
          const t = rec.partitionTimes.get(p)! - this.lateness;
          live++;
          if (t < least) least = t;
        }
      } else if (rec.watermark !== NONE) {
        live++;
        if (rec.watermark < least) least = rec.watermark;
      }
    }
    for (const [p, o] of this.orphans) {
      // Unowned for too long (nobody will take it): stop waiting. Owned, it waits for its
      // owner to read what is there, however slow (backpressure holds event time too).
      if (this.newestRecordAt - o.at > this.hold && !this.ownedByLive(p)) {
        this.orphans.delete(p);
        continue;
      }
      if (o.hold < least) least = o.hold;
    }
    if (live === 0 && this.externalMax !== NONE) least = Math.min(least, this.externalMax - this.lateness);
    if (least !== Number.POSITIVE_INFINITY && least > this.wm) this.wm = least;
    return this.expireHandovers();
  }

  stats(): AlertGateStats {
    let live = 0;
    for (const r of this.instances.values()) if (!r.gone) live++;
    return { ...this.counts, instances: this.instances.size, liveInstances: live, firing: this.firing.size };
  }

  /** Which instances are live (for logs and the API). */
  liveInstances(): string[] {
    const out: string[] = [];
    for (const r of this.instances.values()) if (!r.gone) out.push(r.id);
    return out;
  }

  state(): AlertGateState {
    const instances: GateInstanceState[] = [];
    for (const r of this.instances.values()) {
      const s: GateInstanceState = {
        id: r.id,
        watermark: r.watermark === NONE ? null : r.watermark,
        lastRecordAt: r.lastRecordAt,
        partitions: [...r.partitions],
        partitionTimes: [...r.partitionTimes],
        active: r.active ?? null,
        idle: r.idle,
        gone: r.gone,
        lost: [...r.lost].map(([p, t]): [number, number | null] => [p, t === NONE ? null : t]),
      };
      instances.push(s);
    }
    return {
      version: 1,
      orphans: [...this.orphans].map(([p, o]): [number, number, number] => [p, o.hold, o.at]),
      watermark: this.wm === NONE ? null : this.wm,
      newestRecordAt: this.newestRecordAt === NONE ? null : this.newestRecordAt,
      externalMax: this.externalMax === NONE ? null : this.externalMax,
      instances,
      firing: [...this.firing.values()].map((g) => ({ ...g })),
    };
  }

  static restore(state: AlertGateState, options: AlertGateOptions = {}): AlertGate {
    if (state?.version !== 1) throw new Error('unsupported alert gate state (expected version 1)');
    const g = new AlertGate(options);
    g.wm = state.watermark ?? NONE;
    g.newestRecordAt = state.newestRecordAt ?? NONE;
    g.externalMax = state.externalMax ?? NONE;
    for (const [p, hold, at] of state.orphans ?? []) g.orphans.set(p, { hold, at });
    for (const s of state.instances) {
      g.instances.set(s.id, {
        id: s.id,
        watermark: s.watermark ?? NONE,
        lastRecordAt: s.lastRecordAt,
        partitions: new Set(s.partitions),
        partitionTimes: new Map(s.partitionTimes),
        active: s.active ?? undefined,
        idle: s.idle,
        gone: s.gone,
        lost: new Map(s.lost.map(([p, t]) => [p, t ?? NONE])),
      });
    }
    for (const a of state.firing) {
      const copy = { ...a };
      g.firing.set(a.fingerprint, copy);
      g.index(copy);
    }
    return g;
  }

  private seen(instance: string | undefined, recordAt: number): void {
    if (recordAt > this.newestRecordAt) this.newestRecordAt = recordAt;
    if (instance === undefined) return;
    const rec = this.instances.get(instance);
    // An alert keeps its instance alive too, but does not create one: only watermark records
    // say which partitions it owns.
    if (rec !== undefined && recordAt > rec.lastRecordAt) rec.lastRecordAt = recordAt;
  }

  private instance(id: string, recordAt: number): InstanceRec {
    if (recordAt > this.newestRecordAt) this.newestRecordAt = recordAt;
    let rec = this.instances.get(id);
    if (rec === undefined) {
      rec = {
        id,
        watermark: NONE,
        lastRecordAt: recordAt,
        partitions: new Set(),
        partitionTimes: new Map(),
        active: undefined,
        idle: false,
        gone: false,
        lost: new Map(),
      };
      this.instances.set(id, rec);
    } else if (recordAt > rec.lastRecordAt) {
      rec.lastRecordAt = recordAt;
    }
    return rec;
  }

  private findGone(): void {
    const limit = this.newestRecordAt - this.instanceTimeout;
    for (const rec of this.instances.values()) {
      if (rec.gone || rec.lastRecordAt >= limit) continue;
      rec.gone = true;
      for (const p of rec.partitions) this.lose(rec, p, rec.lastRecordAt);
      rec.partitions = new Set();
    }
  }

  /**
   * The instance stopped owning `p`: its alerts there wait for the next owner's word, and until
   * a live instance owns `p` its event time holds where `p` was.
   */
  private lose(rec: InstanceRec, p: number, recordAt: number): void {
    const t = rec.partitionTimes.get(p);
    const since = t ?? rec.watermark;
    if (!rec.lost.has(p)) rec.lost.set(p, since);
    let owned = false;
    for (const r of this.instances.values()) if (r !== rec && !r.gone && r.partitions.has(p)) owned = true;
    // (Owned by another already: that one's report decides.) A partition time is the newest seen; an instance watermark already allows for lateness.
    const hold = t !== undefined ? t - this.lateness : rec.watermark;
    if (!owned && hold !== NONE && !this.orphans.has(p)) this.orphans.set(p, { hold, at: recordAt });
  }

  private ownedByLive(p: number): boolean {
    for (const r of this.instances.values()) if (!r.gone && r.partitions.has(p)) return true;
    return false;
  }

  /** How far the live owner of `p` has got in that partition's event time. */
  private progress(p: number): number {
    let best = NONE;
    for (const r of this.instances.values()) {
      if (r.gone || !r.partitions.has(p)) continue;
      // An instance that reports partition times and has none for `p` has not read any of it yet.
      const t = r.active !== undefined ? (r.partitionTimes.get(p) ?? NONE) : r.watermark;
      if (t > best) best = t;
    }
    return best;
  }

  private expireHandovers(): AlertEvent[] {
    const out: AlertEvent[] = [];
    for (const [id, rec] of this.instances) {
      for (const [p, since] of rec.lost) {
        const fps = this.byOwner.get(ownerKey(rec.id, p));
        if (fps === undefined || fps.size === 0) {
          rec.lost.delete(p);
          continue;
        }
        const progress = this.progress(p);
        if (progress !== NONE && progress >= since + this.grace) {
          this.expire(fps, since, out);
          rec.lost.delete(p);
        }
      }
      // A gone instance that owns nothing any more is forgotten (bounded state).
      if (rec.gone && rec.lost.size === 0 && !this.ownsAny(id)) this.instances.delete(id);
    }
    return out;
  }

  private ownsAny(id: string): boolean {
    const prefix = id + '\u0000';
    for (const [key, fps] of this.byOwner) if (fps.size > 0 && key.startsWith(prefix)) return true;
    return false;
  }

  private expire(fps: Set<string>, since: number, out: AlertEvent[]): void {
    for (const fp of [...fps]) {
      const g = this.firing.get(fp);
      if (g === undefined) continue;
      this.firing.delete(fp);
      this.unindex(g);
      this.counts.expired++;
      out.push({
        id: g.id,
        fingerprint: g.fingerprint,
        rule: g.rule,
        severity: g.severity,
        state: 'resolved',
        entity: g.entity,
        predicted: g.predicted,
        at: Math.max(since, g.at),
        startsAt: g.startsAt,
        labels: {},
        annotations: { resolvedBy: 'handover: no instance confirmed it after its owner left' },
      });
    }
  }

  private index(g: GateAlert): void {
    if (g.owner === undefined || g.partition < 0) return;
    const key = ownerKey(g.owner, g.partition);
    let set = this.byOwner.get(key);
    if (set === undefined) {
      set = new Set();
      this.byOwner.set(key, set);
    }
    set.add(g.fingerprint);
  }

  private unindex(g: GateAlert): void {
    if (g.owner === undefined || g.partition < 0) return;
    const key = ownerKey(g.owner, g.partition);
    const set = this.byOwner.get(key);
    if (set === undefined) return;
    set.delete(g.fingerprint);
    if (set.size === 0) this.byOwner.delete(key);
  }
}

function ownerKey(owner: string, partition: number): string {
  return owner + '\u0000' + partition;
}
