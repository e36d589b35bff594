import type { Matcher } from '../core/matchers.js';
import type { Level, Severity } from '../core/types.js';
import type { Template } from './template.js';

/**
 * Compiled rules: what the YAML files say, validated, with durations in milliseconds, regexes
 * compiled and templates parsed. The detection engine only ever sees these records.
 */

export type ComparisonOp = '>' | '>=' | '<' | '<=' | '==' | '!=';

/** What a threshold rule compares: the field itself, or its per-second change. */
export type ValueFunction = 'value' | 'rate' | 'deriv';

export interface Selector {
  measurement: string;
  field: string;
  /** All must match the point's tags (Prometheus matcher semantics: a missing tag is ""). */
  match: readonly Matcher[];
}

/** Where a rule was defined, for messages about it. */
export interface RuleOrigin {
  file: string;
  line: number;
  column: number;
}

interface RuleBase {
  /** The alert name; unique across a rule set. */
  name: string;
  group: string;
  level: Level;
  severity: Severity;
  /** Time the condition must hold before firing (ms of event time). */
  forMs: number;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, Template>>;
  origin: RuleOrigin;
}

export interface ThresholdCondition {
  fn: ValueFunction;
  /** Divide the value by this field of the same point first (e.g. load1 / n_cpus). */
  divideBy: string | undefined;
  op: ComparisonOp;
  threshold: number;
  /**
   * Hysteresis: a firing alert starts resolving only once the value is back past the threshold
   * by this margin (below `threshold - margin` for `>`/`>=`, above `threshold + margin` for
   * `<`/`<=`). Ignored for `==`/`!=`.
   */
  margin: number;
  /** The value must stay past the resolve bound this long before the alert resolves. */
  resolveForMs: number;
}

export interface ThresholdRule extends RuleBase {
  kind: 'threshold';
  select: Selector;
  condition: ThresholdCondition;
}

/** No data at all from an entity (any measurement) for `afterMs` of event time. */
export interface AbsenceRule extends RuleBase {
  kind: 'absence';
  afterMs: number;
  /** Containers only: stay quiet when the container's host is silent too (HostDown covers it). */
  whileHostUp: boolean;
}

/** More than `percentAbove` % of an entity's children fire rule `rule`. */
export interface GroupRule extends RuleBase {
  kind: 'group';
  rule: string;
  /** Level of the children counted: app/host -> container, rack/idc -> host. */
  childLevel: Level;
  percentAbove: number;
  /** Never fire with fewer firing children than this. */
  minFiring: number;
  resolveForMs: number;
}

export interface TrendConfig {
  /** Width of the windows whose minima feed the trend (minima see through GC sawtooth). */
  windowMs: number;
  /** How many window minima are kept (the trend looks back windows * windowMs). */
  windows: number;
  /** Valid windows needed before any prediction. */
  minWindows: number;
  /** Fire when the predicted time to the limit is below this. */
  horizonMs: number;
  /** The limit: a field of the same point (docker `limit`, mem `total`) or a constant. */
  limitField: string | undefined;
  limit: number | undefined;
  /** Minimum Kendall tau of the minima (monotonic growth), 0..1. */
  minTau: number;
}

export interface TrendRule extends RuleBase {
  kind: 'trend';
  select: Selector;
  trend: TrendConfig;
}

export type SeasonalDirection = 'both' | 'up' | 'down';

export interface SeasonalConfig {
  /** Buckets per day of the time-of-day baseline. */
  buckets: number;
  /** Robust z (in log space, against the bucket's own spread) that counts as anomalous. */
  threshold: number;
  /** Changes smaller than this ratio (either way) are never anomalous. */
  minRatio: number;
  direction: SeasonalDirection;
  /** Event time of learning before the detector may alert. */
  learnMs: number;
  resolveForMs: number;
}

export interface SeasonalRule extends RuleBase {
  kind: 'seasonal';
  select: Selector;
  seasonal: SeasonalConfig;
}

export type Rule = ThresholdRule | AbsenceRule | GroupRule | TrendRule | SeasonalRule;
export type RuleKind = Rule['kind'];

/** Rules read from one directory (or text), in file then definition order. */
export interface RuleSet {
  rules: readonly Rule[];
  /** Files the rules came from, for logs. */
  files: readonly string[];
}

export function isPredictive(rule: Rule): boolean {
  return rule.kind === 'trend' || rule.kind === 'seasonal';
}

/** Children counted by a group rule at this level, or undefined when the level has none. */
export function childLevelOf(level: Level): Level | undefined {
  switch (level) {
    case 'app':
    case 'host':
      return 'container';
    case 'rack':
    case 'idc':
      return 'host';
    default:
      return undefined;
  }
}
