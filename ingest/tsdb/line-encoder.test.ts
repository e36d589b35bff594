import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Point, Precision } from '../../core/types.js';
import { FleetGenerator } from '../../scripts/produce-metrics.js';
import { decode, encodeLine } from '../decode.js';
import { LineEncoder } from './line-encoder.js';

const name = fc.oneof(
  fc.constantFrom('cpu', 'host', 'usage_idle', 'a b', 'x,y', 'k=v', 'back\\slash', 'new\nline', '', 'é'),
  fc.string({ maxLength: 8 }),
);
const fieldValue = fc.oneof(
  fc.double().map((v) => ({ v: v as Point['fields'][string], t: 'f' })),
  fc.integer().map((v) => ({ v: v as Point['fields'][string], t: 'i' })),
  fc.nat().map((v) => ({ v: v as Point['fields'][string], t: 'u' })),
  fc
    .bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
    .map((v) => ({ v: v as Point['fields'][string], t: 'i' })),
  fc
    .constantFrom(2 ** 60, -(2 ** 60), -0, Number.NaN, Number.POSITIVE_INFINITY)
    .map((v) => ({ v: v as Point['fields'][string], t: 'i' })),
  fc.boolean().map((v) => ({ v: v as Point['fields'][string], t: 'b' })),
  fc.string({ maxLength: 10 }).map((v) => ({ v: v as Point['fields'][string], t: 's' })),
);
const point = fc
  .record({
    measurement: name,
    tags: fc.dictionary(name, name, { maxKeys: 4 }),
    fields: fc.array(fc.tuple(name, fieldValue), { minLength: 1, maxLength: 4 }),
    time: fc.oneof(fc.integer({ min: -1e13, max: 4e12 }), fc.constant(0), fc.constant(1704067200000)),
    nanos: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 999_999 })),
  })
  .map(({ measurement, tags, fields, time, nanos }): Point => {
    const f: Record<string, Point['fields'][string]> = {};
    let types = '';
    for (const [k, { v, t }] of fields) {
      if (k in f) continue;
      f[k] = v;
      types += t;
    }
    return { measurement, tags, fields: f, types, time, nanos };
  });

describe('LineEncoder', () => {
  it('produces exactly what encodeLine produces, for arbitrary points and every precision', () => {
    const encoders = new Map<Precision, LineEncoder>(
      (['ns', 'us', 'ms', 's'] as const).map((p) => [p, new LineEncoder(p)]),
    );
    fc.assert(
      fc.property(point, fc.constantFrom<Precision>('ns', 'us', 'ms', 's'), (p, precision) => {
        const enc = encoders.get(precision)!;
        expect(enc.encode(p)).toBe(encodeLine(p, precision));
        // Again through the cached series prefix.
        expect(enc.encode(p)).toBe(encodeLine(p, precision));
      }),
      { numRuns: 3000 },
    );
  });

  it('matches encodeLine on decoded fleet data, where series share their tags object', () => {
    const fleet = new FleetGenerator({ hosts: 5, containersPerHost: 3, seconds: 20 });
    const enc = new LineEncoder();
    let n = 0;
    for (const m of fleet.messages()) {
      for (const p of decode(m.value.toString(), 'lp').points) {
        expect(enc.encode(p)).toBe(encodeLine(p));
        n++;
      }
    }
    expect(n).toBe(fleet.truth.goodPoints);
  });

  it('does not confuse two measurements that share a tags object', () => {
    const tags = { host: 'h1' };
    const enc = new LineEncoder();
    const a: Point = { measurement: 'cpu', tags, fields: { v: 1 }, types: 'f', time: 1000, nanos: 0 };
    const b: Point = { ...a, measurement: 'mem' };
    expect(enc.encode(a)).toBe('cpu,host=h1 v=1 1000000000');
    expect(enc.encode(b)).toBe('mem,host=h1 v=1 1000000000');
  });
});
