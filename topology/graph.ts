import { DirectedGraph } from 'graphology';
import type {
  CapacityStats,
  ContainerPlace,
  EntityRef,
  Level,
  TopologyRecord,
  TopologyView,
} from '../core/types.js';
import { AttributeGroups, AttributeInterner, type AttributeSet, NO_ATTRIBUTES } from './attributes.js';
import { ExpiryBuckets, SlotHeap } from './expiry.js';
import { type ResolvedEntities, TagResolver } from './mapping.js';
import { topologyRecordProblem } from './records.js';

/*
 * Layout. Entities live in slots of typed arrays (one slot per entity, reused after removal):
 * a fleet is ~99% containers, and a graphology node plus two edges per container costs about
 * 1 KB and 14 s to build for 1M containers (bench/topology.ts measures it), against the 1.5 GiB
 * and 10 s budget. So the graphology graph holds the structural part of the topology (idc, rack,
 * host and app nodes, the hierarchy edges between them and the app -> app calls edges), where
 * graph algorithms and exports are useful, and the container leaves (host -> container and
 * app -> container edges) are intrusive linked lists over the slot arrays. `toGraphology()`
 * materialises the whole graph, containers included, when a consumer wants it.
 */

const IDC = 0;
const RACK = 1;
const HOST = 2;
const CONTAINER = 3;
const APP = 4;
const FREE = 255;
const LEVEL_NAMES: readonly Level[] = ['idc', 'rack', 'host', 'container', 'app'];
const LEVEL_CODES: Readonly<Record<Level, number>> = {
  idc: IDC,
  rack: RACK,
  host: HOST,
  container: CONTAINER,
  app: APP,
};
/** Declared by a CMDB record (not merely named as someone's parent, app or callee). */
const DECLARED = 1;

export interface TopologyGraphOptions {
  /** Entities unseen for this long (event time) expire, unless CMDB-declared. Default 15 min. */
  ttlMs?: number;
  /** Which tags name each level; levels not given keep the Telegraf defaults. */
  mapping?: Partial<Record<Level, readonly string[]>>;
  /**
   * Metric tags copied into entity attributes, per level (a plain list means host level), e.g.
   * `['kernel', 'os', 'model']`. CMDB attributes win over tag values for the same key.
   */
  attributeTags?: readonly string[] | Partial<Record<Level, readonly string[]>>;
  /** Slots to allocate up front (grows as needed). */
  initialCapacity?: number;
  /**
   * Most entities held (every level). At the cap, a new entity takes the place of the
   * metrics-only entity unseen the longest (oldest first, as expiry would take them); when none
   * can go (all CMDB-declared or holding children, members or callers), the point's topology
   * update or the record is refused. Both are counted (`capacityStats()`). Default 1,500,000
   * (the 1M-container fleet of bench/topology.ts is 1.03M entities; at the cap a flood of new
   * containers holds ~0.2 GiB, one of new hosts, graphology nodes, ~1.1 GiB).
   */
  maxEntities?: number;
}

export const DEFAULT_MAX_ENTITIES = 1_500_000;

export interface ToGraphologyOptions {
  /** Include container nodes with their host and app edges (costly for large fleets). Default true. */
  containers?: boolean;
}

/** Node attributes of the graphology graph. */
export interface TopologyNodeAttributes {
  level: Level;
  id: string;
}

/** Node attributes of a graph from `toGraphology()`. */
export interface ExportedNodeAttributes extends TopologyNodeAttributes {
  lastSeen: number;
  attributes: AttributeSet;
}

/** Edge attributes of a graph from `toGraphology()`. */
export interface TopologyEdgeAttributes {
  kind: 'parent' | 'member' | 'calls';
}

export interface TopologyStats {
  slots: number;
  capacity: number;
  freeSlots: number;
  graphNodes: number;
  graphEdges: number;
  expiryEntries: number;
  expiryBuckets: number;
  attributeSets: number;
  /** Entities expired so far. */
  expired: number;
  /** Expiry-index entries looked at so far (expired, re-filed or stale): the cost of expiry. */
  expiryVisited: number;
  /** Entities evicted at the cap, and points or records refused there (see maxEntities). */
  evicted: number;
  refused: number;
}

/**
 * The live topology: idc -> rack -> host -> container hierarchy, app -> container membership
 * and app -> app calls, fed by metric tags (`observe`) and CMDB records (`apply`), aged out in
 * event time (`expire`).
 *
 * Lifetimes: entities declared by a CMDB record never expire (only `deleted: true` removes
 * them). Entities known only from metrics, or named only as someone's parent/app/callee, expire
 * once unseen for `ttlMs` of event time, but not while they still have children, member
 * containers or callers: a host stays while any of its containers stays.
 */
export class TopologyGraph implements TopologyView {
  readonly ttlMs: number;
  readonly maxEntities: number;
  readonly resolver: TagResolver;
  /**
   * idc, rack, host and app nodes (keyed `level:id`), hierarchy edges among them, calls edges.
   * Read it, never write it: the slot arrays mirror it.
   */
  readonly graph: DirectedGraph<TopologyNodeAttributes>;

