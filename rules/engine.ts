import { matchesAll } from '../core/matchers.js';
import type { AlertEvent, EntityRef, FieldValue, Level, Point, TopologyView } from '../core/types.js';
import { type BaselineConfig, DEFAULT_BASELINE, updateBaseline } from '../scoring/baseline.js';
import {
  alertWeight,
  childrenAggregate,
  type EntityHealth,
  FOR_FACTOR,
  healthStatus,
  ownScore,
  rollUp,
} from '../scoring/health.js';
import { newSeasonalVerdict, type SeasonalVerdict, updateSeasonal } from '../scoring/seasonal.js';
import { newTrendVerdict, type TrendVerdict, updateTrend } from '../scoring/trend.js';
import { DEFAULT_TAG_MAPPING, type ResolvedEntities, TagResolver } from '../topology/mapping.js';
import { alertFingerprint, FNV_OFFSET, fnv1a } from './fingerprint.js';
import {
  type AbsenceRule,
  type GroupRule,
  isPredictive,
  type Rule,
  type RuleSet,
  type SeasonalRule,
  type ThresholdRule,
  type TrendRule,
} from './model.js';
import { SlotAllocator, SlotIndex } from './slab.js';
import { renderTemplate } from './template.js';
import {
  buildWatchSet,
  type Consumer,
  FN_RATE,
  FN_VALUE,
  K_INDICATOR,
  K_SEASONAL,
  K_THRESHOLD,
  K_TREND,
  OP_EQ,
  OP_GE,
  OP_GT,
  OP_LE,
  OP_LT,
  WatchSet,
} from './watch.js';

/**
 * The detection stage: decoded points in, alert state changes out, on event time.
 *
 * Contract:
 * - `process(point)` is the hot path. It updates per-series state (rules, baselines,
 *   predictive detectors) and decides transitions, but never delivers events.
 * - `advance(watermark)` moves event time forward: `for` durations elapse, resolve periods end,
 *   silent hosts become HostDown, silent series go stale and expire. It returns every alert
 *   state change since the previous call, sorted by event time, and also hands each to
 *   `onAlert`. The caller owns the watermark (see WatermarkTracker): after each batch it passes
 *   max event time - allowed lateness, and at the end of a finite stream the max event time.
 *   How often advance is called changes when events are delivered, not which events happen or
 *   their event times: a gap in the data is noticed when the data resumes too.
 * - `health(ref)` / `healthAll(level)` give live 0..100 health scores (scoring/health.ts).
 *
 * State: per series one record in a Float64Array plus one fixed-size block laid out by its
 * watch set (rules/watch.ts); per entity a slot in typed arrays. Alert instances exist only
 * while a condition holds. Nothing keeps raw history. Silence is found by sweeps over the
 * tables every `sweepMs` of event time (cheap sequential scans) rather than by per-point list
 * maintenance.
 */

export interface EntityTagResolver {
  resolve(tags: Record<string, string>, out: ResolvedEntities): boolean;
  readonly mapping?: Readonly<Record<Level, readonly string[]>>;
}

export interface DetectionEngineOptions {
  rules: RuleSet | readonly Rule[];
  /** Which tags name the topology levels (default: topology/mapping.ts defaults). */
  tagResolver?: EntityTagResolver;
  /** Optional CMDB view: fills a container's app and a host's rack/IDC when tags lack them. */
  topology?: TopologyView;
  onAlert?: (event: AlertEvent) => void;
  /**
   * A series without samples for this long has its alerts resolved (default 15 min; keep it
   * above a few sample intervals: 5-minute data needs more than 5 minutes).
   */
  staleAfterMs?: number;
  /** A series without samples for this long loses its state (default 1 h). */
  seriesTtlMs?: number;
  /** An entity without any data for this long is forgotten (default container 1 h, others 24 h). */
  entityTtlMs?: Partial<Record<Level, number>>;
  /** Learned-baseline settings of the health indicators. */
  baseline?: Partial<BaselineConfig>;
}

export interface DetectionStats {
  points: number;
  /** Points not newer than their series' latest sample (ignored by rules). */
  late: number;
  series: number;
  entities: Record<Level, number>;
  pendingAlerts: number;
  firingAlerts: number;
  events: number;
  watermark: number;
}

const LEVEL_ORDER: readonly Level[] = ['container', 'host', 'app', 'rack', 'idc'];
const L_CONTAINER = 0;
const L_HOST = 1;
const L_APP = 2;
const L_RACK = 3;
const L_IDC = 4;
const LEVEL_INDEX: Record<Level, number> = { container: 0, host: 1, app: 2, rack: 3, idc: 4 };

/**
 * Series records: 32 bytes per series in one buffer, seen as Int32Array (`ser`, 8 ints per
 * record) and Float64Array (`serTime`, the last sample time in the record's first 8 bytes), so
 * that the hot path touches one cache line of series state (plus the block of its watch set).
 */
const SER = 8;
const S_OWNER = 2;
const S_BLOCK = 3;
const S_HASH = 4;
const S_NEXT = 5; // next series of the same owner entity
const S_MEAS = 6; // measurement id
const S_WS = 7; // watch set id

/** Absence rules per level tracked in the per-entity bit masks. */
const MAX_ABSENCE_RULES = 8;

interface MeasurementPlan {
  specs: Array<{ rule: ThresholdRule | TrendRule | SeasonalRule; levelIdx: number }>;
  sets: Map<string, WatchSet>;
}

const PENDING = 0;
const FIRING = 1;

/** An alert that is pending or firing (exists only while its condition holds). */
class AlertInstance {
  state = PENDING;
  index = -1;
  due = 0;
  lastT = 0;
  value = 0;
  resolvingSince = Number.NaN;
  startsAt = 0;
  fingerprint = '';
  id = '';
  labels: Record<string, string> = {};
  etaSeconds: number | undefined = undefined;
  score: number | undefined = undefined;

  constructor(
    readonly rule: Rule,
    /** Series slot, or -1 for absence and group instances. */
    readonly series: number,
    public consumer: Consumer | undefined,
    readonly entity: number,
    readonly resolveForMs: number,
    /** Group and absence state does not go stale with a series. */
    readonly heldState: boolean,
  ) {}
}

const EMPTY_TAGS: Readonly<Record<string, string>> = Object.freeze({});

export class DetectionEngine {
  private readonly resolver: EntityTagResolver;
  private readonly topology: TopologyView | undefined;
  private readonly onAlert: ((event: AlertEvent) => void) | undefined;
  private readonly staleAfterMs: number;
  private readonly seriesTtlMs: number;
  private readonly entityTtl: Float64Array;
  private sweepMs: number;
  private readonly baselineConfig: BaselineConfig;
  private readonly topologyTags: Set<string>;

  // Rules, compiled.
  private version = 0;
  private rules: readonly Rule[] = [];
  private ruleIdentity = new Map<string, string>();
  private plans = new Map<string, MeasurementPlan>();
  private emptySet: WatchSet;
  private absenceByLevel: AbsenceRule[][] = [[], [], [], [], []];
  /** Shortest absence rule of any level: gaps at least this long are looked at when data resumes. */
  private minAbsenceMs = Number.POSITIVE_INFINITY;
  private groupsByChildRule = new Map<string, GroupRule[]>();

