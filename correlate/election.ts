import type { Candidate, CauseKind, CauseRef, Level, TopologyView } from '../core/types.js';
import { calleesOf, callersOf, type EntityRec } from './entities.js';

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
  /** Background probability that a unit alerts by chance within one storm window (p0). */
  backgroundRate: number;
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

export function elect(
  entities: readonly EntityRec[],
  topology: TopologyView,
  opts: ElectionOptions,
): ElectedCause[] {
  const build = new CandidateBuilder(entities, topology, opts);
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
    return c.factor * explanationGain(h, c.n - c.h0 + h, w, opts.backgroundRate);
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
      members.push(m);
      const u = c.units[i]!;
      if (stamp[u] !== stampGen) {
        stamp[u] = stampGen;
        h++;
      }
    }
    const llr = explanationGain(h, c.n, members.length, opts.backgroundRate);
    return { c, members, h, llr, score: c.factor * llr };
  }
  for (const c of cands) {
    if (c.chosen >= 0 || c.gain <= 0 || !c.eligible) continue;
    for (const m of c.members) {
      const o = owner[m]!;
      if (o < 0) continue;
      if (overlap[o] === 0) touched.push(o);
      overlap[o]!++;
    }
    for (const o of touched) {
      if (overlap[o]! * 3 >= c.members.length || overlap[o]! * 3 >= result[o]!.members.length) {
        const scored = scoreOn(c, o);
        if (scored.score > 0) alternatives[o]!.push(scored);
      }
      overlap[o] = 0;
    }
    touched.length = 0;
  }
  for (let o = 0; o < chosen.length; o++) {
    const [root, ...alts] = alternatives[o]!;
    alts.sort((a, b) => b.score - a.score || (a.c.key < b.c.key ? -1 : 1));
    const listed = [root!, ...alts.slice(0, Math.max(0, opts.maxCandidates - 1))];
    result[o]!.candidates = listed.map((x) => toCandidate(x, entities, opts));
    result[o]!.gain = root!.score;
  }
  return result;
}

