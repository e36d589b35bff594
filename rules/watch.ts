import {
  BASELINE_SCORE,
  BASELINE_STRIDE,
  type BaselineConfig,
  type Direction,
  initBaseline,
} from '../scoring/baseline.js';
import { initSeasonal, SEASONAL_SCORE, seasonalStride } from '../scoring/seasonal.js';
import { initTrend, trendStride } from '../scoring/trend.js';
import type { ComparisonOp, Rule, SeasonalRule, ThresholdRule, TrendRule } from './model.js';
import { Float64Arena } from './slab.js';

/**
 * The state layout of one kind of series: which values a point of it yields (fields, rates,
 * ratios) and who consumes them (threshold rules, learned baselines, predictive detectors).
 * Every series with the same measurement and the same matching rules shares one WatchSet and
 * owns one fixed-size block of its arena.
 */

export const FN_VALUE = 0;
export const FN_RATE = 1;
export const FN_DERIV = 2;

export const K_THRESHOLD = 0;
export const K_INDICATOR = 1;
export const K_TREND = 2;
export const K_SEASONAL = 3;

export const OP_GT = 0;
export const OP_GE = 1;
export const OP_LT = 2;
export const OP_LE = 3;
export const OP_EQ = 4;
export const OP_NE = 5;
const OP_CODE: Record<ComparisonOp, number> = { '>': 0, '>=': 1, '<': 2, '<=': 3, '==': 4, '!=': 5 };

/** A value of a point: a field, maybe as a per-second rate, maybe divided by another field. */
export interface ValueSource {
  key: string;
  field: string;
  fn: number;
  divideBy: string | undefined;
  /** Offset of the previous raw value in the block (rate/deriv only), else -1. */
  off: number;
}

/**
 * A consumer of a value. Threshold, trend and seasonal consumers start with one double holding
 * the index of their active alert instance (-1: none), followed by their detector state.
 */
export interface Consumer {
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

export class WatchSet {
  readonly arena: Float64Arena;
  /** Offsets of the anomaly scores (indicators, seasonal) within a block, for health. */
  readonly scoreOffsets: number[];

  constructor(
    /** Index in the engine's registry of watch sets. */
    readonly id: number,
    readonly version: number,
    readonly sources: ValueSource[],
    readonly consumers: Consumer[],
    readonly stride: number,
  ) {
    this.arena = new Float64Arena(stride, stride === 0 ? 1 : 64);
    this.scoreOffsets = [];
    for (const c of consumers) {
      if (c.kind === K_INDICATOR) this.scoreOffsets.push(c.off + BASELINE_SCORE);
      else if (c.kind === K_SEASONAL) this.scoreOffsets.push(c.off + 1 + SEASONAL_SCORE);
    }
  }

  /** Fresh state in block `block`. */
  init(block: number): void {
    const d = this.arena.data;
    const d32 = this.arena.data32;
    const o = block * this.stride;
    for (const src of this.sources) if (src.off >= 0) d[o + src.off] = Number.NaN;
    for (const c of this.consumers) {
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
          initTrend(d, d32, co + 1, (c.rule as TrendRule).trend);
          break;
        case K_SEASONAL:
          d[co] = -1;
          initSeasonal(d, d32, co + 1, (c.rule as SeasonalRule).seasonal);
          break;
      }
    }
  }

  /**
   * Copies the state of the parts `this` shares with `old` (same key: same rule, same
   * indicator) from `old`'s block into `block`, and calls `moved` for each alert instance index
   * that now lives in a new consumer.
   */
  copyFrom(
    old: WatchSet,
    oldBlock: number,
    block: number,
    moved: (index: number, c: Consumer) => void,
  ): void {
    const od = old.arena.data;
    const oo = oldBlock * old.stride;
    const d = this.arena.data;
    const o = block * this.stride;
    for (const src of this.sources) {
      if (src.off < 0) continue;
      const prev = old.sources.find((x) => x.key === src.key);
      if (prev && prev.off >= 0) d[o + src.off] = od[oo + prev.off]!;
    }
    for (const c of this.consumers) {
      const prev = old.consumers.find((x) => x.key === c.key);
      if (!prev) continue;
      for (let i = 0; i < c.len; i++) d[o + c.off + i] = od[oo + prev.off + i]!;
      if (c.kind !== K_INDICATOR && d[o + c.off]! >= 0) moved(d[o + c.off]!, c);
    }
  }
}

