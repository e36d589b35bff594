import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlias, isMap, isPair, isScalar, isSeq, type LineCounter, type Node } from 'yaml';
import type { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { type Matcher, parseMatcher } from '../core/matchers.js';
import type { Level } from '../core/types.js';
import { parseYaml, type YamlParse } from '../core/yaml.js';
import { childLevelOf, type Rule, type RuleOrigin, type RuleSet, type Selector } from './model.js';
import { GroupSkeleton, RuleFileSkeleton, type RuleInput, RuleSchema } from './schema.js';
import { compileTemplate, type Template } from './template.js';

/** A problem in a rule file, with a 1-based position. */
export interface RuleError {
  file: string;
  line: number;
  column: number;
  message: string;
}

export function formatRuleError(e: RuleError): string {
  return `${e.file}:${e.line}:${e.column}: ${e.message}`;
}

export interface RuleLoad {
  rules: RuleSet;
  errors: RuleError[];
}

const RULE_FILE = /\.ya?ml$/i;

/** Defaults, in one place so that the docs can quote them. */
export const RULE_DEFAULTS = Object.freeze({
  severity: 'warning' as const,
  /** Hysteresis margin when none is given: this fraction of |threshold|. */
  marginFraction: 0.05,
  trend: { windowMs: 5 * 60_000, windows: 12, minWindows: 6, horizonMs: 30 * 60_000, minTau: 0.6 },
  seasonal: { buckets: 24, threshold: 4, minRatio: 1.5, direction: 'both' as const, learnMs: 86_400_000 },
  group: { minFiring: 1 },
});

/**
 * Reads every *.yaml / *.yml file of a directory (sorted by name, not recursive) and compiles
 * the rules. With any error, `rules` holds only what compiled and `errors` says what did not:
 * callers that must not run a partial set (hot reload, check-rules) check `errors.length`.
 */
export function loadRules(dir: string): RuleLoad {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) {
      return { rules: { rules: [], files: [] }, errors: [at(dir, 1, 1, 'not a directory')] };
    }
    names = readdirSync(dir)
      .filter((n) => RULE_FILE.test(n))
      .sort();
  } catch (e) {
    return {
      rules: { rules: [], files: [] },
      errors: [at(dir, 1, 1, `cannot read directory: ${(e as Error).message}`)],
    };
  }
  const sources: Array<{ file: string; text: string }> = [];
  const errors: RuleError[] = [];
  for (const n of names) {
    const file = join(dir, n);
    try {
      sources.push({ file, text: readFileSync(file, 'utf8') });
    } catch (e) {
      errors.push(at(file, 1, 1, `cannot read file: ${(e as Error).message}`));
    }
  }
  const loaded = compileRuleSources(sources);
  return { rules: loaded.rules, errors: [...errors, ...loaded.errors] };
}

/** Only the errors of `loadRules`: what `converge check-rules DIR` prints. */
export function checkRules(dir: string): RuleError[] {
  return loadRules(dir).errors;
}

/** The default pack shipped with Converge (rules/default/*.yaml). */
export function defaultRulesDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // From source (rules/load.ts) the pack sits beside us; from a build (dist/rules/load.js) it
  // stays in the source tree, two levels up.
  for (const candidate of [join(here, 'default'), resolve(here, '..', '..', 'rules', 'default')]) {
    try {
      if (statSync(candidate).isDirectory()) return candidate;
    } catch {
      // try the next
    }
  }
  return join(here, 'default');
}

