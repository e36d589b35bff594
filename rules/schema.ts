import { z } from 'zod';
import { parseDuration } from '../core/duration.js';

/**
 * The shape of a rule file, Prometheus-style:
 *
 * ```yaml
 * groups:
 *   - name: host
 *     rules:
 *       - alert: HostMemoryHigh
 *         level: host
 *         select: { measurement: mem, field: used_percent }
 *         condition: { op: '>', threshold: 90 }
 *         for: 5m
 *         severity: critical
 *         labels: { team: infra }
 *         annotations: { summary: 'memory {{ $value | printf "%.1f" }}% on {{ $entity }}' }
 * ```
 *
 * Each rule has exactly one of `condition` (threshold), `absent`, `group`, `trend` or
 * `seasonal`. Unknown keys are errors: a typo must not silently become a default. Semantic
 * checks that need more than the shape (matchers, regexes, templates, references between
 * rules, duplicate names) live in load.ts, which also turns paths into file:line:column.
 */

const durationText = z
  .string({ error: 'expected a duration string such as 30s, 5m or 1h' })
  .refine((s) => parseDuration(s) !== undefined, {
    error: (iss) => `bad duration ${JSON.stringify(iss.input)} (use e.g. 500ms, 30s, 5m, 1h30m)`,
  });

const name = z
  .string({ error: 'expected a name (string)' })
  .regex(/^[A-Za-z_][A-Za-z0-9_:]*$/, 'names start with a letter or _ and use letters, digits, _ and :');

const level = z.enum(['container', 'host', 'app', 'rack', 'idc'], {
  error: (iss) => `unknown level ${JSON.stringify(iss.input)} (expected container, host, app, rack or idc)`,
});

const severity = z.enum(['critical', 'warning', 'info'], {
  error: (iss) => `unknown severity ${JSON.stringify(iss.input)} (expected critical, warning or info)`,
});

const stringMap = z.record(z.string(), z.string({ error: 'expected a string value (quote numbers)' }), {
  error: 'expected a map of strings',
});

const finite = (what: string) => z.number({ error: `expected a number for ${what}` }).refine(Number.isFinite);

export const SelectorSchema = z.strictObject({
  measurement: z.string({ error: 'expected the measurement name' }).min(1),
  field: z.string({ error: 'expected the field name' }).min(1),
  match: z.array(z.string({ error: 'expected a matcher string such as cpu="cpu-total"' })).optional(),
});

export const ConditionSchema = z.strictObject({
  op: z.enum(['>', '>=', '<', '<=', '==', '!='], {
    error: (iss) => `unknown comparison ${JSON.stringify(iss.input)} (expected >, >=, <, <=, == or !=)`,
  }),
  threshold: finite('threshold'),
  fn: z
    .enum(['value', 'rate', 'deriv'], {
      error: (iss) => `unknown function ${JSON.stringify(iss.input)} (expected value, rate or deriv)`,
    })
    .optional(),
  divideBy: z.string().min(1).optional(),
  hysteresis: z.number({ error: 'expected a number (margin in value units)' }).nonnegative().optional(),
  resolveFor: durationText.optional(),
});

export const AbsentSchema = z.strictObject({
  after: durationText,
  whileHostUp: z.boolean({ error: 'expected true or false' }).optional(),
});

export const GroupSchema = z.strictObject({
  rule: name,
  percentAbove: z.number({ error: 'expected a percentage (number)' }).min(0).max(100),
  minFiring: z.number().int().min(1).optional(),
  resolveFor: durationText.optional(),
});

export const TrendSchema = z.strictObject({
  window: durationText.optional(),
  windows: z.number().int().min(4).max(32).optional(),
  minWindows: z.number().int().min(3).max(32).optional(),
  horizon: durationText.optional(),
  limitField: z.string().min(1).optional(),
  limit: z.number().positive().optional(),
  minTau: z.number().min(0).max(1).optional(),
});

export const SeasonalSchema = z.strictObject({
  buckets: z.number().int().min(4).max(288).optional(),
  threshold: z.number().positive().optional(),
  minRatio: z.number().min(1).optional(),
  direction: z
    .enum(['both', 'up', 'down'], {
      error: (iss) => `unknown direction ${JSON.stringify(iss.input)} (expected both, up or down)`,
    })
    .optional(),
  learn: durationText.optional(),
  resolveFor: durationText.optional(),
});

export const RuleSchema = z.strictObject({
  alert: name,
  level,
  select: SelectorSchema.optional(),
  condition: ConditionSchema.optional(),
  absent: AbsentSchema.optional(),
  group: GroupSchema.optional(),
  trend: TrendSchema.optional(),
  seasonal: SeasonalSchema.optional(),
  for: durationText.optional(),
  severity: severity.optional(),
  labels: stringMap.optional(),
  annotations: stringMap.optional(),
});

export const GroupFileSchema = z.strictObject({
  name: z.string({ error: 'expected the group name' }).min(1),
  rules: z.array(RuleSchema, { error: 'expected a list of rules' }),
});

export const RuleFileSchema = z.strictObject({
  groups: z.array(GroupFileSchema, { error: 'expected a list of groups' }),
});

/** The file around the rules; each group, then each rule, is checked on its own. */
export const RuleFileSkeleton = z.strictObject({
  groups: z.array(z.unknown(), { error: 'expected a list of groups' }),
});

export const GroupSkeleton = z.strictObject({
  name: z.string({ error: 'expected the group name' }).min(1),
  rules: z.array(z.unknown(), { error: 'expected a list of rules' }),
});

export type RuleFileInput = z.infer<typeof RuleFileSchema>;
export type RuleInput = z.infer<typeof RuleSchema>;
