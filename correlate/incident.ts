import type {
  AlertEvent,
  AlertState,
  Candidate,
  CauseRef,
  EntityRef,
  IncidentEvent,
  IncidentEventType,
  IncidentStatus,
  Level,
  Severity,
} from '../core/types.js';
import { roleOf } from './election.js';
import type { AlertRec, EntityRec } from './entities.js';

export const SEVERITY_NAMES: readonly Severity[] = ['info', 'warning', 'critical'];

export type TimelineKind =
  | 'opened'
  | 'updated'
  | 'absorbed'
  | 'merged'
  | 'severity'
  | 'all-resolved'
  | 'refired'
  | 'resolved';

export interface TimelineEntry {
  at: number;
  kind: TimelineKind;
  detail: string;
}

/** One absorbed alert episode with its own lifecycle. */
export interface AlertSummary {
  id: string;
  rule: string;
  severity: Severity;
  state: AlertState;
  predicted: boolean;
  startsAt: number;
  endsAt?: number;
}

/** Absorbed entities placed in the hierarchy (idc > rack > host > container; apps at the top). */
export interface IncidentTreeNode {
  entity: EntityRef;
  /** The entity's place relative to the root cause; `context` for an ancestor without alerts. */
  role: Level | 'neighbour' | 'context';
  alerts: AlertSummary[];
  children: IncidentTreeNode[];
}

export interface IncidentSummary {
  id: string;
  version: number;
  status: IncidentStatus;
  severity: Severity;
  rootCause: CauseRef;
  candidates: Candidate[];
  absorbed: { total: number; byLevel: Partial<Record<Level | 'neighbour', number>> };
  /** Absorbed alert episodes, and how many still fire. */
  alerts: number;
  firing: number;
  startsAt: number;
  openedAt: number;
  endsAt?: number;
  mergedInto?: string;
  /** 'operator' when it was closed by hand (it ended at the operator's resolve, not by itself). */
  closedBy?: 'operator';
}

export interface IncidentDetail extends IncidentSummary {
  tree: IncidentTreeNode[];
  timeline: TimelineEntry[];
}

/** Serializable form of an incident (snapshot/restore). */
export interface IncidentSnapshot {
  id: string;
  version: number;
  status: IncidentStatus;
  severity: number;
  cause: CauseRef;
  causeKey: string;
  candidates: Candidate[];
  startsAt: number;
  openedAt: number;
  endsAt?: number;
  lastResolvedAt: number;
  holdUntil: number;
  resolvedAt?: number;
  mergedInto?: string;
  /** Set when an operator closed it while some of its alerts still fired (they stay its own). */
  closedBy?: 'operator';
  timeline: TimelineEntry[];
  alerts: SnapshotAlert[];
}

export interface SnapshotAlert {
  event: AlertEvent;
  firing: boolean;
  endsAt?: number;
  /** Later alerts of its entity are held by a newer record (weighed apart). */
  superseded?: true;
  /** Taken by its incident as a fallback: not one of the incident's symptoms. */
  secondary?: true;
}

/**
 * An incident's state: the root cause, what it absorbed (entities and their alert episodes,
 * each keeping its own firing/resolved lifecycle), and what has been notified (version).
 */
export class Incident {
  version = 0;
  status: IncidentStatus = 'open';
  severity = 0;
  cause: CauseRef;
  causeKey: string;
  candidates: Candidate[];
  endsAt: number | undefined;
  lastResolvedAt = Number.NEGATIVE_INFINITY;
  /** When the hold-down ends (all absorbed alerts resolved); NaN while something fires. */
  holdUntil = Number.NaN;
  resolvedAt: number | undefined;
  mergedInto: string | undefined;
  /**
   * 'operator' once closed by hand (Correlator.resolveIncident): its alerts still firing then
   * stay its own until they resolve, so that their repeats and resolutions change nothing.
   */
  closedBy: 'operator' | undefined;
  firing = 0;
  /** Alerting entities absorbed, in all and per level (an entity with two alerts counts once). */
  total = 0;
  byLevel: Record<string, number> = {};
  readonly members = new Set<EntityRec>();
  readonly alerts: AlertRec[] = [];
  /** Its symptoms: rules of the alerts it took as part of the storm (not as a fallback). */
  readonly rules = new Set<string>();
  /** Hosts whose further alerts this incident takes without a new election. */
  readonly cascadeHosts = new Set<string>();
  /** For an app (or noisy container): hosts running its alerting containers, not yet suffering. */
  readonly ownHosts = new Set<string>();
  readonly timeline: TimelineEntry[] = [];

