import { describe, expect, it } from 'vitest';
import type { DecodeError, Point, Precision } from '../core/types.js';
import { DEFAULT_LIMITS, type DecodeLimits, FieldTypeRegistry } from './limits.js';
import {
  decodeLineProtocol,
  decodeLineProtocolBytes,
  encodeLine,
  formatTimestamp,
  setSeriesCacheLimit,
} from './lineprotocol.js';

const NOW = 1_700_000_000_000;

function viaText(text: string, precision: Precision, firstLine: number) {
  const points: Point[] = [];
  const errors: DecodeError[] = [];
  decodeLineProtocol(text, { precision, defaultTime: NOW, firstLine }, points, errors);
  return { points, errors };
}

function viaBytes(text: string, precision: Precision, firstLine: number) {
  const points: Point[] = [];
  const errors: DecodeError[] = [];
  decodeLineProtocolBytes(Buffer.from(text), { precision, defaultTime: NOW, firstLine }, points, errors);
  return { points, errors };
}

function shift(errors: DecodeError[], by: number): DecodeError[] {
  return errors.map((e) => ({
    ...e,
    line: e.line + by,
    reason: e.reason.replace(/^line \d+/, `line ${e.line + by}`),
  }));
}

/**
 * Decodes with the text parser and checks that the byte decoder agrees, both on a first sight of
 * the input (text fallback) and on a second copy in the same message (its fast path).
 */
function lp(
  text: string,
  precision: Precision = 'ns',
  firstLine = 1,
): { points: Point[]; errors: DecodeError[] } {
  const reference = viaText(text, precision, firstLine);
  expect(viaBytes(text, precision, firstLine)).toEqual(reference);
  const lines = text.split('\n').length;
  const twice = viaBytes(text + '\n' + text, precision, firstLine);
  expect(twice.points).toEqual([...reference.points, ...reference.points]);
  expect(twice.errors).toEqual([...reference.errors, ...shift(reference.errors, lines)]);
  return reference;
}

function one(text: string, precision: Precision = 'ns'): Point {
  const { points, errors } = lp(text, precision);
  expect(errors).toEqual([]);
  expect(points).toHaveLength(1);
  return points[0]!;
}

function fails(text: string, reason: RegExp | string): DecodeError {
  const { points, errors } = lp(text);
  expect(points).toEqual([]);
  expect(errors).toHaveLength(1);
  expect(errors[0]!.reason).toMatch(reason);
  return errors[0]!;
}

describe('line protocol: structure', () => {
  it('decodes measurement, tags in input order, typed fields and the ns timestamp exactly', () => {
    const p = one(
      'cpu,host=h1,dc=sz0,rack=r1 usage_idle=77.87,count=5i,big=18446744073709551615u,name="x y",up=true 1704067200123456789',
    );
    expect(p.measurement).toBe('cpu');
    expect(Object.keys(p.tags)).toEqual(['host', 'dc', 'rack']);
    expect(p.tags).toEqual({ host: 'h1', dc: 'sz0', rack: 'r1' });
    expect(p.fields).toEqual({
      usage_idle: 77.87,
      count: 5,
      big: 18446744073709551615n,
      name: 'x y',
      up: true,
    });
    expect(Object.keys(p.fields)).toEqual(['usage_idle', 'count', 'big', 'name', 'up']);
    expect(p.types).toBe('fiusb');
    expect(p.time).toBe(1704067200123);
    expect(p.nanos).toBe(456789);
  });

  it('accepts a measurement without tags and a line without timestamp (default time)', () => {
    const p = one('mem used=1');
    expect(p.tags).toEqual({});
    expect(p.time).toBe(NOW);
    expect(p.nanos).toBe(0);
  });

  it('handles many lines, \\r\\n endings, blank lines, whitespace-only lines and comments', () => {
    const text = '# header comment\r\ncpu v=1 1\r\n\r\n   \n  # indented comment\nmem v=2 2\n\tdisk v=3 3\n';
    const { points, errors } = lp(text);
    expect(errors).toEqual([]);
    expect(points.map((p) => p.measurement)).toEqual(['cpu', 'mem', 'disk']);
    expect(points.map((p) => p.nanos)).toEqual([1, 2, 3]);
  });

  it('keeps the good lines of a message and reports each bad one with its line number', () => {
    const text = ['cpu v=1 1', 'cpu v=abc 2', 'cpu v=3 3', 'cpu,host v=4 4', 'cpu v=5 5'].join('\n');
    const { points, errors } = lp(text);
    expect(points.map((p) => p.fields.v)).toEqual([1, 3, 5]);
    expect(errors.map((e) => e.line)).toEqual([2, 4]);
    expect(errors[0]!.reason).toBe("line 2: invalid field value 'abc' for key 'v' at column 7");
    expect(errors[0]!.text).toBe('cpu v=abc 2');
    expect(errors[1]!.reason).toBe("line 4: missing '=' after tag key 'host' at column 5");
  });

  it('numbers lines from firstLine', () => {
    const { errors } = lp('ok v=1\nbad\n', 'ns', 41);
    expect(errors[0]!.line).toBe(42);
    expect(errors[0]!.reason).toMatch(/^line 42: /);
  });

  it('truncates the text of a bad line to 200 characters', () => {
    const long = 'm,' + Array.from({ length: 20 }, (_, i) => `key${i}=value${i}`).join(',') + ' v=oops';
    const e = fails(long, /invalid field value 'oops'/);
    expect(e.text.length).toBe(201);
    expect(e.text.endsWith('…')).toBe(true);
  });

  it('accepts several spaces between sections and trailing spaces', () => {
    const p = one('cpu,host=a   v=1   123  ');
    expect(p.fields).toEqual({ v: 1 });
    expect(p.nanos).toBe(123);
  });
});

