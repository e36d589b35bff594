import { describe, expect, it } from 'vitest';
import type { AlertEvent, EntityRef, TopologyRecord } from '../core/types.js';
import { Rng } from '../fixtures/rng.js';
import { buildScenario } from '../fixtures/scenario.js';
import { TopologyGraph } from '../topology/graph.js';
import { alertFingerprint, alertId } from './alerts.js';
import { type ElectionOptions, elect, explanationGain, mayGroup } from './election.js';
import { AlertRec, EntityRec } from './entities.js';
import { TopologyCache } from './topology-cache.js';

const T0 = Date.UTC(2024, 2, 1, 10);
const OPTS: ElectionOptions = {
  backgroundRate: 0.01,
  hostBackgroundRate: 0.01,
  minGain: 10,
  slackMs: 5000,
  tauMs: 30_000,
  noisyMaxLeadMs: 120_000,
  attributeKeys: undefined,
  minAttributeGroup: 3,
  upstreamDepth: 2,
  maxCandidates: 5,
  health: undefined,
};

/** 2 racks x 6 hosts x 8 containers; kernel A on hosts 0-3 of each rack, B on the others; apps a0..a7 (one container per host each). */
function topology(): TopologyGraph {
  const records: TopologyRecord[] = [{ level: 'idc', id: 'dc1' }];
  for (let r = 0; r < 2; r++) {
    records.push({ level: 'rack', id: `r${r}`, parent: { level: 'idc', id: 'dc1' } });
    for (let h = 0; h < 6; h++) {
      const host = `h${r}${h}`;
      records.push({
        level: 'host',
        id: host,
        parent: { level: 'rack', id: `r${r}` },
        attributes: { kernel: h < 4 ? 'A' : 'B' },
      });
      for (let c = 0; c < 8; c++)
        records.push({
          level: 'container',
          id: `${host}c${c}`,
          parent: { level: 'host', id: host },
          app: `a${c}`,
        });
    }
  }
  for (let c = 0; c < 8; c++) records.push({ level: 'app', id: `a${c}`, calls: c === 0 ? [] : ['a0'] });
  const topo = new TopologyGraph();
  for (const r of records) expect(topo.apply(r, 0)).toBeUndefined();
  return topo;
}

function entities(topo: TopologyGraph, alerts: [EntityRef, string, number][]): EntityRec[] {
  const out = new Map<string, EntityRec>();
  for (const [ref, rule, at] of alerts) {
    const key = ref.level + ':' + ref.id;
    let e = out.get(key);
    if (e === undefined) {
      e = new EntityRec(ref);
      e.place(topo, {});
      out.set(key, e);
    }
    const fingerprint = alertFingerprint(rule, ref, {});
    const ev: AlertEvent = {
      id: alertId(fingerprint, at),
      fingerprint,
      rule,
      severity: 'critical',
      state: 'firing',
      entity: ref,
      predicted: false,
      at,
      startsAt: at,
      labels: {},
      annotations: {},
    };
    e.add(new AlertRec(ev, e));
  }
  return [...out.values()];
}

const host = (id: string): EntityRef => ({ level: 'host', id });
const container = (id: string): EntityRef => ({ level: 'container', id });

describe('explanationGain', () => {
  it('is zero at or below the background rate and grows with coverage and concentration', () => {
    expect(explanationGain(1, 100, 1, 0.01)).toBe(0);
    expect(explanationGain(0, 10, 0, 0.01)).toBe(0);
    const half = explanationGain(5, 10, 5, 0.01);
    expect(explanationGain(10, 10, 10, 0.01)).toBeGreaterThan(half);
    // The same hits in a larger group are less surprising.
    expect(explanationGain(5, 100, 5, 0.01)).toBeLessThan(half);
    // A noisier background makes the same coverage less surprising.
    expect(explanationGain(5, 10, 5, 0.1)).toBeLessThan(half);
    // Weight (alerts per hit unit) scales it.
    expect(explanationGain(5, 10, 50, 0.01)).toBeCloseTo(10 * half);
  });
});