/** Compiles rule texts as if they were the files of one directory (cross-file checks included). */
export function compileRuleSources(sources: ReadonlyArray<{ file: string; text: string }>): RuleLoad {
  const errors: RuleError[] = [];
  const rules: Rule[] = [];
  const files: string[] = [];
  const groupRefs: Array<{
    rule: Rule & { kind: 'group' };
    file: string;
    node: Node | null;
    lc: LineCounter;
  }> = [];
  const byName = new Map<string, Rule>();
  for (const { file, text } of sources) {
    files.push(file);
    const parsed = compileFile(file, text);
    errors.push(...parsed.errors);
    for (const c of parsed.rules) {
      const prev = byName.get(c.rule.name);
      if (prev) {
        const pos = position(c.lc, c.nameNode);
        errors.push(
          at(
            file,
            pos.line,
            pos.column,
            `duplicate alert name "${c.rule.name}" (first defined at ${prev.origin.file}:${prev.origin.line}:${prev.origin.column})`,
          ),
        );
        continue;
      }
      byName.set(c.rule.name, c.rule);
      rules.push(c.rule);
      if (c.rule.kind === 'group') groupRefs.push({ rule: c.rule, file, node: c.groupRuleNode, lc: c.lc });
    }
  }
  for (const g of groupRefs) {
    const target = byName.get(g.rule.rule);
    const pos = position(g.lc, g.node);
    if (!target) {
      errors.push(
        at(g.file, pos.line, pos.column, `group rule "${g.rule.name}" counts unknown rule "${g.rule.rule}"`),
      );
    } else if (target.level !== g.rule.childLevel) {
      errors.push(
        at(
          g.file,
          pos.line,
          pos.column,
          `group rule "${g.rule.name}" at level ${g.rule.level} counts ${g.rule.childLevel} alerts, but "${target.name}" is a ${target.level} rule`,
        ),
      );
    }
  }
  return { rules: { rules, files }, errors };
}

interface CompiledRule {
  rule: Rule;
  lc: LineCounter;
  nameNode: Node | null;
  groupRuleNode: Node | null;
}

/** One file's rules; never throws (a failure of our own is reported at the file's first line). */
function compileFile(file: string, text: string): { rules: CompiledRule[]; errors: RuleError[] } {
  try {
    return compileParsed(file, parseYaml(text));
  } catch (e) {
    return { rules: [], errors: [at(file, 1, 1, `cannot compile: ${(e as Error).message}`)] };
  }
}

function compileParsed(file: string, yaml: YamlParse): { rules: CompiledRule[]; errors: RuleError[] } {
  const errors: RuleError[] = yaml.problems.map((p) => at(file, p.line, p.column, p.message));
  const { lineCounter: lc, data } = yaml;
  if (!yaml.ok) return { rules: [], errors };
  if (data === null || data === undefined) return { rules: [], errors }; // an empty file is no rules
  // The skeleton first, then each rule on its own, so that one bad rule does not hide the
  // problems of the others.
  const skeleton = RuleFileSkeleton.safeParse(data);
  if (!skeleton.success) {
    for (const issue of skeleton.error.issues) errors.push(...issueErrors(file, yaml, issue, []));
    return { rules: [], errors };
  }
  const out: CompiledRule[] = [];
  skeleton.data.groups.forEach((rawGroup, gi) => {
    const groupParse = GroupSkeleton.safeParse(rawGroup);
    if (!groupParse.success) {
      for (const issue of groupParse.error.issues)
        errors.push(...issueErrors(file, yaml, issue, ['groups', gi]));
      return;
    }
    const group = groupParse.data;
    group.rules.forEach((raw, ri) => {
      const path = ['groups', gi, 'rules', ri];
      const parsed = RuleSchema.safeParse(raw);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) errors.push(...issueErrors(file, yaml, issue, path));
        return;
      }
      const ctx: RuleContext = {
        file,
        lc,
        node: (p) => nodeAt(yaml, [...path, ...p]),
        error: (p, message, offset) => {
          const node = nodeAt(yaml, [...path, ...p]) ?? nodeAt(yaml, path);
          let pos = position(lc, node);
          if (offset !== undefined && isScalar(node) && node.range) {
            // Point inside the string (past the opening quote when quoted).
            const quoted = node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE' ? 1 : 0;
            const p2 = lc.linePos(node.range[0] + quoted + offset);
            pos = { line: p2.line, column: p2.col };
          }
          errors.push(at(file, pos.line, pos.column, `${pathText([...path, ...p])}: ${message}`));
        },
      };
      const rule = compileRule(group.name, parsed.data, ctx);
      if (rule) {
        out.push({
          rule,
          lc,
          nameNode: ctx.node(['alert']),
          groupRuleNode: ctx.node(['group', 'rule']),
        });
      }
    });
  });
  return { rules: out, errors };
}

interface RuleContext {
  file: string;
  lc: LineCounter;
  node(path: Array<string | number>): Node | null;
  /** `offset`: position within the scalar's text, for problems inside a string. */
  error(path: Array<string | number>, message: string, offset?: number): void;
}

const KINDS = ['condition', 'absent', 'group', 'trend', 'seasonal'] as const;

