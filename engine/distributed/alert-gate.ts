import type { AlertEvent } from '../../core/types.js';
import type { WatermarkRecord } from '../../ingest/kafka/alerts-records.js';

/**
 * What stands between the `alerts` topic and the correlator when detection runs in several
 * instances. Three jobs, all in log order so that a correlator restored from a checkpoint and
 * replaying the log from the checkpoint's offset ends where the previous one would have:
 *
 * 1. Event time. Each instance publishes its own watermark; the correlator may only move to the
 *    least watermark of the instances that are alive and have data (an idle instance, one with
 *    no partitions or nothing to read, must not hold the others back). An instance is gone when
 *    its last record is `instanceTimeoutMs` older than the newest record of anyone (record
 *    timestamps, so a replay decides the same), or at once when it says it is leaving.
 * 2. Ownership. An alert belongs to the instance that published its firing, for the `metrics`
 *    partition its host hashes to. When a partition moves (rebalance, death), the new owner
 *    starts with empty detector state: it re-fires what still holds after the rule's `for`
 *    (which moves ownership to it; the correlator counts the repeat as a duplicate), and a late
 *    `resolved` from the former owner is dropped (the new owner now speaks for that alert).
 * 3. Handover. An alert whose owner is gone or lost its partition, and that no new owner
 *    confirms within `handoverGraceMs` of event time, is resolved by the gate at the time it
 *    was last vouched for: otherwise a fault that ended during the handover would keep its
 *    incident open forever (no one left to say `resolved`).
 *
 * Alerts that name no instance (written to the topic by another system) or no partition
 * (POST /alerts) are nobody's to hand over: they resolve when their source says so.
 */
export interface AlertGateOptions {
  /** An instance whose records stop for this long (record time) is gone. Default 30 s. */
  instanceTimeoutMs?: number;
  /** Event time a new owner has to confirm an inherited firing alert. Default 15 min. */
  handoverGraceMs?: number;
  /** With no live instance, alerts from outside move event time to their time minus this. Default 5 s. */
  latenessMs?: number;
}

export interface GateInstanceState {
  id: string;
  watermark: number | null;
  lastRecordAt: number;
  partitions: number[];
  idle: boolean;
  gone: boolean;
  /** Event time at which it was found gone (null: before any event time). */
  goneAt: number | null;
  /** Partitions it no longer owns, with the event time it stopped owning them. */
  lost: Array<[number, number]>;
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
  idle: boolean;
  gone: boolean;
  goneAt: number;
  lost: Map<number, number>;
}

const NONE = Number.NEGATIVE_INFINITY;

export class AlertGate {
  private readonly instanceTimeout: number;
  private readonly grace: number;
  private readonly lateness: number;
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
    this.lateness = options.latenessMs ?? 5000;
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
    const now = new Set(w.partitions);
    for (const p of rec.partitions) if (!now.has(p) && !rec.lost.has(p)) rec.lost.set(p, this.wm);
    for (const p of now) rec.lost.delete(p);
    rec.partitions = now;
    if (w.leaving) {
      rec.gone = true;
      rec.goneAt = this.wm;
      rec.partitions = new Set();
    }
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
      if (rec.gone || rec.idle || rec.watermark === NONE) continue;
      live++;
      if (rec.watermark < least) least = rec.watermark;
    }
    if (live === 0 && this.externalMax !== NONE) least = this.externalMax - this.lateness;
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
        idle: r.idle,
        gone: r.gone,
        goneAt: r.goneAt === NONE ? null : r.goneAt,
        lost: [...r.lost],
      };
      instances.push(s);
    }
    return {
      version: 1,
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
    for (const s of state.instances) {
      g.instances.set(s.id, {
        id: s.id,
        watermark: s.watermark ?? NONE,
        lastRecordAt: s.lastRecordAt,
        partitions: new Set(s.partitions),
        idle: s.idle,
        gone: s.gone,
        goneAt: s.goneAt ?? NONE,
        lost: new Map(s.lost),
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
        idle: false,
        gone: false,
        goneAt: NONE,
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
      if (!rec.gone && rec.lastRecordAt < limit) {
        rec.gone = true;
        rec.goneAt = this.wm;
      }
    }
  }

  private expireHandovers(): AlertEvent[] {
    const out: AlertEvent[] = [];
    const wm = this.wm;
    for (const rec of this.instances.values()) {
      const gone = rec.gone;
      if (!gone && rec.lost.size === 0) continue;
      if (gone) {
        // Every partition it held (and any it had lost before) ends at the earlier moment.
        for (const [key, fps] of this.byOwner) {
          if (!key.startsWith(rec.id + '\u0000') || fps.size === 0) continue;
          const p = Number(key.slice(rec.id.length + 1));
          const since = Math.min(rec.goneAt, rec.lost.get(p) ?? rec.goneAt);
          if (wm >= since + this.grace) this.expire(fps, since, out);
        }
      } else {
        for (const [p, since] of rec.lost) {
          const fps = this.byOwner.get(ownerKey(rec.id, p));
          if (fps === undefined || fps.size === 0) {
            rec.lost.delete(p);
            continue;
          }
          if (wm >= since + this.grace) {
            this.expire(fps, since, out);
            rec.lost.delete(p);
          }
        }
      }
    }
    // Gone instances that own nothing any more are forgotten (bounded state).
    for (const [id, rec] of this.instances) {
      if (!rec.gone) continue;
      let owns = false;
      for (const [key, fps] of this.byOwner) if (fps.size > 0 && key.startsWith(id + '\u0000')) owns = true;
      if (!owns && wm >= rec.goneAt + this.grace) this.instances.delete(id);
    }
    return out;
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
