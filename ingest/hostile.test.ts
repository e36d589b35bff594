import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { InputFormat, Point } from '../core/types.js';
import { decodeBuffer } from './decode.js';
import { FieldTypeRegistry } from './limits.js';

/**
 * The decoders against hostile input (issue 10): deep nesting, huge tokens, wide lines, random
 * bytes, far timestamps, control characters and broken UTF-8, mixed with good lines in one
 * message. Whatever comes: decodeBuffer never throws, every good line is kept (and no error
 * names it), every other line is accounted for, and the time per byte stays within a generous
 * multiple of a plain Telegraf stream's, measured in the same run.
 */

const rng = (seed: number) => {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
};

/** Nanoseconds per byte of decoding a plain Telegraf-like stream (best of five): the yardstick. */
function baselineNsPerByte(): number {
  const r = rng(7);
  const lines: string[] = [];
  for (let i = 0; i < 5000; i++) {
    const h = Math.floor(r() * 50);
    lines.push(
      `cpu,host=node-${h},dc=d1,rack=r${h % 4} usage_idle=${(r() * 100).toFixed(2)},usage_user=${(r() * 100).toFixed(2)},n=${Math.floor(r() * 1e6)}i ${1704067200000000000 + i * 1e9}`,
    );
  }
  const buf = Buffer.from(lines.join('\n'));
  return bestNs(() => decodeBuffer(buf, 'lp', { defaultTime: 0 })) / buf.length;
}

function bestNs(fn: () => unknown, runs = 5): number {
  fn();
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0));
  }
  return best;
}

/** A line, as bytes, that may not hold a newline (the message's own line structure is ours). */
const noNewline = (b: Uint8Array) => Buffer.from(b.map((c) => (c === 10 ? 32 : c)));

const digits = (n: number) => '9'.repeat(n);

function lpLine(field: (i: number) => string, n: number): Buffer {
  return Buffer.from(`w,h=${n} ${Array.from({ length: n }, (_, i) => field(i)).join(',')} 1`);
}

// --- line protocol -------------------------------------------------------------------------

