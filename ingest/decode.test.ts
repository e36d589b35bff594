import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FieldValue, Point, Precision } from '../core/types.js';
import { decode, decodeBuffer, encodeLine } from './decode.js';
import { isControl } from './limits.js';
import { decodeLineProtocol, decodeLineProtocolBytes } from './lineprotocol.js';

const FLEET_SAMPLE = '/work/shared/examples/fleet-sample.lp';

describe('decode facade', () => {
  it('line protocol defaults to ns precision, JSON to seconds', () => {
    expect(decode('m v=1 1500', 'lp').points[0]).toMatchObject({ time: 0, nanos: 1500 });
    expect(decode('{"name":"m","fields":{"v":1},"timestamp":2}', 'json').points[0]).toMatchObject({
      time: 2000,
      nanos: 0,
    });
    expect(decode('m v=1 1500', 'lp', { precision: 'ms' }).points[0]!.time).toBe(1500);
  });

  it('lines without timestamp take defaultTime, else the wall clock at call time', () => {
    expect(decode('m v=1', 'lp', { defaultTime: 42 }).points[0]!.time).toBe(42);
    const before = Date.now();
    const t = decode('m v=1', 'lp').points[0]!.time;
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(Date.now());
  });

  it('firstLine offsets the line numbers of errors', () => {
    expect(decode('m v=1\nm v=x', 'lp', { firstLine: 1001 }).errors[0]!.line).toBe(1002);
  });

  it('decodeBuffer decodes UTF-8 Kafka values of both formats', () => {
    const lp = decodeBuffer(Buffer.from('温度,城市=北京 v=1 5\n'), 'lp');
    expect(lp.points[0]).toMatchObject({ measurement: '温度', tags: { 城市: '北京' }, nanos: 5 });
    const json = decodeBuffer(Buffer.from('{"name":"m","fields":{"v":1},"timestamp":1}'), 'json');
    expect(json.points).toHaveLength(1);
  });

  it('refuses a line that is not valid UTF-8, naming the byte, and keeps its neighbours', () => {
    // Before: the bytes became U+FFFD and the point was stored under a tag the source never sent.
    const bad = Buffer.from([0x6d, 0x2c, 0x74, 0x3d, 0xff, 0xfe, 0x20, 0x76, 0x3d, 0x31]); // m,t=\xff\xfe v=1
    for (const format of ['lp', 'json'] as const) {
      const good = format === 'lp' ? 'm,t=a v=1 1' : '{"name":"m","tags":{"t":"a"},"fields":{"v":1}}';
      const message = Buffer.concat([Buffer.from(good + '\n'), bad, Buffer.from('\n' + good + '\n')]);
      const r = decodeBuffer(message, format, { defaultTime: 5 });
      expect(r.points).toHaveLength(2);
      expect(r.points.map((p) => p.tags.t)).toEqual(['a', 'a']);
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]).toMatchObject({ line: 2, reason: 'line 2: invalid UTF-8 (byte 0xFF) at column 5' });
    }
    // Overlong encodings and encoded surrogates are not UTF-8 either.
    for (const seq of [
      [0xc0, 0xaf],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xe2, 0x82],
    ]) {
      const r = decodeBuffer(
        Buffer.concat([Buffer.from('m,t='), Buffer.from(seq), Buffer.from(' v=1')]),
        'lp',
      );
      expect(r.points).toEqual([]);
      expect(r.errors[0]!.reason).toMatch(/^line 1: invalid UTF-8 \(byte 0x[0-9A-F]{2}\) at column 5$/);
    }
  });

  it('refuses a text line holding a lone surrogate (it has no UTF-8 form)', () => {
    const r = decode('m v=1 1\nm,t=\ud800 v=2 2\nm v=3 3', 'lp');
    expect(r.points.map((p) => p.fields.v)).toEqual([1, 3]);
    expect(r.errors).toMatchObject([{ line: 2, reason: 'line 2: lone surrogate U+D800 at column 5' }]);
  });

  it('drops a byte order mark at the start of a stream, not inside one', () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const lp = decodeBuffer(Buffer.concat([bom, Buffer.from('cpu,host=h1 v=1 1')]), 'lp');
    expect(lp.errors).toEqual([]);
    expect(lp.points[0]!.measurement).toBe('cpu');
    const json = decodeBuffer(Buffer.concat([bom, Buffer.from('{"name":"cpu","fields":{"v":1}}')]), 'json');
    expect(json.errors).toEqual([]);
    expect(json.points[0]!.measurement).toBe('cpu');
    expect(decode('\ufeffcpu v=1 1', 'lp').points[0]!.measurement).toBe('cpu');
    // A chunk further into a stream (firstLine > 1) keeps it: it is then data.
    const later = decodeBuffer(Buffer.concat([bom, Buffer.from('cpu v=1 1')]), 'lp', { firstLine: 7 });
    expect(later.points[0]!.measurement).toBe('\ufeffcpu');
  });
});

