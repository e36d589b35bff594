import { describe, expect, it } from 'vitest';
import { kindOf, preview, stringMap } from './json-values.js';

function nested(depth: number, leaf: unknown = 'x'): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

describe('preview', () => {
  it('shows small values as JSON', () => {
    expect(preview({ level: 'host', id: 'h1' })).toBe('{"level":"host","id":"h1"}');
    expect(preview([1, 'a', null, true])).toBe('[1,"a",null,true]');
    expect(preview(undefined)).toBe('nothing');
    expect(preview('x\u001b[2Jy')).toBe('"x\\u001b[2Jy"');
  });

  it('stays within its budget for deep, wide and long values, without recursion', () => {
    const deep = nested(1_000_000);
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    const shown = preview(deep, 40);
    expect(shown).toHaveLength(40);
    expect(shown.startsWith('{"a":{"a":{"a":')).toBe(true);
    expect(shown.endsWith('…')).toBe(true);
    const wide = preview(
      Array.from({ length: 1_000_000 }, (_, i) => i),
      30,
    );
    expect(wide).toHaveLength(30);
    expect(preview('y'.repeat(10_000_000), 20)).toHaveLength(20);
    const many: Record<string, number> = {};
    for (let i = 0; i < 100_000; i++) many[`k${i}`] = i;
    expect(preview(many, 50)).toHaveLength(50);
  });
});

describe('stringMap', () => {
  const limits = { entries: 3, name: 10, value: 20 };

  it('takes strings, numbers and booleans as text; absent or null is empty', () => {
    expect(stringMap({ team: 'pay', cores: 32, canary: false }, 'labels', limits)).toEqual({
      team: 'pay',
      cores: '32',
      canary: 'false',
    });
    expect(stringMap(undefined, 'labels', limits)).toEqual({});
    expect(stringMap(null, 'labels', limits)).toEqual({});
  });

  it('refuses nested values naming the entry, with a bounded preview', () => {
    const r = stringMap({ ok: 'x', team: nested(500_000) }, 'labels', limits);
    expect(typeof r).toBe('string');
    expect(r).toMatch(/^labels\.team must be a string \(got an object: \{"a":\{"a":/);
    expect((r as string).length).toBeLessThan(120);
    expect(stringMap({ list: ['a'] }, 'labels', limits)).toBe(
      'labels.list must be a string (got an array: ["a"])',
    );
    expect(stringMap({ n: null }, 'labels', limits)).toBe('labels.n must be a string (got null: null)');
    expect(stringMap({ n: Number.NaN }, 'labels', limits)).toMatch(
      /labels\.n must be a string \(got a number/,
    );
    expect(stringMap(['a'], 'labels', limits)).toBe('labels must be an object of strings (got an array)');
    expect(stringMap('a', 'labels', limits)).toBe('labels must be an object of strings (got a string)');
  });

  it('bounds the count, name and value sizes', () => {
    expect(stringMap({ a: '1', b: '2', c: '3', d: '4' }, 'labels', limits)).toBe(
      'labels has more than 3 entries',
    );
    expect(stringMap({ ['n'.repeat(11)]: '1' }, 'labels', limits)).toBe(
      'labels.nnnnnnnnnnn: a name is at most 10 characters (got 11)',
    );
    expect(stringMap({ a: 'v'.repeat(21) }, 'labels', limits)).toBe(
      'labels.a is 21 characters long (at most 20)',
    );
  });

  it('quotes names with control characters and keeps __proto__ as an own entry', () => {
    expect(stringMap({ 'a\u001bb': {} }, 'labels', limits)).toBe(
      'labels."a\\u001bb" must be a string (got an object: {})',
    );
    const parsed = stringMap(JSON.parse('{"__proto__":"x","b":"y"}'), 'labels', limits) as Record<
      string,
      string
    >;
    expect(Object.keys(parsed)).toEqual(['__proto__', 'b']);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(parsed.b).toBe('y');
  });

  it('names kinds', () => {
    expect([kindOf(null), kindOf([]), kindOf({}), kindOf(1), kindOf('s')]).toEqual([
      'null',
      'an array',
      'an object',
      'a number',
      'a string',
    ]);
  });
});