const goodLp = fc
  .record({
    host: fc.integer({ min: 0, max: 20 }),
    v: fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 }),
    n: fc.integer(),
    s: fc.string({ maxLength: 30 }).map((s) => s.replace(/[\\"\n\r]/g, '_')),
    b: fc.boolean(),
    t: fc.integer({ min: 0, max: 4_000_000_000 }),
  })
  .map(({ host, v, n, s, b, t }) => `goodm,host=h${host},dc=d1 v=${v},n=${n}i,s="${s}",b=${b} ${t}000000000`);

const hostileLp: fc.Arbitrary<Buffer> = fc.oneof(
  // random bytes
  fc.uint8Array({ maxLength: 4000 }).map(noNewline),
  // deep "nesting" and bracket soup
  fc.integer({ min: 1, max: 200_000 }).map((d) => Buffer.from(`m v=${'['.repeat(d)}${']'.repeat(d)}`)),
  // huge tokens: measurement, tag value, field key, string, number, timestamp
  fc
    .tuple(fc.integer({ min: 1, max: 400_000 }), fc.integer({ min: 0, max: 5 }))
    .map(([n, k]) =>
      Buffer.from(
        [
          `${'m'.repeat(n)} v=1 1`,
          `m,t=${'v'.repeat(n)} v=1 1`,
          `m ${'k'.repeat(n)}=1 1`,
          `m s="${'x'.repeat(n)}" 1`,
          `m v=${digits(n)} 1`,
          `m v=1 ${digits(n)}`,
        ][k]!,
      ),
    ),
  // wide lines: distinct keys, integer-like keys, repeated keys, repeated with other types
  fc.tuple(fc.integer({ min: 1, max: 30_000 }), fc.integer({ min: 0, max: 3 })).map(([n, k]) => {
    const fields: string[] = [];
    for (let i = 0; i < n; i++) {
      if (k === 0) fields.push(`f${i}=${i}`);
      else if (k === 1) fields.push(`${i}=${i}i`);
      else if (k === 2) fields.push(`f${i % 97}=${i}`);
      else fields.push(`f${i % 97}=${i % 2 ? `${i}i` : `${i}`}`);
    }
    return Buffer.from(`wide,host=w ${fields.join(',')} 1`);
  }),
  // many tags, escapes everywhere, a dangling backslash
  fc
    .integer({ min: 1, max: 5000 })
    .map((n) =>
      Buffer.from(`m,${Array.from({ length: n }, (_, i) => `t\\ ${i}=\\,v\\=${i}`).join(',')} v=1 1\\`),
    ),
  // far and malformed timestamps
  fc
    .constantFrom(
      '9223372036854775807',
      '9223372036854775806',
      '-9223372036854775806',
      '99999999999999999999',
      '-99999999999999999999999',
      '1e30',
      '0x10',
      '+5',
    )
    .map((t) => Buffer.from(`far,host=f v=1 ${t}`)),
  // control characters, BOMs, CRs, broken UTF-8
  fc
    .constantFrom(
      [0x6d, 0x00, 0x20, 0x76, 0x3d, 0x31],
      [0x1b, 0x5b, 0x32, 0x4a, 0x20, 0x76, 0x3d, 0x31],
      [0xef, 0xbb, 0xbf, 0x6d, 0x20, 0x76, 0x3d, 0x31],
      [0x6d, 0x2c, 0x74, 0x3d, 0xc3, 0x28, 0x20, 0x76, 0x3d, 0x31],
      [0x6d, 0x20, 0x76, 0x3d, 0x31, 0x0d, 0x0d],
      [0xed, 0xa0, 0x80],
      [0xc2, 0x9b, 0x20, 0x76, 0x3d, 0x31],
    )
    .map((b) => Buffer.from(b)),
);

// --- Telegraf JSON ---------------------------------------------------------------------------

const goodJson = fc
  .record({
    host: fc.integer({ min: 0, max: 20 }),
    v: fc.double({ noNaN: true, noDefaultInfinity: true }),
    s: fc.string({ maxLength: 30 }),
    t: fc.integer({ min: 0, max: 4_000_000_000 }),
  })
  .map(({ host, v, s, t }) =>
    JSON.stringify({ name: 'goodm', tags: { host: `h${host}` }, fields: { v, s }, timestamp: t }),
  );

const hostileJson: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 4000 }).map(noNewline),
  fc.integer({ min: 1, max: 300_000 }).map((d) => Buffer.from('['.repeat(d) + ']'.repeat(d))),
  fc.integer({ min: 1, max: 100_000 }).map((d) => Buffer.from('{"a":'.repeat(d) + '1' + '}'.repeat(d))),
  fc
    .integer({ min: 1, max: 100_000 })
    .map((d) => Buffer.from(`{"name":"m","fields":{"v":${'['.repeat(d)}${']'.repeat(d)}}}`)),
  fc
    .integer({ min: 1, max: 400_000 })
    .map((n) =>
      Buffer.from(JSON.stringify({ name: 'm', tags: { t: 'v'.repeat(n) }, fields: { s: 'x'.repeat(n) } })),
    ),
  fc.integer({ min: 1, max: 30_000 }).map((n) => {
    const fields: Record<string, number> = {};
    for (let i = 0; i < n; i++) fields[`f${i}`] = i;
    return Buffer.from(JSON.stringify({ name: 'wide', fields }));
  }),
  fc
    .integer({ min: 1, max: 20_000 })
    .map((n) =>
      Buffer.from(
        JSON.stringify({ metrics: Array.from({ length: n }, (_, i) => ({ name: 'b', fields: { v: i } })) }),
      ),
    ),
  fc
    .constantFrom('1e300', '-1e300', '9223372036854775807', '"9999-99-99T99:99:99Z"', 'null', '[]', '{}')
    .map((t) => Buffer.from(`{"name":"far","fields":{"v":1},"timestamp":${t}}`)),
  fc
    .constantFrom('{"name":"m\\u0000","fields":{"v":1}}', '{"name":"\\u001b[2J","fields":{"v":1}}')
    .map((s) => Buffer.from(s)),
);