  // Series.
  private readonly seriesSlots = new SlotAllocator();
  private ser = new Int32Array(1024 * SER);
  private serTime = new Float64Array(this.ser.buffer);
  private serTags: Array<Readonly<Record<string, string>> | undefined> = [];
  /** The measurement string as the decoder shares it per series (a pointer compare per point). */
  private serMeasurement: Array<string | undefined> = [];
  /** Watch sets by id (ids stay valid across reloads; series move on their next point). */
  private watchSets: WatchSet[] = [];
  private readonly measurementIds = new Map<string, number>();
  private readonly measurementNames: string[] = [];
  private lastMeasurement = '';
  private lastMeasurementId = -1;
  /** 1 once a silent series' alerts were ended (until it reports again). */
  private serStale = new Uint8Array(1024);
  /** The series that came after this one last time (-1: none yet). */
  private succ = new Int32Array(1024).fill(-1);
  private prevSeries = -1;
  private readonly seriesIndex: SlotIndex;

  // Entities.
  private readonly entitySlots = new SlotAllocator();
  private readonly entityIndex: Array<Map<string, number>> = [
    new Map(),
    new Map(),
    new Map(),
    new Map(),
    new Map(),
  ];
  private entLevel = new Uint8Array(256);
  private entId: Array<string | undefined> = [];
  private entLast = new Float64Array(256);
  private entHost = new Int32Array(256);
  private entApp = new Int32Array(256);
  private entRack = new Int32Array(256);
  private entIdc = new Int32Array(256);
  private entPenalty = new Float64Array(256);
  private entFiring = new Int32Array(256);
  private entChildren = new Int32Array(256);
  private entSeriesHead = new Int32Array(256);
  /** The last silence long enough for an absence rule: [from, to) in event time. */
  private entGapFrom = new Float64Array(256);
  private entGapTo = new Float64Array(256);
  /** Per absence rule i of the level: bit i = firing, bit 8 + i = handled (fired or skipped). */
  private entAbsence = new Uint16Array(256);
  private entityGeneration = 0;
  private childIndexCache: { generation: number; byParent: Map<number, number[]> } | undefined;

  // Alerts.
  private instances: Array<AlertInstance | undefined> = [];
  private readonly freeInstances: number[] = [];
  private readonly timed = new Set<AlertInstance>();
  private readonly absenceActive = new Map<string, AlertInstance>();
  private readonly groupActive = new Map<string, AlertInstance>();
  private readonly groupCounts = new Map<string, Map<number, number>>();
  private out: AlertEvent[] = [];
  private firingCount = 0;
  private eventCount = 0;

  // Progress.
  private wm = Number.NEGATIVE_INFINITY;
  private nextSweep = Number.NEGATIVE_INFINITY;
  private maxTime = Number.NEGATIVE_INFINITY;
  private points = 0;
  private late = 0;

  // Scratch.
  private readonly resolved: ResolvedEntities = {};
  private values = new Float64Array(16);
  private readonly trendVerdict: TrendVerdict = newTrendVerdict();
  private readonly seasonalVerdict: SeasonalVerdict = newSeasonalVerdict();

  constructor(options: DetectionEngineOptions) {
    this.resolver = options.tagResolver ?? new TagResolver();
    this.topology = options.topology;
    this.onAlert = options.onAlert;
    this.staleAfterMs = options.staleAfterMs ?? 15 * 60_000;
    this.seriesTtlMs = Math.max(options.seriesTtlMs ?? 3_600_000, this.staleAfterMs);
    this.entityTtl = new Float64Array(5);
    const ttl = options.entityTtlMs ?? {};
    for (const level of LEVEL_ORDER) {
      const def = level === 'container' ? 3_600_000 : 86_400_000;
      this.entityTtl[LEVEL_INDEX[level]] = Math.max(ttl[level] ?? def, this.seriesTtlMs);
    }
    this.sweepMs = Math.min(10_000, Math.max(1000, this.staleAfterMs / 8));
    this.baselineConfig = { ...DEFAULT_BASELINE, ...options.baseline };
    const mapping = this.resolver.mapping ?? DEFAULT_TAG_MAPPING;
    this.topologyTags = new Set(LEVEL_ORDER.flatMap((l) => [...mapping[l]]));
    this.seriesIndex = new SlotIndex((s) => this.ser[s * SER + S_HASH]!, 1024);
    this.emptySet = this.newEmptySet();
    this.installRules(Array.isArray(options.rules) ? options.rules : (options.rules as RuleSet).rules);
  }

  // ===========================================================================================
  // Hot path
  // ===========================================================================================

  process(p: Point): void {
    this.points++;
    const t = p.time;
    if (t > this.maxTime) this.maxTime = t;
    const tags = p.tags;
    // Agents send their series in the same order every interval: try the series that followed
    // the previous one last time (sequential memory), then the tags -> series map.
    const prev = this.prevSeries;
    let s = prev >= 0 ? this.succ[prev]! : -1;
    if (s < 0 || this.serTags[s] !== tags || this.serMeasurement[s] !== p.measurement) {
      if (s >= 0 && this.serMeasurement[s] === p.measurement && sameTags(this.serTags[s]!, tags)) {
        // The predicted series under a new tags object (decoders without a series cache).
        this.serTags[s] = tags;
      } else {
        s = this.findSeries(p);
        if (prev >= 0) this.succ[prev] = s;
      }
    }
    this.prevSeries = s;
    const ser = this.ser;
    const r = s * SER;
    const last = this.serTime[s * 4]!;
    if (!(t > last)) {
      this.late++;
      return;
    }
    this.serTime[s * 4] = t;
    const dt = t - last;
    if (dt >= this.staleAfterMs) this.resumed(s, last);
    const owner = ser[r + S_OWNER]!;
    // A point proves its entity and those above it alive (a container's host and app, a host's
    // rack and IDC); once the owner is at t, so are they.
    if (owner >= 0 && this.touchEntity(owner, t)) this.touchParents(owner, t);
    let ws = this.watchSets[ser[r + S_WS]!]!;
    if (ws.version !== this.version) ws = this.remap(s, ws);
    if (ws.consumers.length !== 0)
      this.evaluate(s, ws, p, t, dt === Number.POSITIVE_INFINITY ? Number.NaN : dt);
  }

  /** The series of a point by content (creating it if new). */
  private findSeries(p: Point): number {
    const m =
      p.measurement === this.lastMeasurement ? this.lastMeasurementId : this.measurementId(p.measurement);
    return this.lookupSlow(p, m);
  }

  private measurementId(name: string): number {
    let id = this.measurementIds.get(name);
    if (id === undefined) {
      id = this.measurementNames.length;
      this.measurementNames.push(name);
      this.measurementIds.set(name, id);
    }
    this.lastMeasurement = name;
    this.lastMeasurementId = id;
    return id;
  }

