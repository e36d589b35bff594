import type { AlertEvent, EntityRef, FieldValue, Level, Point, TopologyView } from '../core/types.js';
import {
  BASELINE_STRIDE,
  type BaselineConfig,
  DEFAULT_BASELINE,
  type Direction,
  initBaseline,
  updateBaseline,
} from '../scoring/baseline.js';
import {
  alertWeight,
  childrenAggregate,
  type EntityHealth,
  FOR_FACTOR,
  healthStatus,
  ownScore,
  rollUp,
} from '../scoring/health.js';
import {
  initSeasonal,
  newSeasonalVerdict,
  SEASONAL_HEADER,
  type SeasonalVerdict,
  seasonalStride,
  updateSeasonal,
} from '../scoring/seasonal.js';
import { initTrend, newTrendVerdict, type TrendVerdict, trendStride, updateTrend } from '../scoring/trend.js';
import { DEFAULT_TAG_MAPPING, type ResolvedEntities, TagResolver } from '../topology/mapping.js';
import { alertFingerprint } from './fingerprint.js';
import { matchesTags } from './matchers.js';
import {
  type AbsenceRule,
  type ComparisonOp,
  type GroupRule,
  isPredictive,
  type Rule,
  type RuleSet,
  type SeasonalRule,
  type ThresholdRule,
  type TrendRule,
} from './model.js';
import { Float64Arena, SlotAllocator, SlotIndex, StagedList } from './slab.js';
import { renderTemplate } from './template.js';

/**
 * The detection stage: decoded points in, alert state changes out, on event time.
 *
 * Contract:
 * - `process(point)` is the hot path. It updates per-series state (rules, baselines,
 *   predictive detectors) and may decide transitions, but never delivers events.
 * - `advance(watermark)` moves event time forward: `for` durations elapse, resolve periods end,
 *   silent hosts become HostDown, silent series go stale and expire. It returns every alert
 *   state change since the previous call, sorted by event time, and also hands each to
 *   `onAlert`. The caller owns the watermark (see WatermarkTracker): after each batch it passes
 *   max event time - allowed lateness, and at the end of a finite stream the max event time.
 * - `health(ref)` / `healthAll(level)` give live 0..100 health scores (scoring/health.ts).
 *
 * State: per series a slot in typed arrays plus one fixed-size block of doubles laid out by the
 * series' watch set; per entity a slot in typed arrays. Alert instances exist only while a
 * condition holds. Nothing keeps raw history. Replaying the same points with the same
 * watermarks gives the same events.
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
  /** A series without samples for this long has its alerts resolved (default 5 min). */
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

// ---------------------------------------------------------------------------------------------
// Levels, compiled watches
// ---------------------------------------------------------------------------------------------

const LEVEL_ORDER: readonly Level[] = ['container', 'host', 'app', 'rack', 'idc'];
const L_CONTAINER = 0;
const L_HOST = 1;
const L_APP = 2;
const L_RACK = 3;
const L_IDC = 4;
const LEVEL_INDEX: Record<Level, number> = { container: 0, host: 1, app: 2, rack: 3, idc: 4 };

const FN_VALUE = 0;
const FN_RATE = 1;
const FN_DERIV = 2;

const K_THRESHOLD = 0;
const K_INDICATOR = 1;
const K_TREND = 2;
const K_SEASONAL = 3;

const OP_GT = 0;
const OP_GE = 1;
const OP_LT = 2;
const OP_LE = 3;
const OP_EQ = 4;
// 5: '!='
const OP_CODE: Record<ComparisonOp, number> = { '>': 0, '>=': 1, '<': 2, '<=': 3, '==': 4, '!=': 5 };

/** Where a value comes from: a field, maybe as a per-second rate, maybe divided by another. */
interface ValueSource {
  key: string;
  field: string;
  fn: number;
  divideBy: string | undefined;
  /** Offset of [previous raw value, previous time] in the block (rate/deriv only), else -1. */
  off: number;
}