/** Lines the line-protocol decoder must account for (not blank, not a comment). */
function accountable(lines: readonly Buffer[]): number {
  let n = 0;
  lines.forEach((l, i) => {
    let s = l.toString('latin1');
    if (i === 0 && s.startsWith('\xef\xbb\xbf')) s = s.slice(3);
    if (s.endsWith('\r')) s = s.slice(0, -1);
    const t = s.replace(/^[ \t]+/, '');
    if (t !== '' && t[0] !== '#') n++;
  });
  return n;
}

function checkMessage(
  format: InputFormat,
  good: readonly string[],
  hostile: readonly Buffer[],
  order: readonly boolean[],
  nsPerByte: number,
): void {
  // Interleave: `order[i]` true takes the next good line, false the next hostile one.
  const lines: Buffer[] = [];
  const goodAt: number[] = [];
  let g = 0;
  let h = 0;
  for (const takeGood of order) {
    if (takeGood && g < good.length) {
      lines.push(Buffer.from(good[g++]!));
      goodAt.push(lines.length);
    } else if (h < hostile.length) lines.push(hostile[h++]!);
  }
  while (g < good.length) {
    lines.push(Buffer.from(good[g++]!));
    goodAt.push(lines.length);
  }
  while (h < hostile.length) lines.push(hostile[h++]!);
  const message = Buffer.concat(lines.flatMap((l, i) => (i === 0 ? [l] : [Buffer.from('\n'), l])));

  const decodeIt = () =>
    decodeBuffer(message, format, { defaultTime: 0, fieldTypes: new FieldTypeRegistry() });
  let r: ReturnType<typeof decodeBuffer>;
  const t0 = process.hrtime.bigint();
  try {
    r = decodeIt();
  } catch (e) {
    throw new Error(`decodeBuffer threw: ${(e as Error).message}`);
  }
  let ns = Number(process.hrtime.bigint() - t0);

  // Good lines kept: no error names one, and their points come out in order.
  const goodLines = new Set(goodAt);
  for (const e of r.errors) expect(goodLines.has(e.line), `error on a good line: ${e.reason}`).toBe(false);
  const expected = good.map((l) => decodeBuffer(Buffer.from(l), format, { defaultTime: 0 }).points[0]!);
  let k = 0;
  for (const p of r.points) if (k < expected.length && samePoint(p, expected[k]!)) k++;
  expect(k).toBe(expected.length);
  if (format === 'lp') expect(r.points.length + r.errors.length).toBe(accountable(lines));

  // Time per byte: a fixed allowance per call plus a generous multiple of the yardstick. A run
  // over it is timed again (best of three) before it counts: the machine is shared.
  const bound = 5e6 + 300 * nsPerByte * message.length;
  if (ns > bound) ns = bestNs(decodeIt, 3);
  expect(ns, `${message.length} bytes took ${(ns / 1e6).toFixed(1)} ms`).toBeLessThan(bound);
}

function samePoint(a: Point, b: Point): boolean {
  return (
    a.measurement === b.measurement &&
    a.time === b.time &&
    a.nanos === b.nanos &&
    a.types === b.types &&
    JSON.stringify(a.tags) === JSON.stringify(b.tags) &&
    JSON.stringify(a.fields, (_, v) => (typeof v === 'bigint' ? String(v) : v)) ===
      JSON.stringify(b.fields, (_, v) => (typeof v === 'bigint' ? String(v) : v))
  );
}