describe('fleet-sample.lp (shared example)', () => {
  const text = readFileSync(FLEET_SAMPLE, 'utf8');
  const result = decode(text, 'lp');

  it('decodes to 1560 points and 94 malformed lines', () => {
    expect(result.points).toHaveLength(1560);
    expect(result.errors).toHaveLength(94);
  });

  it('reports each malformed line with its own line number and a specific reason', () => {
    const lines = text.split('\n');
    for (const e of result.errors) {
      expect(e.text).toBe(lines[e.line - 1]);
      expect(e.reason).toMatch(new RegExp(`^line ${e.line}: .+ at column \\d+$`));
    }
    const kinds = new Map<string, number>();
    for (const e of result.errors) {
      const kind = e.reason.replace(/^line \d+: /, '').replace(/ at column \d+$/, '');
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    expect(Object.fromEntries(kinds)).toEqual({
      "invalid timestamp 'notatimestamp'": 14,
      'missing fields (no space after the measurement and tags)': 13,
      "missing value for field 'usage_idle'": 15,
      "unterminated string value for field 'usage'": 16,
      "invalid field value '1.2.3' for key 'usage_idle'": 10,
      "unexpected text after timestamp: '2'": 5,
      "missing '=' after tag key 'host'": 11,
      'missing measurement': 10,
    });
  });

  it('decodes the same from bytes and from the text split into chunks', () => {
    expect(decodeBuffer(Buffer.from(text), 'lp').points).toEqual(result.points);
    const lines = text.split('\n');
    const half = Math.floor(lines.length / 2);
    const a = decode(lines.slice(0, half).join('\n'), 'lp');
    const b = decode(lines.slice(half).join('\n'), 'lp', { firstLine: half + 1 });
    expect([...a.points, ...b.points]).toEqual(result.points);
    expect([...a.errors, ...b.errors]).toEqual(result.errors);
  });
});

describe('robustness', () => {
  it('works where the runtime forbids code generation from strings', () => {
    const script = `
      import { readFileSync } from 'node:fs';
      const { decode } = await import(${JSON.stringify(new URL('./decode.ts', import.meta.url).href)});
      const text = readFileSync(${JSON.stringify(FLEET_SAMPLE)}, 'utf8');
      const r = decode(text + text + text, 'lp');
      console.log(JSON.stringify([r.points.length, r.errors.length]));`;
    const out = execFileSync(
      process.execPath,
      ['--disallow-code-generation-from-strings', '--import', 'tsx', '--input-type=module', '-e', script],
      { encoding: 'utf8' },
    );
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual([3 * 1560, 3 * 94]);
  });

  it('a stream of ever new field keys decodes correctly', () => {
    const lines = Array.from({ length: 3000 }, (_, i) => `m,h=${i % 7} k${i}=${i}i,x${i % 5}=1.5 ${i}`);
    const r = decode(lines.join('\n'), 'lp');
    expect(r.errors).toEqual([]);
    expect(r.points).toHaveLength(3000);
    for (const [i, p] of r.points.entries()) {
      expect(p.fields).toEqual({ [`k${i}`]: i, [`x${i % 5}`]: 1.5 });
      expect(p.nanos).toBe(i);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

function toSafe(b: bigint): number | bigint {
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

const noNewline = (s: string) => !s.includes('\n') && !s.includes('\r');
/**
 * Names may contain anything line protocol can carry and Converge accepts: escapes and unicode
 * included, control characters (refused in names, see limits.ts) and lone surrogates (not UTF-8)
 * excluded.
 */
const nameChars = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(',', '=', ' ', '\\', '"', "'", '#', '_', 'é', '🚀', '1', 'a', 'Z'),
  },
  {
    weight: 2,
    arbitrary: fc
      .string({ unit: 'grapheme', minLength: 1, maxLength: 1 })
      .filter((c) => !isControl(c.charCodeAt(0))),
  },
);
const name = fc.string({ unit: nameChars, minLength: 1, maxLength: 12 }).filter(noNewline);
// A line starting with '#' is a comment (a leading space is escaped by encodeLine).
const measurement = name.filter((s) => s[0] !== '#');

const fieldValue: fc.Arbitrary<[string, FieldValue]> = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((v): [string, FieldValue] => ['f', v]),
  fc.integer({ min: -1e9, max: 1e9 }).map((v): [string, FieldValue] => ['f', v / 1000]),
  fc.integer().map((v): [string, FieldValue] => ['i', v]),
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }).map((v): [string, FieldValue] => ['i', toSafe(v)]),
  fc.bigInt({ min: 0n, max: UINT64_MAX }).map((v): [string, FieldValue] => ['u', toSafe(v)]),
  fc
    .string({ unit: fc.oneof(nameChars, fc.constantFrom('\\"', '"\\', '\\\\')), maxLength: 20 })
    .filter(noNewline)
    .map((v): [string, FieldValue] => ['s', v]),
  fc.boolean().map((v): [string, FieldValue] => ['b', v]),
);

function defineAll<T>(entries: [string, T][]): Record<string, T> {
  const obj: Record<string, T> = {};
  for (const [k, v] of entries) {
    Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return obj;
}

const point: fc.Arbitrary<Point> = fc
  .record({
    measurement,
    tags: fc.uniqueArray(fc.tuple(name, name), { selector: (t) => t[0], maxLength: 5 }),
    fields: fc.uniqueArray(fc.tuple(name, fieldValue), { selector: (t) => t[0], minLength: 1, maxLength: 6 }),
    time: fc.integer({ min: -9223372036854, max: 9223372036853 }),
    nanos: fc.integer({ min: 0, max: 999_999 }),
  })
  .map(({ measurement, tags, fields, time, nanos }) => {
    const fieldObj = defineAll(fields.map(([k, [, v]]) => [k, v]));
    const codes = new Map(fields.map(([k, [t]]) => [k, t]));
    let types = '';
    for (const k in fieldObj) types += codes.get(k);
    return { measurement, tags: defineAll(tags), fields: fieldObj, types, time, nanos };
  });

function expectSamePoint(actual: Point | undefined, expected: Point): void {
  expect(actual).toEqual(expected);
  expect(Object.keys(actual!.tags)).toEqual(Object.keys(expected.tags));
  expect(Object.keys(actual!.fields)).toEqual(Object.keys(expected.fields));
  for (const k of Object.keys(expected.fields))
    expect(Object.is(actual!.fields[k], expected.fields[k])).toBe(true);
}

/** What decode must account for: every line that is not blank or a comment. */
function countLines(text: string): number {
  let n = 0;
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const trimmed = line.replace(/^[ \t]+/, '');
    if (trimmed !== '' && trimmed[0] !== '#') n++;
  }
  return n;
}

/** Characters that exercise every branch of the line protocol scanner. */
const lpChars = fc.constantFrom(
  ...'mcpu,host=a b\\"#=, \t\r\n0123456789.-+eEiutTfF_'.split(''),
  'true',
  'false',
  '9223372036854775807',
  '18446744073709551616',
  '1e400',
  'é',
);

describe('properties', () => {
  it('encodeLine -> decode round-trips arbitrary points exactly (ns)', () => {
    fc.assert(
      fc.property(point, (p) => {
        const line = encodeLine(p);
        const r = decode(line, 'lp');
        expect(r.errors).toEqual([]);
        expectSamePoint(r.points[0], p);
      }),
      { numRuns: 3000 },
    );
  });

  it('round-trips many points per message, with series and layouts repeating', () => {
    fc.assert(
      fc.property(
        fc.array(point, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(7), { maxLength: 30 }),
        (pool, picks) => {
          const chosen = picks.map((i) => pool[i % pool.length]!);
          const r = decode(chosen.map((p) => encodeLine(p)).join('\n'), 'lp');
          expect(r.errors).toEqual([]);
          expect(r.points).toHaveLength(chosen.length);
          for (const [i, p] of chosen.entries()) expectSamePoint(r.points[i], p);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('round-trips at every precision, the time floored to it', () => {
    const precision = fc.constantFrom<Precision>('us', 'ms', 's');
    fc.assert(
      fc.property(point, precision, (p, prec) => {
        // Flooring to seconds may leave InfluxDB's range at its very edge.
        fc.pre(Math.abs(p.time) < 9e12);
        const r = decode(encodeLine(p, prec), 'lp', { precision: prec });
        expect(r.errors).toEqual([]);
        const time = prec === 's' ? Math.floor(p.time / 1000) * 1000 : p.time;
        const nanos = prec === 'us' ? Math.floor(p.nanos / 1000) * 1000 : 0;
        expect(r.points[0]).toMatchObject({ time, nanos });
      }),
      { numRuns: 1000 },
    );
  });

  it('arbitrary strings never throw, and every line is a point or an error', () => {
    const text = fc.oneof(
      fc.string({ unit: lpChars, maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc
        .array(point, { maxLength: 4 })
        .chain((ps) =>
          fc
            .array(fc.string({ unit: lpChars, maxLength: 40 }), { maxLength: 4 })
            .map((junk) => [...ps.map((p) => encodeLine(p)), ...junk].join('\n')),
        ),
    );
    fc.assert(
      fc.property(text, (t) => {
        const r = decode(t, 'lp');
        expect(r.points.length + r.errors.length).toBe(countLines(t));
        for (const e of r.errors) expect(e.reason).toMatch(/^line \d+: .+ at column \d+$/);
        const lines = r.errors.map((e) => e.line);
        expect(lines).toEqual([...lines].sort((a, b) => a - b));
      }),
      { numRuns: 5000 },
    );
  });

  it('the byte fast path decodes exactly like the text parser', () => {
    const opts = { precision: 'ns' as const, defaultTime: 7, firstLine: 1 };
    const lines = fc.array(
      fc.oneof(
        point.map((p) => encodeLine(p)),
        fc.string({ unit: lpChars, maxLength: 60 }),
        // Telegraf-like lines with small mutations, so that known series meet odd values.
        fc
          .tuple(
            fc.constantFrom('cpu,host=a', 'cpu,host=b', 'mem,host=a', 'm\\ x,t=\\,'),
            fc.string({ unit: lpChars, maxLength: 12 }),
          )
          .map(([series, v]) => `${series} usage=${v},n=1i 1700000000000000000`),
      ),
      { maxLength: 12 },
    );
    fc.assert(
      fc.property(lines, fc.constantFrom('\n', '\r\n'), (ls, eol) => {
        const text = [...ls, ...ls].join(eol);
        const viaText = {
          points: [] as Point[],
          errors: [] as { line: number; reason: string; text: string }[],
        };
        decodeLineProtocol(text, opts, viaText.points, viaText.errors);
        const viaBytes = {
          points: [] as Point[],
          errors: [] as { line: number; reason: string; text: string }[],
        };
        decodeLineProtocolBytes(Buffer.from(text), opts, viaBytes.points, viaBytes.errors);
        expect(viaBytes).toEqual(viaText);
      }),
      { numRuns: 3000 },
    );
  });

  it('arbitrary bytes never throw out of decodeBuffer, in either format', () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.string({ unit: lpChars, maxLength: 200 }).map((s) => Buffer.from(s)),
    );
    fc.assert(
      fc.property(bytes, (b) => {
        const r = decodeBuffer(b, 'lp');
        expect(r.points.length + r.errors.length).toBe(countLines(new TextDecoder().decode(b)));
        const j = decodeBuffer(b, 'json');
        expect(Array.isArray(j.points) && Array.isArray(j.errors)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('arbitrary JSON values never throw out of the JSON decoder', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const r = decode(JSON.stringify(v) ?? '', 'json');
        expect(Array.isArray(r.points) && Array.isArray(r.errors)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