  private evaluate(s: number, ws: WatchSet, p: Point, t: number, dt: number): void {
    const fields = p.fields;
    const arena = ws.arena;
    const d = arena.data;
    const o = this.ser[s * SER + S_BLOCK]! * ws.stride;
    const sources = ws.sources;
    const values = this.values;
    for (let i = 0; i < sources.length; i++) {
      const src = sources[i]!;
      const raw = toNumber(fields[src.field]);
      let x = raw;
      if (src.fn !== FN_VALUE) {
        const so = o + src.off;
        const prev = d[so]!;
        d[so] = raw;
        let diff = raw - prev;
        // A counter that went down was reset: count from zero.
        if (diff < 0 && src.fn === FN_RATE) diff = raw;
        x = diff / (dt / 1000);
      }
      if (src.divideBy !== undefined && !Number.isNaN(x)) {
        const den = toNumber(fields[src.divideBy]);
        x = den !== 0 ? x / den : Number.NaN;
      }
      values[i] = x;
    }
    const consumers = ws.consumers;
    for (let i = 0; i < consumers.length; i++) {
      const c = consumers[i]!;
      const x = values[c.source]!;
      if (Number.isNaN(x)) continue;
      const co = o + c.off;
      switch (c.kind) {
        case K_THRESHOLD: {
          const thr = c.threshold;
          let breach: boolean;
          let clear: boolean;
          switch (c.op) {
            case OP_GT:
              breach = x > thr;
              clear = x <= c.clearBound;
              break;
            case OP_GE:
              breach = x >= thr;
              clear = x < c.clearBound;
              break;
            case OP_LT:
              breach = x < thr;
              clear = x >= c.clearBound;
              break;
            case OP_LE:
              breach = x <= thr;
              clear = x > c.clearBound;
              break;
            case OP_EQ:
              breach = x === thr;
              clear = !breach;
              break;
            default: // !=
              breach = x !== thr;
              clear = !breach;
          }
          const idx = d[co]!;
          if (idx >= 0) this.sample(this.instances[idx]!, breach, clear, x, t);
          else if (breach) this.start(c, s, x, t, undefined, undefined);
          break;
        }
        case K_INDICATOR:
          updateBaseline(d, co, x, dt, c.direction, c.baseline!);
          break;
        case K_TREND: {
          const cfg = (c.rule as TrendRule).trend;
          const limit = cfg.limitField === undefined ? cfg.limit! : toNumber(fields[cfg.limitField]);
          const v = this.trendVerdict;
          if (updateTrend(d, arena.data32, co + 1, x, limit, t, cfg, v)) {
            const eta = v.etaSeconds === Number.POSITIVE_INFINITY ? undefined : Math.round(v.etaSeconds);
            const idx = d[co]!;
            if (idx >= 0) {
              const inst = this.instances[idx]!;
              inst.etaSeconds = eta;
              inst.score = round3(v.tau);
              this.sample(inst, v.breach, v.clear, x, v.at);
            } else if (v.breach) this.start(c, s, x, v.at, eta, round3(v.tau));
          }
          break;
        }
        case K_SEASONAL: {
          const v = this.seasonalVerdict;
          updateSeasonal(d, arena.data32, co + 1, x, t, dt, (c.rule as SeasonalRule).seasonal, v);
          const idx = d[co]!;
          if (idx >= 0) {
            const inst = this.instances[idx]!;
            inst.score = round3(v.score);
            this.sample(inst, v.breach, v.clear, round3(v.ratio), t);
          } else if (v.breach) this.start(c, s, round3(v.ratio), t, 0, round3(v.score));
          break;
        }
      }
    }
  }

  /** Moves an entity's last-seen time to t; false when it was already there. */
  private touchEntity(e: number, t: number): boolean {
    const prev = this.entLast[e]!;
    if (!(t > prev)) return false;
    this.entLast[e] = t;
    // A gap long enough for an absence rule: the absence happened (if no sweep saw it yet),
    // and ended now.
    if (t - prev >= this.minAbsenceMs && prev > Number.NEGATIVE_INFINITY) this.gapClosed(e, prev, t);
    else if (this.entAbsence[e] !== 0) this.entityReturned(e, t);
    return true;
  }

  private touchParents(owner: number, t: number): void {
    const host = this.entHost[owner]!;
    if (host >= 0) this.touchEntity(host, t);
    const app = this.entApp[owner]!;
    if (app >= 0) this.touchEntity(app, t);
    const up = host >= 0 ? host : owner;
    const rack = this.entRack[up]!;
    if (rack >= 0) this.touchEntity(rack, t);
    const idc = this.entIdc[up]!;
    if (idc >= 0) this.touchEntity(idc, t);
  }

  /** A series reports again after at least staleAfter of silence: its alerts ended back then. */
  private resumed(s: number, last: number): void {
    if (this.serStale[s] === 1) this.serStale[s] = 0;
    else if (last > Number.NEGATIVE_INFINITY) this.endInstancesOf(s, last + this.staleAfterMs);
  }

  // ===========================================================================================
  // Series lookup and creation (first sight of a series, or a new tags object for it)
  // ===========================================================================================

  private lookupSlow(p: Point, m: number): number {
    const tags = p.tags;
    // Measurement and tag values (the keys are checked by sameTags).
    let h = fnv1a(FNV_OFFSET, p.measurement);
    for (const k in tags) h = fnv1a(Math.imul(h ^ 0x1f, 16777619), tags[k]!);
    h |= 0;
    const index = this.seriesIndex;
    let s = -1;
    for (let i = index.start(h); ; i = index.step(i)) {
      const x = index.at(i);
      if (x < 0) break;
      const r = x * SER;
      if (this.ser[r + S_HASH] === h && this.ser[r + S_MEAS] === m && sameTags(this.serTags[x]!, tags)) {
        this.serTags[x] = tags;
        this.serMeasurement[x] = p.measurement;
        s = x;
        break;
      }
    }
    if (s < 0) s = this.createSeries(p, m, h);
    return s;
  }

  private createSeries(p: Point, m: number, hash: number): number {
    const s = this.seriesSlots.alloc();
    this.ensureSeriesCapacity(s + 1);
    const tags = p.tags;
    const ser = this.ser;
    const r = s * SER;
    this.serTags[s] = tags;
    this.serMeasurement[s] = p.measurement;
    this.serStale[s] = 0;
    this.serTime[s * 4] = Number.NEGATIVE_INFINITY;
    ser[r + S_HASH] = hash;
    ser[r + S_MEAS] = m;
    this.seriesIndex.insert(hash, s);
    this.resolver.resolve(tags as Record<string, string>, this.resolved);
    const owner = this.linkEntities(this.resolved);
    ser[r + S_OWNER] = owner;
    if (owner >= 0) {
      ser[r + S_NEXT] = this.entSeriesHead[owner]!;
      this.entSeriesHead[owner] = s;
    } else ser[r + S_NEXT] = -1;
    const ws = this.watchSetFor(p.measurement, tags, owner);
    ser[r + S_WS] = ws.id;
    const block = ws.stride === 0 ? 0 : ws.arena.alloc();
    ser[r + S_BLOCK] = block;
    if (ws.stride !== 0) ws.init(block);
    return s;
  }

  private ensureSeriesCapacity(n: number): void {
    if (n * SER <= this.ser.length) return;
    let size = this.ser.length / SER;
    while (size < n) size = Math.ceil(size * 1.5);
    const ser = new Int32Array(size * SER);
    ser.set(this.ser);
    this.ser = ser;
    this.serTime = new Float64Array(ser.buffer);
    const stale = new Uint8Array(size);
    stale.set(this.serStale);
    this.serStale = stale;
    this.succ = growInt32(this.succ, size, -1);
  }

