import { describe, expect, it } from 'vitest';
import type { PetshopCase } from '../../bench/petshop/dataset.js';
import { convergeAnswer, formatTable, maxZBaseline, ranked, topK } from '../../bench/petshop/score.js';

describe('topK', () => {
  it('gives a plain rank full credit within k and none beyond', () => {
    const a = ranked(['x', 'y', 'z', 'w']);
    expect([topK(a, 'x', 1), topK(a, 'y', 1), topK(a, 'z', 3), topK(a, 'w', 3), topK(a, 'v', 3)]).toEqual([
      1, 0, 1, 0, 0,
    ]);
    expect(topK([], 'x', 3)).toBe(0);
  });

  it('credits a tie by the chance of landing in the top k', () => {
    const a = [['a', 'b', 'c', 'd'], ['e']];
    expect(topK(a, 'c', 1)).toBe(0.25);
    expect(topK(a, 'c', 3)).toBe(0.75);
    expect(topK(a, 'e', 3)).toBe(0);
    expect(topK([['a'], ['b', 'c']], 'c', 3)).toBe(1);
    expect(topK([['a'], ['b', 'c']], 'c', 2)).toBe(0.5);
    // A node repeated in a later tier keeps its first place.
    expect(topK([['a'], ['a', 'b']], 'b', 2)).toBe(1);
  });
});

const inc = (o: Record<string, unknown>) =>
  JSON.stringify({
    event: 'opened',
    severity: 'warning',
    candidates: [],
    absorbed: { total: 1 },
    ...o,
  });
const app = (id: string, kind = 'self') => ({ level: 'app', id, kind });

describe('convergeAnswer', () => {
  const windowStart = 1_000_000; // s
  const at = (s: number) => new Date((windowStart + s) * 1000).toISOString();

  it('answers with the first incident opened from the window start on, as of its last update', () => {
    const lines = [
      inc({ id: 'h', rootCause: app('noise'), at: at(-600) }),
      inc({ id: 'h', event: 'resolved', rootCause: app('noise'), at: at(-300) }),
      inc({
        id: 'i1',
        rootCause: app('front'),
        candidates: [{ entity: app('front'), score: 9 }],
        at: at(600),
      }),
      inc({
        id: 'i1',
        event: 'updated',
        rootCause: app('db', 'upstream'),
        candidates: [
          { entity: app('db', 'upstream'), score: 12 },
          { entity: { level: 'host', id: 'db', kind: 'host' }, score: 7 },
          { entity: app('front'), score: 9 },
        ],
        at: at(660),
      }),
      inc({ id: 'i2', rootCause: app('cache'), at: at(900) }),
      inc({ id: 'i1', event: 'resolved', rootCause: app('other'), at: at(1200) }),
    ].join('\n');
    const o = convergeAnswer(lines, windowStart, 'db');
    expect(o.answer).toEqual([['db'], ['front'], ['host:db']]);
    expect(o.openedInHistory).toBe(1);
    expect(o.openedInWindow).toBe(2);
    expect(o.first).toEqual({ at: (windowStart + 600) * 1000, rootCauses: ['db'] });
    expect(o.namedAnywhere).toBe(true);
    expect(topK(o.answer, 'db', 1)).toBe(1);
    // A host is not the app of the same name.
    expect(topK(o.answer, 'host:db', 3)).toBe(1);
    expect(convergeAnswer(lines, windowStart, 'cache').namedAnywhere).toBe(true);
  });

  it('orders incidents opened together by severity then size, and ties the rest', () => {
    const lines = [
      inc({ id: 'a', rootCause: app('a'), at: at(300) }),
      inc({ id: 'b', rootCause: app('b'), severity: 'critical', at: at(300) }),
      inc({ id: 'c', rootCause: app('c'), at: at(300) }),
      inc({ id: 'd', rootCause: app('d'), absorbed: { total: 5 }, at: at(300) }),
    ].join('\n');
    const o = convergeAnswer(lines, windowStart, 'a');
    expect(o.answer).toEqual([['b'], ['d'], ['a', 'c']]);
    expect(topK(o.answer, 'a', 1)).toBe(0);
    expect(topK(o.answer, 'a', 3)).toBe(0.5);
  });

  it('has no answer when nothing opens in the window', () => {
    const o = convergeAnswer(inc({ id: 'h', rootCause: app('x'), at: at(-1) }), windowStart, 'x');
    expect(o).toMatchObject({ answer: [], openedInHistory: 1, openedInWindow: 0, namedAnywhere: false });
  });
});

describe('maxZBaseline', () => {
  it('ranks nodes by their largest |z| after the fault row against the hour before it', () => {
    const times = Array.from({ length: 16 }, (_, i) => 1000 + 300 * i);
    // Columns: a latency (steady, jumps), a requests (noisy), b latency (small wobble), c (one value only).
    const rows = times.map((_, i) => {
      const after = i >= 14;
      return Float64Array.from([
        (after ? 5 : 1) + (i % 2) * 0.1,
        100 + (i % 3) * 10,
        2 + (i % 2) * 0.1 + (after ? 0.2 : 0),
        i === 15 ? 7 : Number.NaN,
      ]);
    });
    const c = {
      table: {
        columns: [
          { node: 'a', metric: 'latency', statistic: 'Average' },
          { node: 'a', metric: 'requests', statistic: 'Sum' },
          { node: 'b', metric: 'latency', statistic: 'Average' },
          { node: 'c', metric: 'latency', statistic: 'Average' },
        ],
        times,
        rows,
      },
      windowStart: times[12]!,
      target: { node: 'a', metric: 'latency', agg: 'Average', time: times[14]! + 10 },
    } as unknown as PetshopCase;
    expect(maxZBaseline(c)).toEqual(['a', 'b']);
  });
});

describe('formatTable', () => {
  it('prints per-scenario and overall recall with the empty answers', () => {
    const cases = [
      { id: '1', scenario: 's1', rootCause: 'x' },
      { id: '2', scenario: 's1', rootCause: 'y' },
      { id: '3', scenario: 's2', rootCause: 'x' },
    ];
    const table = formatTable(
      [
        {
          name: 'm',
          given: 'fault time',
          answers: new Map([
            ['1', ranked(['x'])],
            ['2', ranked(['z', 'q', 'y'])],
          ]),
        },
      ],
      cases,
      ['s1', 's2'],
    );
    expect(table.split('\n')[0]).toBe('| method | given | s1 (2) | s2 (1) | all (3) | no answer |');
    expect(table.split('\n')[2]).toBe('| m | fault time | 50% / 100% | 0% / 0% | **33% / 67%** | 1 |');
  });
});