  private readonly slotsById: Map<string, number>[] = [new Map(), new Map(), new Map(), new Map(), new Map()];
  private readonly levelCounts = [0, 0, 0, 0, 0];
  private readonly idOf: (string | undefined)[] = [];
  private capacity = 0;
  private used = 0;
  private readonly freeSlots: number[] = [];

  private levelOf = new Uint8Array(0);
  private flags = new Uint8Array(0);
  private lastSeenAt = new Float64Array(0);
  /** Bucket the slot is filed under in `expiry`; NaN when not filed. */
  private expiryBucket = new Float64Array(0);
  private parentOf = new Int32Array(0);
  /** Hierarchy children of idc/rack/host; member containers of an app. */
  private firstChild = new Int32Array(0);
  private childN = new Int32Array(0);
  private nextSibling = new Int32Array(0);
  private prevSibling = new Int32Array(0);
  private appOfSlot = new Int32Array(0);
  private nextMember = new Int32Array(0);
  private prevMember = new Int32Array(0);
  private attrDeclared = new Int32Array(0);
  private attrObserved = new Int32Array(0);
  private attrEffective = new Int32Array(0);

  /** calls / callers lists by app slot, built on demand and dropped when any calls edge changes. */
  private callLists = new Map<number, readonly string[]>();
  private callerLists = new Map<number, readonly string[]>();

  private readonly interner = new AttributeInterner();
  private readonly groups = new AttributeGroups();
  private readonly expiry: ExpiryBuckets;
  /** Entries of the partly due bucket at the front, in last-seen order. */
  private readonly frontier = new SlotHeap();
  /** The bucket whose entries are in `frontier`; NaN while there is none. */
  private frontierBucket = Number.NaN;
  private expiredCount = 0;
  private expiryVisited = 0;
  private evictedCount = 0;
  private refusedCount = 0;
  /** Slots an eviction pass found pinned (named by the operation making room), filed again after. */
  private readonly setAside: number[] = [];

  private readonly resolved: ResolvedEntities = {
    idc: undefined,
    rack: undefined,
    host: undefined,
    container: undefined,
    app: undefined,
  };
  /** Most specific entity of the previous point (a freed slot fails the id check). */
  private lastBottom = -1;
  /** The fast path found the current point's most specific entity absent. */
  private bottomMissing = false;
  /** Slot per level code found for the current point. */
  private readonly namedSlots = new Int32Array(5);
  private readonly attributeTags: (readonly string[] | undefined)[];
  private readonly attributeLevels: number[];

  constructor(options: TopologyGraphOptions = {}) {
    this.ttlMs = options.ttlMs ?? 15 * 60_000;
    if (!(this.ttlMs > 0)) throw new RangeError(`ttlMs must be positive, got ${options.ttlMs}`);
    this.maxEntities = options.maxEntities ?? DEFAULT_MAX_ENTITIES;
    if (!(Number.isInteger(this.maxEntities) && this.maxEntities >= 5)) {
      throw new RangeError(`maxEntities must be an integer of at least 5, got ${options.maxEntities}`);
    }
    this.resolver = new TagResolver(options.mapping);
    this.graph = new DirectedGraph<TopologyNodeAttributes>({ allowSelfLoops: false });
    // ~64 buckets per TTL: an entity is looked at about once per TTL and expires at most one
    // bucket's width of passes after its exact due time is first reached.
    this.expiry = new ExpiryBuckets(Math.max(1, Math.ceil(this.ttlMs / 64)));
    const tags = options.attributeTags;
    this.attributeTags = LEVEL_NAMES.map((level) =>
      tags === undefined ? undefined : isList(tags) ? (level === 'host' ? tags : undefined) : tags[level],
    );
    this.attributeLevels = [];
    this.attributeTags.forEach((list, code) => {
      if (list !== undefined && list.length > 0) this.attributeLevels.push(code);
    });
    this.grow(Math.max(16, options.initialCapacity ?? 1024));
  }

  // -------------------------------------------------------------------------------------------
  // Feeding
  // -------------------------------------------------------------------------------------------

  /**
   * Records that a metric point with these tags was seen at event time `at`: creates or
   * refreshes the entities the tags name and links them. When nothing changed this is one map
   * lookup, a walk up the parent chain comparing ids, and last-seen updates. Returns false when
   * the tags name no host and no container (or `at` is not a finite time), or when the topology
   * is full and nothing can make room (counted as refused): nothing changes.
   */
  observe(tags: Record<string, string>, at: number): boolean {
    const r = this.resolved;
    if (!this.resolver.resolve(tags, r) || !Number.isFinite(at)) return false;
    if (!this.refreshKnown(r, at)) {
      if (this.size + 5 > this.maxEntities && !this.roomForPoint(r)) {
        this.refusedCount++;
        return false;
      }
      this.link(r, at);
    }
    if (this.attributeLevels.length > 0) this.observeAttributes(tags);
    return true;
  }

