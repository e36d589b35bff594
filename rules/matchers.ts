/**
 * Tag matchers written the Prometheus way: `cpu="cpu-total"`, `fstype!="tmpfs"`,
 * `path=~"/(data|var).*"`, `device!~"loop.*"`. Regexes are anchored at both ends, as in
 * Prometheus, and a missing tag matches as the empty string. Matchers run once per new series,
 * never per point.
 */

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface TagMatcher {
  tag: string;
  op: MatchOp;
  value: string;
  /** Compiled, anchored; only for `=~` and `!~`. */
  regex: RegExp | undefined;
  /** The matcher as written, for messages and state keys. */
  text: string;
}

export type MatcherParse = { ok: true; matcher: TagMatcher } | { ok: false; error: string; offset: number };

const MATCHER = /^\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$/;

export function parseMatcher(text: string): MatcherParse {
  const m = MATCHER.exec(text);
  if (!m) {
    return {
      ok: false,
      error: `bad tag matcher ${JSON.stringify(text)} (expected tag="value", tag!="value", tag=~"regex" or tag!~"regex")`,
      offset: 0,
    };
  }
  const tag = m[1]!;
  const op = m[2] as MatchOp;
  const value = m[3]!.replace(/\\(.)/g, '$1');
  let regex: RegExp | undefined;
  if (op === '=~' || op === '!~') {
    try {
      regex = new RegExp('^(?:' + value + ')$');
    } catch (e) {
      return {
        ok: false,
        error: `bad regex in matcher ${JSON.stringify(text)}: ${(e as Error).message}`,
        offset: text.indexOf('"') + 1,
      };
    }
  }
  return { ok: true, matcher: { tag, op, value, regex, text: `${tag}${op}${JSON.stringify(value)}` } };
}

export function matchesTags(
  matchers: readonly TagMatcher[],
  tags: Readonly<Record<string, string>>,
): boolean {
  for (let i = 0; i < matchers.length; i++) {
    const m = matchers[i]!;
    const v = tags[m.tag] ?? '';
    switch (m.op) {
      case '=':
        if (v !== m.value) return false;
        break;
      case '!=':
        if (v === m.value) return false;
        break;
      case '=~':
        if (!m.regex!.test(v)) return false;
        break;
      case '!~':
        if (m.regex!.test(v)) return false;
        break;
    }
  }
  return true;
}
