import { describe, expect, it } from 'vitest';
import type { AlertEvent } from '../core/types.js';
import { FLEET_KINDS, quietFleet } from '../fixtures/series/fleet.js';
import { DetectionEngine } from '../rules/engine.js';
import { defaultRulesDir, loadRules } from '../rules/load.js';

describe('quiet fleet (default pack)', () => {
  it('1,000 healthy noisy seasonal series over 3 days raise at most 1 predictive or anomaly alert per 1,000 series-days', () => {
    const series = 1000;
    const days = 3;
    const engine = new DetectionEngine({ rules: loadRules(defaultRulesDir()).rules });
    const events: AlertEvent[] = [];
    let points = 0;
    for (const batch of quietFleet({ series, days, stepMs: 60_000 })) {
      for (const p of batch) engine.process(p);
      points += batch.length;
      events.push(...engine.advance(batch[0]!.time - 5000));
    }
    events.push(...engine.advance(engine.maxEventTime));
    expect(points).toBe(series * days * 1440);
    const predicted = events.filter((e) => e.predicted && e.state === 'firing');
    expect(predicted.length).toBeLessThanOrEqual((series * days) / 1000);
    // Healthy means healthy: no threshold or absence alert either, and every entity Healthy.
    expect(events.filter((e) => !e.predicted)).toEqual([]);
    for (const level of ['container', 'host', 'app'] as const) {
      const unhealthy = engine.healthAll(level).filter((h) => h.status !== 'healthy');
      expect(unhealthy, level).toEqual([]);
    }
    expect(engine.stats()).toMatchObject({ series, late: 0, firingAlerts: 0 });
    expect(FLEET_KINDS).toHaveLength(6);
  });
});