  /**
   * Applies one CMDB record at event time `at`. Returns undefined when applied, else the
   * problem (and nothing changed). A later parent or app replaces an earlier one; a record with
   * `attributes` replaces the CMDB attributes, one with `calls` replaces the calls list.
   */
  apply(record: TopologyRecord, at: number): string | undefined {
    const problem = topologyRecordProblem(record);
    if (problem !== undefined) return problem;
    if (!Number.isFinite(at)) return `event time must be a finite number of ms (got ${at})`;
    const code = LEVEL_CODES[record.level];
    if (record.deleted === true) {
      const slot = this.slotOf(code, record.id);
      if (slot >= 0) this.remove(slot);
      return undefined;
    }
    if (this.size + 3 + (record.calls?.length ?? 0) > this.maxEntities && !this.roomForRecord(record)) {
      this.refusedCount++;
      return `the topology is full (${this.maxEntities} entities, none of them evictable): record of ${record.level} ${record.id} refused`;
    }
    const slot = this.ensure(code, record.id, at, false);
    this.flags[slot]! |= DECLARED;
    if (record.parent !== undefined) {
      this.setParent(slot, this.ensure(LEVEL_CODES[record.parent.level], record.parent.id, at, true));
    }
    if (record.app !== undefined) this.setApp(slot, this.ensure(APP, record.app, at, true));
    if (record.attributes !== undefined) {
      this.attrDeclared[slot] = this.interner.intern(record.attributes);
      this.updateEffectiveAttributes(slot);
    }
    if (record.calls !== undefined) this.setCalls(slot, record.calls, at);
    return undefined;
  }

  /**
   * Removes the entities unseen since `watermark - ttlMs` (event time) and returns them,
   * children before parents. Cost: what expires plus entities whose filing came due.
   */
  expire(watermark: number): EntityRef[] {
    const expired: EntityRef[] = [];
    const limit = watermark - this.ttlMs;
    const expiry = this.expiry;
    const frontier = this.frontier;
    for (;;) {
      while (frontier.peekTime() <= limit) this.visitDue(frontier.pop(), limit, expired);
      if (frontier.size > 0) break; // the rest of the frontier bucket is not due yet
      this.frontierBucket = Number.NaN;
      const bucket = expiry.first();
      if (bucket === undefined || expiry.startOf(bucket) > limit) break;
      this.frontierBucket = bucket;
      for (const slot of expiry.takeFirst()) {
        if (this.lastSeenAt[slot]! <= limit) {
          this.visitDue(slot, limit, expired);
          continue;
        }
        this.expiryVisited++;
        if (this.levelOf[slot] !== FREE && this.expiryBucket[slot] === bucket) this.refile(slot);
      }
    }
    return expired;
  }

  // -------------------------------------------------------------------------------------------
  // TopologyView
  // -------------------------------------------------------------------------------------------

  has(ref: EntityRef): boolean {
    return this.slotOfRef(ref) >= 0;
  }

  parent(ref: EntityRef): EntityRef | undefined {
    const slot = this.slotOfRef(ref);
    if (slot < 0) return undefined;
    const parent = this.parentOf[slot]!;
    return parent >= 0 ? this.refOf(parent) : undefined;
  }

  children(ref: EntityRef): EntityRef[] {
    const slot = this.slotOfRef(ref);
    const out: EntityRef[] = [];
    if (slot < 0) return out;
    const next = this.levelOf[slot] === APP ? this.nextMember : this.nextSibling;
    for (let child = this.firstChild[slot]!; child >= 0; child = next[child]!) out.push(this.refOf(child));
    return out;
  }

  childCount(ref: EntityRef): number {
    const slot = this.slotOfRef(ref);
    return slot < 0 ? 0 : this.childN[slot]!;
  }

  appOf(container: string): string | undefined {
    const slot = this.slotOf(CONTAINER, container);
    if (slot < 0) return undefined;
    const app = this.appOfSlot[slot]!;
    return app >= 0 ? this.idOf[app] : undefined;
  }

  calls(app: string): string[] {
    const slot = this.slotOf(APP, app);
    if (slot < 0) return [];
    return this.graph.outNeighbors(this.keyOf(slot)).map(appIdOfKey);
  }

  callers(app: string): string[] {
    const slot = this.slotOf(APP, app);
    if (slot < 0) return [];
    return this.graph.inNeighbors(this.keyOf(slot)).map(appIdOfKey);
  }

  placeContainer(id: string, out: ContainerPlace): boolean {
    const slot = this.slotOf(CONTAINER, id);
    if (slot < 0) return false;
    const host = this.parentOf[slot]!;
    out.host = host >= 0 && this.levelOf[host] === HOST ? this.idOf[host] : undefined;
    const app = this.appOfSlot[slot]!;
    out.app = app >= 0 ? this.idOf[app] : undefined;
    return true;
  }

  callList(app: string): readonly string[] {
    const slot = this.slotOf(APP, app);
    if (slot < 0) return NO_IDS;
    let list = this.callLists.get(slot);
    if (list === undefined) {
      list = this.graph.outDegree(this.keyOf(slot)) === 0 ? NO_IDS : Object.freeze(this.calls(app));
      this.callLists.set(slot, list);
    }
    return list;
  }

  callerList(app: string): readonly string[] {
    const slot = this.slotOf(APP, app);
    if (slot < 0) return NO_IDS;
    let list = this.callerLists.get(slot);
    if (list === undefined) {
      list = this.graph.inDegree(this.keyOf(slot)) === 0 ? NO_IDS : Object.freeze(this.callers(app));
      this.callerLists.set(slot, list);
    }
    return list;
  }

