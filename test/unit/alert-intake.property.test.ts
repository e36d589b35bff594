// Property: the alert intake of `converge replay --alerts` (and of JSON Lines posted to the API)
// never throws on hostile input, keeps every good record exactly, and reports every bad one on
// its own line.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAlertLines, toAlertEvent } from '../../correlate/alerts.js';
import { alertBatch } from '../hostile-alerts.js';

describe('alert intake (replay --alerts records), hostile generators', () => {
  it('keeps every good record, reports every bad one by line, never throws', () => {
    fc.assert(
      fc.property(alertBatch({ jsonLines: true, maxLength: 16 }), (records) => {
        const text = records.map((r) => r.text).join('\n');
        const { alerts, errors } = parseAlertLines(text);
        const goodOnes = records.flatMap((r, i) => (r.good ? [{ r, line: i + 1 }] : []));
        const badLines = records.flatMap((r, i) => (r.good ? [] : [i + 1]));
        expect(errors.map((e) => e.line)).toEqual(badLines);
        expect(alerts).toHaveLength(goodOnes.length);
        alerts.forEach((a, k) => {
          const { r } = goodOnes[k]!;
          if (!r.good) throw new Error('unreachable');
          expect(a.entity).toEqual(r.entity);
          expect(a.rule).toBe(r.rule);
          expect(a.state).toBe(r.state);
          expect(a.at).toBe(r.at);
        });
        // Every reason is short: no echo of a hostile record's bulk.
        for (const e of errors) expect(e.reason.length + e.text.length).toBeLessThan(600);
      }),
      { numRuns: 100 },
    );
  });

  it('decoded values of any shape never make toAlertEvent throw', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.anything({ maxDepth: 4 }), (json, anything) => {
        expect(() => toAlertEvent(json)).not.toThrow();
        expect(() => toAlertEvent(anything)).not.toThrow();
        expect(() =>
          toAlertEvent({
            entity: { level: 'host', id: 'h' },
            rule: 'r',
            state: 'firing',
            at: 1,
            labels: anything,
          }),
        ).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });
});