  /** Entities named by the tags, created and linked as needed; returns the owner (most specific). */
  private linkEntities(r: ResolvedEntities): number {
    const idc = r.idc === undefined ? -1 : this.entity(L_IDC, r.idc);
    const rack = r.rack === undefined ? -1 : this.entity(L_RACK, r.rack);
    const host = r.host === undefined ? -1 : this.entity(L_HOST, r.host);
    const container = r.container === undefined ? -1 : this.entity(L_CONTAINER, r.container);
    let appId = r.app;
    if (appId === undefined && r.container !== undefined && this.topology)
      appId = this.topology.appOf(r.container);
    const app = appId === undefined ? -1 : this.entity(L_APP, appId);
    if (rack >= 0 && idc >= 0) this.setLink(this.entIdc, rack, idc, false);
    if (host >= 0) {
      if (rack >= 0) this.setLink(this.entRack, host, rack, true);
      if (idc >= 0) this.setLink(this.entIdc, host, idc, true);
      if (rack < 0 && idc < 0 && this.topology) this.linkHostFromTopology(host);
    }
    if (container >= 0) {
      if (host >= 0) this.setLink(this.entHost, container, host, true);
      if (app >= 0) this.setLink(this.entApp, container, app, true);
      return container;
    }
    if (host >= 0) return host;
    if (app >= 0) return app;
    if (rack >= 0) return rack;
    return idc;
  }

  private linkHostFromTopology(host: number): void {
    const topo = this.topology!;
    const rackRef = topo.parent({ level: 'host', id: this.entId[host]! });
    if (rackRef?.level !== 'rack') return;
    const rack = this.entity(L_RACK, rackRef.id);
    this.setLink(this.entRack, host, rack, true);
    const idcRef = topo.parent(rackRef);
    if (idcRef?.level === 'idc') {
      const idc = this.entity(L_IDC, idcRef.id);
      this.setLink(this.entIdc, host, idc, true);
      this.setLink(this.entIdc, rack, idc, false);
    }
  }

  private setLink(links: Int32Array, child: number, parent: number, counted: boolean): void {
    const prev = links[child]!;
    if (prev === parent) return;
    if (counted) {
      if (prev >= 0) this.entChildren[prev]!--;
      this.entChildren[parent]!++;
    }
    links[child] = parent;
    this.entityGeneration++;
  }

  private entity(level: number, id: string): number {
    const index = this.entityIndex[level]!;
    const found = index.get(id);
    if (found !== undefined) return found;
    const e = this.entitySlots.alloc();
    this.ensureEntityCapacity(e + 1);
    this.entLevel[e] = level;
    this.entId[e] = id;
    this.entLast[e] = Number.NEGATIVE_INFINITY;
    this.entHost[e] = -1;
    this.entApp[e] = -1;
    this.entRack[e] = -1;
    this.entIdc[e] = -1;
    this.entPenalty[e] = 0;
    this.entFiring[e] = 0;
    this.entChildren[e] = 0;
    this.entSeriesHead[e] = -1;
    this.entGapFrom[e] = Number.NEGATIVE_INFINITY;
    this.entGapTo[e] = Number.NEGATIVE_INFINITY;
    this.entAbsence[e] = 0;
    index.set(id, e);
    this.entityGeneration++;
    return e;
  }

  private ensureEntityCapacity(n: number): void {
    if (n <= this.entLevel.length) return;
    let size = this.entLevel.length;
    while (size < n) size *= 2;
    const level = new Uint8Array(size);
    level.set(this.entLevel);
    this.entLevel = level;
    const absence = new Uint16Array(size);
    absence.set(this.entAbsence);
    this.entAbsence = absence;
    this.entLast = growFloat64(this.entLast, size);
    this.entHost = growInt32(this.entHost, size, -1);
    this.entApp = growInt32(this.entApp, size, -1);
    this.entRack = growInt32(this.entRack, size, -1);
    this.entIdc = growInt32(this.entIdc, size, -1);
    this.entPenalty = growFloat64(this.entPenalty, size);
    this.entFiring = growInt32(this.entFiring, size, 0);
    this.entChildren = growInt32(this.entChildren, size, 0);
    this.entSeriesHead = growInt32(this.entSeriesHead, size, -1);
    this.entGapFrom = growFloat64(this.entGapFrom, size);
    this.entGapTo = growFloat64(this.entGapTo, size);
  }

  /** The entity at `level` that a series' alerts are about, or -1. */
  private entityOfSeries(s: number, levelIdx: number): number {
    return this.relative(this.ser[s * SER + S_OWNER]!, levelIdx);
  }

  private relative(e: number, levelIdx: number): number {
    if (e < 0) return -1;
    const own = this.entLevel[e]!;
    if (own === levelIdx) return e;
    switch (levelIdx) {
      case L_HOST:
        return own === L_CONTAINER ? this.entHost[e]! : -1;
      case L_APP:
        return own === L_CONTAINER ? this.entApp[e]! : -1;
      case L_RACK: {
        const host = own === L_CONTAINER ? this.entHost[e]! : own === L_HOST ? e : -1;
        return host >= 0 ? this.entRack[host]! : -1;
      }
      case L_IDC: {
        if (own === L_RACK) return this.entIdc[e]!;
        const host = own === L_CONTAINER ? this.entHost[e]! : own === L_HOST ? e : -1;
        return host >= 0 ? this.entIdc[host]! : -1;
      }
      default:
        return -1;
    }
  }

  // ===========================================================================================
  // Watch sets
  // ===========================================================================================

  private watchSetFor(measurement: string, tags: Readonly<Record<string, string>>, owner: number): WatchSet {
    const plan = this.plans.get(measurement);
    if (!plan) return this.emptySet;
    let key = '';
    const chosen: Array<ThresholdRule | TrendRule | SeasonalRule> = [];
    for (let i = 0; i < plan.specs.length; i++) {
      const spec = plan.specs[i]!;
      if (this.relative(owner, spec.levelIdx) < 0) continue;
      if (!matchesAll(spec.rule.select.match, tags)) continue;
      key += i + ',';
      chosen.push(spec.rule);
    }
    if (chosen.length === 0) return this.emptySet;
    let ws = plan.sets.get(key);
    if (!ws) {
      ws = buildWatchSet(
        this.watchSets.length,
        this.version,
        chosen,
        (r) => this.ruleIdentity.get(r.name)!,
        this.baselineConfig,
      );
      this.watchSets.push(ws);
      if (ws.sources.length > this.values.length) this.values = new Float64Array(ws.sources.length * 2);
      plan.sets.set(key, ws);
    }
    return ws;
  }

  /** After a rule reload: move a series to its new layout, keeping the state of unchanged parts. */
  private remap(s: number, old: WatchSet): WatchSet {
    const r = s * SER;
    const measurement = this.measurementNames[this.ser[r + S_MEAS]!]!;
    const next = this.watchSetFor(measurement, this.serTags[s]!, this.ser[r + S_OWNER]!);
    const oldBlock = this.ser[r + S_BLOCK]!;
    const block = next.stride === 0 ? 0 : next.arena.alloc();
    if (next.stride !== 0) {
      next.init(block);
      if (old.stride !== 0) {
        next.copyFrom(old, oldBlock, block, (index, c) => {
          this.instances[index]!.consumer = c;
        });
      }
    }
    if (old.stride !== 0) old.arena.release(oldBlock);
    this.ser[r + S_WS] = next.id;
    this.ser[r + S_BLOCK] = block;
    return next;
  }

  // ===========================================================================================
  // Alert lifecycle
  // ===========================================================================================