describe('elect', () => {
  const topo = topology();

  it('a host down explains itself and its containers, not their apps', () => {
    const alerts: [EntityRef, string, number][] = [[host('h02'), 'HostDown', T0]];
    for (let c = 0; c < 8; c++) alerts.push([container(`h02c${c}`), 'ContainerDown', T0 + 1000]);
    const [k, ...rest] = elect(entities(topo, alerts), topo, OPTS);
    expect(rest).toEqual([]);
    expect(k!.cause).toEqual({ level: 'host', id: 'h02', kind: 'host' });
    expect(k!.members).toHaveLength(9);
    expect(k!.candidates[0]!.evidence).toMatchObject({
      units: 'container',
      hit: 9,
      size: 9,
      coverage: 1,
      ownAlerts: 1,
    });
  });

  it('a distinct container that started first on a suffering host is a noisy neighbour', () => {
    const alerts: [EntityRef, string, number][] = [
      [container('h13c5'), 'ContainerCpuHigh', T0],
      [host('h13'), 'HostCpuHigh', T0 + 10_000],
    ];
    for (let c = 0; c < 8; c++)
      if (c !== 5) alerts.push([container(`h13c${c}`), 'ContainerCpuThrottled', T0 + 20_000 + c * 1000]);
    const [k] = elect(entities(topo, alerts), topo, OPTS);
    expect(k!.cause).toEqual({ level: 'container', id: 'h13c5', kind: 'noisy-neighbour' });
    expect(k!.candidates.map((c) => c.kind)).toContain('host');
    expect(k!.candidates[0]!.evidence).toMatchObject({ byLevel: { container: 1, host: 1, neighbour: 7 } });
  });

  it('one app hot on every host, dragging hosts and neighbours: the app (fan-in)', () => {
    const alerts: [EntityRef, string, number][] = [];
    // Half the app's hosts, on both kernels and both racks.
    for (const h of ['h00', 'h01', 'h04', 'h10', 'h14', 'h15']) {
      alerts.push([container(`${h}c3`), 'ContainerCpuHigh', T0]);
      alerts.push([host(h), 'HostCpuHigh', T0 + 8000]);
      for (let c = 0; c < 8; c++)
        if (c !== 3) alerts.push([container(`${h}c${c}`), 'ContainerLoadHigh', T0 + 15_000]);
    }
    const elected = elect(entities(topo, alerts), topo, OPTS);
    expect(elected.map((k) => k.cause)).toEqual([{ level: 'app', id: 'a3', kind: 'app' }]);
    expect(elected[0]!.candidates[0]!.evidence).toMatchObject({
      byLevel: { container: 6, host: 6, neighbour: 42 },
    });
  });

  it('hosts down across both racks, all on kernel A: the attribute group', () => {
    const alerts: [EntityRef, string, number][] = [];
    for (const h of ['h00', 'h02', 'h03', 'h11', 'h12']) {
      alerts.push([host(h), 'HostDown', T0]);
      for (let c = 0; c < 8; c++) alerts.push([container(`${h}c${c}`), 'ContainerDown', T0 + 1000]);
    }
    const [k, ...rest] = elect(entities(topo, alerts), topo, OPTS);
    expect(rest).toEqual([]);
    expect(k!.cause).toEqual({ level: 'attribute', id: 'kernel=A', kind: 'attribute' });
    expect(k!.candidates[0]!.evidence).toMatchObject({ units: 'host', hit: 5, size: 8 });
  });

  it('callers failing after the app they call: the upstream app', () => {
    const alerts: [EntityRef, string, number][] = [];
    for (const h of ['h00', 'h01', 'h02', 'h10', 'h11', 'h12'])
      alerts.push([container(`${h}c0`), 'HttpErrorRateHigh', T0]);
    for (const h of ['h03', 'h04', 'h05', 'h13', 'h14', 'h15']) {
      for (const c of [1, 2, 4, 6]) alerts.push([container(`${h}c${c}`), 'UpstreamErrorsHigh', T0 + 10_000]);
    }
    const [k] = elect(entities(topo, alerts), topo, OPTS);
    expect(k!.cause).toEqual({ level: 'app', id: 'a0', kind: 'upstream' });
    expect(k!.members).toHaveLength(30);
  });

  it('scattered lone alerts elect nothing', () => {
    const alerts: [EntityRef, string, number][] = [
      [container('h00c1'), 'ContainerCpuHigh', T0],
      [container('h14c6'), 'ContainerRestarting', T0 + 5000],
      [host('h05'), 'HostDiskHigh', T0 + 9000],
    ];
    expect(elect(entities(topo, alerts), topo, OPTS)).toEqual([]);
  });
});

