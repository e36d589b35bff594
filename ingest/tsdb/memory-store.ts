import type { FieldValue, Point } from '../../core/types.js';
import type { PointSink } from '../sink.js';

/**
 * The embedded stand-in for the TSDB: keeps the most recent points of every series in memory,
 * bounded twice (a fixed ring per series field, a cap on the number of series with the least
 * recently written evicted first), so a long-running demo never grows without bound.
 * Writes are durable as soon as they are stored, so `write` resolves at once.
 */
export interface MemorySeriesStoreOptions {
  /** Points kept per series field (the ring size). Default 720 (12 minutes of 1 s data). */
  pointsPerSeries?: number;
  /** Series kept; the least recently written is evicted beyond this. Default 100,000. */
  maxSeries?: number;
}

export interface SeriesSample {
  /** Event time, ms since the epoch. */
  time: number;
  value: FieldValue;
}

export interface SeriesQueryResult {
  measurement: string;
  tags: Readonly<Record<string, string>>;
  field: string;
  /** Ascending by time, one sample per timestamp (the last one written wins). */
  samples: SeriesSample[];
}

export interface MemorySeriesStoreStats {
  series: number;
  /** Points accepted since start (a point is one measurement + tag set at one instant). */
  points: number;
  /** Series evicted because `maxSeries` was reached. */
  evictedSeries: number;
}

/** Ring of (time, value) for one field of one series. Numbers stay unboxed in a Float64Array. */
class FieldRing {
  readonly times: Float64Array;
  numbers: Float64Array | undefined;
  values: FieldValue[] | undefined;
  /** Index of the next write; `size` counts the filled slots. */
  head = 0;
  size = 0;
  /** False once a point arrived older than the newest one (replays, late data). */
  ordered = true;

  constructor(capacity: number) {
    this.times = new Float64Array(capacity);
    this.numbers = new Float64Array(capacity);
  }

  push(time: number, value: FieldValue): void {
    const cap = this.times.length;
    const newest = this.size > 0 ? this.times[(this.head - 1 + cap) % cap]! : Number.NEGATIVE_INFINITY;
    // At-least-once delivery replays whole batches: the same sample again replaces itself.
    const slot = time === newest ? (this.head - 1 + cap) % cap : this.head;
    if (time < newest) this.ordered = false;
    this.times[slot] = time;
    if (this.numbers !== undefined && typeof value === 'number') {
      this.numbers[slot] = value;
    } else {
      if (this.values === undefined) this.values = this.toGeneric();
      this.values[slot] = value;
    }
    if (slot === this.head) {
      this.head = (this.head + 1) % cap;
      if (this.size < cap) this.size++;
    }
  }

  private toGeneric(): FieldValue[] {
    const nums = this.numbers!;
    const out = new Array<FieldValue>(nums.length);
    for (let i = 0; i < nums.length; i++) out[i] = nums[i]!;
    this.numbers = undefined;
    return out;
  }

  valueAt(slot: number): FieldValue {
    return this.numbers !== undefined ? this.numbers[slot]! : this.values![slot]!;
  }

  collect(from: number, to: number): SeriesSample[] {
    const cap = this.times.length;
    const start = (this.head - this.size + cap) % cap;
    const out: SeriesSample[] = [];
    for (let i = 0; i < this.size; i++) {
      const slot = (start + i) % cap;
      const t = this.times[slot]!;
      if (t >= from && t <= to) out.push({ time: t, value: this.valueAt(slot) });
    }
    if (!this.ordered) {
      // Stable sort keeps write order among equal times, so the last write is last.
      out.sort((a, b) => a.time - b.time);
      let w = 0;
      for (let r = 0; r < out.length; r++) {
        if (w > 0 && out[w - 1]!.time === out[r]!.time) out[w - 1] = out[r]!;
        else out[w++] = out[r]!;
      }
      out.length = w;
    }
    return out;
  }
}