  attributes(ref: EntityRef): Readonly<Record<string, string>> {
    const slot = this.slotOfRef(ref);
    return slot < 0 ? NO_ATTRIBUTES : this.interner.get(this.attrEffective[slot]!);
  }

  lastSeen(ref: EntityRef): number | undefined {
    const slot = this.slotOfRef(ref);
    return slot < 0 ? undefined : this.lastSeenAt[slot];
  }

  counts(): Record<Level, number> {
    const c = this.levelCounts;
    return { idc: c[IDC]!, rack: c[RACK]!, host: c[HOST]!, container: c[CONTAINER]!, app: c[APP]! };
  }

  // -------------------------------------------------------------------------------------------
  // Beyond the view: attribute groups, listing, export
  // -------------------------------------------------------------------------------------------

  /** Entities of a level whose attribute `key` is `value` (e.g. hosts with kernel 5.10). */
  membersWithAttribute(level: Level, key: string, value: string): EntityRef[] {
    const members = this.groups.members(level, key, value);
    const out: EntityRef[] = [];
    if (members !== undefined) for (const slot of members) out.push(this.refOf(slot));
    return out;
  }

  /** How many entities of a level carry each value of attribute `key`. */
  attributeValues(level: Level, key: string): Map<string, number> {
    return this.groups.values(level, key);
  }

  /** Attribute keys some entity of this level carries. */
  attributeKeys(level: Level): string[] {
    return this.groups.keys(level);
  }

  /** Whether a CMDB record declared this entity (declared entities do not expire). */
  isDeclared(ref: EntityRef): boolean {
    const slot = this.slotOfRef(ref);
    return slot >= 0 && (this.flags[slot]! & DECLARED) !== 0;
  }

  /** Ids of the entities of one level. */
  ids(level: Level): IterableIterator<string> {
    return this.slotsById[LEVEL_CODES[level]]!.keys();
  }

  /** The whole topology as a graphology graph (nodes `level:id`, edges with their kind). */
  toGraphology(
    options: ToGraphologyOptions = {},
  ): DirectedGraph<ExportedNodeAttributes, TopologyEdgeAttributes> {
    const withContainers = options.containers ?? true;
    const out = new DirectedGraph<ExportedNodeAttributes, TopologyEdgeAttributes>({ allowSelfLoops: false });
    for (let slot = 0; slot < this.used; slot++) {
      const code = this.levelOf[slot]!;
      if (code === FREE || (code === CONTAINER && !withContainers)) continue;
      out.addNode(this.keyOf(slot), {
        level: LEVEL_NAMES[code]!,
        id: this.idOf[slot]!,
        lastSeen: this.lastSeenAt[slot]!,
        attributes: this.interner.get(this.attrEffective[slot]!),
      });
    }
    for (let slot = 0; slot < this.used; slot++) {
      const code = this.levelOf[slot]!;
      if (code === FREE || (code === CONTAINER && !withContainers)) continue;
      const key = this.keyOf(slot);
      const parent = this.parentOf[slot]!;
      if (parent >= 0) out.addDirectedEdge(this.keyOf(parent), key, { kind: 'parent' });
      const app = this.appOfSlot[slot]!;
      if (app >= 0) out.addDirectedEdge(this.keyOf(app), key, { kind: 'member' });
    }
    this.graph.forEachEdge((_edge, _attributes, source, target, sourceAttributes) => {
      if (sourceAttributes.level === 'app') out.addDirectedEdge(source, target, { kind: 'calls' });
    });
    return out;
  }

  stats(): TopologyStats {
    return {
      slots: this.used - this.freeSlots.length,
      capacity: this.capacity,
      freeSlots: this.freeSlots.length,
      graphNodes: this.graph.order,
      graphEdges: this.graph.size,
      expiryEntries: this.expiry.entries + this.frontier.size,
      expiryBuckets: this.expiry.bucketCount,
      attributeSets: this.interner.size,
      expired: this.expiredCount,
      expiryVisited: this.expiryVisited,
      evicted: this.evictedCount,
      refused: this.refusedCount,
    };
  }

  /** Entities held against maxEntities, and what the cap evicted and refused so far. */
  capacityStats(): CapacityStats {
    return {
      held: this.size,
      limit: this.maxEntities,
      evicted: this.evictedCount,
      refused: this.refusedCount,
    };
  }

  /** Entities held now (every level). */
  get size(): number {
    return this.used - this.freeSlots.length;
  }

  // -------------------------------------------------------------------------------------------
  // Observe internals
  // -------------------------------------------------------------------------------------------

