import type { Candidate, CauseKind, CauseRef, Level, TopologyView } from '../core/types.js';
import type { EntityRec, EntitySite } from './entities.js';
import { TopologyCache } from './topology-cache.js';

/**
 * Root-cause election: which few causes explain a set of alerting entities best.
 *
 * Every candidate (an ancestor, an app, a noisy container, an attribute group, an upstream app)
 * explains a set of alerting entities grouped into units (the hosts of a rack, the containers
 * of an app). Its strength is a log-likelihood ratio: "the candidate failed, so its units fail
 * with rate q" against "units fail at the background rate p0", weighted by the alerts per hit
 * unit, so it grows with coverage and with how surprising that coverage is for the candidate's
 * size. Time order (causes start first), own alerts, health and a small kind prior scale it.
 * A greedy weighted set cover then picks causes while each still adds enough information over
 * explaining every alert by itself.
 */

export interface ElectionOptions {
  /** Chance that a container alerts by itself within one storm window (p0 of container units). */
  backgroundRate: number;
  /** The same for a host (p0 of host units: racks, IDCs, attribute groups). */
  hostBackgroundRate: number;
  /** Least information (nats) a cause must add to be elected. */
  minGain: number;
  /** Tolerance for "started first" (jitter between detectors). */
  slackMs: number;
  /** Scale of the time-order penalty: an effect `tauMs` earlier than its cause halves the score. */
  tauMs: number;
  /** A noisy container must start at most this long before the trouble on its host. */
  noisyMaxLeadMs: number;
  /** Host attribute keys that form groups; undefined: every key. */
  attributeKeys: readonly string[] | undefined;
  /** Smallest attribute group (hosts) worth considering. */
  minAttributeGroup: number;
  /** How many calls hops an upstream failure is followed. */
  upstreamDepth: number;
  /** Candidates listed per incident (the root cause first). */
  maxCandidates: number;
  /** Health in [0, 1] (1 healthy; values above 1 are read as percent) of a candidate cause. */
  health: ((cause: CauseRef) => number | undefined) | undefined;
}

export interface ElectedCause {
  key: string;
  cause: CauseRef;
  /** Entities this cause was elected to explain (the ones no earlier cause explained). */
  members: EntityRec[];
  /** Ranked candidates for these entities, the elected cause first. */
  candidates: Candidate[];
  gain: number;
}

const QMAX = 0.99;
const MAX_SOURCES_PER_HOST = 3;
const LEVEL_NAMES: readonly Level[] = ['idc', 'rack', 'host', 'container', 'app'];
const CONTAINER = 3;
/** Largest product of the time, health and kind factors (an upper bound for pruning). */
const MAX_FACTOR = 1.05 * 1.25 * 1.1;
const KEY_PREFIX: Record<CauseKind, string> = {
  idc: 'idc:',
  rack: 'rack:',
  host: 'host:',
  container: 'container:',
  app: 'app:',
  'noisy-neighbour': 'noisy:',
  attribute: 'attr:',
  upstream: 'upstream:',
  self: 'self:',
};
const CAUSE_LEVEL: Record<CauseKind, CauseRef['level']> = {
  idc: 'idc',
  rack: 'rack',
  host: 'host',
  container: 'container',
  app: 'app',
  'noisy-neighbour': 'container',
  attribute: 'attribute',
  upstream: 'app',
  self: 'container',
};
/** Share of a host's containers that must alert for the host to count in rack/IDC/attribute groups. */
const HOST_UNIT_SHARE = 0.5;
const KIND_PRIOR: Partial<Record<CauseKind, number>> = {
  // Present only when one container is distinct and first on its host: more specific than the host.
  'noisy-neighbour': 1.1,
  // Hierarchy first when a group and an ancestor explain the same hosts.
  attribute: 0.95,
};

class Cand {
  readonly members: number[] = [];
  readonly units: number[] = [];
  readonly own: number[] = [];
  ownCount = 0;
  n = 0;
  p0 = 0;
  h0 = 0;
  llr = 0;
  factor = 1;
  gain = 0;
  bound = 0;
  lead = Number.NaN;
  ownStart = Number.POSITIVE_INFINITY;
  firstStart = Number.POSITIVE_INFINITY;
  eligible = true;
  health: number | undefined;
  chosen = -1;
  /** An alert on the app entity itself is among its members. */
  appEntity = false;

  constructor(
    readonly key: string,
    readonly cause: CauseRef,
  ) {}

  add(member: number, unit: number, own: boolean): void {
    this.members.push(member);
    this.units.push(unit);
    this.own.push(own ? 1 : 0);
    if (own) this.ownCount++;
  }
}

/** Information (nats) that candidate failure adds over the background, for h of n units hit. */
export function explanationGain(h: number, n: number, weight: number, p0: number): number {
  if (h <= 0 || n <= 0) return 0;
  let q = h / n;
  if (q > QMAX) q = QMAX;
  if (q <= p0) return 0;
  return (weight / h) * (h * Math.log(q / p0) + (n - h) * Math.log((1 - q) / (1 - p0)));
}

/**
 * Whether an election could put one of the first `pooled` entities together with another one of
 * `entities` (the rest are context: members of live incidents). When it could not, every pooled
 * entity stays alone whatever else is elected, and an election would only confirm that: a lone
 * background alert then becomes its own incident without building every candidate around it.
 *
 * Exact in one direction: it lists every candidate that could take a pooled entity (its host or
 * a noisy container there, its app, the app of a noisy container on its host, an upstream app
 * it reaches, the rack, IDC and attribute groups of its host when that host is in trouble as a
 * whole) and bounds each above as the election would score it at best: coverage from counting
 * everything that could count, the largest time, health and kind factors.
 */