function compileRule(groupName: string, r: RuleInput, ctx: RuleContext): Rule | undefined {
  const errorCount = { n: 0 };
  const fail = (path: Array<string | number>, message: string, offset?: number) => {
    errorCount.n++;
    ctx.error(path, message, offset);
  };
  const kinds = KINDS.filter((k) => r[k] !== undefined);
  if (kinds.length !== 1) {
    fail(
      ['alert'],
      kinds.length === 0
        ? `rule "${r.alert}" needs one of: condition, absent, group, trend, seasonal`
        : `rule "${r.alert}" has ${kinds.join(' and ')}; give exactly one`,
    );
    return undefined;
  }
  const kind = kinds[0]!;
  const needsSelect = kind === 'condition' || kind === 'trend' || kind === 'seasonal';
  if (needsSelect && !r.select) fail(['alert'], `rule "${r.alert}" needs a select: { measurement, field }`);
  if (!needsSelect && r.select)
    fail(['select'], `a ${kind} rule has no select (it watches entities, not a field)`);
  if (kind === 'absent' && r.for !== undefined)
    fail(['for'], 'absence rules take their duration from absent.after');

  const pos = position(ctx.lc, ctx.node([]));
  const origin: RuleOrigin = { file: ctx.file, line: pos.line, column: pos.column };
  const forMs = r.for === undefined ? 0 : parseDuration(r.for)!;
  const annotations: Record<string, Template> = {};
  for (const [key, text] of Object.entries(r.annotations ?? {})) {
    const t = compileTemplate(text);
    if (t.ok) annotations[key] = t.template;
    else fail(['annotations', key], `annotation "${key}": ${t.error}`, t.offset);
  }
  let select: Selector | undefined;
  if (r.select) {
    const match: Matcher[] = [];
    (r.select.match ?? []).forEach((text, i) => {
      const m = parseMatcher(text);
      if (m.ok) match.push(m.matcher);
      else fail(['select', 'match', i], m.error, m.offset);
    });
    select = { measurement: r.select.measurement, field: r.select.field, match };
  }
  const base = {
    name: r.alert,
    group: groupName,
    level: r.level as Level,
    severity: r.severity ?? RULE_DEFAULTS.severity,
    forMs,
    labels: Object.freeze({ ...(r.labels ?? {}) }),
    annotations: Object.freeze(annotations),
    origin,
  };
  let rule: Rule | undefined;
  switch (kind) {
    case 'condition': {
      const c = r.condition!;
      const ordered = c.op !== '==' && c.op !== '!=';
      if (!ordered && c.hysteresis !== undefined)
        fail(['condition', 'hysteresis'], `hysteresis needs >, >=, < or <=`);
      rule = {
        ...base,
        kind: 'threshold',
        select: select!,
        condition: {
          fn: c.fn ?? 'value',
          divideBy: c.divideBy,
          op: c.op,
          threshold: c.threshold,
          margin: ordered ? (c.hysteresis ?? Math.abs(c.threshold) * RULE_DEFAULTS.marginFraction) : 0,
          resolveForMs: c.resolveFor === undefined ? forMs : parseDuration(c.resolveFor)!,
        },
      };
      break;
    }
    case 'absent': {
      const a = r.absent!;
      if (a.whileHostUp && r.level !== 'container')
        fail(['absent', 'whileHostUp'], 'whileHostUp applies to containers only');
      const afterMs = parseDuration(a.after)!;
      if (afterMs <= 0) fail(['absent', 'after'], 'absent.after must be positive');
      rule = { ...base, kind: 'absence', afterMs, whileHostUp: a.whileHostUp ?? false };
      break;
    }
    case 'group': {
      const g = r.group!;
      const childLevel = childLevelOf(r.level as Level);
      if (!childLevel) {
        fail(['level'], `group rules count children: level must be app, host, rack or idc, not ${r.level}`);
        break;
      }
      rule = {
        ...base,
        kind: 'group',
        rule: g.rule,
        childLevel,
        percentAbove: g.percentAbove,
        minFiring: g.minFiring ?? RULE_DEFAULTS.group.minFiring,
        resolveForMs: g.resolveFor === undefined ? forMs : parseDuration(g.resolveFor)!,
      };
      break;
    }
    case 'trend': {
      const t = r.trend!;
      const d = RULE_DEFAULTS.trend;
      if ((t.limitField === undefined) === (t.limit === undefined)) {
        fail(
          ['trend'],
          'a trend rule needs exactly one of limitField (a field of the same point) or limit (a number)',
        );
      }
      const windows = t.windows ?? d.windows;
      const minWindows = t.minWindows ?? Math.min(d.minWindows, windows);
      if (minWindows > windows)
        fail(['trend', 'minWindows'], `minWindows (${minWindows}) exceeds windows (${windows})`);
      const windowMs = t.window === undefined ? d.windowMs : parseDuration(t.window)!;
      if (windowMs <= 0) fail(['trend', 'window'], 'trend.window must be positive');
      rule = {
        ...base,
        kind: 'trend',
        select: select!,
        trend: {
          windowMs,
          windows,
          minWindows,
          horizonMs: t.horizon === undefined ? d.horizonMs : parseDuration(t.horizon)!,
          limitField: t.limitField,
          limit: t.limit,
          minTau: t.minTau ?? d.minTau,
        },
      };
      break;
    }
    case 'seasonal': {
      const s = r.seasonal!;
      const d = RULE_DEFAULTS.seasonal;
      rule = {
        ...base,
        kind: 'seasonal',
        select: select!,
        seasonal: {
          buckets: s.buckets ?? d.buckets,
          threshold: s.threshold ?? d.threshold,
          minRatio: s.minRatio ?? d.minRatio,
          direction: s.direction ?? d.direction,
          learnMs: s.learn === undefined ? d.learnMs : parseDuration(s.learn)!,
          resolveForMs: s.resolveFor === undefined ? forMs : parseDuration(s.resolveFor)!,
        },
      };
      break;
    }
  }
  return errorCount.n === 0 ? rule : undefined;
}

