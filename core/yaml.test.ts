import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { billionLaughs } from '../fixtures/hostile-rules.js';
import { parseYaml } from './yaml.js';

describe('bounded YAML', () => {
  it('reads what yaml reads, anchors and aliases included', () => {
    const text = 'base: &b { team: infra, tier: 1 }\nlist:\n  - *b\n  - { x: [1, 2.5, true, null, "s"] }\n';
    const r = parseYaml(text);
    expect(r.ok).toBe(true);
    expect(r.problems).toEqual([]);
    expect(r.data).toEqual(parse(text));
  });

  it('a legitimate file may use one anchor 150 times (yaml toJS() refused more than 100)', () => {
    const text = ['x: &a v', ...Array.from({ length: 150 }, (_, i) => `k${i}: *a`)].join('\n');
    expect(() => parse(text)).toThrow(/Excessive alias count/);
    const r = parseYaml(text);
    expect(r.ok).toBe(true);
    expect(Object.keys(r.data as object)).toHaveLength(151);
  });

  it('refuses a billion laughs at the alias that crosses the bound, quickly', () => {
    const t0 = performance.now();
    const r = parseYaml(billionLaughs());
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(r.ok).toBe(false);
    expect(r.data).toBeUndefined();
    expect(r.problems).toEqual([
      { line: 6, column: 14, message: 'aliases expand the document beyond 250000 nodes (at *e)' },
    ]);
  });

  it('counts aliases', () => {
    const text = ['x: &a v', ...Array.from({ length: 30 }, (_, i) => `k${i}: *a`)].join('\n');
    expect(parseYaml(text, { maxAliases: 20 }).problems).toEqual([
      { line: 22, column: 6, message: 'more than 20 aliases in one file' },
    ]);
  });

  it('refuses deep nesting before the parser sees it (flow and block), and exactly after', () => {
    for (const text of [
      'a: ' + '['.repeat(100_000) + ']'.repeat(100_000),
      'a:\n  ' + '- '.repeat(100_000) + 'x',
      'a: ' + '{b: '.repeat(50_000) + '1' + '}'.repeat(50_000),
    ]) {
      const t0 = performance.now();
      const r = parseYaml(text);
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(r.ok).toBe(false);
      expect(r.problems).toHaveLength(1);
      expect(r.problems[0]!.message).toBe('nested more than 64 levels deep');
      expect(r.problems[0]!.line).toBeGreaterThan(0);
    }
    const levels = (n: number) =>
      Array.from({ length: n }, (_, i) => ' '.repeat(i * 2) + `k${i}:`).join('\n') + ' v';
    expect(parseYaml(levels(63)).ok).toBe(true);
    expect(parseYaml(levels(70)).problems).toEqual([
      { line: 65, column: 129, message: 'nested more than 64 levels deep' },
    ]);
  });

  it('bounds the size, and reads __proto__ and constructor as plain own keys', () => {
    expect(parseYaml('a: "' + 'x'.repeat(1 << 20) + '"').problems).toEqual([
      { line: 1, column: 1, message: 'file is 1048581 bytes; at most 1048576 are read' },
    ]);
    const r = parseYaml('__proto__: { polluted: 1 }\nconstructor: x\n');
    const data = r.data as Record<string, unknown>;
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
    expect(Object.keys(data)).toEqual(['__proto__', 'constructor']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reports syntax errors, unknown aliases and complex keys with their position', () => {
    expect(parseYaml('a: *nope\n').problems).toEqual([
      { line: 1, column: 4, message: 'alias *nope names no anchor before it' },
    ]);
    expect(parseYaml('? [a, b]\n: c\n').problems).toEqual([
      { line: 1, column: 3, message: 'a mapping key must be a plain value' },
    ]);
    const bad = parseYaml('a: [1, 2\nb: 3\n');
    expect(bad.ok).toBe(false);
    expect(bad.problems[0]!.line).toBeGreaterThan(0);
  });
});
