import { describe, expect, it } from 'vitest';
import type { AlertEvent, IncidentEvent } from '../core/types.js';
import { Pipeline } from '../engine/pipeline.js';
import { scenarioTopology } from '../fixtures/evaluate.js';
import { scenarioMetrics } from '../fixtures/metrics.js';
import { buildScenario, jdScenario } from '../fixtures/scenario.js';
import { DetectionEngine } from '../rules/engine.js';
import { defaultRulesDir, loadRules } from '../rules/load.js';
import { Correlator } from './correlator.js';

// The JD storm fed as metrics: Telegraf-style points -> the default rule pack -> correlation.
describe('the JD storm as metrics through detection and correlation', () => {
  it('one incident naming the app: 50 containers, 50 hosts, 5,000 neighbours; opened and resolved once', {
    timeout: 120_000,
  }, () => {
    const s = jdScenario(7);
    const topology = scenarioTopology(s);
    const { rules, errors } = loadRules(defaultRulesDir());
    expect(errors).toEqual([]);
    const alerts: AlertEvent[] = [];
    const detection = new DetectionEngine({ rules, topology, onAlert: (a) => alerts.push(a) });
    const correlator = new Correlator(topology);
    const events: IncidentEvent[] = [];
    const fault = s.faults[0]!;
    for (const batch of scenarioMetrics(s, {
      stepMs: 30_000,
      from: fault.start - 6 * 60_000,
      to: fault.end + 16 * 60_000,
    })) {
      for (const p of batch) detection.process(p);
      const watermark = batch[0]!.time - 5000;
      for (const a of detection.advance(watermark)) correlator.ingest(a);
      events.push(...correlator.advance(watermark));
    }
    events.push(...correlator.flush());

    expect(alerts.filter((a) => a.state === 'firing').length).toBeGreaterThan(5100);
    const ids = new Set(events.map((e) => e.id));
    expect(ids.size).toBe(1);
    expect(events.filter((e) => e.event === 'opened')).toHaveLength(1);
    expect(events.filter((e) => e.event === 'resolved')).toHaveLength(1);
    // Rules with different `for` durations raise the app's containers first (warning), then the
    // app-level group alert (critical): at most one re-notification, for the severity.
    expect(events.filter((e) => e.event === 'updated').length).toBeLessThanOrEqual(1);
    const last = events[events.length - 1]!;
    expect(last.rootCause).toEqual(fault.cause);
    expect(last.absorbed.byLevel).toMatchObject({ container: 50, host: 50, neighbour: 5000 });
  });
});

// An operator's resolve (the API's closeIncident in engine/serve.ts) reaches the same listeners.
describe('an incident closed by hand goes through the pipeline listeners', () => {
  it('emitIncident hands the resolved event to every listener, once', () => {
    const s = buildScenario('host-down', { seed: 3 });
    const topology = scenarioTopology(s);
    const correlator = new Correlator(topology);
    const seen: IncidentEvent[] = [];
    const pipeline = new Pipeline({ topology, correlator });
    pipeline.on({ onIncident: (e) => seen.push(e) });
    const fault = s.faults[0]!;
    for (const a of s.alerts) if (a.state === 'firing') pipeline.acceptAlert(a);
    pipeline.advanceTo(fault.start + 5 * 60_000);
    expect(seen.map((e) => [e.event, e.rootCause])).toEqual([['opened', fault.cause]]);

    const closed = correlator.resolveIncident(seen[0]!.id, fault.start + 6 * 60_000);
    expect(closed).toBeDefined();
    pipeline.emitIncident(closed!);
    pipeline.finish();
    expect(seen.map((e) => [e.event, e.version])).toEqual([
      ['opened', 1],
      ['resolved', 2],
    ]);
    expect(pipeline.stats()).toMatchObject({ incidents: 1, incidentEvents: 2 });
  });
});