  constructor(
    readonly id: string,
    causeKey: string,
    cause: CauseRef,
    candidates: Candidate[],
    readonly startsAt: number,
    readonly openedAt: number,
    private readonly timelineLimit: number,
  ) {
    this.causeKey = causeKey;
    this.cause = cause;
    this.candidates = candidates;
  }

  get severityName(): Severity {
    return SEVERITY_NAMES[this.severity]!;
  }

  /** Adds an entity and all its alert episodes. */
  absorbEntity(e: EntityRec): void {
    this.addMember(e);
    e.poolSince = Number.NaN;
    for (const a of e.alerts) this.absorbAlert(a);
  }

  /** Counts an entity once, at its place relative to the root cause. */
  addMember(e: EntityRec): void {
    if (this.members.has(e)) return;
    this.members.add(e);
    e.incident = this;
    this.total++;
    const role = roleOf(this.cause, e);
    this.byLevel[role] = (this.byLevel[role] ?? 0) + 1;
    this.noteHosts(e);
  }

  /** Adds one alert episode of a member entity. Returns true when the severity rose. */
  absorbAlert(a: AlertRec): boolean {
    this.alerts.push(a);
    if (!a.secondary) this.rules.add(a.event.rule);
    if (a.firing) this.firing++;
    return this.raiseSeverity(a.event.severity);
  }

  raiseSeverity(severity: Severity): boolean {
    const rank = SEVERITY_NAMES.indexOf(severity);
    if (rank <= this.severity) return false;
    this.severity = rank;
    return true;
  }

  /** After a root-cause change: roles (byLevel) and cascade hosts depend on the cause. */
  recount(): void {
    this.byLevel = {};
    this.cascadeHosts.clear();
    this.ownHosts.clear();
    for (const e of this.members.values()) {
      const role = roleOf(this.cause, e);
      this.byLevel[role] = (this.byLevel[role] ?? 0) + 1;
      this.noteHosts(e);
    }
    this.total = this.members.size;
  }

  private noteHosts(e: EntityRec): void {
    const host = e.hostId;
    if (host === undefined) return;
    switch (this.cause.kind) {
      case 'app':
      case 'noisy-neighbour': {
        const role = roleOf(this.cause, e);
        if (role === 'host' || role === 'neighbour') this.cascadeHosts.add(host);
        else if (role === 'container') this.ownHosts.add(host);
        break;
      }
      case 'host':
      case 'rack':
      case 'idc':
      case 'attribute':
        // A host is covered once it alerts itself; one container alert on it proves nothing.
        if (e.ref.level === 'host') this.cascadeHosts.add(host);
        break;
      default:
        break;
    }
  }

  note(at: number, kind: TimelineKind, detail: string): void {
    const t = this.timeline;
    // Keep the first entries (how it started) and the latest ones (where it is now).
    if (t.length >= this.timelineLimit) t.splice(Math.floor(this.timelineLimit / 2), 1);
    t.push({ at, kind, detail });
  }

  event(type: IncidentEventType, at: number): IncidentEvent {
    this.version++;
    const ev: IncidentEvent = {
      event: type,
      id: this.id,
      version: this.version,
      status: this.status,
      severity: this.severityName,
      rootCause: this.cause,
      candidates: this.candidates,
      absorbed: { total: this.total, byLevel: { ...this.byLevel } },
      startsAt: this.startsAt,
      at,
    };
    if (this.endsAt !== undefined) ev.endsAt = this.endsAt;
    if (this.mergedInto !== undefined) ev.mergedInto = this.mergedInto;
    return ev;
  }

  summary(): IncidentSummary {
    const s: IncidentSummary = {
      id: this.id,
      version: this.version,
      status: this.status,
      severity: this.severityName,
      rootCause: this.cause,
      candidates: this.candidates,
      absorbed: { total: this.total, byLevel: { ...this.byLevel } },
      alerts: this.alerts.length,
      firing: this.firing,
      startsAt: this.startsAt,
      openedAt: this.openedAt,
    };
    if (this.endsAt !== undefined) s.endsAt = this.endsAt;
    if (this.mergedInto !== undefined) s.mergedInto = this.mergedInto;
    if (this.closedBy !== undefined) s.closedBy = this.closedBy;
    return s;
  }