export function mayGroup(
  entities: readonly EntityRec[],
  pooled: number,
  topology: TopologyView,
  opts: ElectionOptions,
  cache: TopologyCache,
): boolean {
  if (pooled === 0) return false;
  // What another entity would have to share with a pooled one: its host, its app, an upstream
  // app its app reaches. Usually one pooled entity: small maps, one pass over the others.
  const hostCounts = new Map<string, number>();
  const appCounts = new Map<string, number>();
  const reached = new Map<string, number>();
  for (let i = 0; i < pooled; i++) {
    const e = entities[i]!;
    const level = e.ref.level;
    // Racks and IDCs alerting themselves are rare: the election decides.
    if (level === 'rack' || level === 'idc') return true;
    const host = e.hostId;
    if (host !== undefined) {
      // A storm: pooled entities crowding on one host (its own alerts are a unit each).
      const n = (hostCounts.get(host) ?? 0) + 1;
      hostCounts.set(host, n);
      if (n >= 3 && strongHost(host, n, topology, opts)) return true;
    }
    const app = level === 'app' ? e.ref.id : e.appId;
    if (app === undefined) continue;
    appCounts.set(app, 0);
    reached.set(app, 0);
    for (const u of cache.calleesOf(app)) reached.set(u, 0);
  }
  for (const host of hostCounts.keys()) hostCounts.set(host, 0);
  for (const e of entities) {
    const level = e.ref.level;
    if (level === 'rack' || level === 'idc') return true;
    const host = e.hostId;
    if (host !== undefined) {
      const n = hostCounts.get(host);
      if (n !== undefined) hostCounts.set(host, n + 1);
    }
    const app = level === 'app' ? e.ref.id : e.appId;
    if (app === undefined || reached.size === 0) continue;
    const a = appCounts.get(app);
    if (a !== undefined) appCounts.set(app, a + 1);
    // Upstream apps a pooled entity reaches (its own app included): how many entities reach each.
    const r = reached.get(app);
    if (r !== undefined) reached.set(app, r + 1);
    for (const u of cache.calleesOf(app)) {
      const m = reached.get(u);
      if (m !== undefined) reached.set(u, m + 1);
    }
  }
  for (const [upstream, h] of reached) {
    if (h < 2) continue;
    const n = Math.max(h, cache.upstreamSize(upstream));
    if (explanationGain(h, n, h, opts.backgroundRate) * MAX_FACTOR >= opts.minGain) return true;
  }
  let shared = false;
  for (const n of hostCounts.values()) if (n >= 2) shared = true;
  for (const n of appCounts.values()) if (n >= 2) shared = true;
  let hostAlerts = false;
  for (let i = 0; i < pooled && !hostAlerts; i++) hostAlerts = entities[i]!.ref.level === 'host';
  // Nothing on the same host or of the same app, and no host alerting itself (only a host in
  // trouble as a whole counts for its rack, IDC or attribute group): alone whatever is elected.
  if (!shared && !hostAlerts) return false;
  return new HostTallies(entities, topology, opts, cache).mayGroup(pooled);
}

/** Whether n alerting entities on a host could elect it (or a noisy container there). */
function strongHost(host: string, n: number, topology: TopologyView, opts: ElectionOptions): boolean {
  const size = topology.childCount({ level: 'host', id: host }) + 1;
  return explanationGain(n, Math.max(n, size), n, opts.backgroundRate) * MAX_FACTOR >= opts.minGain;
}

interface HostTally {
  entities: number;
  containers: number;
  /** Rule of the host's own alert, if it alerts. */
  hostRule: string | undefined;
  /** Rules of its alerting containers. */
  rules: string[];
  /** Apps of its alerting containers. */
  apps: string[];
  site: EntitySite;
  /** Whether the topology knows the host (looked up when needed). */
  known: boolean | undefined;
}

/** Every host and app of the input tallied: the host, app, cascade and host-group bounds. */
class HostTallies {
  readonly hosts = new Map<string, HostTally>();
  private readonly apps = new Map<string, number>();
  private readonly appEntities = new Set<string>();
  /** Apps with a possible noisy container (on a host that alerts, or with three alerting
   * containers) and the entities on those hosts their candidates take along (the cascade). */
  private readonly cascade = new Map<string, number>();

  constructor(
    private readonly entities: readonly EntityRec[],
    private readonly topology: TopologyView,
    private readonly opts: ElectionOptions,
    private readonly cache: TopologyCache,
  ) {
    for (const e of entities) {
      const level = e.ref.level;
      const host = e.hostId;
      if (host !== undefined) {
        let t = this.hosts.get(host);
        if (t === undefined) {
          t = {
            entities: 0,
            containers: 0,
            hostRule: undefined,
            rules: [],
            apps: [],
            site: e.site,
            known: undefined,
          };
          this.hosts.set(host, t);
        }
        t.entities++;
        if (level === 'host') t.hostRule = e.rule;
        else if (level === 'container') {
          t.containers++;
          if (!t.rules.includes(e.rule)) t.rules.push(e.rule);
          if (e.appId !== undefined && !t.apps.includes(e.appId)) t.apps.push(e.appId);
        }
      }
      const app = level === 'app' ? e.ref.id : e.appId;
      if (app !== undefined) this.apps.set(app, (this.apps.get(app) ?? 0) + 1);
      if (level === 'app') this.appEntities.add(e.ref.id);
    }
    for (const t of this.hosts.values()) {
      if (t.hostRule === undefined && t.containers < 3) continue;
      for (const app of t.apps) this.cascade.set(app, (this.cascade.get(app) ?? 0) + t.entities);
    }
  }