describe('line protocol: escapes (docs.influxdata.com line protocol reference)', () => {
  it('unescapes comma and space in measurement names; = and other escapes stay literal', () => {
    expect(one('my\\ meas\\,x v=1').measurement).toBe('my meas,x');
    expect(one('a=b\\=c v=1').measurement).toBe('a=b\\=c');
    expect(one('a\\tb v=1').measurement).toBe('a\\tb');
  });

  it('unescapes comma, equals sign and space in tag keys, tag values and field keys', () => {
    const p = one('m,tag\\ key\\,1\\==tag\\ value\\,\\=x field\\ key\\,\\==1');
    expect(p.tags).toEqual({ 'tag key,1=': 'tag value,=x' });
    expect(p.fields).toEqual({ 'field key,=': 1 });
  });

  it('interprets backslash runs as the reference table says', () => {
    // \ -> \, \\ -> \, \\\ -> \\, \\\\ -> \\, \\\\\ -> \\\, \\\\\\ -> \\\
    const cases: [string, string][] = [
      ['\\', '\\'],
      ['\\\\', '\\'],
      ['\\\\\\', '\\\\'],
      ['\\\\\\\\', '\\\\'],
      ['\\\\\\\\\\', '\\\\\\'],
      ['\\\\\\\\\\\\', '\\\\\\'],
    ];
    for (const [raw, want] of cases) {
      expect(one(`m${raw}x,t=a${raw}b v=1`).measurement).toBe(`m${want}x`);
      expect(one(`m,t=a${raw}b v=1`).tags.t).toBe(`a${want}b`);
    }
  });

  it('an escaped space before the fields does not end the series section', () => {
    const p = one('m,t=a\\ b v=1');
    expect(p.tags.t).toBe('a b');
    const q = one('m,t=a\\\\ v=1');
    expect(q.tags.t).toBe('a\\');
  });

  it('quoted string values: \\" and \\\\ are escapes, other backslashes are literal', () => {
    const p = one('m s="say \\"hi\\", a\\\\b, C:\\path=1 2",e=""');
    expect(p.fields.s).toBe('say "hi", a\\b, C:\\path=1 2');
    expect(p.fields.e).toBe('');
    expect(p.types).toBe('ss');
  });

  it('quotes in names are part of the name', () => {
    const p = one('"m",\'t\'="v" "f"=1');
    expect(p.measurement).toBe('"m"');
    expect(p.tags).toEqual({ "'t'": '"v"' });
    expect(p.fields).toEqual({ '"f"': 1 });
  });

  it('decodes unicode names and values', () => {
    const p = one('温度,城市=北京 值=1.5,s="🚀 launch"');
    expect(p.measurement).toBe('温度');
    expect(p.tags).toEqual({ 城市: '北京' });
    expect(p.fields).toEqual({ 值: 1.5, s: '🚀 launch' });
  });
});