  private start(
    c: Consumer,
    s: number,
    value: number,
    t: number,
    eta: number | undefined,
    score: number | undefined,
  ): void {
    const rule = c.rule!;
    const entity = this.entityOfSeries(s, LEVEL_INDEX[rule.level]);
    const resolveForMs =
      rule.kind === 'threshold'
        ? rule.condition.resolveForMs
        : rule.kind === 'seasonal'
          ? rule.seasonal.resolveForMs
          : rule.forMs;
    const inst = new AlertInstance(rule, s, c, entity, resolveForMs, false);
    inst.etaSeconds = eta;
    inst.score = score;
    this.register(inst);
    const ws = this.watchSets[this.ser[s * SER + S_WS]!]!;
    ws.arena.data[this.ser[s * SER + S_BLOCK]! * ws.stride + c.off] = inst.index;
    this.begin(inst, value, t);
  }

  private register(inst: AlertInstance): void {
    const idx = this.freeInstances.pop() ?? this.instances.length;
    this.instances[idx] = inst;
    inst.index = idx;
  }

  /**
   * A condition starts to hold at t: pending for `for`, shortened when the entity is already
   * unhealthy. That health leaves out the series the condition is about, so a burst does not
   * shorten its own `for` just by being unusual.
   */
  private begin(inst: AlertInstance, value: number, t: number): void {
    let forMs = inst.rule.forMs;
    if (forMs > 0 && inst.entity >= 0) {
      forMs *= FOR_FACTOR[healthStatus(this.ownHealth(inst.entity, inst.series).score)];
    }
    inst.state = PENDING;
    inst.due = t + forMs;
    inst.lastT = t;
    inst.value = value;
    if (forMs <= 0) this.fire(inst, t);
    else this.timed.add(inst);
  }

  /** One evaluation of an active instance's condition at event time t. */
  private sample(inst: AlertInstance, breach: boolean, clear: boolean, value: number, t: number): void {
    if (t < inst.lastT) {
      if (!inst.heldState) return;
      t = inst.lastT;
    }
    if (inst.state === PENDING) {
      if (t >= inst.due) {
        // The `for` period ended between the previous sample (breaching) and this one.
        if (!inst.heldState && inst.due > inst.lastT + this.staleAfterMs) {
          this.drop(inst);
          return;
        }
        this.fire(inst, inst.due);
      } else if (!breach) {
        this.drop(inst);
        return;
      } else {
        inst.lastT = t;
        inst.value = value;
        return;
      }
    }
    inst.lastT = t;
    if (!clear) {
      inst.value = value;
      if (!Number.isNaN(inst.resolvingSince)) {
        inst.resolvingSince = Number.NaN;
        this.timed.delete(inst);
      }
      return;
    }
    if (Number.isNaN(inst.resolvingSince)) {
      inst.resolvingSince = t;
      inst.value = value;
    }
    const end = inst.resolvingSince + inst.resolveForMs;
    if (t >= end) this.resolve(inst, inst.resolveForMs === 0 ? t : end, value);
    else this.timed.add(inst);
  }

  private fire(inst: AlertInstance, at: number): void {
    inst.state = FIRING;
    inst.startsAt = at;
    inst.resolvingSince = Number.NaN;
    this.timed.delete(inst);
    const rule = inst.rule;
    const entityId = inst.entity >= 0 ? this.entId[inst.entity]! : '';
    inst.labels = this.labelsFor(inst);
    inst.fingerprint = alertFingerprint(rule.name, rule.level, entityId, inst.labels);
    inst.id = inst.fingerprint + '-' + at.toString(36);
    if (inst.entity >= 0) {
      this.entPenalty[inst.entity]! += alertWeight(rule.severity, isPredictive(rule));
      this.entFiring[inst.entity]!++;
    }
    this.firingCount++;
    this.emit(inst, 'firing', at, inst.value);
    this.countForGroups(inst, at, 1);
  }

  private resolve(inst: AlertInstance, at: number, value: number): void {
    if (inst.state !== FIRING) {
      this.drop(inst);
      return;
    }
    if (inst.entity >= 0) {
      this.entPenalty[inst.entity]! -= alertWeight(inst.rule.severity, isPredictive(inst.rule));
      if (this.entPenalty[inst.entity]! < 1e-9) this.entPenalty[inst.entity] = 0;
      this.entFiring[inst.entity]!--;
    }
    this.firingCount--;
    inst.value = value;
    this.emit(inst, 'resolved', at, value);
    this.release(inst);
    this.countForGroups(inst, at, -1);
  }

  /** A pending instance whose condition stopped holding: no event. */
  private drop(inst: AlertInstance): void {
    this.release(inst);
  }

  private release(inst: AlertInstance): void {
    this.timed.delete(inst);
    if (inst.series >= 0 && inst.consumer) {
      const ws = this.watchSets[this.ser[inst.series * SER + S_WS]!]!;
      const ptr = this.ser[inst.series * SER + S_BLOCK]! * ws.stride + inst.consumer.off;
      if (ws.arena.data[ptr] === inst.index) ws.arena.data[ptr] = -1;
    } else if (inst.rule.kind === 'absence') {
      this.absenceActive.delete(instanceKey(inst.rule.name, inst.entity));
    } else if (inst.rule.kind === 'group') {
      this.groupActive.delete(instanceKey(inst.rule.name, inst.entity));
    }
    this.instances[inst.index] = undefined;
    this.freeInstances.push(inst.index);
  }

  private emit(inst: AlertInstance, state: 'firing' | 'resolved', at: number, value: number): void {
    const rule = inst.rule;
    const entity: EntityRef = { level: rule.level, id: inst.entity >= 0 ? this.entId[inst.entity]! : '' };
    const predicted = isPredictive(rule);
    let score = inst.score;
    if (!predicted && inst.entity >= 0) score = Math.round(this.ownHealth(inst.entity).score * 10) / 10;
    const annotations: Record<string, string> = {};
    for (const key in rule.annotations) {
      annotations[key] = renderTemplate(rule.annotations[key]!, {
        value,
        labels: inst.labels,
        entity: entity.id,
        level: entity.level,
        threshold: rule.kind === 'threshold' ? rule.condition.threshold : undefined,
        etaSeconds: inst.etaSeconds,
        score,
        rule: rule.name,
      });
    }
    const event: AlertEvent = {
      id: inst.id,
      fingerprint: inst.fingerprint,
      rule: rule.name,
      severity: rule.severity,
      state,
      entity,
      predicted,
      at,
      startsAt: inst.startsAt,
      labels: inst.labels,
      annotations,
    };
    if (predicted) event.etaSeconds = inst.etaSeconds ?? 0;
    if (score !== undefined) event.score = score;
    this.out.push(event);
  }

  private labelsFor(inst: AlertInstance): Record<string, string> {
    const labels: Record<string, string> = {};
    if (inst.series >= 0) {
      const tags = this.serTags[inst.series] ?? EMPTY_TAGS;
      for (const k in tags) labels[k] = tags[k]!;
    } else if (inst.entity >= 0) {
      // Absence and group alerts: the entity's place in the topology.
      const e = inst.entity;
      const host = this.relative(e, L_HOST);
      const app = this.relative(e, L_APP);
      const rack = this.relative(e, L_RACK);
      const idc = this.relative(e, L_IDC);
      if (host >= 0 && host !== e) labels.host = this.entId[host]!;
      if (app >= 0 && app !== e) labels.app = this.entId[app]!;
      if (rack >= 0 && rack !== e) labels.rack = this.entId[rack]!;
      if (idc >= 0 && idc !== e) labels.idc = this.entId[idc]!;
    }
    for (const k in inst.rule.labels) labels[k] = inst.rule.labels[k]!;
    return labels;
  }