  mayGroup(pooled: number): boolean {
    const { topology, opts } = this;
    for (let i = 0; i < pooled; i++) {
      const p = this.entities[i]!;
      const host = p.hostId;
      if (host !== undefined) {
        const t = this.hosts.get(host)!;
        // The host itself, or a noisy container on it: every entity on the host one unit.
        const size = topology.childCount({ level: 'host', id: host });
        if (t.entities >= 2 && this.strong(t.entities, size + 1, t.entities)) return true;
        // The apps of possible noisy containers on its host take it along.
        if (t.hostRule !== undefined || t.containers >= 3) {
          for (const app of t.apps) if (this.appStrong(app)) return true;
        }
        // Trouble of the host as a whole counts for its rack, IDC and attribute groups.
        const unit =
          t.hostRule !== undefined || t.containers >= Math.max(2, Math.ceil(size * HOST_UNIT_SHARE));
        if (unit && mayShareHostGroup(t, this.hosts, topology, opts, this.cache)) return true;
      }
      const app = p.ref.level === 'app' ? p.ref.id : p.appId;
      if (app !== undefined && this.appStrong(app)) return true;
    }
    return false;
  }

  private strong(h: number, n: number, w: number): boolean {
    return explanationGain(h, Math.max(h, n), w, this.opts.backgroundRate) * MAX_FACTOR >= this.opts.minGain;
  }

  private appStrong(app: string): boolean {
    const h = this.apps.get(app) ?? 0;
    if (h < 2) return false;
    const n = this.topology.childCount({ level: 'app', id: app }) + (this.appEntities.has(app) ? 1 : 0);
    return this.strong(h, n, h + (this.cascade.get(app) ?? 0));
  }
}

/**
 * The rack, IDC and attribute groups of a pooled entity's host (in trouble as a whole): strong
 * enough if every host of the group with an alerting entity were in trouble too, with the same
 * symptom (the election keeps a group's most common symptom only), and the group's health at its
 * worst. Such a group has no alert of its own (racks and IDCs alerting end the search earlier).
 */
function mayShareHostGroup(
  t: HostTally,
  hosts: ReadonlyMap<string, HostTally>,
  topology: TopologyView,
  opts: ElectionOptions,
  cache: TopologyCache,
): boolean {
  const site = t.site;
  const symptoms = t.hostRule !== undefined ? [t.hostRule] : t.rules;
  const ns = symptoms.length;
  const attrs = site.attrIds;
  // Per group (rack, IDC, attributes) and symptom: hosts and entities on them.
  const hits = new Int32Array((attrs.length + 2) * ns);
  const members = new Int32Array(hits.length);
  for (const [host, other] of hosts) {
    // Placed from alert labels (a host the topology does not know): its entities may disagree.
    other.known ??= topology.has({ level: 'host', id: host });
    if (!other.known) return true;
    const o = other.site;
    for (let k = 0; k < ns; k++) {
      const symptom = symptoms[k]!;
      if (other.hostRule !== undefined ? other.hostRule !== symptom : !other.rules.includes(symptom))
        continue;
      if (site.rackId !== undefined && o.rackId === site.rackId) {
        hits[k]!++;
        members[k]! += other.entities;
      }
      if (site.idcId !== undefined && o.idcId === site.idcId) {
        hits[ns + k]!++;
        members[ns + k]! += other.entities;
      }
      for (let a = 0; a < attrs.length; a++) {
        if (!o.attrIds.includes(attrs[a]!)) continue;
        hits[(a + 2) * ns + k]!++;
        members[(a + 2) * ns + k]! += other.entities;
      }
    }
  }
  const factor = 0.9 * (opts.health === undefined ? 1 : 1.25);
  for (let g = 0; g < attrs.length + 2; g++) {
    for (let k = 0; k < ns; k++) {
      const h = hits[g * ns + k]!;
      if (h < 2) continue;
      let size: number;
      if (g === 0) size = topology.childCount({ level: 'rack', id: site.rackId! });
      else if (g === 1) size = cache.idcHostCount(site.idcId!);
      else size = cache.attributeGroupSize(site.attrNames[g - 2]!, site.attrs[site.attrNames[g - 2]!]!);
      const prior = g >= 2 ? (KIND_PRIOR.attribute ?? 1) : 1;
      const gain = explanationGain(h, Math.max(h, size), members[g * ns + k]!, opts.hostBackgroundRate);
      if (gain * factor * prior >= opts.minGain) return true;
    }
  }
  return false;
}