describe('line protocol: field values', () => {
  it('floats, including exponents, leading dot and negative zero', () => {
    const p = one('m a=1,b=1.0,c=-1.5,d=1.e+78,e=1E5,f=-1.234456e-78,g=.5,h=-0,i=0.1,j=123456789012345678');
    expect(p.fields).toEqual({
      a: 1,
      b: 1,
      c: -1.5,
      d: 1e78,
      e: 1e5,
      f: -1.234456e-78,
      g: 0.5,
      h: -0,
      i: 0.1,
      j: Number.parseFloat('123456789012345678'),
    });
    expect(Object.is(p.fields.h, -0)).toBe(true);
    expect(p.types).toBe('ffffffffff');
  });

  it('parses floats exactly like parseFloat', () => {
    const samples = [
      '77.87',
      '0.30000000000000004',
      '1.7976931348623157e308',
      '5e-324',
      '9007199254740993',
      '3.14159',
    ];
    const p = one('m ' + samples.map((s, i) => `f${i}=${s}`).join(','));
    for (const [i, s] of samples.entries()) expect(p.fields[`f${i}`]).toBe(Number.parseFloat(s));
  });

  it('rejects inf, nan, overflowing floats and malformed numbers', () => {
    for (const bad of [
      'inf',
      '-inf',
      'nan',
      'NaN',
      '1e400',
      '1.2.3',
      '+1',
      '1e',
      '-',
      '.',
      '1x',
      '0x10',
      '1_000',
    ]) {
      fails(`m v=${bad}`, `invalid field value '${bad}' for key 'v'`);
    }
  });

  it('integers: int64 range, bigint beyond the safe range, errors outside int64', () => {
    const p = one(
      'm a=1i,b=-1i,c=9007199254740991i,d=9007199254740992i,e=9223372036854775807i,f=-9223372036854775808i,g=-0i',
    );
    expect(p.fields).toEqual({
      a: 1,
      b: -1,
      c: 9007199254740991,
      d: 9007199254740992n,
      e: 9223372036854775807n,
      f: -9223372036854775808n,
      g: 0,
    });
    expect(Object.is(p.fields.g, 0)).toBe(true);
    expect(p.types).toBe('iiiiiii');
    fails('m v=9223372036854775808i', "invalid field value '9223372036854775808i'");
    fails('m v=-9223372036854775809i', 'invalid field value');
    fails('m v=1.5i', 'invalid field value');
    fails('m v=1e3i', 'invalid field value');
    fails('m v=i', 'invalid field value');
  });

  it('unsigned: uint64 range, no sign', () => {
    const p = one('m a=0u,b=18446744073709551615u,c=12485903u');
    expect(p.fields).toEqual({ a: 0, b: 18446744073709551615n, c: 12485903 });
    expect(p.types).toBe('uuu');
    fails('m v=18446744073709551616u', 'invalid field value');
    fails('m v=-1u', 'invalid field value');
  });

  it('booleans in every accepted spelling, nothing else', () => {
    const p = one('m a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE');
    expect(Object.values(p.fields)).toEqual([
      true,
      true,
      true,
      true,
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(p.types).toBe('bbbbbbbbbb');
    for (const bad of ['tRUE', 'tru', 'yes', 'falsey', 'True1', 'FaLse'])
      fails(`m v=${bad}`, 'invalid field value');
  });

  it('rejects string values over 64 KiB', () => {
    fails(
      `m s="${'x'.repeat(65536)}"`,
      "string value of field 's' longer than input.limits.maxStringBytes (65535 bytes)",
    );
    expect(one(`m s="${'x'.repeat(65535)}"`).fields.s).toHaveLength(65535);
  });

  it('a repeated field key keeps the last value at the first position; another type is an error', () => {
    const p = one('m a=1,b=2,a=3');
    expect(p.fields).toEqual({ a: 3, b: 2 });
    expect(Object.keys(p.fields)).toEqual(['a', 'b']);
    expect(p.types).toBe('ff');
    fails('m a=1,b=2,a=3i', "field 'a' repeated with another type at column 11");
  });

  it('integer-like field keys: types follow the enumeration order of the fields object', () => {
    const p = one('m b="s",2=1i,1=true');
    expect(Object.keys(p.fields)).toEqual(['1', '2', 'b']);
    expect(p.types).toBe('bis');
  });

  it('__proto__ is an ordinary key for tags and fields', () => {
    const p = one('m,__proto__=x __proto__=1i,y=2');
    expect(Object.keys(p.tags)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(p.tags, '__proto__')?.value).toBe('x');
    expect(Object.keys(p.fields)).toEqual(['__proto__', 'y']);
    expect(Object.getOwnPropertyDescriptor(p.fields, '__proto__')?.value).toBe(1);
    expect(Object.getPrototypeOf(p.fields)).toBe(Object.prototype);
  });
});

describe('line protocol: timestamps and precision', () => {
  it('splits ns timestamps into whole ms and the nanosecond remainder without losing digits', () => {
    const p = one('m v=1 9223372036854775806');
    expect(p.time).toBe(9223372036854);
    expect(p.nanos).toBe(775806);
  });

  it('negative timestamps floor to the millisecond below', () => {
    expect(one('m v=1 -1')).toMatchObject({ time: -1, nanos: 999999 });
    expect(one('m v=1 -1000000')).toMatchObject({ time: -1, nanos: 0 });
    expect(one('m v=1 -9223372036854775806')).toMatchObject({ time: -9223372036855, nanos: 224194 });
    expect(one('m v=1 0')).toMatchObject({ time: 0, nanos: 0 });
  });

  it('honours precision us/ms/s', () => {
    expect(one('m v=1 1704067200123456', 'us')).toMatchObject({ time: 1704067200123, nanos: 456000 });
    expect(one('m v=1 1704067200123', 'ms')).toMatchObject({ time: 1704067200123, nanos: 0 });
    expect(one('m v=1 1704067200', 's')).toMatchObject({ time: 1704067200000, nanos: 0 });
    expect(one('m v=1 -1', 'us')).toMatchObject({ time: -1, nanos: 999000 });
    expect(one('m v=1 -1', 's')).toMatchObject({ time: -1000, nanos: 0 });
  });

  it("rejects timestamps outside InfluxDB's range", () => {
    fails('m v=1 9223372036854775807', "timestamp '9223372036854775807' out of range");
    fails('m v=1 -9223372036854775807', 'out of range');
    fails('m v=1 99999999999999999999', 'out of range');
    expect(lp('m v=1 9223372036854', 'ms').errors).toEqual([]);
    expect(lp('m v=1 9223372036855', 'ms').errors[0]!.reason).toMatch('out of range');
    expect(lp('m v=1 9223372037', 's').errors[0]!.reason).toMatch('out of range');
  });

  it('rejects non-integer timestamps and text after the timestamp', () => {
    fails('m v=1 notatimestamp', "invalid timestamp 'notatimestamp' at column 7");
    fails('m v=1 1.5', "invalid timestamp '1.5'");
    fails('m v=1 12a', "invalid timestamp '12a'");
    fails('m v=1 -', "invalid timestamp '-'");
    fails('m v=1 1 2', "unexpected text after timestamp: '2' at column 9");
  });
});

describe('line protocol: structural errors', () => {
  const cases: [string, string][] = [
    [',host=x value=1', 'missing measurement at column 1'],
    ['cpu,host=x', 'missing fields (no space after the measurement and tags) at column 11'],
    ['cpu', 'missing fields'],
    ['cpu ', 'missing fields at column 5'],
    ['cpu,host usage=3', "missing '=' after tag key 'host' at column 5"],
    ['cpu,=x v=1', 'missing tag key at column 5'],
    ['cpu,host= v=1', "missing value for tag 'host' at column 10"],
    ['cpu,host=a,,x=y v=1', 'missing tag key after comma at column 12'],
    ['cpu,host=a, v=1', 'missing tag key after comma'],
    ['cpu,host=a=b v=1', "unescaped '=' in value of tag 'host' at column 11"],
    ['cpu,host=a,host=b v=1', "duplicate tag key 'host' at column 12"],
    ['cpu v', "missing '=' after field key 'v'"],
    ['cpu =1', 'missing field key at column 5'],
    ['cpu v=', "missing value for field 'v' at column 7"],
    ['cpu v=1,', "missing '=' after field key ''"],
    ['cpu v=1,,w=2', 'missing field key at column 9'],
    ['cpu v=1x', "invalid field value '1x' for key 'v'"],
    ['cpu v="a"x', "unexpected 'x' after value of field 'v' at column 10"],
    ['cpu v="unterminated', "unterminated string value for field 'v' at column 7"],
    ['cpu v="ends with escaped quote\\"', 'unterminated string value'],
    ['cpu a b=1', "missing '=' after field key 'a' at column 6"],
  ];
  for (const [text, reason] of cases) {
    it(`${JSON.stringify(text)} -> ${reason}`, () => {
      fails(text, reason);
    });
  }
});

describe('line protocol: series and layout caches stay correct', () => {
  it('shares one frozen tags object between points of a series', () => {
    const { points } = lp('cpu,host=a v=1 1\ncpu,host=a v=2 2\n');
    expect(points[0]!.tags).toBe(points[1]!.tags);
    expect(Object.isFrozen(points[0]!.tags)).toBe(true);
    expect(() => {
      (points[0]!.tags as Record<string, string>).host = 'b';
    }).toThrow(TypeError);
  });

  it('series that are prefixes of each other and alternate are told apart', () => {
    const text = [
      'cpu,host=a v=1',
      'cpu,host=ab v=2',
      'cpu,host=a v=3',
      'cpu,host=ab v=4',
      'cpu,host=a\\ x v=5',
      'cpu,host=a v=6',
      'cpu,host=ab v=7',
    ].join('\n');
    const { points, errors } = lp(text);
    expect(errors).toEqual([]);
    expect(points.map((p) => `${p.tags.host}:${p.fields.v}`)).toEqual([
      'a:1',
      'ab:2',
      'a:3',
      'ab:4',
      'a x:5',
      'a:6',
      'ab:7',
    ]);
  });

  it('field layouts and types that change between lines of one series', () => {
    const text = [
      'm,h=a x=1,y=2i',
      'm,h=a x=1,y=2i,z=true',
      'm,h=a x=1i,y=2i',
      'm,h=a y=2i,x=1',
      'm,h=a x=1,y=2i',
      'm,h=a xx=1,y=2i',
      'm,h=a x=1,y=2i,x=5',
      'm,h=a averyveryverylongfieldkey=1,y=2i',
      'm,h=a averyveryverylongfieldkez=1,y=2i',
    ].join('\n');
    const { points, errors } = lp(text);
    expect(errors).toEqual([]);
    expect(points.map((p) => [p.fields, p.types])).toEqual([
      [{ x: 1, y: 2 }, 'fi'],
      [{ x: 1, y: 2, z: true }, 'fib'],
      [{ x: 1, y: 2 }, 'ii'],
      [{ y: 2, x: 1 }, 'if'],
      [{ x: 1, y: 2 }, 'fi'],
      [{ xx: 1, y: 2 }, 'fi'],
      [{ x: 5, y: 2 }, 'fi'],
      [{ averyveryverylongfieldkey: 1, y: 2 }, 'fi'],
      [{ averyveryverylongfieldkez: 1, y: 2 }, 'fi'],
    ]);
    expect(Object.keys(points[3]!.fields)).toEqual(['y', 'x']);
  });

  it('a bad line of a known series is still an error and does not disturb the next lines', () => {
    const { points, errors } = lp('m,h=a x=1\nm,h=a x=oops\nm,h=a x=2\nm,h=a y\nm,h=a x=3');
    expect(points.map((p) => p.fields.x)).toEqual([1, 2, 3]);
    expect(errors.map((e) => e.line)).toEqual([2, 4]);
  });

  it('lines with bigint values and lines with hundreds of fields, seen again', () => {
    const big = one('m,h=big a=18446744073709551615u,b=-9223372036854775808i,c=1.5,d=7i');
    expect(big.fields).toEqual({ a: 18446744073709551615n, b: -9223372036854775808n, c: 1.5, d: 7 });
    const wide = Array.from(
      { length: 250 },
      (_, i) => `f${i}=${i % 3 === 0 ? `${i}i` : i % 3 === 1 ? `${i}.5` : `"s${i}"`}`,
    );
    const p = one(`m,h=wide ${wide.join(',')} 1`);
    expect(Object.keys(p.fields)).toHaveLength(250);
    expect(p.fields.f0).toBe(0);
    expect(p.fields.f1).toBe(1.5);
    expect(p.fields.f2).toBe('s2');
    expect(p.fields.f249).toBe(249);
    expect(p.types).toBe('ifs'.repeat(83) + 'i');
  });

  it('keeps decoding right while the series cache starts over', () => {
    const previous = setSeriesCacheLimit(3);
    try {
      const text = Array.from({ length: 40 }, (_, i) => `m,h=${i % 9} v=${i}i ${i}`).join('\n');
      const { points, errors } = lp(text);
      expect(errors).toEqual([]);
      expect(points.map((p) => [p.tags.h, p.fields.v, p.nanos])).toEqual(
        Array.from({ length: 40 }, (_, i) => [String(i % 9), i, i]),
      );
    } finally {
      setSeriesCacheLimit(previous);
    }
  });

  it('independent calls with different precisions do not share timestamps', () => {
    expect(lp('m v=1 1000', 'ms').points[0]!.time).toBe(1000);
    expect(lp('m v=1 1000', 'ns').points[0]!).toMatchObject({ time: 0, nanos: 1000 });
  });
});

function withLimits(text: string, limits: DecodeLimits, fieldTypes?: FieldTypeRegistry) {
  const points: Point[] = [];
  const errors: DecodeError[] = [];
  decodeLineProtocolBytes(
    Buffer.from(text),
    { precision: 'ns', defaultTime: NOW, firstLine: 1, limits, fieldTypes },
    points,
    errors,
  );
  return { points, errors };
}

/** A line of `n` distinct fields, keys `f0..` or (numeric) `0..`. */
function wideLine(n: number, numericKeys = false): string {
  const fields: string[] = [];
  for (let i = 0; i < n; i++) fields.push(`${numericKeys ? '' : 'f'}${i}=${i}.5`);
  return `wide,host=h1 ${fields.join(',')} 1700000000000000000`;
}

/**
 * Best of five timings after a warm-up: the least disturbed run of a shared machine. Used only in
 * ratios between two sizes measured in the same test, with generous bounds.
 */
function bestMs(fn: () => void): number {
  fn();
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

describe('line protocol: limits and hostile lines', () => {
  const open: DecodeLimits = { ...DEFAULT_LIMITS, maxFields: 1_000_000, maxLineBytes: 64 << 20 };

  /** The same 100,000 fields as 100 lines of 1,000: the per-field work without the width. */
  function narrowLines(numericKeys: boolean): string {
    const lines: string[] = [];
    for (let l = 0; l < 100; l++) {
      const fields: string[] = [];
      for (let i = l * 1000; i < (l + 1) * 1000; i++) fields.push(`${numericKeys ? '' : 'f'}${i}=${i}.5`);
      lines.push(`wide,host=h${l} ${fields.join(',')} 1700000000000000000`);
    }
    return lines.join('\n');
  }

  for (const numericKeys of [false, true]) {
    it(`decodes a line of 100,000 fields in time linear in its bytes (${numericKeys ? 'integer-like keys, enumerated first' : 'repeated keys found by a map'})`, () => {
      // Before: each new key was compared with every earlier one: 100,000 fields took 42 s here
      // (105 s with integer-like keys), ~1,000x the same fields in narrow lines.
      const big = wideLine(100_000, numericKeys);
      const r = withLimits(big, open);
      expect(r.errors).toEqual([]);
      expect(r.points[0]!.types).toHaveLength(100_000);
      expect(r.points[0]!.fields[numericKeys ? '77777' : 'f77777']).toBe(77777.5);
      const narrow = narrowLines(numericKeys);
      expect(withLimits(narrow, open).points).toHaveLength(100);
      // A wide fields object costs more per key in V8 (a large hash table), so the bound is
      // generous; a quadratic scan is orders of magnitude past it.
      const ratio = bestMs(() => withLimits(big, open)) / bestMs(() => withLimits(narrow, open));
      expect(ratio).toBeLessThan(100);
    });
  }

  it('a repeated key far into a wide line is still found (last value wins, other type refused)', () => {
    const base = wideLine(1000);
    const again = withLimits(base.replace(' 1700000000000000000', ',f10=7 1700000000000000000'), open);
    expect(again.errors).toEqual([]);
    expect(again.points[0]!.fields.f10).toBe(7);
    expect(Object.keys(again.points[0]!.fields)).toHaveLength(1000);
    const other = withLimits(base.replace(' 1700000000000000000', ',f10=7i 1700000000000000000'), open);
    expect(other.errors[0]!.reason).toMatch(/^line 1: field 'f10' repeated with another type at column \d+$/);
  });

  it('refuses a line over maxLineBytes unread, and keeps its neighbours', () => {
    const long = `m,host=h1 s="${'x'.repeat(300_000)}" 1`;
    const r = withLimits(`m v=1 1\n${long}\nm v=3 3`, DEFAULT_LIMITS);
    expect(r.points.map((p) => p.fields.v)).toEqual([1, 3]);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]!.reason).toBe(
      `line 2: line of ${long.length} bytes, longer than input.limits.maxLineBytes (262144)`,
    );
    expect(r.errors[0]!.text).toHaveLength(201);
    // The text parser applies the same limit.
    const t = viaText(`m v=1 1\n${long}`, 'ns', 1);
    expect(t.errors.map((e) => e.reason)).toEqual([r.errors[0]!.reason]);
  });

  it('applies the limits of victoria-metrics and InfluxDB to names, tags, fields and strings', () => {
    const tags = (n: number) => Array.from({ length: n }, (_, i) => `t${i}=v`).join(',');
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `f${i}=1`).join(',');
    expect(withLimits(`m,${tags(29)} v=1 1`, DEFAULT_LIMITS).errors).toEqual([]);
    const cases: [string, string][] = [
      [`m,${tags(30)} v=1 1`, 'more than 29 tags (input.limits.maxTags)'],
      [`m ${fields(500)} 1`, 'more than 499 fields (input.limits.maxFields)'],
      [
        `m,t=${'v'.repeat(1025)} v=1 1`,
        "value of tag 't' longer than input.limits.maxTagValueBytes (1024 bytes)",
      ],
      [
        `m,t=${'é'.repeat(513)} v=1 1`,
        "value of tag 't' longer than input.limits.maxTagValueBytes (1024 bytes)",
      ],
      [`${'m'.repeat(257)} v=1 1`, 'measurement longer than input.limits.maxNameBytes (256 bytes)'],
      [`m,${'k'.repeat(257)}=v v=1 1`, 'longer than input.limits.maxNameBytes (256 bytes)'],
      [`m ${'f'.repeat(257)}=1 1`, 'longer than input.limits.maxNameBytes (256 bytes)'],
    ];
    for (const [line, reason] of cases) {
      const r = withLimits(`ok v=1 1\n${line}\nok v=2 2`, DEFAULT_LIMITS);
      expect(r.points).toHaveLength(2);
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]!.line).toBe(2);
      expect(r.errors[0]!.reason).toContain(reason);
    }
    expect(withLimits(`m,t=${'é'.repeat(512)} v=1 1`, DEFAULT_LIMITS).errors).toEqual([]);
    expect(withLimits(`m ${fields(499)} 1`, DEFAULT_LIMITS).errors).toEqual([]);
  });

  it('a series or layout cached under looser limits is held to the current ones', () => {
    const line = `m,t=${'v'.repeat(2000)} v=1 1`;
    const loose = { ...DEFAULT_LIMITS, maxTagValueBytes: 4096, maxFields: 3 };
    expect(withLimits(`${line}\n${line}`, loose).points).toHaveLength(2);
    const strict = withLimits(`${line}\n${line}`, DEFAULT_LIMITS);
    expect(strict.points).toEqual([]);
    expect(strict.errors.map((e) => e.line)).toEqual([1, 2]);
    const wide = 'n a=1,b=2,c=3 1';
    expect(withLimits(`${wide}\n${wide}`, loose).points).toHaveLength(2);
    expect(withLimits(`${wide}\n${wide}`, { ...loose, maxFields: 2 }).errors).toHaveLength(2);
  });

  it('refuses control characters (NUL, ESC, tab, C1) in names and tag values', () => {
    for (const [line, where] of [
      ['cp\u0000u v=1 1', 'in the measurement'],
      ['cpu,ho\u001bst=a v=1 1', 'in a tag key'],
      ['cpu,host=a\tb v=1 1', "in the value of tag 'host'"],
      ['cpu,host=a\\\u0000 v=1 1', "in the value of tag 'host'"],
      ['cpu u\u0085sage=1 1', 'in a field key'],
    ] as const) {
      const r = lp(`ok v=1 1\n${line}`);
      expect(r.points).toHaveLength(1);
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]!.reason).toMatch(
        new RegExp(
          `^line 2: control character U\\+00[0-9A-F]{2} ${where.replace(/[()]/g, '\\$&')} at column \\d+$`,
        ),
      );
    }
    // String field values may hold them (InfluxDB stores them as they are).
    expect(one('m s="a\tb\u0000c" 1').fields.s).toBe('a\tb\u0000c');
  });

  it('refuses a field changing type within a measurement, as InfluxDB does, with both types named', () => {
    const types = new FieldTypeRegistry();
    const text = [
      'cpu,host=a usage=1.5,n=3i 1',
      'cpu,host=b usage=2.5,n=4i 2',
      'cpu,host=a usage="high",n=5i 3', // string after float: refused
      'cpu,host=a usage=3.5,n=6 4', // float after integer: refused
      'cpu,host=a usage=4.5,n=7i 5',
      'mem,host=a usage="ok" 6', // another measurement: its own types
    ].join('\n');
    const r = withLimits(`${text}\n${text}`, DEFAULT_LIMITS, types);
    expect(r.points.map((p) => p.time === NOW || p.nanos)).toEqual([1, 2, 5, 6, 1, 2, 5, 6]);
    expect(r.errors.map((e) => e.reason)).toEqual([
      "line 3: field 'usage' is string here but was float in earlier points of 'cpu' (a TSDB refuses a field changing type) at column 12",
      "line 4: field 'n' is float here but was integer in earlier points of 'cpu' (a TSDB refuses a field changing type) at column 22",
      "line 9: field 'usage' is string here but was float in earlier points of 'cpu' (a TSDB refuses a field changing type) at column 12",
      "line 10: field 'n' is float here but was integer in earlier points of 'cpu' (a TSDB refuses a field changing type) at column 22",
    ]);
    // Without a registry (a lone decode) types are only checked within the line.
    expect(withLimits(text, DEFAULT_LIMITS).errors).toEqual([]);
  });
});

