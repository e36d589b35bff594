import type { AlertEvent, ContainerPlace, EntityRef, Level, TopologyView } from '../core/types.js';
import { SEVERITY_RANK } from '../core/types.js';
import type { Incident } from './incident.js';
import type { TopologyCache } from './topology-cache.js';

/** One firing episode of an alert as the correlator keeps it (the latest state change wins). */
export class AlertRec {
  event: AlertEvent;
  firing: boolean;
  /** Event time it resolved, once it has. */
  endsAt: number | undefined;
  /** The record of the entity holding it (an entity has one per incident it is part of). */
  entity: EntityRec;
  /**
   * Taken by its incident only because nothing else explained it, with a symptom the incident
   * does not show: it does not make that rule one of the incident's symptoms.
   */
  secondary = false;

  constructor(event: AlertEvent, entity: EntityRec) {
    this.event = event;
    this.firing = event.state === 'firing';
    this.endsAt = undefined;
    this.entity = entity;
  }
}

/** Shared by entities without alerts; never written to (add() replaces it). */
const NO_ALERTS: AlertRec[] = [];

/** Scratch for TopologyView.placeContainer (one lookup, nothing allocated). */
const CONTAINER_PLACE: ContainerPlace = { host: undefined, app: undefined };

/**
 * An entity that has alerts, with its place in the topology looked up once (alerts are short
 * lived; the hot path must not walk the graph per alert). Kept small: one is made per alerting
 * entity of a storm, and what depends only on the host is shared by the entities on it.
 */
export class EntityRec {
  private keyText: string | undefined;
  hostId: string | undefined;
  /** For containers: their app. */
  appId: string | undefined;
  /** Its host's rack, IDC, attribute groups and their cause keys (for a rack or IDC: its own). */
  site: EntitySite = NO_SITE;
  private appKeyText: string | undefined;
  /** "upstream:<app>" keys of its own app and of the apps it calls (filled on demand). */
  upstreamKeys: string[] | undefined;
  /** Its alert episodes; most entities of a storm have one, so the array is made to fit it. */
  alerts: AlertRec[] = NO_ALERTS;
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
  /**
   * An entity alerting with a symptom its incident does not show gets a fresh record for it,
   * weighed in the pool like a new entity: `prev` is its record in that incident, `fallback`
   * the incident it joins when nothing else explains it. `next` is the newer record.
   */
  prev: EntityRec | undefined;
  next: EntityRec | undefined;
  fallback: Incident | undefined;

  constructor(readonly ref: EntityRef) {}

  /** "container:c1", built when first asked for. */
  get key(): string {
    if (this.keyText === undefined) this.keyText = this.ref.level + ':' + this.ref.id;
    return this.keyText;
  }

  get rackId(): string | undefined {
    return this.site.rackId;
  }
  get idcId(): string | undefined {
    return this.site.idcId;
  }
  get hostAttrs(): Readonly<Record<string, string>> {
    return this.site.attrs;
  }
  /** Its host's attribute keys and `key=value` group ids, in the same order. */
  get hostAttrNames(): readonly string[] {
    return this.site.attrNames;
  }
  get hostAttrIds(): readonly string[] {
    return this.site.attrIds;
  }
  /** Cause keys of those groups ("attr:kernel=5.10"). */
  get hostAttrKeys(): readonly string[] {
    return this.site.attrKeys;
  }
  /** Cause keys of its host, rack and IDC ("host:h1"), built once per host. */
  get hostKey(): string | undefined {
    return this.site.hostKey;
  }
  get rackKey(): string | undefined {
    return this.site.rackKey;
  }
  get idcKey(): string | undefined {
    return this.site.idcKey;
  }
  /** "app:<id>" of its app (an app entity: itself), built when first asked for. */
  get appKey(): string | undefined {
    if (this.appKeyText === undefined) {
      const app = this.ref.level === 'app' ? this.ref.id : this.appId;
      if (app !== undefined) this.appKeyText = 'app:' + app;
    }
    return this.appKeyText;
  }

  add(alert: AlertRec): void {
    if (this.alerts.length === 0) {
      this.rule = alert.event.rule;
      // A literal of one: push() onto an empty array would reserve 17 slots.
      this.alerts = [alert];
    } else {
      this.alerts.push(alert);
    }
    if (alert.firing) this.firing++;
    if (alert.event.startsAt < this.start) this.start = alert.event.startsAt;
    const rank = SEVERITY_RANK[alert.event.severity];
    if (rank > this.severity) this.severity = rank;
  }

  /** Looks up host, rack, IDC and app; alert labels fill in what the topology does not know. */
  place(topology: TopologyView, labels: Record<string, string>, cache?: TopologyCache): void {
    const { level, id } = this.ref;
    let host: string | undefined;
    if (level === 'container') {
      let app: string | undefined;
      if (topology.placeContainer === undefined) {
        host = topology.parent(this.ref)?.id;
        app = topology.appOf(id);
      } else if (topology.placeContainer(id, CONTAINER_PLACE)) {
        host = CONTAINER_PLACE.host;
        app = CONTAINER_PLACE.app;
      }
      host ??= labels.host || undefined;
      this.appId = app ?? (labels.app || undefined);
    } else if (level === 'host') {
      host = id;
    }
    this.hostId = host;
    if (host !== undefined) {
      this.site = cache === undefined ? hostSite(topology, host, labels) : cache.hostPlace(host, labels);
    } else if (level === 'rack') {
      this.site = rackSite(topology, id, labels);
    } else if (level === 'idc') {
      this.site = { ...NO_SITE, idcId: id, idcKey: 'idc:' + id };
    } else {
      this.site = NO_SITE;
    }
    this.appKeyText = undefined;
    this.upstreamKeys = undefined;
    this.placed = host !== undefined || level === 'app' || level === 'rack' || level === 'idc';
  }

