import { RE2JS } from 're2js';

/**
 * The one matcher grammar of Converge: rule selectors (`select.match`), notification routes,
 * silences and maintenance windows (config file and API) all parse matchers here.
 *
 *   name="value"   name!="value"   name=~"regex"   name!~"regex"
 *
 * - Names: `[A-Za-z_][A-Za-z0-9_.-]*`. Values: double-quoted (`\"` and `\\` escape a quote and a
 *   backslash; `\n`, `\t`, `\r`, `\f`, `\/` and `\uXXXX` as in JSON; any other backslash is kept
 *   as written, so `"web\.example"` is the regex `web\.example`) or bare (no quotes, no spaces).
 * - Regexes are RE2 (as in Prometheus and Alertmanager), run by re2js: matching is linear in the
 *   length of the value whatever the pattern, so `(a+)+b` cannot stall the engine. They are
 *   checked on their own first, then must match the whole value (Prometheus' `^(?:...)$`, with
 *   `.` matching a newline too): an unbalanced `)` is an error, never a way out of the anchoring.
 * - A label that is absent, or only inherited (`constructor`, `__proto__`), has the value "".
 *
 * Invalid input is refused where it is read, with the position of the problem in the text.
 */

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  name: string;
  op: MatchOp;
  value: string;
  /** Compiled for `=~` and `!~` (full match). */
  regex: RE2JS | undefined;
  /** Normalized text (`formatMatcher`): for messages and identities. */
  text: string;
}

export type MatcherParse = { ok: true; matcher: Matcher } | { ok: false; error: string; offset: number };

/**
 * The syntax (not the regex check) as a pattern: the API's JSON schema uses it. Every part is
 * unambiguous, so it runs in linear time on any input.
 */
const MATCHER = /^\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"\s]*))\s*$/d;
export const MATCHER_SYNTAX: string = MATCHER.source;

/** Parses one matcher; never throws. `offset` is where the problem is in `text` (0-based). */
export function parseMatcher(text: string): MatcherParse {
  const m = MATCHER.exec(text);
  if (!m) {
    return {
      ok: false,
      error: `bad matcher ${JSON.stringify(text)}: expected name="value", name!="value", name=~"regex" or name!~"regex"`,
      offset: syntaxErrorOffset(text),
    };
  }
  const name = m[1]!;
  const op = m[2] as MatchOp;
  const quoted = m[3] !== undefined;
  const raw = quoted ? m[3]! : m[4]!;
  // Where the value starts in `text` (past the opening quote).
  const valueStart = m.indices![quoted ? 3 : 4]![0];
  const value = quoted ? unescapeValue(raw) : raw;
  let regex: RE2JS | undefined;
  if (op === '=~' || op === '!~') {
    const compiled = compileRegex(value);
    if ('error' in compiled) {
      return {
        ok: false,
        error: `bad regex in matcher ${JSON.stringify(text)}: ${compiled.error}`,
        offset: valueStart + rawOffset(raw, quoted, compiled.offset),
      };
    }
    regex = compiled.regex;
  }
  const matcher: Matcher = { name, op, value, regex, text: '' };
  matcher.text = formatMatcher(matcher);
  return { ok: true, matcher };
}

/** `parseMatcher` for callers that report by exception; the message names the offset. */
export function parseMatcherOrThrow(text: string): Matcher {
  const r = parseMatcher(text);
  if (!r.ok) throw new Error(`${r.error} (at offset ${r.offset})`);
  return r.matcher;
}

/** Does the matcher accept `labels`? Only own properties count; an absent label is "". */
export function matches(m: Matcher, labels: Readonly<Record<string, string>>): boolean {
  const v = Object.hasOwn(labels, m.name) ? labels[m.name]! : '';
  switch (m.op) {
    case '=':
      return v === m.value;
    case '!=':
      return v !== m.value;
    case '=~':
      return typeof v === 'string' && m.regex!.testExact(v);
    case '!~':
      return !(typeof v === 'string' && m.regex!.testExact(v));
  }
}

