// fast-check generators of alert records as a hostile or broken sender writes them: good records
// mixed with deep nesting, huge strings, too many labels, wrong types, far timestamps and
// garbage. Each record is JSON text (built as text: a value nested 100,000 deep cannot go
// through JSON.stringify) and knows whether the intake must keep it.

import fc from 'fast-check';
import { LEVELS } from '../core/types.js';
import { ALERT_LIMITS, MAX_ALERT_MS } from '../correlate/alerts.js';

export interface GoodRecord {
  good: true;
  text: string;
  entity: { level: string; id: string };
  rule: string;
  state: 'firing' | 'resolved';
  at: number;
}

export interface BadRecord {
  good: false;
  text: string;
  /** What is wrong, for failure messages. */
  why: string;
}

export type AlertRecord = GoodRecord | BadRecord;

const deep = (depth: number, leaf = '"x"') => '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);

/** Text without line breaks (a JSON Lines record is one line). */
const lineText = (maxLength: number) =>
  fc.string({ unit: 'binary', maxLength }).map((s) => s.replace(/[\r\n\u2028\u2029]/g, ' '));

const labelName = fc
  .string({ minLength: 1, maxLength: 24, unit: 'grapheme' })
  .filter((k) => k !== '__proto__' && k.length <= ALERT_LIMITS.labels.name);

const labelValue = fc.oneof(
  fc.string({ maxLength: 60, unit: 'grapheme' }),
  fc.integer(),
  fc.boolean(),
  // Markup and control characters are data to the intake.
  fc.constantFrom('<!channel>', '<https://evil.example|x>', 'a\nb', '\u0000\u001b[2J', 'constructor'),
);

const time = fc.integer({ min: 0, max: MAX_ALERT_MS });

/** A record every intake must keep; `n` makes its entity unique in a batch. */
export function goodRecord(n: number): fc.Arbitrary<GoodRecord> {
  return fc
    .record({
      level: fc.constantFrom(...LEVELS),
      id: fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }),
      rule: fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }),
      state: fc.constantFrom('firing' as const, 'resolved' as const),
      at: time,
      isoTime: fc.boolean(),
      severity: fc.option(fc.constantFrom('critical', 'warning', 'info'), { nil: undefined }),
      labels: fc.option(fc.dictionary(labelName, labelValue, { maxKeys: 12 }), { nil: undefined }),
      startsBefore: fc.option(fc.integer({ min: 0, max: 86_400_000 }), { nil: undefined }),
    })
    .map((r) => {
      const id = `${r.id}#${n}`;
      const record: Record<string, unknown> = {
        entity: { level: r.level, id },
        rule: r.rule,
        state: r.state,
        at: r.isoTime ? new Date(r.at).toISOString() : r.at,
      };
      if (r.severity !== undefined) record.severity = r.severity;
      if (r.labels !== undefined) record.labels = r.labels;
      if (r.startsBefore !== undefined) record.startsAt = Math.max(0, r.at - r.startsBefore);
      return {
        good: true as const,
        text: JSON.stringify(record),
        entity: { level: r.level, id },
        rule: r.rule,
        state: r.state,
        at: r.at,
      };
    });
}

