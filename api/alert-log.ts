import type { AlertEvent, EntityRef } from '../core/types.js';
import type { AlertQuery } from './ports.js';

/**
 * The alerts the API shows: every firing alert (by fingerprint, indexed by entity) and the most
 * recent resolutions (a ring of `recentLimit`). Fed with every alert state change the engine
 * sees, whether from detection or from POST /alerts. Memory is bounded by what fires plus the
 * ring.
 */
export interface AlertLogOptions {
  /** Resolved alerts kept for GET /alerts?state=resolved. Default 10,000. */
  recentLimit?: number;
}

export class AlertLog {
  private readonly firing = new Map<string, AlertEvent>();
  private readonly byEntity = new Map<string, Map<string, AlertEvent>>();
  private readonly recent: Array<AlertEvent | undefined>;
  private recentNext = 0;
  private recentCount = 0;
  private received = 0;
  private firingEvents = 0;
  private resolvedEvents = 0;
  /** Bumped on every change (health caches key on it). */
  version = 0;
  private readonly listeners: Array<(entity: EntityRef) => void> = [];

  constructor(options: AlertLogOptions = {}) {
    const limit = options.recentLimit ?? 10_000;
    if (!(Number.isInteger(limit) && limit >= 0)) throw new RangeError(`recentLimit must be an integer >= 0`);
    this.recent = new Array(limit);
  }

  /** Called with the entity of every alert state change (health invalidates its scores). */
  onChange(listener: (entity: EntityRef) => void): void {
    this.listeners.push(listener);
  }

  record(a: AlertEvent): void {
    this.received++;
    this.version++;
    for (const l of this.listeners) l(a.entity);
    const key = a.entity.level + ':' + a.entity.id;
    if (a.state === 'firing') {
      this.firingEvents++;
      this.firing.set(a.fingerprint, a);
      let m = this.byEntity.get(key);
      if (m === undefined) {
        m = new Map();
        this.byEntity.set(key, m);
      }
      m.set(a.fingerprint, a);
      return;
    }
    this.resolvedEvents++;
    const was = this.firing.get(a.fingerprint);
    if (was !== undefined) {
      this.firing.delete(a.fingerprint);
      const wasKey = was.entity.level + ':' + was.entity.id;
      const m = this.byEntity.get(wasKey);
      if (m !== undefined) {
        m.delete(a.fingerprint);
        if (m.size === 0) this.byEntity.delete(wasKey);
      }
    }
    if (this.recent.length === 0) return;
    this.recent[this.recentNext] = a;
    this.recentNext = (this.recentNext + 1) % this.recent.length;
    if (this.recentCount < this.recent.length) this.recentCount++;
  }

  firingOf(ref: EntityRef): AlertEvent[] {
    const m = this.byEntity.get(ref.level + ':' + ref.id);
    return m === undefined ? [] : [...m.values()];
  }

  /** Visits every firing alert. */
  forEachFiring(fn: (a: AlertEvent) => void): void {
    for (const a of this.firing.values()) fn(a);
  }

  /** Entity keys ("host:h1") with something firing, and their alerts. */
  firingByEntity(): ReadonlyMap<string, ReadonlyMap<string, AlertEvent>> {
    return this.byEntity;
  }

  list(q: AlertQuery = {}): AlertEvent[] {
    const out: AlertEvent[] = [];
    const keep = (a: AlertEvent) => matches(a, q) && out.push(a);
    if (q.state !== 'resolved') {
      if (q.entity !== undefined) for (const a of this.firingOf(q.entity)) keep(a);
      else for (const a of this.firing.values()) keep(a);
    }
    if (q.state !== 'firing') {
      const n = this.recent.length;
      for (let i = 0; i < this.recentCount; i++) {
        const a = this.recent[(this.recentNext - 1 - i + n) % n]!;
        keep(a);
      }
    }
    out.sort((a, b) => b.at - a.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return out;
  }

  counts(): { firing: number; recent: number; received: number } {
    return { firing: this.firing.size, recent: this.recentCount, received: this.received };
  }

  events(): { firing: number; resolved: number } {
    return { firing: this.firingEvents, resolved: this.resolvedEvents };
  }
}

function matches(a: AlertEvent, q: AlertQuery): boolean {
  if (q.state !== undefined && a.state !== q.state) return false;
  if (q.severity !== undefined && a.severity !== q.severity) return false;
  if (q.rule !== undefined && a.rule !== q.rule) return false;
  if (q.level !== undefined && a.entity.level !== q.level) return false;
  if (q.entity !== undefined && (a.entity.level !== q.entity.level || a.entity.id !== q.entity.id))
    return false;
  if (q.predicted !== undefined && a.predicted !== q.predicted) return false;
  if (q.since !== undefined && a.at < q.since) return false;
  if (q.until !== undefined && a.at > q.until) return false;
  return true;
}