describe('encodeLine', () => {
  const base: Point = {
    measurement: 'cpu',
    tags: { host: 'h1' },
    fields: { v: 1.5 },
    types: 'f',
    time: 1704067200123,
    nanos: 456789,
  };

  it('writes canonical line protocol with an exact ns timestamp', () => {
    expect(encodeLine(base)).toBe('cpu,host=h1 v=1.5 1704067200123456789');
  });

  it('writes every field type', () => {
    const p: Point = {
      ...base,
      fields: { f: 2, i: 3, big: -9223372036854775808n, u: 18446744073709551615n, s: 'a "b" \\c', b: false },
      types: 'fiiusb',
    };
    expect(encodeLine(p)).toBe(
      'cpu,host=h1 f=2,i=3i,big=-9223372036854775808i,u=18446744073709551615u,s="a \\"b\\" \\\\c",b=false 1704067200123456789',
    );
  });

  it('escapes names and keeps -0 and exponents', () => {
    const p: Point = {
      measurement: 'my meas,x=y\\',
      tags: { 'k =,': 'v =,\\' },
      fields: { 'f =,': -0, e: 1e-7, g: 1e21 },
      types: 'fff',
      time: 0,
      nanos: 5,
    };
    expect(encodeLine(p)).toBe(
      'my\\ meas\\,x=y\\\\,k\\ \\=\\,=v\\ \\=\\,\\\\ f\\ \\=\\,=-0,e=1e-7,g=1e+21 5',
    );
  });

  it('drops what line protocol cannot carry and renders newlines as \\n', () => {
    const p: Point = {
      measurement: 'm',
      tags: { empty: '', a: 'x\ny' },
      fields: { n: Number.NaN, s: 'line1\nline2\r', v: 1 },
      types: 'fsf',
      time: 1,
      nanos: 0,
    };
    expect(encodeLine(p)).toBe('m,a=x\\ny s="line1\\nline2\\r",v=1 1000000');
  });

  it('formats timestamps at every precision, flooring, including negative times', () => {
    expect(formatTimestamp(1704067200123, 456789, 'ns')).toBe('1704067200123456789');
    expect(formatTimestamp(1704067200123, 456789, 'us')).toBe('1704067200123456');
    expect(formatTimestamp(1704067200123, 456789, 'ms')).toBe('1704067200123');
    expect(formatTimestamp(1704067200123, 456789, 's')).toBe('1704067200');
    expect(formatTimestamp(0, 7, 'ns')).toBe('7');
    expect(formatTimestamp(-1, 999999, 'ns')).toBe('-1');
    expect(formatTimestamp(-1, 0, 'ns')).toBe('-1000000');
    expect(formatTimestamp(-2, 1, 'ns')).toBe('-1999999');
    expect(formatTimestamp(-1, 500000, 'us')).toBe('-500');
    expect(formatTimestamp(-1, 0, 's')).toBe('-1');
  });
});