interface Scored {
  c: Cand;
  /** The candidate's members among one elected cause's entities. */
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

function toCandidate(x: Scored, entities: readonly EntityRec[], opts: ElectionOptions): Candidate {
  const c = x.c;
  const byLevel: Record<string, number> = {};
  let first = Number.POSITIVE_INFINITY;
  for (const m of x.members) {
    const e = entities[m]!;
    const role = roleOf(c.cause, e);
    byLevel[role] = (byLevel[role] ?? 0) + 1;
    if (e.start < first) first = e.start;
  }
  const evidence: Record<string, unknown> = {
    explained: x.members.length,
    byLevel,
    units: unitLevelOf(c.cause.kind),
    hit: x.h,
    size: c.n,
    coverage: round(x.h / c.n, 3),
    expectedByChance: round(c.n * opts.backgroundRate, 2),
    surprise: round(x.llr, 1),
    firstAlertAt: new Date(first).toISOString(),
  };
  if (c.ownCount > 0) {
    evidence.ownAlerts = c.ownCount;
    evidence.causeFirstAt = new Date(c.ownStart).toISOString();
  }
  if (!Number.isNaN(c.lead)) evidence.leadMs = Math.round(c.lead);
  if (c.health !== undefined) evidence.health = round(c.health, 3);
  return { entity: c.cause, kind: c.cause.kind, score: round(x.score, 1), evidence };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

class CandidateBuilder {
  private readonly cands = new Map<string, Cand>();
  private readonly unitIds = new Map<string, number>();
  unitCount: number;
  private readonly hostGroups = new Map<string, number[]>();
  private readonly hostEntity = new Map<string, number>();
  private readonly attributeFilter: Set<string> | undefined;
  private readonly calleeCache = new Map<string, string[]>();
  private readonly attributeSizes = new Map<string, Map<string, number>>();

  constructor(
    private readonly entities: readonly EntityRec[],
    private readonly topology: TopologyView,
    private readonly opts: ElectionOptions,
  ) {
    this.unitCount = entities.length;
    this.attributeFilter = opts.attributeKeys === undefined ? undefined : new Set(opts.attributeKeys);
  }

  run(): Cand[] {
    const es = this.entities;
    for (let i = 0; i < es.length; i++) this.collect(i, es[i]!);
    this.noisyAndCascade();
    const cands = [...this.cands.values()];
    this.score(cands);
    return cands;
  }

  private cand(key: string, level: CauseRef['level'], id: string, kind: CauseKind): Cand {
    let c = this.cands.get(key);
    if (c === undefined) {
      c = new Cand(key, { level, id, kind });
      this.cands.set(key, c);
    }
    return c;
  }

  private unit(key: string): number {
    let u = this.unitIds.get(key);
    if (u === undefined) {
      u = this.unitCount++;
      this.unitIds.set(key, u);
    }
    return u;
  }

  private collect(i: number, e: EntityRec): void {
    const level = e.ref.level;
    if (level === 'container' || level === 'host') {
      const hostId = e.hostId;
      if (hostId !== undefined) {
        const own = level === 'host';
        this.cand(e.hostKey!, 'host', hostId, 'host').add(i, i, own);
        if (own) this.hostEntity.set(hostId, i);
        else {
          let g = this.hostGroups.get(hostId);
          if (g === undefined) {
            g = [];
            this.hostGroups.set(hostId, g);
          }
          g.push(i);
        }
        this.hostGroupCands(i, e, hostId);
      }
      if (level === 'container' && e.appId !== undefined) this.appCands(i, e.appId);
    } else if (level === 'rack') {
      const u = this.unit('rack:' + e.ref.id);
      this.cand('rack:' + e.ref.id, 'rack', e.ref.id, 'rack').add(i, u, true);
      const idc = e.idcId;
      if (idc !== undefined) this.cand('idc:' + idc, 'idc', idc, 'idc').add(i, u, false);
    } else if (level === 'idc') {
      const u = this.unit('idc:' + e.ref.id);
      this.cand('idc:' + e.ref.id, 'idc', e.ref.id, 'idc').add(i, u, true);
    } else if (level === 'app') {
      this.appCands(i, e.ref.id);
    }
  }

  /** Rack, IDC and attribute groups, whose units are hosts. */
  private hostGroupCands(i: number, e: EntityRec, hostId: string): void {
    const u = this.unit('host:' + hostId);
    const rack = e.rackId;
    if (rack !== undefined) this.cand(e.rackKey!, 'rack', rack, 'rack').add(i, u, false);
    const idc = e.idcId;
    if (idc !== undefined) this.cand(e.idcKey!, 'idc', idc, 'idc').add(i, u, false);
    const attrs = e.hostAttrs;
    const filter = this.attributeFilter;
    for (const k in attrs) {
      if (filter !== undefined && !filter.has(k)) continue;
      const id = k + '=' + attrs[k];
      this.cand('attr:' + id, 'attribute', id, 'attribute').add(i, u, false);
    }
  }

  /** The app itself (fan-in across hosts) and the apps it calls (upstream failures). */
  private appCands(i: number, app: string): void {
    const own = this.entities[i]!.ref.level === 'container' || this.entities[i]!.ref.level === 'app';
    this.cand('app:' + app, 'app', app, 'app').add(i, i, own);
    this.cand('upstream:' + app, 'app', app, 'upstream').add(i, i, own);
    let callees = this.calleeCache.get(app);
    if (callees === undefined) {
      callees = calleesOf(this.topology, app, this.opts.upstreamDepth);
      this.calleeCache.set(app, callees);
    }
    for (const u of callees) {
      this.cand('upstream:' + u, 'app', u, 'upstream').add(i, i, false);
    }
  }

  /**
   * A container is a noisy source on its host when it is distinct (its rule is not the one most
   * of the host's other alerting containers share), started first (before the host's own alert
   * and before most neighbours, within `noisyMaxLeadMs`), and the host suffers (the host alerts
   * or neighbours do). Its app then also explains that host's trouble (the JD cascade).
   */
  private noisyAndCascade(): void {
    const es = this.entities;
    const { slackMs, noisyMaxLeadMs } = this.opts;
    const cascaded = new Set<string>();
    const ruleCount = new Map<string, number>();
    const hostIds = new Set<string>([...this.hostGroups.keys()]);
    for (const hostId of hostIds) {
      const group = this.hostGroups.get(hostId)!;
      const hostIdx = this.hostEntity.get(hostId) ?? -1;
      const m = group.length;
      if (m === 0 || (hostIdx < 0 && m < 2)) continue;
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
      sources.sort((a, b) => es[a]!.start - es[b]!.start);
      if (sources.length > MAX_SOURCES_PER_HOST) sources.length = MAX_SOURCES_PER_HOST;
      for (const s of sources) {
        const src = es[s]!;
        const noisy = this.cand('noisy:' + src.ref.id, 'container', src.ref.id, 'noisy-neighbour');
        noisy.add(s, s, true);
        if (hostIdx >= 0) noisy.add(hostIdx, hostIdx, false);
        for (const g of group) if (g !== s) noisy.add(g, g, false);
        const app = src.appId;
        if (app === undefined || cascaded.has(app + '\u0000' + hostId)) continue;
        cascaded.add(app + '\u0000' + hostId);
        const appCand = this.cands.get('app:' + app)!;
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
      // Eligibility beyond "two units": fan-in needs two hosts, upstream needs callers' alerts.
      if (kind === 'app') {
        hostSet.clear();
        for (let i = 0; i < c.members.length; i++) {
          if (c.own[i] === 1) {
            const host = es[c.members[i]!]!.hostId;
            if (host !== undefined) hostSet.add(host);
          }
        }
        if (hostSet.size < 2) c.eligible = false;
      } else if (kind === 'upstream') {
        appSet.clear();
        for (let i = 0; i < c.members.length; i++) {
          if (c.own[i] === 0) {
            const app = es[c.members[i]!]!.appId;
            if (app !== undefined) appSet.add(app);
          }
        }
        if (appSet.size === 0 || (c.ownCount === 0 && appSet.size < 2)) c.eligible = false;
      }
      if (!c.eligible) continue;
      c.n = Math.max(h, this.size(c));
      if (kind === 'attribute' && c.n < opts.minAttributeGroup) {
        c.eligible = false;
        continue;
      }
      c.llr = explanationGain(h, c.n, c.members.length, opts.backgroundRate);

      // Time order: the cause's own alerts against the early effects (10th percentile, so one
      // stray early alert does not decide).
      let effects = 0;
      if (startBuf.length < c.members.length) startBuf = new Float64Array(c.members.length * 2);
      for (let i = 0; i < c.members.length; i++) {
        const s = es[c.members[i]!]!.start;
        if (s < c.firstStart) c.firstStart = s;
        if (c.own[i] === 1) {
          if (s < c.ownStart) c.ownStart = s;
        } else startBuf[effects++] = s;
      }
      let timeFactor = 1;
      if (c.ownCount > 0 && effects > 0) {
        const sorted = startBuf.subarray(0, effects).sort();
        const early = sorted[Math.floor(effects * 0.1)]!;
        c.lead = early - c.ownStart;
        const late = -c.lead - opts.slackMs;
        timeFactor =
          late > 0 ? 1 / (1 + late / opts.tauMs) : 1 + 0.05 * Math.min(1, Math.max(0, c.lead) / opts.tauMs);
      }
      const ownFactor = c.ownCount > 0 ? 1 : 0.9;
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
      case 'idc': {
        let hosts = 0;
        for (const child of topo.children({ level: 'idc', id })) {
          hosts += child.level === 'rack' ? topo.childCount(child) : child.level === 'host' ? 1 : 0;
        }
        return hosts + (c.ownCount > 0 ? 1 : 0);
      }
      case 'attribute': {
        const eq = id.indexOf('=');
        const key = id.slice(0, eq);
        let sizes = this.attributeSizes.get(key);
        if (sizes === undefined) {
          sizes = topo.attributeValues?.('host', key) ?? new Map<string, number>();
          this.attributeSizes.set(key, sizes);
        }
        return sizes.get(id.slice(eq + 1)) ?? 0;
      }
      case 'app': {
        // An alert on the app entity itself (an SLO alert) is one more unit.
        let appUnit = 0;
        for (const m of c.members) if (this.entities[m]!.ref.level === 'app') appUnit = 1;
        return topo.childCount({ level: 'app', id }) + appUnit;
      }
      case 'upstream': {
        let n = topo.childCount({ level: 'app', id });
        for (const caller of callersOf(topo, id, this.opts.upstreamDepth))
          n += topo.childCount({ level: 'app', id: caller });
        return n;
      }
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