// ---------------------------------------------------------------------------------------------
// Positions
// ---------------------------------------------------------------------------------------------

function at(file: string, line: number, column: number, message: string): RuleError {
  return { file, line, column, message };
}

function position(lc: LineCounter, node: Node | null | undefined): { line: number; column: number } {
  const offset = node?.range?.[0];
  if (offset === undefined) return { line: 1, column: 1 };
  const p = lc.linePos(offset);
  return { line: p.line, column: p.col };
}

/** The node at `path`; through an alias, the node of its anchor (where the text is). */
function nodeAt(yaml: YamlParse, path: ReadonlyArray<PropertyKey>): Node | null {
  let node = (yaml.doc?.contents as Node | null | undefined) ?? null;
  for (const key of path) {
    if (isAlias(node)) node = yaml.resolveAlias(node) ?? null;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key));
      node = (pair?.value as Node | null | undefined) ?? null;
    } else if (isSeq(node) && typeof key === 'number') {
      node = (node.items[key] as Node | null | undefined) ?? null;
    } else {
      return null;
    }
  }
  return node;
}

/** The key node of `key` in the map at `path`, for "unknown key" messages. */
function keyNodeAt(yaml: YamlParse, path: ReadonlyArray<PropertyKey>, key: string): Node | null {
  let map = nodeAt(yaml, path);
  if (isAlias(map)) map = yaml.resolveAlias(map) ?? map;
  if (!isMap(map)) return map;
  for (const item of map.items) {
    if (isPair(item) && isScalar(item.key) && String(item.key.value) === key) return item.key;
  }
  return map;
}

function pathText(path: ReadonlyArray<PropertyKey>): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? String(p) : '.' + String(p);
  return s;
}

function issueErrors(
  file: string,
  yaml: YamlParse,
  issue: z.core.$ZodIssue,
  prefix: ReadonlyArray<PropertyKey>,
): RuleError[] {
  const full = [...prefix, ...issue.path];
  const where = pathText(full);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const pos = position(yaml.lineCounter, keyNodeAt(yaml, full, key));
      return at(file, pos.line, pos.column, `unknown key "${key}"${where ? ` in ${where}` : ''}`);
    });
  }
  const lc = yaml.lineCounter;
  const node = nodeAt(yaml, full);
  if (node === null && issue.code === 'invalid_type' && full.length > 0) {
    // A required key that is not there: point at the map that lacks it.
    const parentPath = full.slice(0, -1);
    const pos = position(lc, nodeAt(yaml, parentPath));
    return [
      at(
        file,
        pos.line,
        pos.column,
        `missing key "${String(full.at(-1))}"${parentPath.length ? ` in ${pathText(parentPath)}` : ''}`,
      ),
    ];
  }
  const pos = position(lc, node);
  const message = issue.message.replace(/^Invalid input: /, '');
  return [at(file, pos.line, pos.column, where ? `${where}: ${message}` : message)];
}