interface SeriesEntry {
  measurement: string;
  tags: Record<string, string>;
  fields: Map<string, FieldRing>;
}

export class MemorySeriesStore implements PointSink {
  private readonly pointsPerSeries: number;
  private readonly maxSeries: number;
  /** Insertion order is recency order: a write moves its series to the end. */
  private readonly series = new Map<string, SeriesEntry>();
  private readonly byMeasurement = new Map<string, Set<string>>();
  private points = 0;
  private evictedSeries = 0;
  private closed = false;

  constructor(options: MemorySeriesStoreOptions = {}) {
    this.pointsPerSeries = positiveInt(options.pointsPerSeries ?? 720, 'pointsPerSeries');
    this.maxSeries = positiveInt(options.maxSeries ?? 100_000, 'maxSeries');
  }

  write(points: readonly Point[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('MemorySeriesStore: write after shutdown'));
    for (const p of points) this.add(p);
    return Promise.resolve();
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /**
   * Samples of `field` for every series of `measurement` whose tags include all of `tags`,
   * with event times in [from, to] (ms, inclusive).
   */
  query(
    measurement: string,
    tags: Readonly<Record<string, string>> | undefined,
    field: string,
    from: number,
    to: number,
  ): SeriesQueryResult[] {
    const keys = this.byMeasurement.get(measurement);
    if (keys === undefined) return [];
    const out: SeriesQueryResult[] = [];
    for (const key of keys) {
      const s = this.series.get(key)!;
      if (tags !== undefined && !includesTags(s.tags, tags)) continue;
      const ring = s.fields.get(field);
      if (ring === undefined) continue;
      const samples = ring.collect(from, to);
      if (samples.length > 0) out.push({ measurement, tags: s.tags, field, samples });
    }
    return out;
  }

  stats(): MemorySeriesStoreStats {
    return { series: this.series.size, points: this.points, evictedSeries: this.evictedSeries };
  }

  private add(p: Point): void {
    const key = seriesKey(p);
    let s = this.series.get(key);
    if (s === undefined) {
      if (this.series.size >= this.maxSeries) this.evictOldest();
      s = { measurement: p.measurement, tags: { ...p.tags }, fields: new Map() };
      let set = this.byMeasurement.get(p.measurement);
      if (set === undefined) {
        set = new Set();
        this.byMeasurement.set(p.measurement, set);
      }
      set.add(key);
    } else {
      this.series.delete(key);
    }
    this.series.set(key, s);
    for (const name in p.fields) {
      let ring = s.fields.get(name);
      if (ring === undefined) {
        ring = new FieldRing(this.pointsPerSeries);
        s.fields.set(name, ring);
      }
      ring.push(p.time, p.fields[name]!);
    }
    this.points++;
  }

  private evictOldest(): void {
    const oldest = this.series.keys().next();
    if (oldest.done) return;
    const s = this.series.get(oldest.value)!;
    this.series.delete(oldest.value);
    const set = this.byMeasurement.get(s.measurement)!;
    set.delete(oldest.value);
    if (set.size === 0) this.byMeasurement.delete(s.measurement);
    this.evictedSeries++;
  }
}

/** Measurement plus tags in key order, so the same tag set in another order is the same series. */
function seriesKey(p: Point): string {
  const names = Object.keys(p.tags);
  let sorted = true;
  for (let i = 1; i < names.length; i++) {
    if (names[i - 1]! > names[i]!) {
      sorted = false;
      break;
    }
  }
  if (!sorted) names.sort();
  let key = p.measurement;
  for (const n of names) key += '\u0000' + n + '\u0001' + p.tags[n];
  return key;
}

function includesTags(have: Record<string, string>, want: Readonly<Record<string, string>>): boolean {
  for (const k in want) if (have[k] !== want[k]) return false;
  return true;
}

function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 1)
    throw new RangeError(`MemorySeriesStore: ${name} must be an integer >= 1, got ${v}`);
  return v;
}