export function elect(
  entities: readonly EntityRec[],
  topology: TopologyView,
  opts: ElectionOptions,
  cache: TopologyCache = new TopologyCache(topology, opts.upstreamDepth),
): ElectedCause[] {
  const build = new CandidateBuilder(entities, topology, opts, cache);
  const cands = build.run();
  const owner = new Int32Array(entities.length).fill(-1);
  const stamp = new Int32Array(build.unitCount);
  let stampGen = 0;

  const marginal = (c: Cand): number => {
    stampGen++;
    let h = 0;
    let w = 0;
    for (let i = 0; i < c.members.length; i++) {
      if (owner[c.members[i]!]! >= 0) continue;
      w++;
      const u = c.units[i]!;
      if (stamp[u] !== stampGen) {
        stamp[u] = stampGen;
        h++;
      }
    }
    if (h < 2) return 0;
    return c.factor * explanationGain(h, c.n - c.h0 + h, w, c.p0);
  };

  // Lazy greedy set cover: a candidate's gain only falls as others explain its entities, so a
  // popped candidate whose fresh gain still beats the next stored bound is the best one.
  const heap: Cand[] = [];
  for (const c of cands) if (c.eligible && c.gain >= opts.minGain) heap.push(c);
  heap.sort((a, b) => b.gain - a.gain || (a.key < b.key ? -1 : 1));
  for (const c of heap) c.bound = c.gain;
  const queue = new MaxQueue(heap);
  const chosen: Cand[] = [];
  while (queue.size > 0) {
    const c = queue.pop()!;
    const g = marginal(c);
    const next = queue.peekBound();
    if (g >= next) {
      // Everything left is bounded by `next` <= g.
      if (g < opts.minGain) break;
      c.chosen = chosen.length;
      chosen.push(c);
      for (const m of c.members) if (owner[m]! < 0) owner[m] = c.chosen;
    } else if (g >= opts.minGain) {
      c.bound = g;
      queue.push(c);
    }
  }

  const result: ElectedCause[] = chosen.map((c) => ({
    key: c.key,
    cause: c.cause,
    members: [],
    candidates: [],
    gain: c.gain,
  }));
  for (let i = 0; i < entities.length; i++) {
    const o = owner[i]!;
    if (o >= 0) result[o]!.members.push(entities[i]!);
  }
  if (chosen.length === 0) return result;

  // Runners-up: candidates sharing a good part of an elected cause's entities, each scored on
  // what it explains of that cause's entities only (so scores compare within one incident).
  const alternatives: Scored[][] = chosen.map((c, o) => [scoreOn(c, o)]);
  const overlap = new Int32Array(chosen.length);
  const touched: number[] = [];
  function scoreOn(c: Cand, o: number): Scored {
    stampGen++;
    const members: number[] = [];
    let h = 0;
    for (let i = 0; i < c.members.length; i++) {
      const m = c.members[i]!;
      if (owner[m] !== o) continue;
      members.push(i);
      const u = c.units[i]!;
      if (stamp[u] !== stampGen) {
        stamp[u] = stampGen;
        h++;
      }
    }
    const llr = explanationGain(h, c.n, members.length, c.p0);
    return { c, members, h, llr, score: c.factor * llr };
  }
  // Overlap counts first (cheap), strongest candidates first: once every cause has its few
  // strongest overlapping ones, weaker candidates could not be listed (scored in detail below).
  const perCause = 3 * opts.maxCandidates;
  const overlapping: Cand[][] = chosen.map(() => []);
  const ranked: Cand[] = [];
  for (const c of cands) if (c.chosen < 0 && c.gain > 0 && c.eligible) ranked.push(c);
  ranked.sort((a, b) => b.gain - a.gain || (a.key < b.key ? -1 : 1));
  let full = 0;
  for (const c of ranked) {
    if (full === chosen.length) break;
    for (const m of c.members) {
      const o = owner[m]!;
      if (o < 0) continue;
      if (overlap[o] === 0) touched.push(o);
      overlap[o]!++;
    }
    for (const o of touched) {
      const list = overlapping[o]!;
      if (
        list.length < perCause &&
        (overlap[o]! * 3 >= c.members.length || overlap[o]! * 3 >= result[o]!.members.length)
      ) {
        list.push(c);
        if (list.length === perCause) full++;
      }
      overlap[o] = 0;
    }
    touched.length = 0;
  }
  for (let o = 0; o < chosen.length; o++) {
    for (const c of overlapping[o]!) {
      const scored = scoreOn(c, o);
      if (scored.score > 0) alternatives[o]!.push(scored);
    }
  }
  for (let o = 0; o < chosen.length; o++) {
    const [root, ...alts] = alternatives[o]!;
    alts.sort((a, b) => b.score - a.score || (a.c.key < b.c.key ? -1 : 1));
    const listed = [root!, ...alts.slice(0, Math.max(0, opts.maxCandidates - 1))];
    result[o]!.candidates = listed.map((x) => toCandidate(x, build.starts, build.levels));
    result[o]!.gain = root!.score;
  }
  return result;
}

interface Scored {
  c: Cand;
  /** Positions (in `c.members`) of the candidate's members among one elected cause's entities. */
  members: number[];
  h: number;
  llr: number;
  score: number;
}

/** Where an absorbed alert's entity sits relative to the cause (the incident's byLevel keys). */
export function roleOf(cause: CauseRef, e: EntityRec): Level | 'neighbour' {
  const level = e.ref.level;
  if (level !== 'container') return level;
  if (cause.kind === 'app' && e.appId !== cause.id) return 'neighbour';
  if (cause.kind === 'noisy-neighbour' && e.ref.id !== cause.id) return 'neighbour';
  return 'container';
}

function unitLevelOf(kind: CauseKind): Level {
  return kind === 'rack' || kind === 'idc' || kind === 'attribute' ? 'host' : 'container';
}

