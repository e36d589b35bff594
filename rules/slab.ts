/**
 * Flat storage for per-series and per-entity state: typed arrays indexed by slot numbers
 * instead of an object per series, so that a million series cost a few arrays, the garbage
 * collector has almost nothing to trace, and memory per series is a measured figure.
 */

/** Fixed-size blocks of doubles with a free list. `data` is replaced when the arena grows. */
export class Float64Arena {
  data: Float64Array;
  private readonly free: number[] = [];
  private used = 0;
  private capacity: number;

  constructor(
    readonly stride: number,
    initialBlocks = 64,
  ) {
    this.capacity = initialBlocks;
    this.data = new Float64Array(Math.max(1, stride * initialBlocks));
  }

  alloc(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.used === this.capacity) {
      this.capacity *= 2;
      const next = new Float64Array(Math.max(1, this.stride * this.capacity));
      next.set(this.data);
      this.data = next;
    }
    return this.used++;
  }

  release(block: number): void {
    this.free.push(block);
  }

  get liveBlocks(): number {
    return this.used - this.free.length;
  }
}

/**
 * Doubly linked lists of slots, one list per stage, each kept in order of last activity
 * (touching a slot moves it to the tail of stage 0). Walking a stage from its head visits the
 * longest-silent slots first, so absence and expiry checks cost only what actually changes.
 */
export class StagedList {
  private prev: Int32Array;
  private next: Int32Array;
  /** 255: in no list. */
  stage: Uint8Array;
  private readonly heads: Int32Array;
  private readonly tails: Int32Array;

  constructor(
    readonly stages: number,
    capacity = 1024,
  ) {
    this.prev = new Int32Array(capacity);
    this.next = new Int32Array(capacity);
    this.stage = new Uint8Array(capacity).fill(255);
    this.heads = new Int32Array(stages).fill(-1);
    this.tails = new Int32Array(stages).fill(-1);
  }

  ensure(capacity: number): void {
    if (capacity <= this.prev.length) return;
    let size = this.prev.length;
    while (size < capacity) size *= 2;
    const prev = new Int32Array(size);
    prev.set(this.prev);
    const next = new Int32Array(size);
    next.set(this.next);
    const stage = new Uint8Array(size).fill(255);
    stage.set(this.stage);
    this.prev = prev;
    this.next = next;
    this.stage = stage;
  }

  head(stage: number): number {
    return this.heads[stage]!;
  }

  nextOf(slot: number): number {
    return this.next[slot]!;
  }

  append(slot: number, stage: number): void {
    const tail = this.tails[stage]!;
    this.prev[slot] = tail;
    this.next[slot] = -1;
    if (tail >= 0) this.next[tail] = slot;
    else this.heads[stage] = slot;
    this.tails[stage] = slot;
    this.stage[slot] = stage;
  }

  remove(slot: number): void {
    const stage = this.stage[slot]!;
    if (stage === 255) return;
    const p = this.prev[slot]!;
    const n = this.next[slot]!;
    if (p >= 0) this.next[p] = n;
    else this.heads[stage] = n;
    if (n >= 0) this.prev[n] = p;
    else this.tails[stage] = p;
    this.stage[slot] = 255;
  }

  /** Move to the tail of `stage` (the common case, already the tail of stage 0, is free). */
  moveToTail(slot: number, stage: number): void {
    if (this.stage[slot] === stage && this.tails[stage] === slot) return;
    this.remove(slot);
    this.append(slot, stage);
  }
}

/**
 * Open-addressing index from a 32-bit hash to slots; the caller confirms candidates (hashes
 * collide). Linear probing, deletion by backward shift, load factor <= 1/2.
 */
export class SlotIndex {
  private table: Int32Array;
  private mask: number;
  private count = 0;

  constructor(
    private readonly hashOf: (slot: number) => number,
    capacity = 1024,
  ) {
    let size = 16;
    while (size < capacity * 2) size *= 2;
    this.table = new Int32Array(size).fill(-1);
    this.mask = size - 1;
  }

  get size(): number {
    return this.count;
  }

  /**
   * Probing, inline in the caller (no closure per lookup):
   * `for (let i = index.start(h); ; i = index.step(i)) { const s = index.at(i); if (s < 0) break; ... }`
   */
  start(hash: number): number {
    return hash & this.mask;
  }

  step(i: number): number {
    return (i + 1) & this.mask;
  }

  at(i: number): number {
    return this.table[i]!;
  }

  insert(hash: number, slot: number): void {
    if ((this.count + 1) * 2 > this.table.length) this.resize();
    const mask = this.mask;
    let i = hash & mask;
    while (this.table[i]! >= 0) i = (i + 1) & mask;
    this.table[i] = slot;
    this.count++;
  }

  delete(hash: number, slot: number): void {
    const table = this.table;
    const mask = this.mask;
    let i = hash & mask;
    for (;;) {
      const s = table[i]!;
      if (s < 0) return;
      if (s === slot) break;
      i = (i + 1) & mask;
    }
    // Backward shift: pull later entries of the probe run into the hole.
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const s = table[j]!;
      if (s < 0) break;
      const home = this.hashOf(s) & mask;
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        table[hole] = s;
        hole = j;
      }
    }
    table[hole] = -1;
    this.count--;
  }

  private resize(): void {
    const old = this.table;
    this.table = new Int32Array(old.length * 2).fill(-1);
    this.mask = this.table.length - 1;
    this.count = 0;
    for (let i = 0; i < old.length; i++) {
      const s = old[i]!;
      if (s >= 0) this.insert(this.hashOf(s), s);
    }
  }
}

/** Slot numbers with reuse; `capacity` grows by doubling so parallel arrays can follow. */
export class SlotAllocator {
  private readonly free: number[] = [];
  private next = 0;

  alloc(): number {
    return this.free.pop() ?? this.next++;
  }

  release(slot: number): void {
    this.free.push(slot);
  }

  /** Highest slot ever handed out + 1. */
  get highWater(): number {
    return this.next;
  }

  get live(): number {
    return this.next - this.free.length;
  }
}
