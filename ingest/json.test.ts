import { describe, expect, it } from 'vitest';
import type { DecodeError, Point, Precision } from '../core/types.js';
import { decodeTelegrafJson } from './json.js';
import { DEFAULT_LIMITS, type DecodeLimits, FieldTypeRegistry } from './limits.js';

const NOW = 1_700_000_000_000;

function json(
  text: string,
  precision: Precision = 's',
  firstLine = 1,
): { points: Point[]; errors: DecodeError[] } {
  const points: Point[] = [];
  const errors: DecodeError[] = [];
  decodeTelegrafJson(text, { precision, defaultTime: NOW, firstLine }, points, errors);
  return { points, errors };
}

const single =
  '{"fields":{"field_1":30,"field_2":4.5,"state":"ok","up":true},"name":"docker","tags":{"host":"raynor"},"timestamp":1458229140}';

describe('Telegraf JSON serializer', () => {
  it('decodes the single-metric form (seconds by default)', () => {
    const { points, errors } = json(single);
    expect(errors).toEqual([]);
    expect(points).toEqual([
      {
        measurement: 'docker',
        tags: { host: 'raynor' },
        fields: { field_1: 30, field_2: 4.5, state: 'ok', up: true },
        types: 'ffsb',
        time: 1458229140000,
        nanos: 0,
      },
    ]);
  });

  it('decodes the batch form and a top-level array', () => {
    const batch = `{"metrics":[${single},${single.replace('"docker"', '"cpu"')}]}`;
    expect(json(batch).points.map((p) => p.measurement)).toEqual(['docker', 'cpu']);
    expect(json(`[${single}]`).points).toHaveLength(1);
    const pretty = JSON.stringify(JSON.parse(batch), null, 4);
    expect(json(pretty).points).toHaveLength(2);
  });

  it('decodes JSON Lines, with blank lines, single metrics and batches mixed', () => {
    const text = `${single}\n\n{"metrics":[${single},${single}]}\r\n${single}\n`;
    const { points, errors } = json(text);
    expect(errors).toEqual([]);
    expect(points).toHaveLength(4);
  });

  it('numbers are always floats: Telegraf JSON cannot tell 30 from 30.0', () => {
    const { points } = json('{"name":"m","fields":{"a":30,"b":30.5,"c":-1e300},"timestamp":1}');
    expect(points[0]!.types).toBe('fff');
  });

  it('timestamp units follow the precision option', () => {
    const ts = (t: string, precision: Precision) =>
      json(`{"name":"m","fields":{"v":1},"timestamp":${t}}`, precision);
    expect(ts('1458229140123', 'ms').points[0]).toMatchObject({ time: 1458229140123, nanos: 0 });
    expect(ts('1458229140123456', 'us').points[0]).toMatchObject({ time: 1458229140123, nanos: 456000 });
    expect(ts('1458229140', 's').points[0]).toMatchObject({ time: 1458229140000, nanos: 0 });
    expect(ts('1458229140.5', 's').points[0]).toMatchObject({ time: 1458229140500, nanos: 0 });
    const ns = ts('1458229140123456768', 'ns').points[0]!;
    expect(ns.time).toBe(1458229140123);
    // Doubles keep ~256 ns of resolution at this magnitude.
    expect(Math.abs(ns.nanos - 456768)).toBeLessThanOrEqual(256);
  });

  it('accepts RFC 3339 timestamps (json_timestamp_format) with nanosecond fractions', () => {
    const { points } = json('{"name":"m","fields":{"v":1},"timestamp":"2016-03-17T15:39:00.123456789Z"}');
    expect(points[0]).toMatchObject({ time: Date.UTC(2016, 2, 17, 15, 39, 0, 123), nanos: 456789 });
    const offset = json('{"name":"m","fields":{"v":1},"timestamp":"2016-03-17T17:39:00+02:00"}');
    expect(offset.points[0]!.time).toBe(Date.UTC(2016, 2, 17, 15, 39));
  });

  it('a metric without timestamp gets the default time', () => {
    expect(json('{"name":"m","fields":{"v":1}}').points[0]).toMatchObject({ time: NOW, nanos: 0 });
  });

  it('tags: numbers and booleans become text, empty values are dropped', () => {
    const { points } = json('{"name":"m","tags":{"n":5,"b":false,"e":"","s":"x"},"fields":{"v":1}}');
    expect(points[0]!.tags).toEqual({ n: '5', b: 'false', s: 'x' });
  });

  it('__proto__ keys are kept as own properties', () => {
    const { points } = json('{"name":"m","tags":{"__proto__":"x"},"fields":{"__proto__":1}}');
    expect(Object.keys(points[0]!.tags)).toEqual(['__proto__']);
    expect(Object.keys(points[0]!.fields)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(points[0]!.fields)).toBe(Object.prototype);
  });

  it("bad metrics in a batch are errors with the metric's 1-based index; the rest is kept", () => {
    const text = JSON.stringify({
      metrics: [
        { name: 'ok1', fields: { v: 1 }, timestamp: 1 },
        { name: 'bad', fields: {}, timestamp: 1 },
        { name: 'ok2', fields: { v: 2 }, timestamp: 1 },
        { fields: { v: 3 } },
        { name: 'bad', fields: { v: { nested: 1 } } },
        'not an object',
      ],
    });
    const { points, errors } = json(text);
    expect(points.map((p) => p.measurement)).toEqual(['ok1', 'ok2']);
    expect(errors.map((e) => [e.line, e.reason])).toEqual([
      [2, 'metric 2: no fields (a point needs at least one)'],
      [4, "metric 4: missing or empty 'name'"],
      [5, 'metric 5: field "v" has unsupported value {"nested":1}'],
      [6, 'metric 6: expected a metric object, got "not an object"'],
    ]);
    expect(errors[0]!.text).toBe('{"name":"bad","fields":{},"timestamp":1}');
  });

  it('errors in JSON Lines carry the line number; invalid JSON lines are errors too', () => {
    const text = [single, '{"name":"m","fields":', single, `{"metrics":[${single},{"name":"x"}]}`].join('\n');
    const { points, errors } = json(text, 's', 10);
    expect(points).toHaveLength(3);
    expect(errors.map((e) => e.line)).toEqual([11, 13]);
    expect(errors[0]!.reason).toMatch(/^line 11: invalid JSON: /);
    expect(errors[1]!.reason).toBe("line 13 (metric 2 of the batch): missing 'fields' object");
  });

  it('rejects what line protocol cannot carry', () => {
    const bad = [
      ['{"name":"#m","fields":{"v":1}}', 'cannot be written as line protocol'],
      [
        '{"name":"a\\nb","fields":{"v":1}}',
        'measurement name "a\\nb" contains control character U+000A at index 1',
      ],
      [
        '{"name":"m","tags":{"t":"a\\nb"},"fields":{"v":1}}',
        'the value of tag "t" contains control character U+000A',
      ],
      [
        '{"name":"m","tags":{"t\\u0000":"x"},"fields":{"v":1}}',
        'tag key "t\\u0000" contains control character U+0000',
      ],
      ['{"name":"m","fields":{"v\\u001b[31m":1}}', 'contains control character U+001B'],
      ['{"name":"m","tags":{"":"x"},"fields":{"v":1}}', 'empty tag key'],
      ['{"name":"m","fields":{"":1}}', 'empty field key'],
      ['{"name":"m","tags":{"t":[1]},"fields":{"v":1}}', 'non-string value'],
      ['{"name":"m","tags":[],"fields":{"v":1}}', "'tags' must be an object"],
      ['{"name":"m","fields":{"v":null}}', 'unsupported value null'],
      ['{"name":"m","fields":{"v":1},"timestamp":"yesterday"}', 'invalid timestamp'],
      ['{"name":"m","fields":{"v":1},"timestamp":true}', 'invalid timestamp'],
      ['{"name":"m","fields":{"v":1},"timestamp":1e300}', 'out of range'],
    ];
    for (const [text, reason] of bad) {
      const { points, errors } = json(text!);
      expect(points).toEqual([]);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.reason).toContain(reason);
      expect(errors[0]!.line).toBe(1);
    }
  });

  it('empty and whitespace-only input decode to nothing', () => {
    expect(json('')).toEqual({ points: [], errors: [] });
    expect(json(' \n\r\n')).toEqual({ points: [], errors: [] });
  });

  describe('hostile documents', () => {
    const good = '{"fields":{"v":1},"name":"cpu","tags":{"host":"h1"},"timestamp":1700000000}';

    it('a line nested 100,000 deep is refused by itself, on its own line; its neighbours are kept', () => {
      // Before: describing it for the error overflowed the stack, and the whole chunk was lost,
      // reported on its first line.
      const deep = '['.repeat(100_000) + ']'.repeat(100_000);
      const { points, errors } = json([good, deep, good, good].join('\n'), 's', 5);
      expect(points).toHaveLength(3);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.line).toBe(6);
      expect(errors[0]!.reason).toBe(
        'line 6: JSON nested deeper than input.limits.maxJsonDepth (32 levels) at column 33',
      );
      expect(errors[0]!.text).toHaveLength(201);
    });

    it('a deep value inside a metric of a batch is refused with the metric, never by recursion', () => {
      const deepValue = '{"fields":{"v":' + '['.repeat(50_000) + ']'.repeat(50_000) + '},"name":"cpu"}';
      const opts: DecodeLimits = { ...DEFAULT_LIMITS, maxJsonDepth: 100_000 };
      const points: Point[] = [];
      const errors: DecodeError[] = [];
      decodeTelegrafJson(
        `{"metrics":[${good},${deepValue},${good}]}`,
        { precision: 's', defaultTime: NOW, firstLine: 1, limits: opts },
        points,
        errors,
      );
      expect(points).toHaveLength(2);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.line).toBe(2);
      expect(errors[0]!.reason).toMatch(/^metric 2: field "v" has unsupported value \[\[\[/);
      // A whole array of arrays as a metric: described without recursion as well.
      const arrays = '['.repeat(50_000) + ']'.repeat(50_000);
      const r2: { points: Point[]; errors: DecodeError[] } = { points: [], errors: [] };
      decodeTelegrafJson(
        `${good}\n${arrays}\n${good}`,
        { precision: 's', defaultTime: NOW, firstLine: 1, limits: opts },
        r2.points,
        r2.errors,
      );
      expect(r2.points).toHaveLength(2);
      expect(r2.errors.map((e) => e.line)).toEqual([2]);
    });

    it('applies the limits to each metric', () => {
      const tags = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`t${i}`, 'v']));
      const fields = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`f${i}`, 1]));
      const cases: [object, string][] = [
        [{ name: 'm', tags, fields: { v: 1 } }, 'more than 29 tags (input.limits.maxTags)'],
        [{ name: 'm', fields }, 'more than 499 fields (input.limits.maxFields)'],
        [
          { name: 'm', tags: { t: 'v'.repeat(1025) }, fields: { v: 1 } },
          'longer than input.limits.maxTagValueBytes (1024 bytes)',
        ],
        [{ name: 'm'.repeat(257), fields: { v: 1 } }, 'longer than input.limits.maxNameBytes (256 bytes)'],
        [
          { name: 'm', fields: { s: 'x'.repeat(65_536) } },
          'longer than input.limits.maxStringBytes (65535 bytes)',
        ],
        [
          {
            name: 'm',
            fields: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`s${i}`, 'x'.repeat(30_000)])),
          },
          'longer than input.limits.maxLineBytes (262144)',
        ],
      ];
      for (const [metric, reason] of cases) {
        const { points, errors } = json([good, JSON.stringify(metric), good].join('\n'));
        expect(points).toHaveLength(2);
        expect(errors).toHaveLength(1);
        expect(errors[0]!.line).toBe(2);
        expect(errors[0]!.reason).toContain(reason);
      }
    });

    it('refuses a field changing type against the stream it belongs to', () => {
      const types = new FieldTypeRegistry();
      const run = (text: string) => {
        const points: Point[] = [];
        const errors: DecodeError[] = [];
        decodeTelegrafJson(
          text,
          { precision: 's', defaultTime: NOW, firstLine: 1, fieldTypes: types },
          points,
          errors,
        );
        return { points, errors };
      };
      expect(run('{"name":"m","fields":{"v":1,"s":"a"}}').errors).toEqual([]);
      const r = run(
        '{"name":"m","fields":{"v":"high"}}\n{"name":"m","fields":{"v":2,"s":true}}\n{"name":"m","fields":{"v":3}}',
      );
      expect(r.points.map((p) => p.fields.v)).toEqual([3]);
      expect(r.errors.map((e) => e.reason)).toEqual([
        'line 1: field "v" is string here but was float in earlier points of "m" (a TSDB refuses a field changing type)',
        'line 2: field "s" is boolean here but was string in earlier points of "m" (a TSDB refuses a field changing type)',
      ]);
    });
  });
});
