/**
 * Time buckets of entity slots for event-time expiry (a lazy timer wheel).
 *
 * An entity is filed once, under the bucket of its last-seen time. Refreshing an entity does
 * not touch the buckets; when its bucket comes due the owner checks the real last-seen time and
 * either expires the entity or files it again under its newer bucket. So each live entity costs
 * one entry and is looked at about once per TTL, and an expiry pass costs what it expires plus
 * those re-filings, never a scan of everything.
 */
export class ExpiryBuckets {
  readonly widthMs: number;
  private readonly lists = new Map<number, number[]>();
  /** Bucket numbers in ascending order (few: about ttl / width plus late arrivals). */
  private readonly order: number[] = [];
  private entryCount = 0;

  constructor(widthMs: number) {
    this.widthMs = widthMs;
  }

  bucketOf(at: number): number {
    return Math.floor(at / this.widthMs);
  }

  /** Start time of a bucket. */
  startOf(bucket: number): number {
    return bucket * this.widthMs;
  }

  get entries(): number {
    return this.entryCount;
  }

  get bucketCount(): number {
    return this.order.length;
  }

  add(bucket: number, slot: number): void {
    let list = this.lists.get(bucket);
    if (list === undefined) {
      list = [];
      this.lists.set(bucket, list);
      this.insertOrdered(bucket);
    }
    list.push(slot);
    this.entryCount++;
  }

  /** The earliest bucket, if any. */
  first(): number | undefined {
    return this.order[0];
  }

  /** Removes and returns the earliest bucket's entries. */
  takeFirst(): number[] {
    const bucket = this.order.shift();
    if (bucket === undefined) return [];
    const list = this.lists.get(bucket)!;
    this.lists.delete(bucket);
    this.entryCount -= list.length;
    return list;
  }

  /** Files entries again under a bucket (what an expiry pass found not yet due). */
  putBack(bucket: number, slots: number[]): void {
    if (slots.length === 0) return;
    const list = this.lists.get(bucket);
    if (list === undefined) {
      this.lists.set(bucket, slots);
      this.insertOrdered(bucket);
    } else {
      for (const slot of slots) list.push(slot);
    }
    this.entryCount += slots.length;
  }

  private insertOrdered(bucket: number): void {
    const order = this.order;
    // Event time mostly moves forward, so new buckets usually go last.
    if (order.length === 0 || order[order.length - 1]! < bucket) {
      order.push(bucket);
      return;
    }
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (order[mid]! < bucket) lo = mid + 1;
      else hi = mid;
    }
    order.splice(lo, 0, bucket);
  }
}

/**
 * Min-heap of slots by last-seen time, for the bucket at the expiry frontier: once a bucket is
 * partly due, its entries leave in time order, so passes that advance the watermark a little
 * pay for what they expire, not for the whole bucket again.
 */
export class SlotHeap {
  private readonly times: number[] = [];
  private readonly slots: number[] = [];

  get size(): number {
    return this.slots.length;
  }

  /** Time of the earliest entry (Infinity when empty). */
  peekTime(): number {
    return this.times.length > 0 ? this.times[0]! : Number.POSITIVE_INFINITY;
  }

  push(time: number, slot: number): void {
    const times = this.times;
    const slots = this.slots;
    let i = times.length;
    times.push(time);
    slots.push(slot);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent]! <= time) break;
      times[i] = times[parent]!;
      slots[i] = slots[parent]!;
      i = parent;
    }
    times[i] = time;
    slots[i] = slot;
  }

  /** Removes the earliest entry and returns its slot (-1 when empty). */
  pop(): number {
    const times = this.times;
    const slots = this.slots;
    if (slots.length === 0) return -1;
    const top = slots[0]!;
    const lastTime = times.pop()!;
    const lastSlot = slots.pop()!;
    const n = slots.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && times[child + 1]! < times[child]!) child++;
        if (times[child]! >= lastTime) break;
        times[i] = times[child]!;
        slots[i] = slots[child]!;
        i = child;
      }
      times[i] = lastTime;
      slots[i] = lastSlot;
    }
    return top;
  }
}
