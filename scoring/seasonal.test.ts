import { describe, expect, it } from 'vitest';
import { DAY, EPOCH, HOUR, MINUTE, traffic } from '../fixtures/series/generators.js';
import { replay } from '../fixtures/series/replay.js';
import { DetectionEngine } from '../rules/engine.js';
import { defaultRulesDir, loadRules } from '../rules/load.js';

const pack = loadRules(defaultRulesDir()).rules;

function anomalies(points: Parameters<typeof replay>[1]) {
  const engine = new DetectionEngine({ rules: pack });
  const events = replay(engine, points).filter((e) => e.rule === 'TrafficAnomaly');
  return { events, engine };
}

describe('traffic anomaly against the time-of-day baseline (TrafficAnomaly, default pack)', () => {
  // Onsets on day 3 at night, on the morning ramp, at the afternoon peak and in the evening.
  const cases = [
    { name: '3x spike', factor: 3 },
    { name: 'drop to 20%', factor: 0.2 },
  ];
  for (const { name, factor } of cases) {
    for (const hour of [3, 9, 15, 21]) {
      for (const stepMs of [30_000, 60_000]) {
        it(`detects a ${name} at ${hour}:00 within 2 minutes (${stepMs / 1000}s steps)`, () => {
          const onset = EPOCH + 2 * DAY + hour * HOUR;
          const { events } = anomalies(
            traffic({ seed: hour, stepMs, days: 3, event: { factor, at: onset, durationMs: 20 * MINUTE } })
              .points,
          );
          expect(events.map((e) => e.state)).toEqual(['firing', 'resolved']);
          const [firing, resolved] = events;
          expect(firing!.at - onset).toBeLessThanOrEqual(2 * MINUTE);
          expect(firing!.at).toBeGreaterThanOrEqual(onset);
          expect(firing).toMatchObject({
            predicted: true,
            etaSeconds: 0,
            entity: { level: 'app', id: 'shop' },
          });
          // $value is the ratio to the usual level for this time of day.
          const ratio = Number(/is ([\d.]+)x/.exec(firing!.annotations.summary!)![1]);
          if (factor > 1) expect(ratio).toBeGreaterThan(2);
          else expect(ratio).toBeLessThan(0.3);
          // Resolved after the event ends (20 min) plus the 5 min resolve period.
          expect(resolved!.at - onset).toBeGreaterThanOrEqual(25 * MINUTE);
          expect(resolved!.at - onset).toBeLessThan(30 * MINUTE);
        });
      }
    }
  }

  it('does not flag the normal daily peaks and troughs over a week, and scores them as normal', () => {
    for (const seed of [11, 12, 13]) {
      const { events, engine } = anomalies(
        traffic({ seed, stepMs: 60_000, days: 7, dailyAmplitude: 0.7 }).points,
      );
      expect(events).toEqual([]);
      expect(engine.health({ level: 'app', id: 'shop' })!.anomaly).toBeLessThan(0.2);
    }
  });

  it('learns for a day before judging: a spike on the first day is not an anomaly yet', () => {
    const { events } = anomalies(
      traffic({ seed: 1, days: 1, event: { factor: 3, at: EPOCH + 10 * HOUR, durationMs: 20 * MINUTE } })
        .points,
    );
    expect(events).toEqual([]);
  });
});