  // ===========================================================================================
  // Group rules: more than X% of an entity's children fire rule R
  // ===========================================================================================

  private countForGroups(inst: AlertInstance, at: number, delta: number): void {
    const groups = this.groupsByChildRule.get(inst.rule.name);
    if (!groups || inst.entity < 0) return;
    for (const g of groups) {
      const parent = this.relative(inst.entity, LEVEL_INDEX[g.level]);
      if (parent < 0) continue;
      let counts = this.groupCounts.get(g.name);
      if (!counts) {
        counts = new Map();
        this.groupCounts.set(g.name, counts);
      }
      const firing = Math.max(0, (counts.get(parent) ?? 0) + delta);
      if (firing === 0) counts.delete(parent);
      else counts.set(parent, firing);
      const total = Math.max(this.entChildren[parent]!, firing, 1);
      const percent = (100 * firing) / total;
      const breach = firing >= g.minFiring && percent > g.percentAbove;
      const key = instanceKey(g.name, parent);
      const active = this.groupActive.get(key);
      if (active) this.sample(active, breach, !breach, round3(percent), at);
      else if (breach) {
        const gi = new AlertInstance(g, -1, undefined, parent, g.resolveForMs, true);
        this.register(gi);
        this.groupActive.set(key, gi);
        this.begin(gi, round3(percent), at);
      }
    }
  }

  // ===========================================================================================
  // Event time
  // ===========================================================================================

  /**
   * Moves event time to `watermark` and returns every alert state change since the last call,
   * sorted by event time (each also goes to `onAlert`). A watermark lower than a previous one
   * changes nothing.
   */
  advance(watermark: number): AlertEvent[] {
    if (watermark > this.wm) {
      this.wm = watermark;
      this.advanceTimed(watermark);
      if (watermark >= this.nextSweep) {
        this.sweepSeries(watermark);
        this.sweepEntities(watermark);
        this.nextSweep = watermark + this.sweepMs;
      }
    }
    const events = this.out;
    if (events.length === 0) return events;
    this.out = [];
    events.sort(byEventTime);
    this.eventCount += events.length;
    if (this.onAlert) for (const e of events) this.onAlert(e);
    return events;
  }

  /** The highest event time processed so far (ms), for callers without their own tracker. */
  get maxEventTime(): number {
    return this.maxTime;
  }

  get watermark(): number {
    return this.wm;
  }

  private advanceTimed(w: number): void {
    for (const inst of this.timed) {
      if (inst.state === PENDING) {
        if (!inst.heldState && inst.lastT + this.staleAfterMs < Math.min(inst.due, w)) {
          this.drop(inst);
        } else if (inst.due <= w) {
          this.fire(inst, inst.due);
        }
      } else if (!Number.isNaN(inst.resolvingSince)) {
        const end = inst.resolvingSince + inst.resolveForMs;
        if (end <= w) this.resolve(inst, end, inst.value);
      } else this.timed.delete(inst);
    }
  }

  /** Silent series: alerts end after staleAfter, state goes after the TTL. */
  private sweepSeries(w: number): void {
    const staleBefore = w - this.staleAfterMs;
    const expireBefore = w - this.seriesTtlMs;
    const n = this.seriesSlots.highWater;
    for (let s = 0; s < n; s++) {
      const last = this.serTime[s * 4]!;
      if (last > staleBefore) continue; // live (freed slots hold +Infinity)
      if (last <= expireBefore) this.expireSeries(s);
      else if (this.serStale[s] === 0) {
        this.serStale[s] = 1;
        this.endInstancesOf(s, last + this.staleAfterMs);
      }
    }
  }

  private endInstancesOf(s: number, at: number): void {
    const ws = this.watchSets[this.ser[s * SER + S_WS]!]!;
    const d = ws.arena.data;
    const o = this.ser[s * SER + S_BLOCK]! * ws.stride;
    for (const c of ws.consumers) {
      if (c.kind === K_INDICATOR) continue;
      const idx = d[o + c.off]!;
      if (idx < 0) continue;
      const inst = this.instances[idx]!;
      if (inst.state === FIRING) this.resolve(inst, Math.max(at, inst.lastT), inst.value);
      else this.drop(inst);
    }
  }

  private expireSeries(s: number): void {
    const r = s * SER;
    if (this.serStale[s] === 0) this.endInstancesOf(s, this.serTime[s * 4]! + this.staleAfterMs);
    this.seriesIndex.delete(this.ser[r + S_HASH]!, s);
    const ws = this.watchSets[this.ser[s * SER + S_WS]!]!;
    if (ws.stride !== 0) ws.arena.release(this.ser[r + S_BLOCK]!);
    const owner = this.ser[r + S_OWNER]!;
    if (owner >= 0) {
      let prev = -1;
      for (let x = this.entSeriesHead[owner]!; x >= 0; x = this.ser[x * SER + S_NEXT]!) {
        if (x === s) {
          if (prev < 0) this.entSeriesHead[owner] = this.ser[r + S_NEXT]!;
          else this.ser[prev * SER + S_NEXT] = this.ser[r + S_NEXT]!;
          break;
        }
        prev = x;
      }
    }
    this.serTags[s] = undefined;
    this.serMeasurement[s] = undefined;
    this.succ[s] = -1;
    if (this.prevSeries === s) this.prevSeries = -1;
    this.ser[r + S_WS] = this.emptySet.id;
    this.ser[r + S_OWNER] = -1;
    this.serTime[s * 4] = Number.POSITIVE_INFINITY;
    this.seriesSlots.release(s);
  }

  /** Silent entities: absence rules fire, and they are forgotten after their TTL. */
  private sweepEntities(w: number): void {
    const n = this.entitySlots.highWater;
    for (let e = 0; e < n; e++) {
      const last = this.entLast[e]!;
      if (this.entId[e] === undefined) continue;
      const level = this.entLevel[e]!;
      const absences = this.absenceByLevel[level]!;
      if (absences.length > 0 && last + absences[0]!.afterMs <= w && last > Number.NEGATIVE_INFINITY) {
        for (let i = 0; i < absences.length; i++) {
          const rule = absences[i]!;
          if (last + rule.afterMs > w) break;
          if ((this.entAbsence[e]! & (256 << i)) === 0) this.entityAbsent(e, i, rule, last + rule.afterMs);
        }
      }
      if (last + this.entityTtl[level]! <= w) this.expireEntity(e, level, last + this.entityTtl[level]!);
    }
  }

  private gapClosed(e: number, prev: number, t: number): void {
    this.entGapFrom[e] = prev;
    this.entGapTo[e] = t;
    const level = this.entLevel[e]!;
    const absences = this.absenceByLevel[level]!;
    for (let i = 0; i < absences.length; i++) {
      const rule = absences[i]!;
      if (t - prev < rule.afterMs) break;
      if ((this.entAbsence[e]! & (256 << i)) === 0) this.entityAbsent(e, i, rule, prev + rule.afterMs);
    }
    this.entityReturned(e, Math.min(t, prev + this.entityTtl[level]!));
  }

