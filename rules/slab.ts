/**
 * Flat storage for per-series and per-entity state: typed arrays indexed by slot numbers
 * instead of an object per series, so that a million series cost a few arrays, the garbage
 * collector has almost nothing to trace, and memory per series is a measured figure.
 */

/**
 * Fixed-size blocks of doubles with a free list. `data` (and `data32`, a float32 view of the same
 * memory for state kept at float precision) are replaced when the arena grows, by half its size
 * each time.
 */
export class Float64Arena {
  data: Float64Array;
  data32: Float32Array;
  private readonly free: number[] = [];
  private used = 0;
  private capacity: number;

  constructor(
    readonly stride: number,
    initialBlocks = 64,
  ) {
    this.capacity = initialBlocks;
    this.data = new Float64Array(Math.max(1, stride * initialBlocks));
    this.data32 = new Float32Array(this.data.buffer);
  }

  alloc(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.used === this.capacity) {
      this.capacity = Math.ceil(this.capacity * 1.5);
      const next = new Float64Array(Math.max(1, this.stride * this.capacity));
      next.set(this.data);
      this.data = next;
      this.data32 = new Float32Array(next.buffer);
    }
    return this.used++;
  }

  release(block: number): void {
    this.free.push(block);
  }

  get liveBlocks(): number {
    return this.used - this.free.length;
  }

  /** Bytes held, including free and not yet used blocks. */
  get bytes(): number {
    return this.data.byteLength;
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

  get bytes(): number {
    return this.table.byteLength;
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
