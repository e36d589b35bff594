import type { Level } from '../core/types.js';

export type AttributeSet = Readonly<Record<string, string>>;

export const NO_ATTRIBUTES: AttributeSet = Object.freeze({});

/**
 * Interns attribute sets: a fleet has a handful of (kernel, model, os) combinations, so every
 * entity holds a small integer instead of its own object. Set 0 is the empty set. Interned sets
 * are never freed: their number is bounded by the distinct combinations ever seen.
 */
export class AttributeInterner {
  private readonly idsByCanonical = new Map<string, number>();
  private readonly sets: AttributeSet[] = [NO_ATTRIBUTES];
  private readonly mergeCache = new Map<string, number>();
  private readonly withCache = new Map<string, number>();

  get size(): number {
    return this.sets.length;
  }

  get(id: number): AttributeSet {
    return this.sets[id] ?? NO_ATTRIBUTES;
  }

  intern(attributes: Readonly<Record<string, string>>): number {
    const keys = Object.keys(attributes).sort();
    if (keys.length === 0) return 0;
    const entries: [string, string][] = keys.map((k) => [k, attributes[k]!]);
    const canonical = JSON.stringify(entries);
    let id = this.idsByCanonical.get(canonical);
    if (id === undefined) {
      id = this.sets.length;
      this.sets.push(Object.freeze(Object.fromEntries(entries)));
      this.idsByCanonical.set(canonical, id);
    }
    return id;
  }

  /** `base` with the keys of `over` set over it (over wins). */
  merge(base: number, over: number): number {
    if (base === 0 || base === over) return over;
    if (over === 0) return base;
    const cacheKey = base + ',' + over;
    let id = this.mergeCache.get(cacheKey);
    if (id === undefined) {
      id = this.intern({ ...this.get(base), ...this.get(over) });
      this.mergeCache.set(cacheKey, id);
    }
    return id;
  }

  /** `base` with one key set. */
  with(base: number, key: string, value: string): number {
    const cacheKey = base + '\u0000' + key + '\u0000' + value;
    let id = this.withCache.get(cacheKey);
    if (id === undefined) {
      id = this.intern({ ...this.get(base), [key]: value });
      this.withCache.set(cacheKey, id);
    }
    return id;
  }
}

/**
 * Members per (level, key, value), kept as attributes change, so that "how many hosts run
 * kernel X" is a map lookup rather than a fleet scan.
 */
export class AttributeGroups {
  private readonly byLevel = new Map<Level, Map<string, Map<string, Set<number>>>>();

  change(level: Level, slot: number, before: AttributeSet, after: AttributeSet): void {
    if (before === after) return;
    for (const key in before) {
      const value = before[key]!;
      if (after[key] !== value) this.remove(level, key, value, slot);
    }
    for (const key in after) {
      const value = after[key]!;
      if (before[key] !== value) this.add(level, key, value, slot);
    }
  }

  members(level: Level, key: string, value: string): ReadonlySet<number> | undefined {
    return this.byLevel.get(level)?.get(key)?.get(value);
  }

  values(level: Level, key: string): Map<string, number> {
    const counts = new Map<string, number>();
    const values = this.byLevel.get(level)?.get(key);
    if (values !== undefined) for (const [value, members] of values) counts.set(value, members.size);
    return counts;
  }

  keys(level: Level): string[] {
    return [...(this.byLevel.get(level)?.keys() ?? [])];
  }

  private add(level: Level, key: string, value: string, slot: number): void {
    let keys = this.byLevel.get(level);
    if (keys === undefined) {
      keys = new Map();
      this.byLevel.set(level, keys);
    }
    let values = keys.get(key);
    if (values === undefined) {
      values = new Map();
      keys.set(key, values);
    }
    let members = values.get(value);
    if (members === undefined) {
      members = new Set();
      values.set(value, members);
    }
    members.add(slot);
  }

  private remove(level: Level, key: string, value: string, slot: number): void {
    const keys = this.byLevel.get(level);
    const values = keys?.get(key);
    const members = values?.get(value);
    if (members === undefined) return;
    members.delete(slot);
    if (members.size > 0) return;
    values!.delete(value);
    if (values!.size > 0) return;
    keys!.delete(key);
  }
}