interface Consumer {
  key: string;
  kind: number;
  source: number;
  off: number;
  len: number;
  rule: ThresholdRule | TrendRule | SeasonalRule | undefined;
  op: number;
  threshold: number;
  /** Threshold rules: the value that counts as clear (threshold -/+ margin). */
  clearBound: number;
  direction: Direction;
  baseline: BaselineConfig | undefined;
}

/** The layout of one kind of series' state: which values it reads and who consumes them. */
class WatchSet {
  readonly arena: Float64Arena;
  /** Offsets of the anomaly scores (indicators, seasonal) within a block, for health. */
  readonly scoreOffsets: number[];

  constructor(
    readonly version: number,
    readonly sources: ValueSource[],
    readonly consumers: Consumer[],
    readonly stride: number,
  ) {
    this.arena = new Float64Arena(stride, stride === 0 ? 1 : 64);
    this.scoreOffsets = [];
    for (const c of consumers) {
      if (c.kind === K_INDICATOR) this.scoreOffsets.push(c.off + 2);
      else if (c.kind === K_SEASONAL) this.scoreOffsets.push(c.off + 1 + 4);
    }
  }
}

interface MeasurementPlan {
  specs: Array<{ rule: ThresholdRule | TrendRule | SeasonalRule; levelIdx: number }>;
  sets: Map<string, WatchSet>;
}

// ---------------------------------------------------------------------------------------------
// Alert instances (exist only while a condition holds or an alert fires)
// ---------------------------------------------------------------------------------------------

const PENDING = 0;
const FIRING = 1;

class AlertInstance {
  state = PENDING;
  index = -1;
  activeSince = 0;
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

// ---------------------------------------------------------------------------------------------

const EMPTY_TAGS: Readonly<Record<string, string>> = Object.freeze({});

export class DetectionEngine {
  private readonly resolver: EntityTagResolver;
  private readonly topology: TopologyView | undefined;
  private readonly onAlert: ((event: AlertEvent) => void) | undefined;
  private readonly staleAfterMs: number;
  private readonly seriesTtlMs: number;
  private readonly entityTtl: Float64Array;
  private readonly baselineConfig: BaselineConfig;
  private readonly topologyTags: Set<string>;

  // Rules, compiled.
  private version = 0;
  private rules: readonly Rule[] = [];
  private ruleIdentity = new Map<string, string>();
  private plans = new Map<string, MeasurementPlan>();
  private emptySet: WatchSet;
  private absenceByLevel: AbsenceRule[][] = [[], [], [], [], []];
  /** Shortest absence rule of any level: gaps at least this long are remembered. */
  private minAbsenceMs = Number.POSITIVE_INFINITY;
  private groupsByChildRule = new Map<string, GroupRule[]>();
  private stageBase = new Int32Array(5);