  /**
   * The fast path: the most specific named entity exists and every named ancestor already sits
   * on its parent chain (and its app matches). Then only last-seen times change.
   */
  private refreshKnown(r: ResolvedEntities, at: number): boolean {
    const bottomCode = r.container !== undefined ? CONTAINER : HOST;
    const bottomId = (bottomCode === CONTAINER ? r.container : r.host)!;
    const named = this.namedSlots;
    named.fill(-1);
    this.bottomMissing = false;
    // Agents write a series' measurements back to back (cpu, mem, system of one host), so the
    // previous point's entity is worth one string compare before hashing a fresh tag string.
    let bottom = this.lastBottom;
    if (bottom < 0 || this.levelOf[bottom] !== bottomCode || this.idOf[bottom] !== bottomId) {
      const found = this.slotsById[bottomCode]!.get(bottomId);
      if (found === undefined) {
        this.bottomMissing = true;
        return false;
      }
      bottom = found;
      this.lastBottom = found;
    }
    named[bottomCode] = bottom;
    if (!this.ancestorsMatch(bottom, bottomCode, r)) return false;
    if (r.app !== undefined) {
      let app: number;
      if (bottomCode === CONTAINER) {
        app = this.appOfSlot[bottom]!;
        if (app < 0 || this.idOf[app] !== r.app) return false;
      } else {
        // An app tag on a host point names the app but joins nothing to it.
        app = this.slotsById[APP]!.get(r.app) ?? -1;
        if (app < 0) return false;
      }
      named[APP] = app;
      if (at > this.lastSeenAt[app]!) this.lastSeenAt[app] = at;
    }
    this.touchChain(bottom, at);
    return true;
  }

  /**
   * Whether every level the point names above `slot` (at level `code`) is on its parent chain,
   * in order; records the slots found in `namedSlots`.
   */
  private ancestorsMatch(slot: number, code: number, r: ResolvedEntities): boolean {
    const named = this.namedSlots;
    let s = slot;
    for (let level = code - 1; level >= IDC; level--) {
      const id = level === HOST ? r.host : level === RACK ? r.rack : r.idc;
      if (id === undefined) continue;
      s = this.parentOf[s]!;
      while (s >= 0 && this.levelOf[s]! > level) s = this.parentOf[s]!;
      if (s < 0 || this.levelOf[s] !== level || this.idOf[s] !== id) return false;
      named[level] = s;
    }
    return true;
  }

  /** The slow path: creates what is missing and re-links what moved. */
  private link(r: ResolvedEntities, at: number): void {
    const named = this.namedSlots;
    const newContainer = this.bottomMissing && r.container !== undefined;
    named.fill(-1);
    let above = -1;
    // A new container on a known, unmoved host (the common slow case: a container starts)
    // needs no lookups of the host's rack and idc.
    if (newContainer && r.host !== undefined) {
      const host = this.slotsById[HOST]!.get(r.host);
      if (host !== undefined && this.ancestorsMatch(host, HOST, r)) {
        named[HOST] = host;
        above = host;
      } else {
        named.fill(-1);
      }
    }
    if (above < 0) {
      for (let code = IDC; code <= HOST; code++) {
        const id = code === IDC ? r.idc : code === RACK ? r.rack : r.host;
        if (id === undefined) continue;
        const slot = this.ensure(code, id, at, true);
        named[code] = slot;
        if (above >= 0 && !this.hasAncestor(slot, above)) this.setParent(slot, above);
        above = slot;
      }
    }
    if (r.container !== undefined) {
      const container = newContainer
        ? this.create(CONTAINER, r.container, at, true)
        : this.ensure(CONTAINER, r.container, at, true);
      named[CONTAINER] = container;
      if (above >= 0 && !this.hasAncestor(container, above)) this.setParent(container, above);
      above = container;
    }
    if (r.app !== undefined) {
      const app = this.ensure(APP, r.app, at, true);
      named[APP] = app;
      if (named[CONTAINER]! >= 0) this.setApp(named[CONTAINER]!, app);
    }
    this.touchChain(above, at);
  }

  private touchChain(slot: number, at: number): void {
    const lastSeen = this.lastSeenAt;
    for (let s = slot; s >= 0; s = this.parentOf[s]!) if (at > lastSeen[s]!) lastSeen[s] = at;
  }

  private hasAncestor(slot: number, ancestor: number): boolean {
    for (let s = this.parentOf[slot]!; s >= 0; s = this.parentOf[s]!) if (s === ancestor) return true;
    return false;
  }