/** All must match (an empty list matches everything). */
export function matchesAll(list: readonly Matcher[], labels: Readonly<Record<string, string>>): boolean {
  for (let i = 0; i < list.length; i++) if (!matches(list[i]!, labels)) return false;
  return true;
}

/** The matcher as text that `parseMatcher` reads back to the same matcher. */
export function formatMatcher(m: Pick<Matcher, 'name' | 'op' | 'value'>): string {
  let v = '';
  for (const ch of m.value) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') v += '\\"';
    else if (ch === '\\') v += '\\\\';
    else if (ch === '\n') v += '\\n';
    else if (c < 0x20 || c === 0x7f) v += '\\u' + c.toString(16).padStart(4, '0');
    else v += ch;
  }
  return `${m.name}${m.op}"${v}"`;
}

// ---------------------------------------------------------------------------------------------

const ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  n: '\n',
  t: '\t',
  r: '\r',
  f: '\f',
  '/': '/',
};

function unescapeValue(raw: string): string {
  if (!raw.includes('\\')) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c !== '\\' || i + 1 >= raw.length) {
      out += c;
      continue;
    }
    const next = raw[i + 1]!;
    if (Object.hasOwn(ESCAPES, next)) {
      out += ESCAPES[next];
      i++;
    } else if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(raw.slice(i + 2, i + 6))) {
      out += String.fromCharCode(Number.parseInt(raw.slice(i + 2, i + 6), 16));
      i += 5;
    } else {
      out += c; // kept as written: a regex escape such as \. or \d
    }
  }
  return out;
}

/** Position in the raw (escaped) text of position `at` of the unescaped value. */
function rawOffset(raw: string, quoted: boolean, at: number): number {
  if (!quoted || !raw.includes('\\')) return at;
  let seen = 0;
  for (let i = 0; i < raw.length; i++) {
    if (seen >= at) return i;
    if (raw[i] === '\\' && i + 1 < raw.length) {
      const next = raw[i + 1]!;
      if (Object.hasOwn(ESCAPES, next)) i++;
      else if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(raw.slice(i + 2, i + 6))) i += 5;
    }
    seen++;
  }
  return raw.length;
}

/** Where a matcher without the expected shape goes wrong: after the name, or at the start. */
function syntaxErrorOffset(text: string): number {
  const name = /^\s*[A-Za-z_][A-Za-z0-9_.-]*\s*/.exec(text);
  return name ? name[0].length : text.length - text.trimStart().length;
}

/**
 * Compiles `pattern` for full matches. It is parsed on its own first (so `a)|(.*` is refused,
 * not turned into `^(?:a)|(.*)$`); `.` also matches a newline, as in Prometheus.
 */
export function compileRegex(pattern: string): { regex: RE2JS } | { error: string; offset: number } {
  try {
    RE2JS.compile(pattern);
    return { regex: RE2JS.compile(pattern, RE2JS.DOTALL) };
  } catch (e) {
    const ex = e as { error?: unknown; input?: unknown; message?: unknown };
    const what = typeof ex.error === 'string' ? ex.error : String(ex.message);
    const input = typeof ex.input === 'string' ? ex.input : '';
    return { error: input ? `${what}: \`${input}\`` : what, offset: regexErrorOffset(pattern, what, input) };
  }
}

/** RE2 names the bad fragment, not where it is: find it. */
function regexErrorOffset(pattern: string, what: string, input: string): number {
  if (what.startsWith('unexpected )') || what.startsWith('missing closing )')) {
    // The first `)` with no `(`, or the last `(` left open.
    const open: number[] = [];
    let inClass = false;
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern[i];
      if (c === '\\') i++;
      else if (inClass) inClass = c !== ']';
      else if (c === '[') {
        inClass = true;
        if (pattern[i + 1] === '^') i++;
        if (pattern[i + 1] === ']') i++;
      } else if (c === '(') open.push(i);
      else if (c === ')' && open.pop() === undefined) return i;
    }
    return open.at(-1) ?? 0;
  }
  if (what.startsWith('trailing backslash')) return Math.max(0, pattern.length - 1);
  const at = input && input !== pattern ? pattern.indexOf(input) : -1;
  return Math.max(at, 0);
}
