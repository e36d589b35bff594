import { describe, expect, it } from 'vitest';
import {
  formatMatcher,
  MATCHER_SYNTAX,
  type Matcher,
  matches,
  matchesAll,
  parseMatcher,
  parseMatcherOrThrow,
} from './matchers.js';

const m = (text: string): Matcher => parseMatcherOrThrow(text);

describe('matchers: one grammar for rules, routes, silences and the API', () => {
  const labels = { severity: 'critical', kind: 'noisy-neighbour', idc: 'dc1', root_cause: 'c-1' };

  it('parses the four operators, quoted and bare values, names with . and -', () => {
    expect(m('severity="critical"')).toMatchObject({ name: 'severity', op: '=', value: 'critical' });
    expect(m(' idc != dc2 ')).toMatchObject({ name: 'idc', op: '!=', value: 'dc2' });
    expect(m('kind=~"app|noisy-.*"')).toMatchObject({ op: '=~', value: 'app|noisy-.*' });
    expect(m('root_cause!~"test-.*"')).toMatchObject({ op: '!~' });
    expect(m('kubernetes.io-zone="a"')).toMatchObject({ name: 'kubernetes.io-zone' });
    expect(m('comment="say \\"hi\\""').value).toBe('say "hi"');
    expect(m('path="C:\\\\data"').value).toBe('C:\\data');
    // A backslash that is no string escape stays: it is the regex's.
    expect(m('host=~"web\\.example\\d+"').value).toBe('web\\.example\\d+');
    expect(m('host=~"web\\\\.example"').value).toBe('web\\.example');
  });

  it('matches like Prometheus and Alertmanager: whole-value regexes, absent labels are empty', () => {
    expect(matches(m('kind=~"noisy-.*"'), labels)).toBe(true);
    expect(matches(m('kind=~"noisy"'), labels)).toBe(false);
    expect(matches(m('idc!="dc1"'), labels)).toBe(false);
    expect(matches(m('rack=""'), labels)).toBe(true);
    expect(matches(m('rack!~".+"'), labels)).toBe(true);
    expect(matches(m('severity=~"crit|warn"'), labels)).toBe(false);
    expect(matches(m('severity=~"crit|critical"'), labels)).toBe(true);
    expect(matches(m('severity=~"crit"'), labels)).toBe(false);
    // `.` matches a newline too (Prometheus compiles with (?s)).
    expect(matches(m('msg=~"a.b"'), { msg: 'a\nb' })).toBe(true);
    expect(matchesAll([m('severity="critical"'), m('idc="dc2"')], labels)).toBe(false);
    expect(matchesAll([], labels)).toBe(true);
  });

  it('an unbalanced ")" is an error, not a way out of the anchoring', () => {
    const r = parseMatcher('host=~"web)|(.*"');
    expect(r).toMatchObject({ ok: false, offset: 10 });
    expect(!r.ok && r.error).toMatch(/^bad regex in matcher "host=~\\"web\)\|\(\.\*\\"": unexpected \)/);
    // What the JavaScript wrapping used to do: `^(?:web)|(.*)$` matched every host.
    expect(/^(?:web)|(.*)$/.test('db-1')).toBe(true);
  });

  it('runs in linear time: a catastrophic pattern against a long value returns at once', () => {
    const evil = m('tag=~"(a+)+b"');
    const value = 'a'.repeat(28);
    const t0 = performance.now();
    expect(matches(evil, { tag: value })).toBe(false);
    expect(matches(m('tag=~"(a|a)*c"'), { tag: 'a'.repeat(100_000) })).toBe(false);
    // Backtracking RegExp took 15 s on the 28 characters; RE2 is well under a second on 100,028.
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('reads own properties only: inherited names are absent labels', () => {
    expect(matches(m('constructor=""'), {})).toBe(true);
    expect(matches(m('constructor=~".+"'), {})).toBe(false);
    expect(matches(m('__proto__=~".+"'), {})).toBe(false);
    expect(matches(m('toString!=""'), { a: 'b' })).toBe(false);
    expect(matches(m('constructor="x"'), { constructor: 'x' } as Record<string, string>)).toBe(true);
  });

  it('says what is wrong and where', () => {
    expect(parseMatcher('severity')).toMatchObject({
      ok: false,
      offset: 8,
      error: expect.stringContaining('expected name="value"'),
    });
    expect(parseMatcher('=~"x"')).toMatchObject({ ok: false, offset: 0 });
    expect(parseMatcher('1abc="x"')).toMatchObject({ ok: false });
    expect(parseMatcher('cpu=~"[a-"')).toMatchObject({
      ok: false,
      offset: 6,
      error: 'bad regex in matcher "cpu=~\\"[a-\\"": missing closing ]: `[a-`',
    });
    expect(parseMatcher('kind=~"ok|(app"')).toMatchObject({ ok: false, offset: 10 });
    expect(parseMatcher('kind=~"x**"')).toMatchObject({ ok: false, offset: 8 });
    // Lookarounds and backreferences are not RE2.
    expect(parseMatcher('kind=~"(?=a)a"')).toMatchObject({ ok: false });
    expect(parseMatcher('kind=~"(a)\\\\1"')).toMatchObject({ ok: false });
    expect(() => parseMatcherOrThrow('kind=~"(app"')).toThrow(/bad regex in matcher .* \(at offset 7\)$/);
  });

  it('formats back to the same matcher', () => {
    for (const text of ['kind=~"app|host"', 'a="say \\"hi\\" \\\\ \\n"', 'b!~"web\\.\\d+"', 'c="\\u0007"']) {
      const one = m(text);
      const again = m(formatMatcher(one));
      expect(again.value).toBe(one.value);
      expect(again.op).toBe(one.op);
      expect(one.text).toBe(formatMatcher(one));
    }
  });

  it('exports its syntax for schemas, and it agrees with the parser', () => {
    const syntax = new RegExp(MATCHER_SYNTAX, 'u');
    for (const t of ['a="b"', 'a=b', ' a.b-c !~ "x\\"y" ', 'a=', '1a="b"', 'a=="b"', 'a="b', 'a=b c'])
      expect(syntax.test(t), t).toBe(parseMatcher(t).ok);
  });
});