/**
 * Lays out the state for a series watched by `rules`. Threshold rules also get an indicator
 * (learned baseline) per distinct value they read, one-sided in the direction of the rule
 * (`>`: rises are anomalous); `identity` names rules so state survives reloads of unchanged
 * rules.
 */
export function buildWatchSet(
  id: number,
  version: number,
  rules: ReadonlyArray<ThresholdRule | TrendRule | SeasonalRule>,
  identity: (rule: Rule) => string,
  baseline: BaselineConfig,
): WatchSet {
  const sources: ValueSource[] = [];
  const consumers: Consumer[] = [];
  let off = 0;
  const sourceOf = (field: string, fn: number, divideBy: string | undefined): number => {
    const key = `src|${field}|${fn}|${divideBy ?? ''}`;
    const found = sources.findIndex((x) => x.key === key);
    if (found >= 0) return found;
    sources.push({ key, field, fn, divideBy, off: fn === FN_VALUE ? -1 : off });
    if (fn !== FN_VALUE) off += 1;
    return sources.length - 1;
  };
  const add = (rule: Consumer['rule'], kind: number, source: number, len: number, key: string): Consumer => {
    const c: Consumer = {
      key,
      kind,
      source,
      off,
      len,
      rule,
      op: 0,
      threshold: 0,
      clearBound: 0,
      direction: 0,
      baseline: undefined,
    };
    off += len;
    consumers.push(c);
    return c;
  };
  const indicators = new Map<number, { direction: Direction; floor: number }>();
  for (const rule of rules) {
    const id = identity(rule);
    if (rule.kind === 'threshold') {
      const cond = rule.condition;
      const fn = cond.fn === 'rate' ? FN_RATE : cond.fn === 'deriv' ? FN_DERIV : FN_VALUE;
      const source = sourceOf(rule.select.field, fn, cond.divideBy);
      const c = add(rule, K_THRESHOLD, source, 1, 'thr|' + id);
      c.op = OP_CODE[cond.op];
      c.threshold = cond.threshold;
      c.clearBound =
        c.op === OP_GT || c.op === OP_GE
          ? cond.threshold - cond.margin
          : c.op === OP_LT || c.op === OP_LE
            ? cond.threshold + cond.margin
            : cond.threshold;
      // Baselines for gauges only: counters' rates and equality checks (OOM killed, restarted)
      // are events, which their own alerts already cover.
      if (fn !== FN_VALUE || c.op >= OP_EQ) continue;
      const direction: Direction = c.op <= OP_GE ? 1 : -1;
      const floor = 0.02 * Math.abs(cond.threshold);
      const prev = indicators.get(source);
      if (!prev) indicators.set(source, { direction, floor });
      else {
        if (prev.direction !== direction) prev.direction = 0;
        if (floor > prev.floor) prev.floor = floor;
      }
    } else if (rule.kind === 'trend') {
      add(
        rule,
        K_TREND,
        sourceOf(rule.select.field, FN_VALUE, undefined),
        1 + trendStride(rule.trend),
        'trend|' + id,
      );
    } else {
      const source = sourceOf(rule.select.field, FN_VALUE, undefined);
      add(rule, K_SEASONAL, source, 1 + seasonalStride(rule.seasonal), 'seas|' + id);
    }
  }
  for (const [source, ind] of indicators) {
    const key = `ind|${sources[source]!.key}|${ind.direction}|${ind.floor}`;
    const c = add(undefined, K_INDICATOR, source, BASELINE_STRIDE, key);
    c.direction = ind.direction;
    c.baseline = { ...baseline, absoluteFloor: Math.max(baseline.absoluteFloor, ind.floor) };
  }
  return new WatchSet(id, version, sources, consumers, off);
}