  // Series.
  private readonly seriesSlots = new SlotAllocator();
  private serTags: Array<Readonly<Record<string, string>> | undefined> = [];
  private serMeasurement: Array<string | undefined> = [];
  private serWatch: Array<WatchSet | undefined> = [];
  private serBlock = new Int32Array(1024);
  private serLast = new Float64Array(1024);
  private serHash = new Int32Array(1024);
  private serOwner = new Int32Array(1024);
  private serNextInEntity = new Int32Array(1024);
  private readonly seriesList = new StagedList(2, 1024);
  private readonly seriesIndex: SlotIndex;
  private byTags = new WeakMap<object, number>();

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
  private entityList: StagedList;
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
    this.staleAfterMs = options.staleAfterMs ?? 5 * 60_000;
    this.seriesTtlMs = Math.max(options.seriesTtlMs ?? 3_600_000, this.staleAfterMs);
    this.entityTtl = new Float64Array(5);
    const ttl = options.entityTtlMs ?? {};
    for (const level of LEVEL_ORDER) {
      const def = level === 'container' ? 3_600_000 : 86_400_000;
      this.entityTtl[LEVEL_INDEX[level]] = Math.max(ttl[level] ?? def, this.seriesTtlMs);
    }
    this.baselineConfig = { ...DEFAULT_BASELINE, ...options.baseline };
    const mapping = this.resolver.mapping ?? DEFAULT_TAG_MAPPING;
    this.topologyTags = new Set(LEVEL_ORDER.flatMap((l) => [...mapping[l]]));
    this.seriesIndex = new SlotIndex((s) => this.serHash[s]!, 1024);
    this.emptySet = new WatchSet(0, [], [], 0);
    this.entityList = new StagedList(5, 256);
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
    let s = this.byTags.get(tags);
    if (s === undefined) {
      s = this.lookupSlow(p);
      this.byTags.set(tags, s);
    } else if (this.serTags[s] !== tags || this.serMeasurement[s] !== p.measurement) {
      // Another measurement shares this tags object, or the slot was reused: look up by content.
      s = this.lookupSlow(p);
    }
    const last = this.serLast[s]!;
    if (!(t > last)) {
      this.late++;
      return;
    }
    // Silent past staleAfter without an advance() in between: its alerts ended back then.
    if (t - last >= this.staleAfterMs && last > Number.NEGATIVE_INFINITY && this.seriesList.stage[s] === 0) {
      this.endInstancesOf(s, last + this.staleAfterMs);
    }
    this.serLast[s] = t;
    this.seriesList.moveToTail(s, 0);
    const owner = this.serOwner[s]!;
    if (owner >= 0) {
      // A point proves its entity and the entities above it alive (a container's host and app,
      // a host's rack and IDC; the links a level does not have are -1).
      this.touchEntity(owner, t);
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
    let ws = this.serWatch[s]!;
    if (ws.version !== this.version) ws = this.remap(s, ws);
    if (ws.consumers.length !== 0) this.evaluate(s, ws, p, t);
  }