  get level(): Level {
    return this.ref.level;
  }

  /** A fresh record of the same entity, placed the same way, for alerts weighed apart. */
  split(): EntityRec {
    const fresh = new EntityRec(this.ref);
    fresh.hostId = this.hostId;
    fresh.appId = this.appId;
    fresh.site = this.site;
    fresh.upstreamKeys = this.upstreamKeys;
    fresh.placed = this.placed;
    fresh.prev = this;
    this.next = fresh;
    return fresh;
  }

  /** Its earlier record that is a member of `inc`, if any. */
  recordIn(inc: Incident): EntityRec | undefined {
    for (let r = this.prev; r !== undefined; r = r.prev) if (r.incident === inc) return r;
    return undefined;
  }
}

/** Where an entity's host sits: rack, IDC, attribute groups and their cause keys. */
export interface EntitySite {
  hostKey: string | undefined;
  rackId: string | undefined;
  rackKey: string | undefined;
  idcId: string | undefined;
  idcKey: string | undefined;
  attrs: Readonly<Record<string, string>>;
  /** Attribute keys and `key=value` group ids, in the same order. */
  attrNames: readonly string[];
  attrIds: readonly string[];
  /** "attr:<key>=<value>" cause keys, same order. */
  attrKeys: readonly string[];
}

const NO_ATTRS: Readonly<Record<string, string>> = Object.freeze({});
const NO_NAMES: readonly string[] = Object.freeze([]);
const NO_SITE: EntitySite = Object.freeze({
  hostKey: undefined,
  rackId: undefined,
  rackKey: undefined,
  idcId: undefined,
  idcKey: undefined,
  attrs: NO_ATTRS,
  attrNames: NO_NAMES,
  attrIds: NO_NAMES,
  attrKeys: NO_NAMES,
});

/** The host's rack, IDC and attributes (labels fill in when the topology does not know them). */
export function hostSite(topology: TopologyView, host: string, labels: Record<string, string>): EntitySite {
  const hostRef: EntityRef = { level: 'host', id: host };
  const rackId = topology.parent(hostRef)?.id ?? (labels.rack || undefined);
  const idcId =
    rackId === undefined
      ? labels.idc || labels.dc || undefined
      : (topology.parent({ level: 'rack', id: rackId })?.id ?? (labels.idc || labels.dc || undefined));
  const attrs = topology.attributes(hostRef);
  const groups = attributeGroups(attrs);
  return {
    hostKey: 'host:' + host,
    rackId,
    rackKey: rackId === undefined ? undefined : 'rack:' + rackId,
    idcId,
    idcKey: idcId === undefined ? undefined : 'idc:' + idcId,
    attrs,
    attrNames: groups.names,
    attrIds: groups.ids,
    attrKeys: groups.keys,
  };
}

function rackSite(topology: TopologyView, rack: string, labels: Record<string, string>): EntitySite {
  const idcId = topology.parent({ level: 'rack', id: rack })?.id ?? (labels.idc || labels.dc || undefined);
  return {
    ...NO_SITE,
    rackId: rack,
    rackKey: 'rack:' + rack,
    idcId,
    idcKey: idcId === undefined ? undefined : 'idc:' + idcId,
  };
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

const NO_APPS: readonly string[] = Object.freeze([]);

/** Apps reached from `app` along calls edges, nearest first, up to `depth` hops. */
export function calleesOf(topology: TopologyView, app: string, depth: number): readonly string[] {
  return walkCalls(app, depth, (a) => topology.callList?.(a) ?? topology.calls(a));
}

/** Apps that reach `app` along calls edges, nearest first, up to `depth` hops. */
export function callersOf(topology: TopologyView, app: string, depth: number): readonly string[] {
  return walkCalls(app, depth, (a) => topology.callerList?.(a) ?? topology.callers(a));
}

/**
 * Breadth-first along one direction of the calls edges. Runs once per alerting app in an
 * election on a cold cache: an app without edges costs one lookup, and the short lists of a
 * service graph are deduplicated without a set.
 */
function walkCalls(app: string, depth: number, next: (app: string) => readonly string[]): readonly string[] {
  if (depth <= 0) return NO_APPS;
  const first = next(app);
  if (first.length === 0) return NO_APPS;
  const out: string[] = [];
  let seen: Set<string> | undefined;
  const add = (a: string): void => {
    if (a === app) return;
    if (seen === undefined) {
      if (out.includes(a)) return;
      if (out.length >= 16) seen = new Set(out);
    } else if (seen.has(a)) return;
    seen?.add(a);
    out.push(a);
  };
  for (const a of first) add(a);
  let start = 0;
  for (let d = 1; d < depth && start < out.length; d++) {
    const end = out.length;
    for (let i = start; i < end; i++) for (const b of next(out[i]!)) add(b);
    start = end;
  }
  return out;
}