/** The shape of a good record with one field made hostile: a JSON object that must be refused. */
const badObject: fc.Arbitrary<BadRecord> = fc
  .record({
    base: goodRecord(0),
    variant: fc.oneof(
      fc
        .integer({ min: 1, max: 100_000 })
        .map((d) => ({ why: `labels nested ${d} deep`, labels: `{"k":${deep(d)}}` })),
      fc.integer({ min: 1, max: 100_000 }).map((d) => ({ why: `entity nested ${d} deep`, entity: deep(d) })),
      fc
        .integer({ min: 1, max: 100_000 })
        .map((d) => ({ why: `entity.level nested ${d} deep`, entity: `{"level":${deep(d)},"id":"h"}` })),
      fc.integer({ min: ALERT_LIMITS.labels.value + 1, max: 300_000 }).map((n) => ({
        why: `a label value of ${n} characters`,
        labels: `{"k":"${'v'.repeat(n)}"}`,
      })),
      fc.integer({ min: ALERT_LIMITS.labels.entries + 1, max: 400 }).map((n) => ({
        why: `${n} labels`,
        labels: JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [`l${i}`, 'v']))),
      })),
      fc.integer({ min: ALERT_LIMITS.name + 1, max: 200_000 }).map((n) => ({
        why: `an entity id of ${n} characters`,
        entity: `{"level":"host","id":"${'h'.repeat(n)}"}`,
      })),
      fc
        .constantFrom('1e20', '-1', '8.64e15', '1e308', '"9999-06-01T00:00:00Z"', '"+275760-09-13T00:00:00Z"')
        .map((at) => ({ why: `at ${at}`, at })),
      fc
        .constantFrom(
          ['entity', '42'],
          ['entity', '"host:h1"'],
          ['entity', '[]'],
          ['entity', 'null'],
          ['rule', '{}'],
          ['rule', '""'],
          ['rule', '[1]'],
          ['state', '"open"'],
          ['state', '1'],
          ['at', '{}'],
          ['at', 'true'],
          ['at', 'null'],
          ['at', '"yesterday"'],
          ['labels', '[]'],
          ['labels', '"x"'],
          ['labels', '{"k":null}'],
          ['labels', '{"k":[1,2]}'],
          ['severity', '"urgent"'],
          ['predicted', '"yes"'],
          ['score', '"high"'],
        )
        .map(([field, value]) => ({ why: `${field}: ${value}`, [field]: value })),
    ),
  })
  .map(({ base, variant }) => {
    // Replace fields in the good record's text: parse it (it is shallow), then write the
    // hostile values in as raw JSON text.
    const fields = JSON.parse(base.text) as Record<string, unknown>;
    const parts: string[] = [];
    const { why, ...raw } = variant as { why: string } & Record<string, string>;
    for (const [k, v] of Object.entries(fields))
      if (!(k in raw)) parts.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
    for (const [k, v] of Object.entries(raw)) parts.push(`${JSON.stringify(k)}:${v}`);
    return { good: false as const, text: `{${parts.join(',')}}`, why };
  });

/** JSON that is not an alert object at all. */
const badValue: fc.Arbitrary<BadRecord> = fc.oneof(
  fc
    .integer({ min: 1, max: 200_000 })
    .map((d) => ({ good: false as const, text: `[${deep(d)}]`, why: `array nested ${d} deep` })),
  fc
    .constantFrom('42', '"alert"', 'null', 'true', '[]', '[{"entity":{"level":"host","id":"h"}}]')
    .map((text) => ({
      good: false as const,
      text,
      why: `not an object: ${text}`,
    })),
);

/** Text that is not JSON (JSON Lines only). */
const garbage: fc.Arbitrary<BadRecord> = fc
  .oneof(
    lineText(200),
    fc.integer({ min: 1, max: 100_000 }).map((d) => '{"a":'.repeat(d)),
    fc.constantFrom('{"entity":', '{not json', '\u0000\u0001', '{"a":1}}'),
  )
  .filter((s) => s.trim() !== '' && !isJson(s))
  .map((text) => ({ good: false as const, text, why: `not JSON: ${text.slice(0, 40)}` }));

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

/** A batch of records, good and hostile mixed; `jsonLines`: garbage lines too. */
export function alertBatch(
  options: { maxLength?: number; jsonLines?: boolean } = {},
): fc.Arbitrary<AlertRecord[]> {
  const bad = options.jsonLines ? fc.oneof(badObject, badValue, garbage) : fc.oneof(badObject, badValue);
  return fc
    .array(
      fc.oneof({ weight: 2, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      {
        minLength: 1,
        maxLength: options.maxLength ?? 12,
      },
    )
    .chain((kinds) =>
      fc.tuple(...kinds.map((good, i): fc.Arbitrary<AlertRecord> => (good ? goodRecord(i) : bad))),
    );
}