  detail(): IncidentDetail {
    return { ...this.summary(), tree: this.tree(), timeline: this.timeline.slice() };
  }

  /** The absorbed entities in the hierarchy, each with its alert episodes. */
  tree(): IncidentTreeNode[] {
    const nodes = new Map<string, IncidentTreeNode>();
    const node = (ref: EntityRef, role: IncidentTreeNode['role']): IncidentTreeNode => {
      const key = ref.level + ':' + ref.id;
      let n = nodes.get(key);
      if (n === undefined) {
        n = { entity: ref, role, alerts: [], children: [] };
        nodes.set(key, n);
      } else if (n.role === 'context' && role !== 'context') n.role = role;
      return n;
    };
    const seen = new Set<string>();
    for (const a of this.alerts) {
      const e = a.entity;
      node(e.ref, roleOf(this.cause, e)).alerts.push(alertSummary(a));
      if (seen.has(e.key)) continue;
      seen.add(e.key);
    }
    // Ancestors as context nodes, then link children to parents.
    const members = [...nodes.values()].map((n) => n.entity);
    const parentOf = new Map<string, EntityRef>();
    const entityByKey = new Map<string, EntityRec>();
    for (const a of this.alerts) entityByKey.set(a.entity.key, a.entity);
    for (const ref of members) {
      const e = entityByKey.get(ref.level + ':' + ref.id)!;
      const chain: EntityRef[] = [];
      if (ref.level === 'container' && e.hostId !== undefined) chain.push({ level: 'host', id: e.hostId });
      if ((ref.level === 'container' || ref.level === 'host') && e.rackId !== undefined) {
        chain.push({ level: 'rack', id: e.rackId });
      }
      if (ref.level !== 'idc' && ref.level !== 'app' && e.idcId !== undefined)
        chain.push({ level: 'idc', id: e.idcId });
      let child = ref;
      for (const anc of chain) {
        node(anc, 'context');
        parentOf.set(child.level + ':' + child.id, anc);
        child = anc;
      }
    }
    const roots: IncidentTreeNode[] = [];
    for (const [key, n] of nodes) {
      const parent = parentOf.get(key);
      if (parent === undefined) roots.push(n);
      else nodes.get(parent.level + ':' + parent.id)!.children.push(n);
    }
    const sort = (list: IncidentTreeNode[]): void => {
      list.sort((a, b) => (a.entity.level + a.entity.id < b.entity.level + b.entity.id ? -1 : 1));
      for (const n of list) sort(n.children);
    };
    sort(roots);
    return roots;
  }

  snapshot(): IncidentSnapshot {
    const s: IncidentSnapshot = {
      id: this.id,
      version: this.version,
      status: this.status,
      severity: this.severity,
      cause: this.cause,
      causeKey: this.causeKey,
      candidates: this.candidates,
      startsAt: this.startsAt,
      openedAt: this.openedAt,
      lastResolvedAt: this.lastResolvedAt,
      holdUntil: this.holdUntil,
      timeline: this.timeline.slice(),
      alerts: this.alerts.map((a) => snapshotAlert(a)),
    };
    if (this.endsAt !== undefined) s.endsAt = this.endsAt;
    if (this.resolvedAt !== undefined) s.resolvedAt = this.resolvedAt;
    if (this.mergedInto !== undefined) s.mergedInto = this.mergedInto;
    if (this.closedBy !== undefined) s.closedBy = this.closedBy;
    return s;
  }
}

export function snapshotAlert(a: AlertRec): SnapshotAlert {
  const s: SnapshotAlert = { event: a.event, firing: a.firing };
  if (a.endsAt !== undefined) s.endsAt = a.endsAt;
  if (a.entity.next !== undefined) s.superseded = true;
  if (a.secondary) s.secondary = true;
  return s;
}

function alertSummary(a: AlertRec): AlertSummary {
  const ev = a.event;
  const s: AlertSummary = {
    id: ev.id,
    rule: ev.rule,
    severity: ev.severity,
    state: a.firing ? 'firing' : 'resolved',
    predicted: ev.predicted,
    startsAt: ev.startsAt,
  };
  if (a.endsAt !== undefined) s.endsAt = a.endsAt;
  return s;
}
