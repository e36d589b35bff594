import type { Labels } from './types.js';

/**
 * Alertmanager-style label matchers: `severity="critical"`, `kind=~"app|host"`, `idc!="dc1"`,
 * `root_cause!~"test-.*"`. Quotes are optional for simple values. Regexes are anchored at both
 * ends (as in Alertmanager), so `kind=~"app"` does not match "application". A label that is
 * absent has the value "" (so `idc=""` matches events without an IDC).
 */
export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  name: string;
  op: MatchOp;
  value: string;
  /** Compiled for =~ and !~. */
  regex?: RegExp;
}

const MATCHER = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"\s]*))\s*$/;

/** Parses one matcher; throws an Error whose message says what is wrong with `text`. */
export function parseMatcher(text: string): Matcher {
  const m = MATCHER.exec(text);
  if (!m) {
    throw new Error(`invalid matcher ${JSON.stringify(text)}: expected name="value" (ops: = != =~ !~)`);
  }
  const name = m[1]!;
  const op = m[2] as MatchOp;
  const value = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : (m[4] ?? '');
  const matcher: Matcher = { name, op, value };
  if (op === '=~' || op === '!~') {
    try {
      matcher.regex = new RegExp(`^(?:${value})$`);
    } catch (e) {
      throw new Error(`invalid regex in matcher ${JSON.stringify(text)}: ${(e as Error).message}`);
    }
  }
  return matcher;
}

export function matches(matcher: Matcher, labels: Labels): boolean {
  const v = labels[matcher.name] ?? '';
  switch (matcher.op) {
    case '=':
      return v === matcher.value;
    case '!=':
      return v !== matcher.value;
    case '=~':
      return matcher.regex!.test(v);
    case '!~':
      return !matcher.regex!.test(v);
  }
}

/** All matchers must match (an empty list matches everything). */
export function matchesAll(matchers: readonly Matcher[], labels: Labels): boolean {
  for (const m of matchers) if (!matches(m, labels)) return false;
  return true;
}

export function formatMatcher(m: Matcher): string {
  return `${m.name}${m.op}${JSON.stringify(m.value)}`;
}