describe('decoders under hostile input', () => {
  const yardstick = baselineNsPerByte();

  for (const [format, good, hostile] of [
    ['lp', goodLp, hostileLp],
    ['json', goodJson, hostileJson],
  ] as const) {
    it(`${format}: never throws, keeps every good line, stays within a linear time budget`, () => {
      fc.assert(
        fc.property(
          fc.array(good, { maxLength: 8 }),
          fc.array(hostile, { minLength: 1, maxLength: 4 }),
          fc.array(fc.boolean(), { maxLength: 12 }),
          (g, h, order) => checkMessage(format, g, h, order, yardstick),
        ),
        { numRuns: 150 },
      );
    });
  }

  /**
   * Each hostile shape at a large size, its limits lifted: within the same per-byte budget. A
   * quadratic step would be thousands of times the yardstick per byte at these sizes.
   */
  const shapes: [string, InputFormat, Buffer][] = [
    ['lp: 60,000 distinct fields', 'lp', lpLine((i) => `f${i}=1`, 60_000)],
    ['lp: 60,000 integer-like keys', 'lp', lpLine((i) => `${i}=1i`, 60_000)],
    ['lp: 60,000 fields over 1,000 repeated keys', 'lp', lpLine((i) => `f${i % 1000}=1`, 60_000)],
    [
      'lp: 60,000 escaped tag keys',
      'lp',
      Buffer.from(`m,${Array.from({ length: 60_000 }, (_, i) => `t\\ ${i}=v`).join(',')} v=1 1`),
    ],
    ['lp: a string of 200,000 escapes', 'lp', Buffer.from(`m s="${'\\"'.repeat(200_000)}" 1`)],
    [
      'lp: 60,000 new series',
      'lp',
      Buffer.from(Array.from({ length: 60_000 }, (_, i) => `m,h=${i}x v=${i}`).join('\n')),
    ],
    ['json: 500,000 levels', 'json', Buffer.from('['.repeat(500_000) + ']'.repeat(500_000))],
    [
      'json: a metric of 60,000 fields',
      'json',
      Buffer.from(
        JSON.stringify({
          name: 'w',
          fields: Object.fromEntries(Array.from({ length: 60_000 }, (_, i) => [`f${i}`, i])),
        }),
      ),
    ],
    [
      'json: a batch of 60,000 bad metrics',
      'json',
      Buffer.from(
        JSON.stringify({
          metrics: Array.from({ length: 60_000 }, () => ({ name: '', fields: { v: [[[1]]] } })),
        }),
      ),
    ],
  ];
  const lifted = {
    maxLineBytes: 1 << 30,
    maxNameBytes: 1 << 20,
    maxTagValueBytes: 1 << 20,
    maxTags: 1 << 20,
    maxFields: 1 << 20,
    maxStringBytes: 1 << 30,
    maxJsonDepth: 1 << 20,
  };
  for (const [name, format, input] of shapes) {
    it(`${name}: within the linear time budget (limits lifted)`, () => {
      const r = decodeBuffer(input, format, { defaultTime: 0, limits: lifted });
      expect(r.points.length + r.errors.length).toBeGreaterThan(0);
      const ns = bestNs(() => decodeBuffer(input, format, { defaultTime: 0, limits: lifted }), 3);
      expect(ns / input.length, `${(ns / 1e6).toFixed(1)} ms for ${input.length} bytes`).toBeLessThan(
        300 * yardstick,
      );
    });
  }

  it('ever new long series keep the decoder caches within their memory budget', () => {
    // Before: the caches were bounded by counts only (100,000 series, 10,000 layouts): series of
    // 29 tags of 1 KiB each held ~113 KB of heap apiece, growing to 11 GB; wide layouts likewise
    // (1.3 MB each, up to 13 GB).
    // The budget is set low here (the default is 512 MiB) so that the test need not fill it.
    const script = `
      const { decodeBuffer, setDecoderCacheBudget } = await import(${JSON.stringify(new URL('./decode.ts', import.meta.url).href)});
      setDecoderCacheBudget(32 << 20);
      for (let l = 0; l < 1500; l++) {
        const tags = Array.from({ length: 29 }, (_, t) => 't' + t + '=' + String(l).padStart(1000, 'v')).join(',');
        decodeBuffer(Buffer.from('w,' + tags + ' v=1 1'), 'lp', { defaultTime: 0 });
      }
      gc();
      console.log(JSON.stringify(process.memoryUsage().heapUsed));`;
    const out = execFileSync(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script],
      {
        encoding: 'utf8',
      },
    );
    const heap = JSON.parse(out.trim().split('\n').pop()!) as number;
    // 1,500 such series held ~170 MB; within a 32 MiB budget, what is left is the process itself.
    expect(heap).toBeLessThan(80e6);
  }, 120_000);
});
