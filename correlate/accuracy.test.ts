import { describe, expect, it } from 'vitest';
import { runScenario } from '../fixtures/evaluate.js';
import { buildScenario, FAULT_KINDS, type FaultKind, jdScenario } from '../fixtures/scenario.js';
import { formatSuite, runSuite } from '../fixtures/suite.js';

// A mid-size fleet (3 IDCs x 4 racks x 12 hosts x 30 containers) with background alerts and jitter.
const FLEET = { idcs: 3, racksPerIdc: 4, hostsPerRack: 12, containersPerHost: 30, meanReplicas: 20 };
const NOISY = { fleet: FLEET, noisePerMinute: 4, jitterMs: 2000, victimShare: 0.8 };

describe('root cause per fault type', () => {
  it.each(FAULT_KINDS.map((k) => [k]))('%s: one incident naming the injected cause', (kind: FaultKind) => {
    for (const seed of [11, 12, 13]) {
      const s = buildScenario(kind, { ...NOISY, seed });
      const o = runScenario(s);
      const [f] = o.faults;
      expect(f!.elected, `seed ${seed}`).toEqual(s.faults[0]!.cause);
      expect(f!.incidents, `seed ${seed}: incidents holding the fault's alerts`).toBe(1);
      expect(f!.coverage, `seed ${seed}`).toBeGreaterThan(0.95);
      expect(o.notifications, `seed ${seed}: opened + updated`).toBe(1);
      expect(o.opened).toBe(o.resolved);
    }
  });

  it('a leak predicted in two waves five minutes apart: one incident naming the app', () => {
    for (const seed of [11, 12, 13]) {
      const s = buildScenario('memory-leak', { ...NOISY, seed, leakWaveMs: 5 * 60_000 });
      const o = runScenario(s);
      const [f] = o.faults;
      expect(f!.elected, `seed ${seed}`).toEqual(s.faults[0]!.cause);
      expect(f!.incidents, `seed ${seed}: incidents holding the fault's alerts`).toBe(1);
      expect(f!.coverage, `seed ${seed}`).toBeGreaterThan(0.95);
      // The first wave's containers opened incidents of their own; the app took them over.
      const first = o.events.filter((e) => e.event === 'opened' && e.startsAt < s.faults[0]!.start + 120_000);
      expect(o.notifications, `seed ${seed}`).toBeLessThanOrEqual(first.length + 1);
      expect(o.opened).toBe(o.resolved);
    }
  });

  it('the generated JD storm: app, 50 containers, 50 hosts, 5,000 neighbours', () => {
    const s = jdScenario(7);
    expect(s.alerts.filter((a) => a.state === 'firing')).toHaveLength(5100);
    const o = runScenario(s);
    expect(o.events.map((e) => e.event)).toEqual(['opened', 'resolved']);
    expect(o.events[1]!.rootCause).toEqual(s.faults[0]!.cause);
    expect(o.events[1]!.absorbed).toEqual({
      total: 5100,
      byLevel: { container: 50, host: 50, neighbour: 5000 },
    });
  });

  it('two independent faults at once stay two incidents, both named right', () => {
    for (const pair of [
      ['host-down', 'app-cascade'],
      ['rack-down', 'upstream'],
      ['kernel', 'noisy-neighbour'],
      ['idc-network', 'memory-leak'],
    ] as [FaultKind, FaultKind][]) {
      const s = buildScenario('two-faults', { ...NOISY, seed: 5, pair });
      const o = runScenario(s);
      expect(
        o.faults.map((f) => f.elected),
        pair.join('+'),
      ).toEqual(s.faults.map((f) => f.cause));
      const incidents = new Set(
        o.events.filter((e) => e.event === 'opened' && e.rootCause.kind !== 'self').map((e) => e.id),
      );
      expect(incidents.size, pair.join('+')).toBe(2);
    }
  });

  it('no fault: no incident without alerts, and only lone-alert incidents among background alerts', () => {
    const quiet = runScenario(buildScenario('no-fault', { fleet: FLEET, seed: 3 }));
    expect(quiet.events).toEqual([]);
    const noisy = runScenario(buildScenario('no-fault', { ...NOISY, seed: 3 }));
    expect(noisy.opened).toBeGreaterThan(20);
    expect(noisy.spuriousGroups).toBe(0);
    expect(noisy.events.every((e) => e.rootCause.kind === 'self')).toBe(true);
  });
});

describe('randomized suite', () => {
  it('200 seeds: top-1 >= 95 %, top-3 >= 99 %, <= 1.2 notifications per fault', { timeout: 180_000 }, () => {
    const r = runSuite(Array.from({ length: 200 }, (_, i) => i + 1));
    console.log(formatSuite(r));
    expect(r.seeds).toBe(200);
    expect(r.total.faults).toBeGreaterThanOrEqual(200);
    expect(r.total.top1 / r.total.faults).toBeGreaterThanOrEqual(0.95);
    expect(r.total.top3 / r.total.faults).toBeGreaterThanOrEqual(0.99);
    expect(r.total.notifications / r.total.faults).toBeLessThanOrEqual(1.2);
    expect(r.unbalanced).toBe(0);
    for (const row of r.rows) expect(row.top1 / row.faults, row.kind).toBeGreaterThanOrEqual(0.9);
  });
});