describe('mayGroup (whether an election could group a pooled entity)', () => {
  const topo = topology();
  const cache = new TopologyCache(topo, OPTS.upstreamDepth);
  /** Each entity in turn as the one pooled, the others as context. */
  const eachFirst = (es: EntityRec[]): boolean[] =>
    es.map((e) => mayGroup([e, ...es.filter((x) => x !== e)], 1, topo, OPTS, cache));

  it('scattered lone alerts: nothing to group, whichever is pooled', () => {
    const es = entities(topo, [
      [container('h00c1'), 'ContainerCpuHigh', T0],
      [container('h14c6'), 'ContainerRestarting', T0 + 5000],
      [host('h05'), 'HostDiskHigh', T0 + 9000],
    ]);
    expect(eachFirst(es)).toEqual([false, false, false]);
  });

  it('a storm: any of its entities may be grouped', () => {
    const alerts: [EntityRef, string, number][] = [[host('h02'), 'HostDown', T0]];
    for (let c = 0; c < 8; c++) alerts.push([container(`h02c${c}`), 'ContainerDown', T0 + 1000]);
    expect(eachFirst(entities(topo, alerts)).every(Boolean)).toBe(true);
    const hosts: [EntityRef, string, number][] = ['h00', 'h02', 'h03', 'h11', 'h12'].map((h) => [
      host(h),
      'HostDown',
      T0,
    ]);
    expect(eachFirst(entities(topo, hosts)).every(Boolean)).toBe(true);
  });

  it('hosts alerting with different symptoms are no group', () => {
    const hosts: [EntityRef, string, number][] = ['h00', 'h02', 'h03', 'h11', 'h12'].map((h, k) => [
      host(h),
      `HostSymptom${k}`,
      T0,
    ]);
    expect(eachFirst(entities(topo, hosts))).toEqual([false, false, false, false, false]);
  });

  it('never says no where the election groups a pooled entity (random inputs from fault scenarios)', () => {
    const s = buildScenario('two-faults', {
      seed: 9,
      fleet: { idcs: 2, racksPerIdc: 3, hostsPerRack: 6, containersPerHost: 12, meanReplicas: 8 },
      noisePerMinute: 20,
      pair: ['noisy-neighbour', 'kernel'],
    });
    const graph = new TopologyGraph();
    for (const r of s.topology) graph.apply(r, 0);
    const all = entities(
      graph,
      s.alerts.filter((a) => a.state === 'firing').map((a) => [a.entity, a.rule, a.startsAt]),
    );
    const c = new TopologyCache(graph, OPTS.upstreamDepth);
    const rng = new Rng(42);
    let negatives = 0;
    let grouped = 0;
    for (let trial = 0; trial < 300; trial++) {
      const input = rng.shuffle(all.slice()).slice(0, rng.between(2, 40));
      const pooled = rng.between(1, Math.min(3, input.length));
      const pooledSet = new Set(input.slice(0, pooled));
      const groups = elect(input, graph, OPTS, c).some((k) => k.members.some((m) => pooledSet.has(m)));
      if (groups) grouped++;
      if (mayGroup(input, pooled, graph, OPTS, c)) continue;
      negatives++;
      expect(groups, `trial ${trial}`).toBe(false);
    }
    // Both branches were exercised.
    expect(negatives).toBeGreaterThan(30);
    expect(grouped).toBeGreaterThan(30);
  });
});