  private observeAttributes(tags: Record<string, string>): void {
    for (const code of this.attributeLevels) {
      const slot = this.namedSlots[code]!;
      if (slot < 0) continue;
      const keys = this.attributeTags[code]!;
      const before = this.attrObserved[slot]!;
      let set = before;
      let current = this.interner.get(set);
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        const value = tags[key];
        if (value === undefined || value === '' || current[key] === value) continue;
        set = this.interner.with(set, key, value);
        current = this.interner.get(set);
      }
      if (set !== before) {
        this.attrObserved[slot] = set;
        this.updateEffectiveAttributes(slot);
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Structure
  // -------------------------------------------------------------------------------------------

  private slotOf(code: number, id: string): number {
    return this.slotsById[code]!.get(id) ?? -1;
  }

  private slotOfRef(ref: EntityRef): number {
    const code = LEVEL_CODES[ref.level];
    return code === undefined ? -1 : this.slotOf(code, ref.id);
  }

  private refOf(slot: number): EntityRef {
    return { level: LEVEL_NAMES[this.levelOf[slot]!]!, id: this.idOf[slot]! };
  }

  private keyOf(slot: number): string {
    return LEVEL_NAMES[this.levelOf[slot]!]! + ':' + this.idOf[slot]!;
  }

  /** The entity's slot, created if missing; refreshes its last-seen time. */
  private ensure(code: number, id: string, at: number, fileForExpiry: boolean): number {
    const existing = this.slotsById[code]!.get(id);
    if (existing !== undefined) {
      if (at > this.lastSeenAt[existing]!) this.lastSeenAt[existing] = at;
      return existing;
    }
    return this.create(code, id, at, fileForExpiry);
  }

  /** A new entity (the caller knows it is absent). */
  private create(code: number, id: string, at: number, fileForExpiry: boolean): number {
    const slot = this.allocate();
    const owned = ownString(id);
    this.levelOf[slot] = code;
    this.idOf[slot] = owned;
    this.lastSeenAt[slot] = at;
    this.slotsById[code]!.set(owned, slot);
    this.levelCounts[code]!++;
    if (code !== CONTAINER) {
      this.graph.addNode(LEVEL_NAMES[code]! + ':' + owned, { level: LEVEL_NAMES[code]!, id: owned });
    }
    if (fileForExpiry) this.fileForExpiry(slot);
    return slot;
  }

  private setParent(child: number, parent: number): void {
    const old = this.parentOf[child]!;
    if (old === parent) return;
    if (old >= 0) this.unlinkChild(child, old);
    this.parentOf[child] = parent;
    const head = this.firstChild[parent]!;
    this.nextSibling[child] = head;
    this.prevSibling[child] = -1;
    if (head >= 0) this.prevSibling[head] = child;
    this.firstChild[parent] = child;
    this.childN[parent]!++;
    if (this.levelOf[child] !== CONTAINER) this.graph.addDirectedEdge(this.keyOf(parent), this.keyOf(child));
  }

  private unlinkChild(child: number, parent: number): void {
    const prev = this.prevSibling[child]!;
    const next = this.nextSibling[child]!;
    if (prev >= 0) this.nextSibling[prev] = next;
    else this.firstChild[parent] = next;
    if (next >= 0) this.prevSibling[next] = prev;
    this.nextSibling[child] = -1;
    this.prevSibling[child] = -1;
    this.parentOf[child] = -1;
    this.childN[parent]!--;
    if (this.levelOf[child] !== CONTAINER) this.graph.dropDirectedEdge(this.keyOf(parent), this.keyOf(child));
    this.release(parent);
  }

  private setApp(container: number, app: number): void {
    const old = this.appOfSlot[container]!;
    if (old === app) return;
    if (old >= 0) this.unlinkMember(container, old);
    this.appOfSlot[container] = app;
    const head = this.firstChild[app]!;
    this.nextMember[container] = head;
    this.prevMember[container] = -1;
    if (head >= 0) this.prevMember[head] = container;
    this.firstChild[app] = container;
    this.childN[app]!++;
  }

  private unlinkMember(container: number, app: number): void {
    const prev = this.prevMember[container]!;
    const next = this.nextMember[container]!;
    if (prev >= 0) this.nextMember[prev] = next;
    else this.firstChild[app] = next;
    if (next >= 0) this.prevMember[next] = prev;
    this.nextMember[container] = -1;
    this.prevMember[container] = -1;
    this.appOfSlot[container] = -1;
    this.childN[app]!--;
    this.release(app);
  }

  private setCalls(app: number, calls: readonly string[], at: number): void {
    const key = this.keyOf(app);
    const wanted = new Set<string>();
    for (const callee of calls) {
      if (callee === this.idOf[app]) continue;
      const target = this.ensure(APP, callee, at, true);
      const targetKey = this.keyOf(target);
      wanted.add(targetKey);
      if (!this.graph.hasDirectedEdge(key, targetKey)) {
        this.graph.addDirectedEdge(key, targetKey);
        this.callsChanged();
      }
    }
    for (const targetKey of this.graph.outNeighbors(key)) {
      if (wanted.has(targetKey)) continue;
      this.graph.dropDirectedEdge(key, targetKey);
      this.callsChanged();
      this.release(this.slotOf(APP, appIdOfKey(targetKey)));
    }
  }

  private callsChanged(): void {
    if (this.callLists.size > 0) this.callLists = new Map();
    if (this.callerLists.size > 0) this.callerLists = new Map();
  }

  private remove(slot: number): void {
    const code = this.levelOf[slot]!;
    const parent = this.parentOf[slot]!;
    if (parent >= 0) this.unlinkChild(slot, parent);
    if (code === APP) {
      for (let m = this.firstChild[slot]!; m >= 0; ) {
        const next = this.nextMember[m]!;
        this.nextMember[m] = -1;
        this.prevMember[m] = -1;
        this.appOfSlot[m] = -1;
        m = next;
      }
    } else {
      // Children outlive a removed parent, detached, until metrics or records place them again.
      for (let c = this.firstChild[slot]!; c >= 0; ) {
        const next = this.nextSibling[c]!;
        this.nextSibling[c] = -1;
        this.prevSibling[c] = -1;
        this.parentOf[c] = -1;
        c = next;
      }
    }
    this.firstChild[slot] = -1;
    this.childN[slot] = 0;
    if (code === CONTAINER) {
      const app = this.appOfSlot[slot]!;
      if (app >= 0) this.unlinkMember(slot, app);
    } else {
      const key = this.keyOf(slot);
      const callees = code === APP ? this.graph.outNeighbors(key) : [];
      if (code === APP) this.callsChanged();
      this.graph.dropNode(key);
      for (const callee of callees) this.release(this.slotOf(APP, appIdOfKey(callee)));
    }
    const effective = this.attrEffective[slot]!;
    if (effective !== 0)
      this.groups.change(LEVEL_NAMES[code]!, slot, this.interner.get(effective), NO_ATTRIBUTES);
    this.slotsById[code]!.delete(this.idOf[slot]!);
    this.levelCounts[code]!--;
    this.idOf[slot] = undefined;
    this.levelOf[slot] = FREE;
    this.flags[slot] = 0;
    this.attrDeclared[slot] = 0;
    this.attrObserved[slot] = 0;
    this.attrEffective[slot] = 0;
    this.freeSlots.push(slot);
  }

  private updateEffectiveAttributes(slot: number): void {
    const next = this.interner.merge(this.attrObserved[slot]!, this.attrDeclared[slot]!);
    const before = this.attrEffective[slot]!;
    if (next === before) return;
    this.attrEffective[slot] = next;
    this.groups.change(
      LEVEL_NAMES[this.levelOf[slot]!]!,
      slot,
      this.interner.get(before),
      this.interner.get(next),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Expiry internals
  // -------------------------------------------------------------------------------------------

  /** A slot whose filed time is due: expire it, or file it again if it was seen since or is held. */
  private visitDue(slot: number, limit: number, expired: EntityRef[]): void {
    this.expiryVisited++;
    if (this.levelOf[slot] === FREE || this.expiryBucket[slot] !== this.frontierBucket) return;
    if (this.lastSeenAt[slot]! > limit) {
      this.refile(slot);
    } else if ((this.flags[slot]! & DECLARED) !== 0 || this.isHeld(slot)) {
      // Held ones are filed again when their last child, member or caller goes (release()).
      this.expiryBucket[slot] = Number.NaN;
    } else {
      expired.push(this.refOf(slot));
      this.remove(slot);
      this.expiredCount++;
    }
  }

  /** Files a slot under the bucket of its current last-seen time (declared ones leave the index). */
  private refile(slot: number): void {
    if ((this.flags[slot]! & DECLARED) !== 0) {
      this.expiryBucket[slot] = Number.NaN;
      return;
    }
    this.fileForExpiry(slot);
  }

  /** Children, member containers and callers keep an entity alive. */
  private isHeld(slot: number): boolean {
    if (this.childN[slot]! > 0) return true;
    return this.levelOf[slot] === APP && this.graph.inDegree(this.keyOf(slot)) > 0;
  }

  /** An entity lost a child, member or caller: file it for expiry if nothing else holds it. */
  private release(slot: number): void {
    if (slot < 0 || this.levelOf[slot] === FREE) return;
    if ((this.flags[slot]! & DECLARED) !== 0 || !Number.isNaN(this.expiryBucket[slot]!)) return;
    if (this.isHeld(slot)) return;
    this.fileForExpiry(slot);
  }

  private fileForExpiry(slot: number): void {
    const lastSeen = this.lastSeenAt[slot]!;
    const bucket = this.expiry.bucketOf(lastSeen);
    if (bucket <= this.frontierBucket) {
      // That bucket was already taken out for the frontier (NaN compares false: no frontier).
      this.expiryBucket[slot] = this.frontierBucket;
      this.frontier.push(lastSeen, slot);
      return;
    }
    this.expiryBucket[slot] = bucket;
    this.expiry.add(bucket, slot);
  }

  // -------------------------------------------------------------------------------------------
  // The entity cap
  // -------------------------------------------------------------------------------------------

  /** Room for what a point names and the topology lacks; the entities it names are not evicted. */
  private roomForPoint(r: ResolvedEntities): boolean {
    let missing = 0;
    const named = this.namedSlots;
    for (let code = IDC; code <= APP; code++) {
      const id =
        code === IDC
          ? r.idc
          : code === RACK
            ? r.rack
            : code === HOST
              ? r.host
              : code === CONTAINER
                ? r.container
                : r.app;
      const slot = id === undefined ? -1 : (this.slotsById[code]!.get(id) ?? -1);
      named[code] = slot;
      if (id !== undefined && slot < 0) missing++;
    }
    return this.makeRoom(missing, (slot) => named.includes(slot));
  }

  /** Room for what a record names and the topology lacks (itself, parent, app, callees). */
  private roomForRecord(record: TopologyRecord): boolean {
    const pinned = new Set<number>();
    let missing = 0;
    const need = (code: number, id: string) => {
      const slot = this.slotOf(code, id);
      if (slot >= 0) pinned.add(slot);
      else missing++;
    };
    need(LEVEL_CODES[record.level], record.id);
    if (record.parent !== undefined) need(LEVEL_CODES[record.parent.level], record.parent.id);
    if (record.app !== undefined) need(APP, record.app);
    for (const callee of record.calls ?? []) need(APP, callee);
    return this.makeRoom(missing, (slot) => pinned.has(slot));
  }

  /**
   * Evicts metrics-only entities, unseen the longest first, until `wanted` more fit under the
   * cap; false when not enough can go (nothing changes beyond what was evicted).
   */
  private makeRoom(wanted: number, pinned: (slot: number) => boolean): boolean {
    let ok = true;
    while (this.size + wanted > this.maxEntities) {
      if (!this.evictOldest(pinned)) {
        ok = false;
        break;
      }
    }
    for (const slot of this.setAside) this.fileForExpiry(slot);
    this.setAside.length = 0;
    return ok;
  }

  /**
   * Removes the evictable entity filed earliest in the expiry index (the index holds every
   * entity that may expire, by last-seen time): the same walk as `expire`, with no time limit,
   * stopping at the first entity that can go.
   */
  private evictOldest(pinned: (slot: number) => boolean): boolean {
    const frontier = this.frontier;
    for (;;) {
      while (frontier.size > 0) {
        const filedAt = frontier.peekTime();
        const slot = frontier.pop();
        this.expiryVisited++;
        if (this.levelOf[slot] === FREE || this.expiryBucket[slot] !== this.frontierBucket) continue;
        if (this.lastSeenAt[slot]! > filedAt) {
          this.refile(slot); // seen since it was filed: its turn comes later
        } else if ((this.flags[slot]! & DECLARED) !== 0 || this.isHeld(slot)) {
          this.expiryBucket[slot] = Number.NaN; // filed again when released
        } else if (pinned(slot)) {
          this.setAside.push(slot);
        } else {
          this.remove(slot);
          this.evictedCount++;
          return true;
        }
      }
      const bucket = this.expiry.first();
      if (bucket === undefined) return false;
      this.frontierBucket = bucket;
      for (const slot of this.expiry.takeFirst()) {
        this.expiryVisited++;
        if (this.levelOf[slot] !== FREE && this.expiryBucket[slot] === bucket) this.fileForExpiry(slot);
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Slots
  // -------------------------------------------------------------------------------------------

  private allocate(): number {
    const reused = this.freeSlots.pop();
    const slot = reused ?? this.used++;
    if (slot >= this.capacity) this.grow(Math.ceil(this.capacity * 1.5));
    this.flags[slot] = 0;
    this.expiryBucket[slot] = Number.NaN;
    this.parentOf[slot] = -1;
    this.firstChild[slot] = -1;
    this.childN[slot] = 0;
    this.nextSibling[slot] = -1;
    this.prevSibling[slot] = -1;
    this.appOfSlot[slot] = -1;
    this.nextMember[slot] = -1;
    this.prevMember[slot] = -1;
    this.attrDeclared[slot] = 0;
    this.attrObserved[slot] = 0;
    this.attrEffective[slot] = 0;
    return slot;
  }

  private grow(capacity: number): void {
    this.levelOf = growU8(this.levelOf, capacity);
    this.flags = growU8(this.flags, capacity);
    this.lastSeenAt = growF64(this.lastSeenAt, capacity);
    this.expiryBucket = growF64(this.expiryBucket, capacity);
    this.parentOf = growI32(this.parentOf, capacity);
    this.firstChild = growI32(this.firstChild, capacity);
    this.childN = growI32(this.childN, capacity);
    this.nextSibling = growI32(this.nextSibling, capacity);
    this.prevSibling = growI32(this.prevSibling, capacity);
    this.appOfSlot = growI32(this.appOfSlot, capacity);
    this.nextMember = growI32(this.nextMember, capacity);
    this.prevMember = growI32(this.prevMember, capacity);
    this.attrDeclared = growI32(this.attrDeclared, capacity);
    this.attrObserved = growI32(this.attrObserved, capacity);
    this.attrEffective = growI32(this.attrEffective, capacity);
    this.capacity = capacity;
  }
}

/**
 * A copy of `s` that shares no memory with the string it was cut from. Tag values decoded from
 * a Kafka message can be V8 sliced strings that keep the whole message alive; entity ids live
 * as long as the entity, so they get their own storage. A JSON round trip yields one flat
 * string (32 bytes for a 14-character id; `(' ' + s).slice(1)` would keep a slice plus its
 * parent, 64 bytes) and costs ~0.2 us, paid once per new entity.
 */
function ownString(s: string): string {
  return JSON.parse(JSON.stringify(s)) as string;
}

function isList(x: readonly string[] | Partial<Record<Level, readonly string[]>>): x is readonly string[] {
  return Array.isArray(x);
}

const NO_IDS: readonly string[] = Object.freeze([]);

function appIdOfKey(key: string): string {
  return key.slice(4); // 'app:'.length
}

function growU8(a: Uint8Array<ArrayBuffer>, capacity: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(capacity);
  b.set(a);
  return b;
}

function growI32(a: Int32Array<ArrayBuffer>, capacity: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(capacity);
  b.set(a);
  return b;
}

function growF64(a: Float64Array<ArrayBuffer>, capacity: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(capacity);
  b.set(a);
  return b;
}
