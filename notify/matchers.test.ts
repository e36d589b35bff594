import { describe, expect, it } from 'vitest';
import { formatMatcher, matches, matchesAll, parseMatcher } from './matchers.js';

describe('matchers', () => {
  const labels = { severity: 'critical', kind: 'noisy-neighbour', idc: 'dc1', root_cause: 'c-1' };

  it('parses the four operators, quoted and bare values', () => {
    expect(parseMatcher('severity="critical"')).toMatchObject({
      name: 'severity',
      op: '=',
      value: 'critical',
    });
    expect(parseMatcher(' idc != dc2 ')).toMatchObject({ name: 'idc', op: '!=', value: 'dc2' });
    expect(parseMatcher('kind=~"app|noisy-.*"')).toMatchObject({ op: '=~', value: 'app|noisy-.*' });
    expect(parseMatcher('root_cause!~"test-.*"')).toMatchObject({ op: '!~' });
    expect(parseMatcher('comment="say \\"hi\\""').value).toBe('say "hi"');
  });

  it('matches like Alertmanager: anchored regexes, absent labels are empty', () => {
    expect(matches(parseMatcher('kind=~"noisy-.*"'), labels)).toBe(true);
    expect(matches(parseMatcher('kind=~"noisy"'), labels)).toBe(false);
    expect(matches(parseMatcher('idc!="dc1"'), labels)).toBe(false);
    expect(matches(parseMatcher('rack=""'), labels)).toBe(true);
    expect(matches(parseMatcher('rack!~".+"'), labels)).toBe(true);
    expect(matchesAll([parseMatcher('severity="critical"'), parseMatcher('idc="dc2"')], labels)).toBe(false);
    expect(matchesAll([], labels)).toBe(true);
  });

  it('says what is wrong with a bad matcher', () => {
    expect(() => parseMatcher('severity')).toThrow(/invalid matcher "severity": expected name="value"/);
    expect(() => parseMatcher('1abc="x"')).toThrow(/invalid matcher/);
    expect(() => parseMatcher('kind=~"(app"')).toThrow(/invalid regex in matcher/);
  });

  it('formats back to a parseable matcher', () => {
    const m = parseMatcher('kind=~"app|host"');
    expect(formatMatcher(m)).toBe('kind=~"app|host"');
    expect(parseMatcher(formatMatcher(m))).toMatchObject({ name: 'kind', op: '=~', value: 'app|host' });
  });
});