  /** Whether a host had data within `windowMs` before `at` (as far as its last gap tells). */
  private hostUpAt(host: number, at: number, windowMs: number): boolean {
    const last = this.entLast[host]!;
    if (last <= at) return last > at - windowMs;
    return !(this.entGapFrom[host]! <= at - windowMs && at < this.entGapTo[host]!);
  }

  private entityAbsent(e: number, i: number, rule: AbsenceRule, at: number): void {
    this.entAbsence[e]! |= 256 << i;
    if (rule.whileHostUp) {
      const host = this.entHost[e]!;
      if (host < 0 || !this.hostUpAt(host, at, rule.afterMs)) return;
    }
    const key = instanceKey(rule.name, e);
    if (this.absenceActive.has(key)) return;
    const inst = new AlertInstance(rule, -1, undefined, e, 0, true);
    this.register(inst);
    this.absenceActive.set(key, inst);
    this.entAbsence[e]! |= 1 << i;
    inst.value = rule.afterMs / 1000;
    inst.lastT = at;
    this.fire(inst, at);
  }

  /** Data from an entity that had gone silent: its absence alerts resolve. */
  private entityReturned(e: number, t: number): void {
    const mask = this.entAbsence[e]!;
    this.entAbsence[e] = 0;
    if ((mask & 0xff) === 0) return;
    for (const rule of this.absenceByLevel[this.entLevel[e]!]!) {
      const inst = this.absenceActive.get(instanceKey(rule.name, e));
      if (inst) this.resolve(inst, t, 0);
    }
  }

  private expireEntity(e: number, level: number, at: number): void {
    this.entityReturned(e, at);
    for (const [key, inst] of this.groupActive) {
      if (inst.entity === e) {
        this.groupActive.delete(key);
        this.resolve(inst, at, 0);
      }
    }
    for (const counts of this.groupCounts.values()) counts.delete(e);
    this.entityIndex[level]!.delete(this.entId[e]!);
    if (level === L_CONTAINER) {
      const host = this.entHost[e]!;
      const app = this.entApp[e]!;
      if (host >= 0) this.entChildren[host]!--;
      if (app >= 0) this.entChildren[app]!--;
    } else if (level === L_HOST) {
      const rack = this.entRack[e]!;
      const idc = this.entIdc[e]!;
      if (rack >= 0) this.entChildren[rack]!--;
      if (idc >= 0) this.entChildren[idc]!--;
    }
    // Children touch their parents, so with parent TTLs >= child TTLs they are gone first; for
    // other configurations, drop the links that still point here.
    if ((level !== L_CONTAINER && this.entChildren[e]! > 0) || level === L_IDC) {
      for (let x = 0; x < this.entitySlots.highWater; x++) {
        if (this.entHost[x] === e) this.entHost[x] = -1;
        if (this.entApp[x] === e) this.entApp[x] = -1;
        if (this.entRack[x] === e) this.entRack[x] = -1;
        if (this.entIdc[x] === e) this.entIdc[x] = -1;
      }
    }
    this.entId[e] = undefined;
    this.entLast[e] = Number.POSITIVE_INFINITY;
    this.entityGeneration++;
    this.entitySlots.release(e);
  }

  // ===========================================================================================
  // Health
  // ===========================================================================================

  private ownHealth(e: number, excludeSeries = -1): { score: number; anomalyMax: number } {
    let max = 0;
    let sum = 0;
    let n = 0;
    for (let s = this.entSeriesHead[e]!; s >= 0; s = this.ser[s * SER + S_NEXT]!) {
      if (s === excludeSeries) continue;
      const ws = this.watchSets[this.ser[s * SER + S_WS]!]!;
      const offsets = ws.scoreOffsets;
      if (offsets.length === 0) continue;
      const d = ws.arena.data;
      const o = this.ser[s * SER + S_BLOCK]! * ws.stride;
      for (let i = 0; i < offsets.length; i++) {
        const v = d[o + offsets[i]!]!;
        if (v > max) max = v;
        sum += v;
        n++;
      }
    }
    const mean = n === 0 ? 0 : sum / n;
    return { score: ownScore(this.entPenalty[e]!, max, mean), anomalyMax: max };
  }

  private childIndex(): Map<number, number[]> {
    if (this.childIndexCache?.generation === this.entityGeneration) return this.childIndexCache.byParent;
    const byParent = new Map<number, number[]>();
    const add = (parent: number, child: number) => {
      if (parent < 0) return;
      const list = byParent.get(parent);
      if (list) list.push(child);
      else byParent.set(parent, [child]);
    };
    for (let e = 0; e < this.entitySlots.highWater; e++) {
      if (this.entId[e] === undefined) continue;
      const level = this.entLevel[e]!;
      if (level === L_CONTAINER) {
        add(this.entHost[e]!, e);
        add(this.entApp[e]!, e);
      } else if (level === L_HOST) {
        add(this.entRack[e]!, e);
        add(this.entIdc[e]!, e);
      }
    }
    this.childIndexCache = { generation: this.entityGeneration, byParent };
    return byParent;
  }

  private healthOf(e: number, memo: Map<number, EntityHealth>): EntityHealth {
    const known = memo.get(e);
    if (known) return known;
    const level = this.entLevel[e]!;
    const own = this.ownHealth(e);
    const children = level === L_CONTAINER ? undefined : this.childIndex().get(e);
    let aggregate: number | undefined;
    if (children && children.length > 0) {
      aggregate = childrenAggregate(children.map((c) => this.healthOf(c, memo).score));
    }
    const score = Math.round(rollUp(LEVEL_ORDER[level]!, own.score, aggregate) * 10) / 10;
    const h: EntityHealth = {
      entity: { level: LEVEL_ORDER[level]!, id: this.entId[e]! },
      score,
      status: healthStatus(score),
      own: Math.round(own.score * 10) / 10,
      alertPenalty: this.entPenalty[e]!,
      anomaly: round3(own.anomalyMax),
      firingAlerts: this.entFiring[e]!,
    };
    if (aggregate !== undefined) {
      h.children = { count: children!.length, aggregate: Math.round(aggregate * 10) / 10 };
    }
    memo.set(e, h);
    return h;
  }

  /** Health of one entity, or undefined if it has not been seen (or has expired). */
  health(ref: EntityRef): EntityHealth | undefined {
    const e = this.entityIndex[LEVEL_INDEX[ref.level]]!.get(ref.id);
    return e === undefined ? undefined : this.healthOf(e, new Map());
  }

  /** Health of every live entity of a level, worst first. */
  healthAll(level: Level): EntityHealth[] {
    const memo = new Map<number, EntityHealth>();
    const out: EntityHealth[] = [];
    for (const e of this.entityIndex[LEVEL_INDEX[level]]!.values()) out.push(this.healthOf(e, memo));
    out.sort((a, b) => a.score - b.score || (a.entity.id < b.entity.id ? -1 : 1));
    return out;
  }

  // ===========================================================================================
  // Rules: install and hot reload
  // ===========================================================================================