function toCandidate(x: Scored, starts: Float64Array, levels: Uint8Array): Candidate {
  const c = x.c;
  const kind = c.cause.kind;
  const counts = new Int32Array(LEVEL_NAMES.length + 1);
  let first = Number.POSITIVE_INFINITY;
  for (const i of x.members) {
    const m = c.members[i]!;
    const level = levels[m]!;
    // Containers of the app (or the noisy container itself) are `container`, others neighbours.
    const neighbour = level === CONTAINER && (kind === 'app' || kind === 'noisy-neighbour') && c.own[i] === 0;
    counts[neighbour ? LEVEL_NAMES.length : level]!++;
    if (starts[m]! < first) first = starts[m]!;
  }
  const byLevel: Record<string, number> = {};
  for (let l = 0; l < LEVEL_NAMES.length; l++) if (counts[l]! > 0) byLevel[LEVEL_NAMES[l]!] = counts[l]!;
  if (counts[LEVEL_NAMES.length]! > 0) byLevel.neighbour = counts[LEVEL_NAMES.length]!;
  const evidence: Record<string, unknown> = {
    explained: x.members.length,
    byLevel,
    units: unitLevelOf(c.cause.kind),
    hit: x.h,
    size: c.n,
    coverage: round(x.h / c.n, 3),
    expectedByChance: round(c.n * c.p0, 2),
    surprise: round(x.llr, 1),
    firstAlertAt: new Date(first).toISOString(),
  };
  if (c.ownCount > 0) {
    evidence.ownAlerts = c.ownCount;
    if (Number.isFinite(c.ownStart)) evidence.causeFirstAt = new Date(c.ownStart).toISOString();
  }
  if (!Number.isNaN(c.lead)) evidence.leadMs = Math.round(c.lead);
  if (c.health !== undefined) evidence.health = round(c.health, 3);
  return { entity: c.cause, kind: c.cause.kind, score: round(x.score, 1), evidence };
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

/** The k-th smallest of the first n values (quickselect; reorders them). */
function select(a: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}

function commonRule(rules: string[]): string {
  const counts = new Map<string, number>();
  let best = '';
  let bestN = 0;
  for (const r of rules) {
    const n = (counts.get(r) ?? 0) + 1;
    counts.set(r, n);
    if (n > bestN || (n === bestN && r < best)) {
      best = r;
      bestN = n;
    }
  }
  return best;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

class CandidateBuilder {
  private readonly cands: Cand[] = [];
  /** Per entity, copied once so that the passes over large candidates stay in cache. */
  readonly starts: Float64Array;
  readonly levels: Uint8Array;
  private readonly byKind = new Map<CauseKind, Map<string, Cand>>();
  private readonly unitIds = new Map<string, number>();
  private readonly hostUnits_ = new Map<string, number>();
  private readonly sourceHosts = new Set<string>();
  /** Suffering hosts and the noisy containers on them. */
  private readonly sources: { hostId: string; hostIdx: number; group: number[]; sources: number[] }[] = [];
  /** Apps owning a noisy container: they may explain whole hosts (cascade). */
  private readonly sourceApps = new Set<string>();
  /** Host units: the host's own rule, or the most common one among its alerting containers. */
  private readonly unitSymptom = new Map<number, string>();
  unitCount: number;
  private readonly hostGroups = new Map<string, number[]>();
  private readonly appMembers = new Map<string, number[]>();
  private readonly hostEntity = new Map<string, number>();
  private readonly attributeFilter: Set<string> | undefined;

  constructor(
    private readonly entities: readonly EntityRec[],
    private readonly topology: TopologyView,
    private readonly opts: ElectionOptions,
    private readonly cache: TopologyCache,
  ) {
    this.unitCount = entities.length;
    this.starts = new Float64Array(entities.length);
    this.levels = new Uint8Array(entities.length);
    this.attributeFilter = opts.attributeKeys === undefined ? undefined : new Set(opts.attributeKeys);
  }

  run(): Cand[] {
    const es = this.entities;
    for (let i = 0; i < es.length; i++) {
      this.starts[i] = es[i]!.start;
      this.levels[i] = LEVEL_NAMES.indexOf(es[i]!.ref.level);
    }
    for (let i = 0; i < es.length; i++) this.collect(i, es[i]!);
    this.hostCands();
    this.findSources();
    this.appCands();
    this.hostUnits();
    this.noisyAndCascade();
    const cands = this.cands;
    this.coherentSymptoms(cands);
    this.localExplanations(cands);
    this.score(cands);
    return cands;
  }

  private cand(kind: CauseKind, id: string): Cand {
    let byId = this.byKind.get(kind);
    if (byId === undefined) {
      byId = new Map();
      this.byKind.set(kind, byId);
    }
    let c = byId.get(id);
    if (c === undefined) {
      c = new Cand(KEY_PREFIX[kind] + id, { level: CAUSE_LEVEL[kind], id, kind });
      byId.set(id, c);
      this.cands.push(c);
    }
    return c;
  }

  private hostUnit(hostId: string): number {
    let u = this.hostUnits_.get(hostId);
    if (u === undefined) {
      u = this.unitCount++;
      this.hostUnits_.set(hostId, u);
    }
    return u;
  }

  private unit(key: string): number {
    let u = this.unitIds.get(key);
    if (u === undefined) {
      u = this.unitCount++;
      this.unitIds.set(key, u);
    }
    return u;
  }

  /** Whether h of n units (one alert each) could ever carry a candidate past the threshold. */
  private canReach(h: number, n: number, p0: number): boolean {
    return explanationGain(h, Math.max(n, h), h, p0) * MAX_FACTOR >= this.opts.minGain;
  }

  /** Groups entities by host and by app; racks and IDCs alerting themselves are candidates at once. */
  private collect(i: number, e: EntityRec): void {
    const level = LEVEL_NAMES[this.levels[i]!]!;
    if (level === 'container') {
      const hostId = e.hostId;
      if (hostId !== undefined) push(this.hostGroups, hostId, i);
      if (e.appId !== undefined) push(this.appMembers, e.appId, i);
    } else if (level === 'host') {
      if (e.hostId !== undefined) this.hostEntity.set(e.hostId, i);
    } else if (level === 'rack') {
      const u = this.unit('rack:' + e.ref.id);
      this.cand('rack', e.ref.id).add(i, u, true);
      const idc = e.idcId;
      if (idc !== undefined) this.cand('idc', idc).add(i, u, false);
    } else if (level === 'idc') {
      const u = this.unit('idc:' + e.ref.id);
      this.cand('idc', e.ref.id).add(i, u, true);
    } else if (level === 'app') {
      push(this.appMembers, e.ref.id, i);
    }
  }

  /** A host explains itself and its containers: worth a candidate from two alerting entities on. */
  private hostCands(): void {
    for (const [hostId, i] of this.hostEntity) {
      const group = this.hostGroups.get(hostId);
      if (group === undefined) continue;
      const c = this.cand('host', hostId);
      c.add(i, i, true);
      for (const g of group) c.add(g, g, false);
    }
    for (const [hostId, group] of this.hostGroups) {
      if (group.length < 2 || this.hostEntity.has(hostId)) continue;
      const c = this.cand('host', hostId);
      for (const g of group) c.add(g, g, false);
    }
  }

  /**
   * An app explains its alerting containers (fan-in needs two of them); an app that others call
   * explains their containers' alerts too (upstream), when it alerts itself or two callers do.
   */
  private appCands(): void {
    const es = this.entities;
    const callersOf = new Map<string, string[]>();
    const p0 = this.opts.backgroundRate;
    for (const [app, members] of this.appMembers) {
      // Victims of a storm elsewhere: a few containers of a big app, no noisy one among them.
      const hopeful =
        members.length >= 2 &&
        (this.sourceApps.has(app) ||
          this.canReach(members.length, this.topology.childCount({ level: 'app', id: app }), p0));
      if (hopeful) {
        const c = this.cand('app', app);
        for (const m of members) {
          c.add(m, m, true);
          if (es[m]!.ref.level === 'app') c.appEntity = true;
        }
      }
      for (const callee of this.cache.calleesOf(app)) push(callersOf, callee, app);
    }
    for (const [upstream, callers] of callersOf) {
      const own = this.appMembers.get(upstream);
      if (own === undefined && callers.length < 2) continue;
      let h = own?.length ?? 0;
      for (const caller of callers) h += this.appMembers.get(caller)!.length;
      // Its own containers and the alerting callers' bound its size from below: often enough
      // to rule it out before walking the call graph for its full size.
      const topo = this.topology;
      let low = topo.childCount({ level: 'app', id: upstream });
      for (const caller of callers) low += topo.childCount({ level: 'app', id: caller });
      if (!this.canReach(h, low, p0) || !this.canReach(h, this.cache.upstreamSize(upstream), p0)) continue;
      const c = this.cand('upstream', upstream);
      if (own !== undefined) for (const m of own) c.add(m, m, true);
      for (const caller of callers) for (const m of this.appMembers.get(caller)!) c.add(m, m, false);
    }
  }

  /**
   * Rack, IDC and attribute groups, whose units are hosts. A host counts as hit only when it is
   * in trouble as a whole (its own alert, or half its containers): a few container alerts on a
   * host say nothing about its rack or kernel.
   */
  private hostUnits(): void {
    const es = this.entities;
    for (const [hostId, i] of this.hostEntity) {
      const u = this.hostUnit(hostId);
      this.unitSymptom.set(u, es[i]!.rule);
      const groups = this.hostGroupCands(es[i]!);
      for (const c of groups) c.add(i, u, false);
      for (const g of this.hostGroups.get(hostId) ?? []) for (const c of groups) c.add(g, u, false);
    }
    for (const [hostId, group] of this.hostGroups) {
      if (this.hostEntity.has(hostId)) continue;
      const size = this.topology.childCount({ level: 'host', id: hostId });
      if (group.length < Math.max(2, Math.ceil(size * HOST_UNIT_SHARE))) continue;
      const u = this.hostUnit(hostId);
      this.unitSymptom.set(u, commonRule(group.map((g) => es[g]!.rule)));
      const groups = this.hostGroupCands(es[group[0]!]!);
      for (const g of group) for (const c of groups) c.add(g, u, false);
    }
  }

  /**
   * Containers on a host that is down or in trouble as a whole (its own alert and half its
   * containers, no noisy container on it) are explained by their host first: an app or an
   * upstream failure does not get credit for containers that went down with their host.
   */
  private localExplanations(cands: Cand[]): void {
    const es = this.entities;
    const wide = new Set<string>();
    for (const [hostId, group] of this.hostGroups) {
      if (!this.hostEntity.has(hostId) || this.sourceHosts.has(hostId)) continue;
      const size = this.topology.childCount({ level: 'host', id: hostId });
      if (group.length >= Math.max(2, Math.ceil(size * HOST_UNIT_SHARE))) wide.add(hostId);
    }
    if (wide.size === 0) return;
    for (const c of cands) {
      const kind = c.cause.kind;
      if (kind !== 'app' && kind !== 'upstream') continue;
      let w = 0;
      let own = 0;
      for (let i = 0; i < c.members.length; i++) {
        const e = es[c.members[i]!]!;
        if (e.ref.level === 'container' && e.hostId !== undefined && wide.has(e.hostId)) continue;
        c.members[w] = c.members[i]!;
        c.units[w] = c.units[i]!;
        c.own[w] = c.own[i]!;
        if (c.own[w] === 1) own++;
        w++;
      }
      c.members.length = w;
      c.units.length = w;
      c.own.length = w;
      c.ownCount = own;
    }
  }

  /**
   * A wide cause (rack, IDC, attribute group) fails its hosts one way: keep the hosts showing its
   * most common symptom, so that an unrelated fault on one of its hosts (a noisy container in an
   * IDC with network trouble) stays a cause of its own.
   */
  private coherentSymptoms(cands: Cand[]): void {
    const counts = new Map<string, number>();
    const seen = new Int32Array(this.unitCount);
    let gen = 0;
    for (const c of cands) {
      const kind = c.cause.kind;
      if (kind !== 'rack' && kind !== 'idc' && kind !== 'attribute') continue;
      counts.clear();
      gen++;
      for (const u of c.units) {
        if (seen[u] === gen) continue;
        seen[u] = gen;
        const symptom = this.unitSymptom.get(u);
        if (symptom !== undefined) counts.set(symptom, (counts.get(symptom) ?? 0) + 1);
      }
      if (counts.size < 2) continue;
      let best = '';
      let bestN = -1;
      for (const [symptom, n] of counts) {
        if (n > bestN || (n === bestN && symptom < best)) {
          best = symptom;
          bestN = n;
        }
      }
      let w = 0;
      let own = 0;
      for (let i = 0; i < c.members.length; i++) {
        const symptom = this.unitSymptom.get(c.units[i]!);
        if (symptom !== undefined && symptom !== best) continue;
        c.members[w] = c.members[i]!;
        c.units[w] = c.units[i]!;
        c.own[w] = c.own[i]!;
        if (c.own[w] === 1) own++;
        w++;
      }
      c.members.length = w;
      c.units.length = w;
      c.own.length = w;
      c.ownCount = own;
    }
  }

  /** The rack, IDC and attribute-group candidates an entity's host belongs to. */
  private hostGroupCands(e: EntityRec): Cand[] {
    const out: Cand[] = [];
    if (e.rackId !== undefined) out.push(this.cand('rack', e.rackId));
    if (e.idcId !== undefined) out.push(this.cand('idc', e.idcId));
    const names = e.hostAttrNames;
    const ids = e.hostAttrIds;
    const filter = this.attributeFilter;
    for (let k = 0; k < ids.length; k++) {
      if (filter !== undefined && !filter.has(names[k]!)) continue;
      out.push(this.cand('attribute', ids[k]!));
    }
    return out;
  }

  /**
   * A container is a noisy source on its host when it is distinct (its rule is not the one most
   * of the host's other alerting containers share), started first (before the host's own alert
   * and before most neighbours, within `noisyMaxLeadMs`), and the host suffers (the host alerts
   * or neighbours do). Its app then also explains that host's trouble (the JD cascade).
   */
  private findSources(): void {
    const es = this.entities;
    const { slackMs, noisyMaxLeadMs } = this.opts;
    const ruleCount = new Map<string, number>();
    for (const [hostId, group] of this.hostGroups) {
      const hostIdx = this.hostEntity.get(hostId) ?? -1;
      const m = group.length;
      // The host must suffer as a whole: its own alert, or half its containers.
      if (
        hostIdx < 0 &&
        m < Math.max(3, Math.ceil(this.topology.childCount({ level: 'host', id: hostId }) * HOST_UNIT_SHARE))
      ) {
        continue;
      }
      const hostStart = hostIdx >= 0 ? es[hostIdx]!.start : Number.POSITIVE_INFINITY;
      ruleCount.clear();
      const starts: number[] = [];
      for (const g of group) {
        const e = es[g]!;
        ruleCount.set(e.rule, (ruleCount.get(e.rule) ?? 0) + 1);
        starts.push(e.start);
      }
      starts.sort((a, b) => a - b);
      const median = starts[m >> 1]!;
      const sources: number[] = [];
      for (const g of group) {
        const e = es[g]!;
        const others = m - 1;
        if (others === 0) {
          if (!(e.start + slackMs < hostStart)) continue;
        } else {
          const shared = ruleCount.get(e.rule)! - 1;
          if (shared * 2 >= others) continue;
          if (e.start > median || median - e.start > noisyMaxLeadMs) continue;
        }
        if (hostIdx >= 0 && (e.start > hostStart + slackMs || hostStart - e.start > noisyMaxLeadMs)) continue;
        sources.push(g);
      }
      if (sources.length === 0) continue;
      this.sourceHosts.add(hostId);
      sources.sort((a, b) => es[a]!.start - es[b]!.start);
      if (sources.length > MAX_SOURCES_PER_HOST) sources.length = MAX_SOURCES_PER_HOST;
      this.sources.push({ hostId, hostIdx, group, sources });
      for (const src of sources) {
        const app = es[src]!.appId;
        if (app !== undefined) this.sourceApps.add(app);
      }
    }
  }

  private noisyAndCascade(): void {
    const es = this.entities;
    const cascaded = new Set<string>();
    for (const { hostId, hostIdx, group, sources } of this.sources) {
      for (const s of sources) {
        const src = es[s]!;
        const noisy = this.cand('noisy-neighbour', src.ref.id);
        noisy.add(s, s, true);
        if (hostIdx >= 0) noisy.add(hostIdx, hostIdx, false);
        for (const g of group) if (g !== s) noisy.add(g, g, false);
        const app = src.appId;
        if (app === undefined || cascaded.has(app + '\u0000' + hostId)) continue;
        cascaded.add(app + '\u0000' + hostId);
        // An app with one alerting container is no fan-in; its container is the noisy one.
        const appCand = this.byKind.get('app')?.get(app);
        if (appCand === undefined) continue;
        if (hostIdx >= 0) appCand.add(hostIdx, s, false);
        for (const g of group) if (es[g]!.appId !== app) appCand.add(g, s, false);
      }
    }
  }

  private score(cands: Cand[]): void {
    const es = this.entities;
    const opts = this.opts;
    const stamp = new Int32Array(this.unitCount);
    let gen = 0;
    const hostSet = new Set<string>();
    const appSet = new Set<string>();
    let startBuf = new Float64Array(64);
    for (const c of cands) {
      gen++;
      let h = 0;
      for (let i = 0; i < c.members.length; i++) {
        const u = c.units[i]!;
        if (stamp[u] !== gen) {
          stamp[u] = gen;
          h++;
        }
      }
      c.h0 = h;
      const kind = c.cause.kind;
      if (h < 2) {
        c.eligible = false;
        continue;
      }
      c.n = Math.max(h, this.size(c));
      if (kind === 'attribute' && c.n < opts.minAttributeGroup) {
        c.eligible = false;
        continue;
      }
      c.p0 = unitLevelOf(kind) === 'host' ? opts.hostBackgroundRate : opts.backgroundRate;
      c.llr = explanationGain(h, c.n, c.members.length, c.p0);
      const ownFactor = c.ownCount > 0 ? 1 : 0.9;
      if (c.llr * MAX_FACTOR < opts.minGain) {
        // Too weak to be elected whatever its timing: listed at most, so skip the member passes.
        c.factor = ownFactor * (KIND_PRIOR[kind] ?? 1);
        c.gain = c.factor * c.llr;
        continue;
      }
      // Eligibility beyond "two units": fan-in needs two hosts, upstream needs callers' alerts.
      if (kind === 'app') {
        hostSet.clear();
        for (let i = 0; i < c.members.length && hostSet.size < 2; i++) {
          if (c.own[i] === 1) {
            const host = es[c.members[i]!]!.hostId;
            if (host !== undefined) hostSet.add(host);
          }
        }
        if (hostSet.size < 2) c.eligible = false;
      } else if (kind === 'upstream') {
        appSet.clear();
        const needed = c.ownCount > 0 ? 1 : 2;
        for (let i = 0; i < c.members.length && appSet.size < needed; i++) {
          if (c.own[i] === 0) {
            const app = es[c.members[i]!]!.appId;
            if (app !== undefined) appSet.add(app);
          }
        }
        if (appSet.size < needed) c.eligible = false;
      }
      if (!c.eligible) continue;

      // Time order: the cause's own alerts against the early effects (10th percentile, so one
      // stray early alert does not decide).
      let effects = 0;
      if (startBuf.length < c.members.length) startBuf = new Float64Array(c.members.length * 2);
      const starts = this.starts;
      for (let i = 0; i < c.members.length; i++) {
        const s = starts[c.members[i]!]!;
        if (s < c.firstStart) c.firstStart = s;
        if (c.own[i] === 1) {
          if (s < c.ownStart) c.ownStart = s;
        } else startBuf[effects++] = s;
      }
      let timeFactor = 1;
      if (c.ownCount > 0 && effects > 0) {
        const early = select(startBuf, effects, Math.floor(effects * 0.1));
        c.lead = early - c.ownStart;
        const late = -c.lead - opts.slackMs;
        timeFactor =
          late > 0 ? 1 / (1 + late / opts.tauMs) : 1 + 0.05 * Math.min(1, Math.max(0, c.lead) / opts.tauMs);
      }
      let healthFactor = 1;
      if (opts.health !== undefined) {
        let hv = opts.health(c.cause);
        if (hv !== undefined && Number.isFinite(hv)) {
          if (hv > 1) hv /= 100;
          hv = Math.min(1, Math.max(0, hv));
          c.health = hv;
          healthFactor = 1 + 0.25 * (1 - hv);
        }
      }
      c.factor = timeFactor * ownFactor * healthFactor * (KIND_PRIOR[kind] ?? 1);
      c.gain = c.factor * c.llr;
    }
  }

  /** Units the candidate could explain if it failed entirely. */
  private size(c: Cand): number {
    const topo = this.topology;
    const { id, kind } = c.cause;
    switch (kind) {
      case 'host':
        return topo.childCount({ level: 'host', id }) + 1;
      case 'noisy-neighbour': {
        const host = this.entities[c.members[0]!]!.hostId;
        return host === undefined ? 0 : topo.childCount({ level: 'host', id: host }) + 1;
      }
      case 'rack':
        return topo.childCount({ level: 'rack', id }) + (c.ownCount > 0 ? 1 : 0);
      case 'idc':
        return this.cache.idcHostCount(id) + (c.ownCount > 0 ? 1 : 0);
      case 'attribute': {
        const eq = id.indexOf('=');
        return this.cache.attributeGroupSize(id.slice(0, eq), id.slice(eq + 1));
      }
      case 'app': {
        // An alert on the app entity itself (an SLO alert) is one more unit.
        return topo.childCount({ level: 'app', id }) + (c.appEntity ? 1 : 0);
      }
      case 'upstream':
        return this.cache.upstreamSize(id);
      default:
        return 0;
    }
  }
}

/** Max-queue on `bound` for the lazy greedy. */
class MaxQueue {
  private readonly items: Cand[];

  constructor(sortedDesc: Cand[]) {
    // Stored ascending so that pop() takes from the end.
    this.items = sortedDesc.slice().reverse();
  }

  get size(): number {
    return this.items.length;
  }

  pop(): Cand | undefined {
    return this.items.pop();
  }

  peekBound(): number {
    const n = this.items.length;
    return n === 0 ? Number.NEGATIVE_INFINITY : this.items[n - 1]!.bound;
  }

  push(c: Cand): void {
    // Binary insertion keeps ascending order by bound (ties: key descending, so keys pop ascending).
    const items = this.items;
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = items[mid]!;
      if (m.bound < c.bound || (m.bound === c.bound && m.key > c.key)) lo = mid + 1;
      else hi = mid;
    }
    items.splice(lo, 0, c);
  }
}
