import type { EntityRef, Level } from '../core/types.js';
import {
  alertWeight,
  childrenAggregate,
  type EntityHealth,
  healthStatus,
  ownScore,
  rollUp,
} from '../scoring/health.js';
import type { AlertLog } from './alert-log.js';
import type { HealthPort, TopologyPort } from './ports.js';

/**
 * Health of every entity the API knows, by the scoring stage's formulas (scoring/health.ts):
 * an entity's own score from its firing alerts (whatever raised them: detection, Alertmanager,
 * POST /alerts), rolled up the hierarchy (a host's and an app's containers, a rack's and an
 * IDC's hosts). When the detection engine is given, its view (which also weighs anomaly scores
 * of the entity's series) is merged in: the worse of the two scores counts.
 *
 * Scores are memoized: an alert state change drops the scores of its entity and of everything
 * above it (host, rack, IDC, app), so answers follow the alerts at once; the whole memo is
 * dropped every `maxAgeMs` for what is not tracked (topology changes, anomaly scores). The
 * worst-first lists of GET /health are rebuilt at most every `maxAgeMs` while alerts change.
 */
export interface DetectionHealth {
  health(ref: EntityRef): EntityHealth | undefined;
  healthAll(level: Level): readonly EntityHealth[];
}

export interface AlertHealthOptions {
  detection?: DetectionHealth;
  /** Longest a memoized score or a worst-first list is kept. Default 1000 ms. */
  maxAgeMs?: number;
  now?: () => number;
}

const ROUND = (x: number) => Math.round(x * 10) / 10;

export class AlertHealth implements HealthPort {
  private memo = new Map<string, EntityHealth>();
  private memoAt: number;
  private readonly sorted = new Map<Level, { version: number; at: number; list: EntityHealth[] }>();
  private readonly maxAgeMs: number;
  private readonly now: () => number;

  constructor(
    private readonly topology: TopologyPort,
    private readonly alerts: AlertLog,
    private readonly options: AlertHealthOptions = {},
  ) {
    this.maxAgeMs = options.maxAgeMs ?? 1000;
    this.now = options.now ?? Date.now;
    this.memoAt = this.now();
    alerts.onChange((e) => this.invalidate(e));
  }

  health(ref: EntityRef): EntityHealth | undefined {
    const known =
      this.topology.has(ref) ||
      this.alerts.firingByEntity().has(ref.level + ':' + ref.id) ||
      this.options.detection?.health(ref) !== undefined;
    if (!known) return undefined;
    return this.score(ref, this.fresh());
  }

  healthAll(level: Level): EntityHealth[] {
    const memo = this.fresh();
    const now = this.now();
    const cached = this.sorted.get(level);
    if (cached !== undefined && (cached.version === this.alerts.version || now - cached.at < this.maxAgeMs)) {
      return cached.list;
    }
    const seen = new Set<string>();
    const list: EntityHealth[] = [];
    for (const id of this.topology.ids(level)) {
      seen.add(id);
      list.push(this.score({ level, id }, memo));
    }
    const prefix = level + ':';
    for (const key of this.alerts.firingByEntity().keys()) {
      if (!key.startsWith(prefix)) continue;
      const id = key.slice(prefix.length);
      if (seen.has(id)) continue;
      seen.add(id);
      list.push(this.score({ level, id }, memo));
    }
    const detection = this.options.detection;
    if (detection !== undefined) {
      for (const h of detection.healthAll(level)) {
        if (seen.has(h.entity.id)) continue;
        list.push(this.score(h.entity, memo));
      }
    }
    list.sort(
      (a, b) => a.score - b.score || (a.entity.id < b.entity.id ? -1 : a.entity.id > b.entity.id ? 1 : 0),
    );
    this.sorted.set(level, { version: this.alerts.version, at: now, list });
    return list;
  }

  private fresh(): Map<string, EntityHealth> {
    const now = this.now();
    if (now - this.memoAt >= this.maxAgeMs) {
      this.memo = new Map();
      this.memoAt = now;
    }
    return this.memo;
  }

  /** An alert on `e` changed: its score and every roll-up above it are stale. */
  private invalidate(e: EntityRef): void {
    const memo = this.memo;
    if (memo.size === 0) return;
    const t = this.topology;
    memo.delete(e.level + ':' + e.id);
    if (e.level === 'container') {
      const app = t.appOf(e.id);
      if (app !== undefined) memo.delete('app:' + app);
    }
    let at = t.parent(e);
    for (let hops = 0; at !== undefined && hops < 8; hops++) {
      memo.delete(at.level + ':' + at.id);
      at = t.parent(at);
    }
  }

  private score(ref: EntityRef, memo: Map<string, EntityHealth>): EntityHealth {
    const key = ref.level + ':' + ref.id;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let penalty = 0;
    let firing = 0;
    for (const a of this.alerts.firingOf(ref)) {
      penalty += alertWeight(a.severity, a.predicted);
      firing++;
    }
    const own = ownScore(penalty, 0, 0);
    const childScores = this.childScores(ref, memo);
    const aggregate = childScores === undefined ? undefined : childrenAggregate(childScores);
    let score = rollUp(ref.level, own, aggregate);
    let ownOut = own;
    let anomaly = 0;
    const d = this.options.detection?.health(ref);
    if (d !== undefined) {
      anomaly = d.anomaly;
      if (d.score < score) score = d.score;
      if (d.own < ownOut) ownOut = d.own;
    }
    const h: EntityHealth = {
      entity: { level: ref.level, id: ref.id },
      score: ROUND(score),
      status: healthStatus(ROUND(score)),
      own: ROUND(ownOut),
      alertPenalty: penalty,
      anomaly,
      firingAlerts: firing,
    };
    if (aggregate !== undefined) h.children = { count: childScores!.length, aggregate: ROUND(aggregate) };
    memo.set(key, h);
    return h;
  }

  /** Roll-up inputs: a host's and an app's containers, a rack's hosts, an IDC's hosts. */
  private childScores(ref: EntityRef, memo: Map<string, EntityHealth>): number[] | undefined {
    const t = this.topology;
    if (ref.level === 'container' || !t.has(ref)) return undefined;
    const out: number[] = [];
    if (ref.level === 'idc') {
      for (const rack of t.children(ref)) {
        if (rack.level !== 'rack') continue;
        for (const host of t.children(rack)) out.push(this.score(host, memo).score);
      }
    } else {
      for (const child of t.children(ref)) out.push(this.score(child, memo).score);
    }
    return out.length === 0 ? undefined : out;
  }
}