  private evaluate(s: number, ws: WatchSet, p: Point, t: number): void {
    const fields = p.fields;
    let d = ws.arena.data;
    const o = this.serBlock[s]! * ws.stride;
    const sources = ws.sources;
    const values = this.values;
    for (let i = 0; i < sources.length; i++) {
      const src = sources[i]!;
      const raw = toNumber(fields[src.field]);
      let x = raw;
      if (src.fn !== FN_VALUE && !Number.isNaN(raw)) {
        const so = o + src.off;
        const prev = d[so]!;
        const prevT = d[so + 1]!;
        d[so] = raw;
        d[so + 1] = t;
        if (Number.isNaN(prevT) || t <= prevT) x = Number.NaN;
        else {
          let diff = raw - prev;
          // A counter that went down was reset: count from zero.
          if (diff < 0 && src.fn === FN_RATE) diff = raw;
          x = diff / ((t - prevT) / 1000);
        }
      }
      if (src.divideBy !== undefined && !Number.isNaN(x)) {
        const den = toNumber(fields[src.divideBy]);
        x = den !== 0 && !Number.isNaN(den) ? x / den : Number.NaN;
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
          updateBaseline(d, co, x, t, c.direction, c.baseline!);
          break;
        case K_TREND: {
          const rule = c.rule as TrendRule;
          const cfg = rule.trend;
          const limit = cfg.limitField === undefined ? cfg.limit! : toNumber(p.fields[cfg.limitField]);
          const v = this.trendVerdict;
          if (updateTrend(d, co + 1, x, limit, t, cfg, v)) {
            const eta = v.etaSeconds === Number.POSITIVE_INFINITY ? undefined : Math.round(v.etaSeconds);
            const idx = d[co]!;
            if (idx >= 0) {
              const inst = this.instances[idx]!;
              inst.etaSeconds = eta;
              inst.score = round3(v.tau);
              this.sample(inst, v.breach, v.clear, x, v.at);
            } else if (v.breach) this.start(c, s, x, v.at, eta, round3(v.tau));
            d = ws.arena.data;
          }
          break;
        }
        case K_SEASONAL: {
          const rule = c.rule as SeasonalRule;
          const v = this.seasonalVerdict;
          updateSeasonal(d, co + 1, x, t, rule.seasonal, v);
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

  private touchEntity(e: number, t: number): void {
    const prev = this.entLast[e]!;
    if (!(t > prev)) return;
    this.entLast[e] = t;
    const level = this.entLevel[e]!;
    const live = this.stageBase[level]!;
    // A gap long enough for an absence rule that no advance() saw (advance cadence must not
    // change the outcome): the absence happened, and ended now.
    if (t - prev >= this.minAbsenceMs && prev > Number.NEGATIVE_INFINITY) this.gapClosed(e, level, prev, t);
    else if (this.entityList.stage[e] !== live) this.entityReturned(e, level, t);
    this.entityList.moveToTail(e, live);
  }

  private gapClosed(e: number, level: number, prev: number, t: number): void {
    this.entGapFrom[e] = prev;
    this.entGapTo[e] = t;
    const absences = this.absenceByLevel[level]!;
    const stage = this.entityList.stage[e]! - this.stageBase[level]!;
    for (let i = stage; i < absences.length; i++) {
      const rule = absences[i]!;
      if (t - prev < rule.afterMs) break;
      this.entityAbsent(e, rule, prev + rule.afterMs);
    }
    this.entityReturned(e, level, Math.min(t, prev + this.entityTtl[level]!));
  }

  /** Whether a host had data within `windowMs` before `at` (as far as its last gap tells). */
  private hostUpAt(host: number, at: number, windowMs: number): boolean {
    const last = this.entLast[host]!;
    if (last <= at) return last > at - windowMs;
    return !(this.entGapFrom[host]! <= at - windowMs && at < this.entGapTo[host]!);
  }

  // ===========================================================================================
  // Series lookup and creation (first sight of a series, or a new tags object for it)
  // ===========================================================================================

  private lookupSlow(p: Point): number {
    const tags = p.tags;
    const measurement = p.measurement;
    let h = fnvString(0x811c9dc5, measurement);
    for (const k in tags) {
      h = fnvString(Math.imul(h ^ 0x1f, 16777619), k);
      h = fnvString(Math.imul(h ^ 0x3d, 16777619), tags[k]!);
    }
    const index = this.seriesIndex;
    for (let i = index.start(h); ; i = index.step(i)) {
      const s = index.at(i);
      if (s < 0) break;
      if (
        this.serHash[s] === h &&
        this.serMeasurement[s] === measurement &&
        sameTags(this.serTags[s]!, tags)
      ) {
        this.serTags[s] = tags;
        return s;
      }
    }
    return this.createSeries(p, h);
  }

  private createSeries(p: Point, hash: number): number {
    const s = this.seriesSlots.alloc();
    this.ensureSeriesCapacity(s + 1);
    const tags = p.tags;
    this.serTags[s] = tags;
    this.serMeasurement[s] = p.measurement;
    this.serHash[s] = hash;
    this.serLast[s] = Number.NEGATIVE_INFINITY;
    this.seriesIndex.insert(hash, s);
    this.seriesList.append(s, 0);
    const r = this.resolved;
    this.resolver.resolve(tags as Record<string, string>, r);
    const owner = this.linkEntities(r);
    this.serOwner[s] = owner;
    if (owner >= 0) {
      this.serNextInEntity[s] = this.entSeriesHead[owner]!;
      this.entSeriesHead[owner] = s;
    } else this.serNextInEntity[s] = -1;
    const ws = this.watchSetFor(p.measurement, tags, owner);
    this.serWatch[s] = ws;
    this.serBlock[s] = ws.stride === 0 ? 0 : ws.arena.alloc();
    this.initBlock(ws, this.serBlock[s]! * ws.stride);
    return s;
  }

  private ensureSeriesCapacity(n: number): void {
    if (n <= this.serBlock.length) return;
    let size = this.serBlock.length;
    while (size < n) size *= 2;
    this.serBlock = growInt32(this.serBlock, size, 0);
    this.serLast = growFloat64(this.serLast, size);
    this.serHash = growInt32(this.serHash, size, 0);
    this.serOwner = growInt32(this.serOwner, size, -1);
    this.serNextInEntity = growInt32(this.serNextInEntity, size, -1);
    this.seriesList.ensure(size);
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
    index.set(id, e);
    this.entityList.append(e, this.stageBase[level]!);
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
    this.entityList.ensure(size);
  }

  /** The entity at `level` that a series' alerts are about, or -1. */
  private entityOfSeries(s: number, levelIdx: number): number {
    return this.relative(this.serOwner[s]!, levelIdx);
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
      if (!matchesTags(spec.rule.select.match, tags)) continue;
      key += i + ',';
      chosen.push(spec.rule);
    }
    if (chosen.length === 0) return this.emptySet;
    let ws = plan.sets.get(key);
    if (!ws) {
      ws = this.buildWatchSet(chosen);
      plan.sets.set(key, ws);
    }
    return ws;
  }

  private buildWatchSet(rules: Array<ThresholdRule | TrendRule | SeasonalRule>): WatchSet {
    const sources: ValueSource[] = [];
    const consumers: Consumer[] = [];
    let off = 0;
    const sourceOf = (field: string, fn: number, divideBy: string | undefined): number => {
      const key = `src|${field}|${fn}|${divideBy ?? ''}`;
      const found = sources.findIndex((x) => x.key === key);
      if (found >= 0) return found;
      const src: ValueSource = { key, field, fn, divideBy, off: fn === FN_VALUE ? -1 : off };
      if (fn !== FN_VALUE) off += 2;
      sources.push(src);
      return sources.length - 1;
    };
    const base = (
      rule: Rule | undefined,
      kind: number,
      source: number,
      len: number,
      key: string,
    ): Consumer => {
      const c: Consumer = {
        key,
        kind,
        source,
        off,
        len,
        rule: rule as Consumer['rule'],
        op: 0,
        threshold: 0,
        clearBound: 0,
        direction: 0,
        baseline: undefined,
      };
      off += len;
      return c;
    };
    const indicators = new Map<number, { direction: Direction; floor: number }>();
    for (const rule of rules) {
      const identity = this.ruleIdentity.get(rule.name)!;
      if (rule.kind === 'threshold') {
        const cond = rule.condition;
        const fn = cond.fn === 'rate' ? FN_RATE : cond.fn === 'deriv' ? FN_DERIV : FN_VALUE;
        const source = sourceOf(rule.select.field, fn, cond.divideBy);
        const c = base(rule, K_THRESHOLD, source, 1, 'thr|' + identity);
        c.op = OP_CODE[cond.op];
        c.threshold = cond.threshold;
        c.clearBound =
          c.op === OP_GT || c.op === OP_GE
            ? cond.threshold - cond.margin
            : c.op === OP_LT || c.op === OP_LE
              ? cond.threshold + cond.margin
              : cond.threshold;
        consumers.push(c);
        const dir: Direction = c.op <= OP_GE ? 1 : c.op <= OP_LE ? -1 : 0;
        const floor = 0.02 * Math.abs(cond.threshold);
        const prev = indicators.get(source);
        if (!prev) indicators.set(source, { direction: dir, floor });
        else {
          if (prev.direction !== dir) prev.direction = 0;
          if (floor > prev.floor) prev.floor = floor;
        }
      } else if (rule.kind === 'trend') {
        const source = sourceOf(rule.select.field, FN_VALUE, undefined);
        consumers.push(base(rule, K_TREND, source, 1 + trendStride(rule.trend), 'trend|' + identity));
      } else {
        const source = sourceOf(rule.select.field, FN_VALUE, undefined);
        consumers.push(base(rule, K_SEASONAL, source, 1 + seasonalStride(rule.seasonal), 'seas|' + identity));
      }
    }
    for (const [source, ind] of indicators) {
      const c = base(
        undefined,
        K_INDICATOR,
        source,
        BASELINE_STRIDE,
        `ind|${sources[source]!.key}|${ind.direction}|${ind.floor}`,
      );
      c.direction = ind.direction;
      c.baseline = {
        ...this.baselineConfig,
        absoluteFloor: Math.max(this.baselineConfig.absoluteFloor, ind.floor),
      };
      consumers.push(c);
    }
    if (sources.length > this.values.length) this.values = new Float64Array(sources.length * 2);
    return new WatchSet(this.version, sources, consumers, off);
  }

  private initBlock(ws: WatchSet, o: number): void {
    const d = ws.arena.data;
    for (const src of ws.sources) {
      if (src.off >= 0) {
        d[o + src.off] = Number.NaN;
        d[o + src.off + 1] = Number.NaN;
      }
    }
    for (const c of ws.consumers) {
      const co = o + c.off;
      switch (c.kind) {
        case K_THRESHOLD:
          d[co] = -1;
          break;
        case K_INDICATOR:
          initBaseline(d, co);
          break;
        case K_TREND:
          d[co] = -1;
          initTrend(d, co + 1, (c.rule as TrendRule).trend);
          break;
        case K_SEASONAL:
          d[co] = -1;
          initSeasonal(d, co + 1, (c.rule as SeasonalRule).seasonal);
          break;
      }
    }
  }

  /** After a rule reload: move a series to its new layout, keeping the state of unchanged parts. */
  private remap(s: number, old: WatchSet): WatchSet {
    const next = this.watchSetFor(this.serMeasurement[s]!, this.serTags[s]!, this.serOwner[s]!);
    const oldBlock = this.serBlock[s]!;
    const block = next.stride === 0 ? 0 : next.arena.alloc();
    const o = block * next.stride;
    this.initBlock(next, o);
    const od = old.arena.data;
    const oo = oldBlock * old.stride;
    const d = next.arena.data;
    for (const src of next.sources) {
      if (src.off < 0) continue;
      const prev = old.sources.find((x) => x.key === src.key);
      if (prev && prev.off >= 0) {
        d[o + src.off] = od[oo + prev.off]!;
        d[o + src.off + 1] = od[oo + prev.off + 1]!;
      }
    }
    for (const c of next.consumers) {
      const prev = old.consumers.find((x) => x.key === c.key);
      if (!prev) continue;
      for (let i = 0; i < c.len; i++) d[o + c.off + i] = od[oo + prev.off + i]!;
      if (c.kind !== K_INDICATOR) {
        const idx = d[o + c.off]!;
        if (idx >= 0) this.instances[idx]!.consumer = c;
      }
    }
    if (old.stride !== 0) old.arena.release(oldBlock);
    this.serWatch[s] = next;
    this.serBlock[s] = block;
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
    const ws = this.serWatch[s]!;
    ws.arena.data[this.serBlock[s]! * ws.stride + c.off] = inst.index;
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
    inst.activeSince = t;
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
    const level = rule.level;
    const entityId = inst.entity >= 0 ? this.entId[inst.entity]! : '';
    inst.labels = this.labelsFor(inst);
    inst.fingerprint = alertFingerprint(rule.name, level, entityId, inst.labels);
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
      const ws = this.serWatch[inst.series]!;
      const ptr = this.serBlock[inst.series]! * ws.stride + inst.consumer.off;
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
      this.advanceSeries(watermark);
      this.advanceTimed(watermark);
      this.advanceEntities(watermark);
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

  private advanceSeries(w: number): void {
    const list = this.seriesList;
    // Live -> stale: alerts of a silent series resolve.
    for (let s = list.head(0); s >= 0; s = list.head(0)) {
      const staleAt = this.serLast[s]! + this.staleAfterMs;
      if (staleAt > w) break;
      this.endInstancesOf(s, staleAt);
      list.moveToTail(s, 1);
    }
    // Stale -> forgotten.
    for (let s = list.head(1); s >= 0; s = list.head(1)) {
      if (this.serLast[s]! + this.seriesTtlMs > w) break;
      this.expireSeries(s);
    }
  }

  private endInstancesOf(s: number, at: number): void {
    const ws = this.serWatch[s]!;
    const d = ws.arena.data;
    const o = this.serBlock[s]! * ws.stride;
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
    this.endInstancesOf(s, this.serLast[s]! + this.staleAfterMs);
    this.seriesList.remove(s);
    this.seriesIndex.delete(this.serHash[s]!, s);
    const tags = this.serTags[s]!;
    if (this.byTags.get(tags) === s) this.byTags.delete(tags);
    const ws = this.serWatch[s]!;
    if (ws.stride !== 0) ws.arena.release(this.serBlock[s]!);
    const owner = this.serOwner[s]!;
    if (owner >= 0) {
      let prev = -1;
      for (let x = this.entSeriesHead[owner]!; x >= 0; x = this.serNextInEntity[x]!) {
        if (x === s) {
          if (prev < 0) this.entSeriesHead[owner] = this.serNextInEntity[s]!;
          else this.serNextInEntity[prev] = this.serNextInEntity[s]!;
          break;
        }
        prev = x;
      }
    }
    this.serTags[s] = undefined;
    this.serMeasurement[s] = undefined;
    this.serWatch[s] = undefined;
    this.serOwner[s] = -1;
    this.serLast[s] = Number.POSITIVE_INFINITY;
    this.seriesSlots.release(s);
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

  private advanceEntities(w: number): void {
    const list = this.entityList;
    for (let level = 0; level < 5; level++) {
      const base = this.stageBase[level]!;
      const absences = this.absenceByLevel[level]!;
      for (let i = 0; i < absences.length; i++) {
        const rule = absences[i]!;
        for (let e = list.head(base + i); e >= 0; e = list.head(base + i)) {
          const at = this.entLast[e]! + rule.afterMs;
          if (at > w) break;
          list.moveToTail(e, base + i + 1);
          this.entityAbsent(e, rule, at);
        }
      }
      const last = base + absences.length;
      const ttl = this.entityTtl[level]!;
      for (let e = list.head(last); e >= 0; e = list.head(last)) {
        const at = this.entLast[e]! + ttl;
        if (at > w) break;
        this.expireEntity(e, level, at);
      }
    }
  }

  private entityAbsent(e: number, rule: AbsenceRule, at: number): void {
    if (!(this.entLast[e]! > Number.NEGATIVE_INFINITY)) return; // created by a link, never seen
    if (rule.whileHostUp) {
      const host = this.entHost[e]!;
      if (host < 0 || !this.hostUpAt(host, at, rule.afterMs)) return;
    }
    const key = instanceKey(rule.name, e);
    if (this.absenceActive.has(key)) return;
    const inst = new AlertInstance(rule, -1, undefined, e, 0, true);
    this.register(inst);
    this.absenceActive.set(key, inst);
    inst.value = rule.afterMs / 1000;
    inst.lastT = at;
    this.fire(inst, at);
  }

  /** Data from an entity that had gone silent: its absence alerts resolve. */
  private entityReturned(e: number, level: number, t: number): void {
    for (const rule of this.absenceByLevel[level]!) {
      const inst = this.absenceActive.get(instanceKey(rule.name, e));
      if (inst) this.resolve(inst, t, 0);
    }
  }

  private expireEntity(e: number, level: number, at: number): void {
    this.entityReturned(e, level, at);
    for (const [key, inst] of this.groupActive) {
      if (inst.entity === e) {
        this.groupActive.delete(key);
        this.resolve(inst, at, 0);
      }
    }
    for (const counts of this.groupCounts.values()) counts.delete(e);
    this.entityList.remove(e);
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
    if (level !== L_CONTAINER && this.entChildren[e]! > 0) {
      for (const links of [this.entHost, this.entApp, this.entRack, this.entIdc]) {
        for (let x = 0; x < this.entitySlots.highWater; x++) if (links[x] === e) links[x] = -1;
      }
    }
    if (level === L_RACK || level === L_IDC) {
      for (let x = 0; x < this.entitySlots.highWater; x++) {
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
    for (let s = this.entSeriesHead[e]!; s >= 0; s = this.serNextInEntity[s]!) {
      if (s === excludeSeries) continue;
      const ws = this.serWatch[s]!;
      const offsets = ws.scoreOffsets;
      if (offsets.length === 0) continue;
      const d = ws.arena.data;
      const o = this.serBlock[s]! * ws.stride;
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
    if (aggregate !== undefined)
      h.children = { count: children!.length, aggregate: Math.round(aggregate * 10) / 10 };
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
    const oldAbsence = this.absenceByLevel.map((a) => a.map((r) => r.name).join(','));
    this.installRules(list);
    const at = Number.isFinite(this.wm) ? this.wm : this.maxTime;
    for (const inst of [...this.instances]) {
      if (!inst) continue;
      if (this.ruleIdentity.get(inst.rule.name) === before.get(inst.rule.name)) continue;
      if (inst.state === FIRING) this.resolve(inst, Math.max(at, inst.lastT), inst.value);
      else this.drop(inst);
    }
    for (const name of [...this.groupCounts.keys()])
      if (!this.ruleIdentity.has(name)) this.groupCounts.delete(name);
    const newAbsence = this.absenceByLevel.map((a) => a.map((r) => r.name).join(','));
    if (oldAbsence.join('|') !== newAbsence.join('|')) this.rebuildEntityStages();
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
    for (const list of this.absenceByLevel) list.sort((a, b) => a.afterMs - b.afterMs);
    this.minAbsenceMs = Math.min(
      ...this.absenceByLevel.flat().map((r) => r.afterMs),
      Number.POSITIVE_INFINITY,
    );
    this.emptySet = new WatchSet(this.version, [], [], 0);
    const stages = new Int32Array(5);
    let total = 0;
    for (let l = 0; l < 5; l++) {
      stages[l] = total;
      total += 1 + this.absenceByLevel[l]!.length;
    }
    if (this.entityList.stages !== total || this.stageBase.some((v, i) => v !== stages[i])) {
      this.stageBase = stages;
      this.entityList = new StagedList(total, Math.max(256, this.entLevel.length));
      this.rebuildEntityStages();
    }
  }

  /**
   * Re-files every entity after the absence rules changed: behind the last absence rule it is
   * firing (so that its return resolves it), otherwise in its level's live stage; oldest first.
   * The next advance re-checks the rest.
   */
  private rebuildEntityStages(): void {
    const all: number[] = [];
    for (let e = 0; e < this.entitySlots.highWater; e++) {
      if (this.entId[e] === undefined) continue;
      this.entityList.remove(e);
      all.push(e);
    }
    all.sort((a, b) => this.entLast[a]! - this.entLast[b]! || a - b);
    for (const e of all) {
      const level = this.entLevel[e]!;
      const absences = this.absenceByLevel[level]!;
      let stage = 0;
      for (let i = 0; i < absences.length; i++)
        if (this.absenceActive.has(instanceKey(absences[i]!.name, e))) stage = i + 1;
      this.entityList.append(e, this.stageBase[level]! + stage);
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
    for (let s = this.entSeriesHead[e]!; s >= 0; s = this.serNextInEntity[s]!) {
      const ws = this.serWatch[s]!;
      if (ws.scoreOffsets.length === 0) continue;
      const o = this.serBlock[s]! * ws.stride;
      let max = 0;
      for (const off of ws.scoreOffsets) max = Math.max(max, ws.arena.data[o + off]!);
      out.push({ measurement: this.serMeasurement[s]!, tags: this.serTags[s]!, score: round3(max) });
    }
    return out;
  }

  /** Tag keys that name topology levels (not used as series discriminators in docs/labels). */
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

function fnvString(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h;
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

export { SEASONAL_HEADER };
