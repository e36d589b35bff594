import type { AlertEvent, EntityRef, Level, TopologyView } from '../core/types.js';
import { SEVERITY_RANK } from '../core/types.js';
import type { Incident } from './incident.js';
import type { TopologyCache } from './topology-cache.js';

/** One firing episode of an alert as the correlator keeps it (the latest state change wins). */
export class AlertRec {
  event: AlertEvent;
  firing: boolean;
  /** Event time it resolved, once it has. */
  endsAt: number | undefined;

  constructor(
    event: AlertEvent,
    readonly entity: EntityRec,
  ) {
    this.event = event;
    this.firing = event.state === 'firing';
    this.endsAt = undefined;
  }
}

const NO_ATTRS: Readonly<Record<string, string>> = Object.freeze({});
const NO_NAMES: readonly string[] = Object.freeze([]);

/**
 * An entity that has alerts, with its place in the topology looked up once (alerts are short
 * lived; the hot path must not walk the graph per alert).
 */
export class EntityRec {
  readonly key: string;
  hostId: string | undefined;
  rackId: string | undefined;
  idcId: string | undefined;
  /** For containers: their app. */
  appId: string | undefined;
  hostAttrs: Readonly<Record<string, string>> = NO_ATTRS;
  /** Its host's attribute keys and `key=value` group ids, in the same order. */
  hostAttrNames: readonly string[] = NO_NAMES;
  hostAttrIds: readonly string[] = NO_NAMES;
  /** Cause keys of those groups ("attr:kernel=5.10"). */
  hostAttrKeys: readonly string[] = NO_NAMES;
  /** Cause keys of its host, rack, IDC and app ("host:h1"), built once for the hot path. */
  hostKey: string | undefined;
  rackKey: string | undefined;
  idcKey: string | undefined;
  appKey: string | undefined;
  /** Apps this entity's app calls, up to the configured depth (filled on demand). */
  callees: string[] | undefined;
  /** "upstream:<app>" keys of its own app and of those callees (filled on demand). */
  upstreamKeys: string[] | undefined;
  readonly alerts: AlertRec[] = [];
  firing = 0;
  /** Earliest start among its alerts. */
  start = Number.POSITIVE_INFINITY;
  /** Highest severity rank among its alerts. */
  severity = 0;
  /** Rule of its first alert: what "the same symptom" means for neighbours. */
  rule = '';
  incident: Incident | undefined;
  /** Event time it entered the pool of unassigned entities; NaN when not in the pool. */
  poolSince = Number.NaN;
  placed = false;

  constructor(readonly ref: EntityRef) {
    this.key = ref.level + ':' + ref.id;
  }

  add(alert: AlertRec): void {
    if (this.alerts.length === 0) this.rule = alert.event.rule;
    this.alerts.push(alert);
    if (alert.firing) this.firing++;
    if (alert.event.startsAt < this.start) this.start = alert.event.startsAt;
    const rank = SEVERITY_RANK[alert.event.severity];
    if (rank > this.severity) this.severity = rank;
  }

  /** Looks up host, rack, IDC and app; alert labels fill in what the topology does not know. */
  place(topology: TopologyView, labels: Record<string, string>, cache?: TopologyCache): void {
    const { level, id } = this.ref;
    let host: string | undefined;
    let rack: string | undefined;
    let idc: string | undefined;
    if (level === 'container') {
      host = topology.parent(this.ref)?.id ?? (labels.host || undefined);
      this.appId = topology.appOf(id) ?? (labels.app || undefined);
    } else if (level === 'host') {
      host = id;
    } else if (level === 'rack') {
      rack = id;
    } else if (level === 'idc') {
      idc = id;
    }
    this.hostKey = undefined;
    this.rackKey = undefined;
    this.idcKey = undefined;
    if (host !== undefined && cache !== undefined) {
      const p = cache.hostPlace(host, labels);
      rack = p.rackId;
      idc = p.idcId;
      this.hostKey = p.hostKey;
      this.rackKey = p.rackKey;
      this.idcKey = p.idcKey;
      this.hostAttrs = p.attrs;
      this.hostAttrNames = p.attrNames;
      this.hostAttrIds = p.attrIds;
      this.hostAttrKeys = p.attrKeys;
    } else if (host !== undefined) {
      const hostRef: EntityRef = { level: 'host', id: host };
      rack = topology.parent(hostRef)?.id ?? (labels.rack || undefined);
      const attrs = topology.attributes(hostRef);
      if (attrs !== this.hostAttrs) {
        this.hostAttrs = attrs;
        const groups = attributeGroups(attrs);
        this.hostAttrNames = groups.names;
        this.hostAttrIds = groups.ids;
        this.hostAttrKeys = groups.keys;
      }
    }
    if (rack !== undefined && idc === undefined) {
      idc = topology.parent({ level: 'rack', id: rack })?.id ?? (labels.idc || labels.dc || undefined);
    }
    this.hostId = host;
    this.rackId = rack;
    this.idcId = idc;
    if (host !== undefined) this.hostKey ??= 'host:' + host;
    if (rack !== undefined) this.rackKey ??= 'rack:' + rack;
    if (idc !== undefined) this.idcKey ??= 'idc:' + idc;
    const app = level === 'app' ? id : this.appId;
    this.appKey = app === undefined ? undefined : (cache?.appKey(app) ?? 'app:' + app);
    this.callees = undefined;
    this.upstreamKeys = undefined;
    this.placed = host !== undefined || level === 'app' || level === 'rack' || level === 'idc';
  }

  get level(): Level {
    return this.ref.level;
  }
}

// Attribute sets are shared (interned) by the topology: their group ids are worked out once.
const groupCache = new WeakMap<object, AttributeGroupIds>();

export interface AttributeGroupIds {
  names: string[];
  ids: string[];
  keys: string[];
}

export function attributeGroups(attrs: Readonly<Record<string, string>>): AttributeGroupIds {
  let groups = groupCache.get(attrs);
  if (groups === undefined) {
    groups = { names: [], ids: [], keys: [] };
    for (const k in attrs) {
      const id = k + '=' + attrs[k];
      groups.names.push(k);
      groups.ids.push(id);
      groups.keys.push('attr:' + id);
    }
    groupCache.set(attrs, groups);
  }
  return groups;
}

/** Apps reached from `app` along calls edges, nearest first, up to `depth` hops. */
export function calleesOf(topology: TopologyView, app: string, depth: number): string[] {
  const out: string[] = [];
  if (depth <= 0) return out;
  const seen = new Set<string>([app]);
  let frontier = [app];
  for (let d = 0; d < depth && frontier.length > 0; d++) {
    const next: string[] = [];
    for (const a of frontier) {
      for (const callee of topology.calls(a)) {
        if (seen.has(callee)) continue;
        seen.add(callee);
        out.push(callee);
        next.push(callee);
      }
    }
    frontier = next;
  }
  return out;
}

/** Apps that reach `app` along calls edges, up to `depth` hops. */
export function callersOf(topology: TopologyView, app: string, depth: number): string[] {
  const out: string[] = [];
  const seen = new Set<string>([app]);
  let frontier = [app];
  for (let d = 0; d < depth && frontier.length > 0; d++) {
    const next: string[] = [];
    for (const a of frontier) {
      for (const caller of topology.callers(a)) {
        if (seen.has(caller)) continue;
        seen.add(caller);
        out.push(caller);
        next.push(caller);
      }
    }
    frontier = next;
  }
  return out;
}