  /**
   * Swaps the rule set while running (hot reload). Learned state of unchanged rules and
   * indicators is kept (series move to the new layout on their next point); alerts of rules
   * that were removed or changed resolve at the current watermark.
   */
  setRules(rules: RuleSet | readonly Rule[]): void {
    const list = Array.isArray(rules) ? rules : (rules as RuleSet).rules;
    const before = this.ruleIdentity;
    this.installRules(list);
    const at = Number.isFinite(this.wm) ? this.wm : this.maxTime;
    for (const inst of [...this.instances]) {
      if (!inst) continue;
      if (this.ruleIdentity.get(inst.rule.name) === before.get(inst.rule.name)) continue;
      if (inst.state === FIRING) this.resolve(inst, Math.max(at, inst.lastT), inst.value);
      else this.drop(inst);
    }
    for (const name of [...this.groupCounts.keys()]) {
      if (!this.ruleIdentity.has(name)) this.groupCounts.delete(name);
    }
    this.rebuildAbsenceMasks();
  }

  /** The rules in force. */
  get activeRules(): readonly Rule[] {
    return this.rules;
  }

  private installRules(rules: readonly Rule[]): void {
    this.version++;
    this.rules = rules;
    this.ruleIdentity = new Map(rules.map((r) => [r.name, identityOf(r)]));
    this.plans = new Map();
    this.absenceByLevel = [[], [], [], [], []];
    this.groupsByChildRule = new Map();
    for (const rule of rules) {
      switch (rule.kind) {
        case 'threshold':
        case 'trend':
        case 'seasonal': {
          let plan = this.plans.get(rule.select.measurement);
          if (!plan) {
            plan = { specs: [], sets: new Map() };
            this.plans.set(rule.select.measurement, plan);
          }
          plan.specs.push({ rule, levelIdx: LEVEL_INDEX[rule.level] });
          break;
        }
        case 'absence':
          this.absenceByLevel[LEVEL_INDEX[rule.level]]!.push(rule);
          break;
        case 'group': {
          const list = this.groupsByChildRule.get(rule.rule) ?? [];
          list.push(rule);
          this.groupsByChildRule.set(rule.rule, list);
          break;
        }
      }
    }
    for (const [l, list] of this.absenceByLevel.entries()) {
      if (list.length > MAX_ABSENCE_RULES) {
        throw new Error(
          `at most ${MAX_ABSENCE_RULES} absence rules per level (${LEVEL_ORDER[l]} has ${list.length})`,
        );
      }
      list.sort((a, b) => a.afterMs - b.afterMs);
    }
    this.minAbsenceMs = Math.min(
      ...this.absenceByLevel.flat().map((r) => r.afterMs),
      Number.POSITIVE_INFINITY,
    );
    this.emptySet = this.newEmptySet();
  }

  private newEmptySet(): WatchSet {
    const ws = new WatchSet(this.watchSets.length, this.version, [], [], 0);
    this.watchSets.push(ws);
    return ws;
  }

  /** Absence bits follow the (possibly re-sorted) absence rules; firing alerts keep theirs. */
  private rebuildAbsenceMasks(): void {
    this.entAbsence.fill(0);
    for (const inst of this.absenceActive.values()) {
      const i = this.absenceByLevel[this.entLevel[inst.entity]!]!.findIndex((r) => r.name === inst.rule.name);
      if (i >= 0) this.entAbsence[inst.entity]! |= (1 << i) | (256 << i);
    }
  }

  // ===========================================================================================
  // Introspection
  // ===========================================================================================

  stats(): DetectionStats {
    let pending = 0;
    for (const inst of this.instances) if (inst && inst.state === PENDING) pending++;
    const entities = { container: 0, host: 0, app: 0, rack: 0, idc: 0 } as Record<Level, number>;
    for (const level of LEVEL_ORDER) entities[level] = this.entityIndex[LEVEL_INDEX[level]]!.size;
    return {
      points: this.points,
      late: this.late,
      series: this.seriesSlots.live,
      entities,
      pendingAlerts: pending,
      firingAlerts: this.firingCount,
      events: this.eventCount,
      watermark: this.wm,
    };
  }

  /** Anomaly score (0..1, the highest of its indicators) of every live series of an entity. */
  seriesScores(
    ref: EntityRef,
  ): Array<{ measurement: string; tags: Readonly<Record<string, string>>; score: number }> {
    const e = this.entityIndex[LEVEL_INDEX[ref.level]]!.get(ref.id);
    if (e === undefined) return [];
    const out: Array<{ measurement: string; tags: Readonly<Record<string, string>>; score: number }> = [];
    for (let s = this.entSeriesHead[e]!; s >= 0; s = this.ser[s * SER + S_NEXT]!) {
      const ws = this.watchSets[this.ser[s * SER + S_WS]!]!;
      if (ws.scoreOffsets.length === 0) continue;
      const o = this.ser[s * SER + S_BLOCK]! * ws.stride;
      let max = 0;
      for (const off of ws.scoreOffsets) max = Math.max(max, ws.arena.data[o + off]!);
      const measurement = this.measurementNames[this.ser[s * SER + S_MEAS]!]!;
      out.push({ measurement, tags: this.serTags[s]!, score: round3(max) });
    }
    return out;
  }

  /**
   * Bytes held in typed arrays, by table (capacity, not just live slots): what the bench
   * reports next to the measured heap.
   */
  tableBytes(): { series: number; blocks: number; blocksLive: number; entities: number; index: number } {
    let blocks = 0;
    let blocksLive = 0;
    for (const ws of this.watchSets) {
      blocks += ws.arena.bytes;
      blocksLive += ws.arena.liveBlocks * ws.stride * 8;
    }
    const entities =
      this.entLevel.byteLength +
      this.entAbsence.byteLength +
      [this.entLast, this.entHost, this.entApp, this.entRack, this.entIdc, this.entPenalty, this.entFiring]
        .concat([this.entChildren, this.entSeriesHead, this.entGapFrom, this.entGapTo])
        .reduce((n, a) => n + a.byteLength, 0);
    return {
      series: this.ser.byteLength + this.serStale.byteLength + this.succ.byteLength,
      blocks,
      blocksLive,
      entities,
      index: this.seriesIndex.bytes,
    };
  }

  /** Tag keys that name topology levels. */
  get topologyTagKeys(): ReadonlySet<string> {
    return this.topologyTags;
  }
}

// ---------------------------------------------------------------------------------------------

function toNumber(v: FieldValue | undefined): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return Number.NaN;
}

function sameTags(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  let n = 0;
  for (const k in b) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  for (const _ in a) n--;
  return n === 0;
}

function growInt32(a: Int32Array, size: number, fill: number): Int32Array<ArrayBuffer> {
  const next = new Int32Array(size).fill(fill);
  next.set(a);
  return next;
}

function growFloat64(a: Float64Array, size: number): Float64Array<ArrayBuffer> {
  const next = new Float64Array(size);
  next.set(a);
  return next;
}

function instanceKey(rule: string, entity: number): string {
  return rule + '\u0000' + entity;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function byEventTime(a: AlertEvent, b: AlertEvent): number {
  return a.at - b.at;
}

/** What makes two versions of a rule the same rule (its position in a file does not). */
function identityOf(rule: Rule): string {
  const annotations: Record<string, string> = {};
  for (const k in rule.annotations) annotations[k] = rule.annotations[k]!.source;
  const select =
    'select' in rule ? { ...rule.select, match: rule.select.match.map((m) => m.text) } : undefined;
  return JSON.stringify({ ...rule, origin: undefined, annotations, select });
}
