import { describe, expect, it } from 'vitest';
import type { AlertEvent, EntityRef, IncidentEvent, Severity } from '../core/types.js';
import { buildFleet, type Fleet, fleetRecords } from '../fixtures/fleet.js';
import { TopologyGraph } from '../topology/graph.js';
import { alertFingerprint, alertId } from './alerts.js';
import { Correlator, type CorrelatorSnapshot } from './correlator.js';

const T0 = Date.UTC(2024, 2, 1, 10, 0, 0);
const S = 1000;

function fleetTopology(): { fleet: Fleet; topo: TopologyGraph } {
  const fleet = buildFleet({
    seed: 4,
    idcs: 2,
    racksPerIdc: 3,
    hostsPerRack: 8,
    containersPerHost: 10,
    meanReplicas: 12,
  });
  const topo = new TopologyGraph();
  for (const r of fleetRecords(fleet)) topo.apply(r, 0);
  return { fleet, topo };
}

function alert(
  entity: EntityRef,
  rule: string,
  state: 'firing' | 'resolved',
  at: number,
  severity: Severity = 'critical',
  startsAt = at,
  labels: Record<string, string> = {},
): AlertEvent {
  const fingerprint = alertFingerprint(rule, entity, labels);
  return {
    id: alertId(fingerprint, startsAt),
    fingerprint,
    rule,
    severity,
    state,
    entity,
    predicted: false,
    at,
    startsAt,
    labels,
    annotations: {},
  };
}

/** A host going down at `at` (its containers a second later), back at `until`. */
function hostDown(fleet: Fleet, h: number, at: number, until: number): AlertEvent[] {
  const host = fleet.hosts[h]!;
  const out = [alert({ level: 'host', id: host.id }, 'HostDown', 'firing', at)];
  for (const c of host.containers)
    out.push(alert({ level: 'container', id: fleet.containers[c]!.id }, 'ContainerDown', 'firing', at + S));
  out.push(alert({ level: 'host', id: host.id }, 'HostDown', 'resolved', until, 'critical', at));
  for (const c of host.containers) {
    out.push(
      alert(
        { level: 'container', id: fleet.containers[c]!.id },
        'ContainerDown',
        'resolved',
        until + S,
        'critical',
        at + S,
      ),
    );
  }
  return out.sort((a, b) => a.at - b.at);
}

function run(c: Correlator, alerts: AlertEvent[]): IncidentEvent[] {
  const out: IncidentEvent[] = [];
  for (const a of alerts) {
    c.ingest(a);
    out.push(...c.advance(a.at));
  }
  return out;
}

describe('Correlator lifecycle (event time)', () => {
  const { fleet, topo } = fleetTopology();

  it('waits the group wait, opens once, resolves once after the hold-down', () => {
    const c = new Correlator(topo, { groupWaitMs: 30 * S, holdDownMs: 300 * S });
    const storm = hostDown(fleet, 3, T0, T0 + 600 * S);
    const firing = storm.filter((a) => a.state === 'firing');
    expect(run(c, firing)).toEqual([]);
    expect(c.advance(T0 + 30 * S - 1)).toEqual([]);
    const [opened, ...rest] = c.advance(T0 + 30 * S);
    expect(rest).toEqual([]);
    expect(opened).toMatchObject({
      event: 'opened',
      version: 1,
      status: 'open',
      severity: 'critical',
      rootCause: { level: 'host', id: fleet.hosts[3]!.id, kind: 'host' },
      absorbed: { total: 11, byLevel: { host: 1, container: 10 } },
      startsAt: T0,
      at: T0 + 30 * S,
    });
    const resolving = storm.filter((a) => a.state === 'resolved');
    expect(run(c, resolving)).toEqual([]);
    const last = resolving[resolving.length - 1]!.at;
    expect(c.advance(last + 300 * S - 1)).toEqual([]);
    const [resolved] = c.advance(last + 300 * S);
    expect(resolved).toMatchObject({
      event: 'resolved',
      id: opened!.id,
      version: 2,
      status: 'resolved',
      endsAt: last,
      at: last + 300 * S,
    });
    expect(c.flush()).toEqual([]);
    expect(c.stats()).toMatchObject({ opened: 1, resolvedIncidents: 1, live: 0, activeAlerts: 0, pooled: 0 });
  });

  it('an alert firing again during the hold-down keeps the incident open', () => {
    const c = new Correlator(topo, { holdDownMs: 300 * S });
    const storm = hostDown(fleet, 5, T0, T0 + 120 * S);
    const events = run(c, storm);
    expect(events.map((e) => e.event)).toEqual(['opened']);
    const host = { level: 'host' as const, id: fleet.hosts[5]!.id };
    const again = T0 + 200 * S;
    expect(run(c, [alert(host, 'HostDown', 'firing', again)])).toEqual([]);
    expect(c.advance(again + 59 * S)).toEqual([]);
    run(c, [alert(host, 'HostDown', 'resolved', again + 60 * S, 'critical', again)]);
    const [resolved] = c.advance(again + 60 * S + 300 * S);
    expect(resolved).toMatchObject({
      event: 'resolved',
      id: events[0]!.id,
      version: 2,
      endsAt: again + 60 * S,
    });
    expect(c.get(events[0]!.id)!.timeline.map((t) => t.kind)).toEqual([
      'opened',
      'all-resolved',
      'refired',
      'all-resolved',
      'resolved',
    ]);
  });

  it('notifies again only when the severity rises', () => {
    const c = new Correlator(topo);
    const app = fleet.apps.find((a) => a.containers.length >= 4)!;
    const refs = app.containers.map((i) => ({ level: 'container' as const, id: fleet.containers[i]!.id }));
    const warn = refs.map((r, k) => alert(r, 'ContainerMemoryLeak', 'firing', T0 + k * S, 'warning'));
    const events = run(c, warn);
    events.push(...c.advance(T0 + 60 * S));
    expect(events.map((e) => [e.event, e.severity])).toEqual([['opened', 'warning']]);
    expect(events[0]!.rootCause).toEqual({ level: 'app', id: app.id, kind: 'app' });
    // Same severity again: absorbed silently. A critical one: `updated`. A symptom the incident
    // does not show yet joins after the group wait, when no other cause turned up.
    const more = [
      alert(refs[0]!, 'ContainerOom', 'firing', T0 + 70 * S, 'warning'),
      alert(refs[1]!, 'ContainerOom', 'firing', T0 + 80 * S, 'critical'),
    ];
    expect(run(c, more)).toEqual([]);
    const later = c.advance(T0 + 110 * S);
    expect(later.map((e) => [e.event, e.severity, e.version])).toEqual([['updated', 'critical', 2]]);
    // The symptom shown now, more of it joins at once.
    expect(run(c, [alert(refs[2]!, 'ContainerOom', 'firing', T0 + 120 * S, 'critical')])).toEqual([]);
    expect(c.stats().pooled).toBe(0);
    // Entities count once however many alerts they raise; the alerts are all there.
    expect(later[0]!.absorbed.total).toBe(refs.length);
    expect(c.get(later[0]!.id)).toMatchObject({
      absorbed: { total: refs.length },
      alerts: refs.length + 3,
      firing: refs.length + 3,
    });
  });

  it('drops a group that fired and resolved within the group wait (a flap)', () => {
    const c = new Correlator(topo);
    const ref = { level: 'container' as const, id: fleet.containers[7]!.id };
    run(c, [
      alert(ref, 'ContainerCpuHigh', 'firing', T0),
      alert(ref, 'ContainerCpuHigh', 'resolved', T0 + 5 * S, 'critical', T0),
    ]);
    expect(c.flush()).toEqual([]);
    expect(c.stats()).toMatchObject({ flapsDropped: 1, opened: 0, activeAlerts: 0 });
  });

  it('a lone first alert becomes part of the storm that follows (one incident, updated once)', () => {
    const c = new Correlator(topo);
    const app = fleet.apps.find((a) => a.containers.length >= 6)!;
    const refs = app.containers.map((i) => ({ level: 'container' as const, id: fleet.containers[i]!.id }));
    const first = alert(refs[0]!, 'ContainerMemoryLeak', 'firing', T0, 'warning');
    const rest = refs
      .slice(1)
      .map((r, k) => alert(r, 'ContainerMemoryLeak', 'firing', T0 + 40 * S + k * S, 'warning'));
    const events = run(c, [first, ...rest]);
    events.push(...c.advance(T0 + 120 * S));
    expect(events.map((e) => [e.event, e.rootCause.kind])).toEqual([
      ['opened', 'self'],
      ['updated', 'app'],
    ]);
    expect(events[1]!.id).toBe(events[0]!.id);
    expect(events[1]!.absorbed.total).toBe(refs.length);
    expect(c.incidents()).toHaveLength(1);
  });

  it("an app's predicted alerts in waves minutes apart: the app takes over the first wave's lone incidents", () => {
    const app = fleet.apps.find((a) => a.containers.length >= 10)!;
    const refs = app.containers.map((i) => ({ level: 'container' as const, id: fleet.containers[i]!.id }));
    const leak = (r: EntityRef, at: number, rule = 'ContainerMemoryLeak') => ({
      ...alert(r, rule, 'firing', at, 'warning'),
      predicted: true,
    });
    const scenario = (options: { appMergeWindowMs?: number } = {}) => {
      const c = new Correlator(topo, options);
      // Two containers first, and an unrelated symptom on a third one.
      const first = [
        leak(refs[0]!, T0),
        leak(refs[1]!, T0 + 2 * S),
        leak(refs[2]!, T0 + 3 * S, 'ContainerCpuHigh'),
      ];
      const early = [...run(c, first), ...c.advance(T0 + 60 * S)];
      // Seven more five minutes later.
      const wave = refs.slice(3, 10).map((r, k) => leak(r, T0 + 300 * S + k * S));
      const later = [...run(c, wave), ...c.advance(T0 + 400 * S)];
      return { c, early, later };
    };
    const { c, early, later } = scenario();
    expect(early.map((e) => [e.event, e.rootCause.kind])).toEqual([
      ['opened', 'self'],
      ['opened', 'self'],
      ['opened', 'self'],
    ]);
    // One notification for the app (on the oldest lone incident); the other one folds into it.
    expect(later.map((e) => [e.event, e.id, e.rootCause.kind, e.mergedInto])).toEqual([
      ['resolved', early[1]!.id, 'self', early[0]!.id],
      ['updated', early[0]!.id, 'app', undefined],
    ]);
    expect(later[1]).toMatchObject({ rootCause: { level: 'app', id: app.id }, absorbed: { total: 9 } });
    // The container with another symptom keeps its own incident.
    expect(c.incidents({ status: 'open' }).map((i) => [i.id, i.absorbed.total])).toEqual(
      expect.arrayContaining([
        [early[0]!.id, 9],
        [early[2]!.id, 1],
      ]),
    );
    expect(c.incidents({ status: 'open' })).toHaveLength(2);
    // Outside the app window (or with the window as short as the merge window): a new incident.
    const short = scenario({ appMergeWindowMs: 60 * S });
    expect(short.later.map((e) => [e.event, e.rootCause.kind])).toEqual([['opened', 'app']]);
    expect(short.later[0]!.absorbed.total).toBe(7);
  });

  it('a leaking container whose host then crashes: the crash is the host incident, the leak keeps its own', () => {
    const c = new Correlator(topo);
    const app = fleet.apps.find((a) => a.containers.length >= 6)!;
    const refs = app.containers.map((i) => ({ level: 'container' as const, id: fleet.containers[i]!.id }));
    const leaks = refs.map((r, k) => ({
      ...alert(r, 'ContainerMemoryLeak', 'firing', T0 + k * S, 'warning'),
      predicted: true,
    }));
    const [leak, ...none] = [...run(c, leaks), ...c.advance(T0 + 60 * S)];
    expect(none).toEqual([]);
    expect(leak).toMatchObject({
      event: 'opened',
      rootCause: { level: 'app', id: app.id },
      severity: 'warning',
    });
    // The host of one leaking container goes down: its containers (the leaking one too) with it.
    const h = fleet.containers[app.containers[0]!]!.host;
    const crash = hostDown(fleet, h, T0 + 120 * S, T0 + 400 * S).filter((a) => a.state === 'firing');
    const events = [...run(c, crash), ...c.advance(T0 + 200 * S)];
    expect(events.map((e) => [e.event, e.rootCause.kind, e.rootCause.id])).toEqual([
      ['opened', 'host', fleet.hosts[h]!.id],
    ]);
    const hostIncident = c.get(events[0]!.id)!;
    expect(hostIncident.absorbed.total).toBe(fleet.hosts[h]!.containers.length + 1);
    const leakIncident = c.get(leak!.id)!;
    expect(leakIncident).toMatchObject({ severity: 'warning', alerts: refs.length, version: 1 });
  });

  it('an entity in two incidents (alerts of different causes) survives a restart at any point', () => {
    const app = fleet.apps.find((a) => a.containers.length >= 6)!;
    const refs = app.containers.map((i) => ({ level: 'container' as const, id: fleet.containers[i]!.id }));
    const h = fleet.containers[app.containers[0]!]!.host;
    const stream = [
      ...refs.map((r, k) => alert(r, 'ContainerMemoryLeak', 'firing', T0 + k * S, 'warning')),
      ...hostDown(fleet, h, T0 + 120 * S, T0 + 400 * S),
      // The leak goes on after the host is back, then ends.
      alert(refs[0]!, 'ContainerMemoryLeak', 'firing', T0 + 500 * S, 'critical', T0),
      ...refs.map((r, k) =>
        alert(r, 'ContainerMemoryLeak', 'resolved', T0 + 900 * S + k * S, 'warning', T0 + k * S),
      ),
    ].sort((x, y) => x.at - y.at);
    const whole = new Correlator(topo);
    const expected = [...run(whole, stream), ...whole.flush()];
    expect(expected.map((e) => [e.event, e.rootCause.kind])).toEqual([
      ['opened', 'app'],
      ['opened', 'host'],
      ['updated', 'app'],
      ['resolved', 'host'],
      ['resolved', 'app'],
    ]);
    expect(whole.stats()).toMatchObject({ orphanResolved: 0, activeAlerts: 0, live: 0, pooled: 0 });
    for (let cut = 3; cut < stream.length; cut += 4) {
      const first = new Correlator(topo);
      const before = run(first, stream.slice(0, cut));
      const snapshot = JSON.parse(JSON.stringify(first.snapshot())) as CorrelatorSnapshot;
      const second = Correlator.restore(topo, snapshot);
      const after = [...run(second, stream.slice(cut)), ...second.flush()];
      expect([...before, ...after], `cut at ${cut}`).toEqual(expected);
      expect(second.stats(), `cut at ${cut}`).toMatchObject({ orphanResolved: 0, activeAlerts: 0, live: 0 });
    }
  });

  it("what an incident takes for where it is does not widen its symptoms (a down host's noise)", () => {
    const c = new Correlator(topo);
    const rack = fleet.racks[0]!;
    const [healthy, ...down] = rack.hosts;
    const storm = down.flatMap((h) =>
      hostDown(fleet, h, T0, T0 + 900 * S).filter((a) => a.state === 'firing'),
    );
    const [opened] = [
      ...run(
        c,
        storm.sort((x, y) => x.at - y.at),
      ),
      ...c.advance(T0 + 60 * S),
    ];
    expect(opened).toMatchObject({
      rootCause: { level: 'rack', id: rack.id },
      absorbed: { total: down.length * 11 },
    });
    // A full disk on a host that is down: the rack incident takes it (the host is covered)...
    const h0 = { level: 'host' as const, id: fleet.hosts[down[0]!]!.id };
    expect([
      ...run(c, [alert(h0, 'HostDiskHigh', 'firing', T0 + 100 * S, 'warning')]),
      ...c.advance(T0 + 140 * S),
    ]).toEqual([]);
    expect(c.get(opened!.id)).toMatchObject({
      absorbed: { total: down.length * 11 },
      alerts: down.length * 11 + 1,
    });
    // ...but a full disk on the rack's healthy host is no sign of the rack's trouble.
    const other = { level: 'host' as const, id: fleet.hosts[healthy!]!.id };
    const events = [
      ...run(c, [alert(other, 'HostDiskHigh', 'firing', T0 + 200 * S, 'warning')]),
      ...c.advance(T0 + 240 * S),
    ];
    expect(events.map((e) => [e.event, e.rootCause])).toEqual([['opened', { ...other, kind: 'self' }]]);
  });

  it('keeps two simultaneous host failures in different racks apart', () => {
    const c = new Correlator(topo);
    const a = 0;
    const b = fleet.hosts.findIndex((h) => h.rack !== fleet.hosts[a]!.rack && h.idc !== fleet.hosts[a]!.idc);
    const storm = [...hostDown(fleet, a, T0, T0 + 300 * S), ...hostDown(fleet, b, T0 + 2 * S, T0 + 300 * S)];
    storm.sort((x, y) => x.at - y.at);
    const events = [...run(c, storm), ...c.flush()];
    const opened = events.filter((e) => e.event === 'opened');
    expect(opened.map((e) => e.rootCause.id).sort()).toEqual([fleet.hosts[a]!.id, fleet.hosts[b]!.id].sort());
    expect(events.filter((e) => e.event === 'resolved')).toHaveLength(2);
  });

  it('gives the same ids and events for the same input, whatever the order it arrives in', () => {
    const storm = hostDown(fleet, 9, T0, T0 + 300 * S);
    const sorted = new Correlator(topo);
    for (const a of storm) sorted.ingest(a);
    const expected = sorted.flush();
    const shuffled = new Correlator(topo);
    for (const a of storm.slice().reverse()) shuffled.ingest(a);
    expect(shuffled.flush()).toEqual(expected);
    expect(expected[0]!.id).toMatch(/^inc-[0-9a-f]{14}$/);
  });

  it('survives a restart from a snapshot without repeating or losing notifications', () => {
    const storm = [
      ...hostDown(fleet, 2, T0, T0 + 200 * S),
      ...hostDown(fleet, 30, T0 + 100 * S, T0 + 400 * S),
    ];
    storm.sort((x, y) => x.at - y.at);
    const whole = new Correlator(topo);
    const expected = [...run(whole, storm), ...whole.flush()];
    expect(expected.map((e) => e.event)).toEqual(['opened', 'opened', 'resolved', 'resolved']);

    for (const cut of [5, 12, 20, 30, storm.length - 3]) {
      const first = new Correlator(topo);
      const before = run(first, storm.slice(0, cut));
      const snapshot = JSON.parse(JSON.stringify(first.snapshot())) as CorrelatorSnapshot;
      const second = Correlator.restore(topo, snapshot);
      const after = [...run(second, storm.slice(cut)), ...second.flush()];
      expect([...before, ...after], `cut at ${cut}`).toEqual(expected);
    }
  });

  describe('resolveIncident (an operator closes an incident)', () => {
    const host = (h: number) => ({ level: 'host' as const, id: fleet.hosts[h]!.id });

    it('closes a firing incident once; its alerts resolve silently, later alerts open a new one', () => {
      const c = new Correlator(topo, { holdDownMs: 300 * S });
      const storm = hostDown(fleet, 4, T0, T0 + 600 * S);
      const firing = storm.filter((a) => a.state === 'firing');
      const [opened] = [...run(c, firing), ...c.advance(T0 + 40 * S)];
      expect(opened).toMatchObject({ event: 'opened', version: 1 });

      const closed = c.resolveIncident(opened!.id, T0 + 100 * S, 'fixed by hand');
      expect(closed).toMatchObject({
        event: 'resolved',
        id: opened!.id,
        version: 2,
        status: 'resolved',
        rootCause: { level: 'host', id: fleet.hosts[4]!.id, kind: 'host' },
        absorbed: { total: 11 },
        endsAt: T0 + 100 * S,
        at: T0 + 100 * S,
      });
      // Returned only: not repeated by advance(); a second close changes nothing.
      expect(c.advance(T0 + 101 * S)).toEqual([]);
      expect(c.resolveIncident(opened!.id, T0 + 102 * S)).toBeUndefined();
      expect(c.resolveIncident('inc-unknown', T0 + 102 * S)).toBeUndefined();
      expect(c.incidents({ status: 'open' })).toEqual([]);
      expect(c.get(opened!.id)).toMatchObject({ status: 'resolved', closedBy: 'operator', firing: 11 });
      expect(c.get(opened!.id)!.timeline.at(-1)).toEqual({
        at: T0 + 100 * S,
        kind: 'resolved',
        detail: 'closed by an operator: fixed by hand',
      });

      // A repeat of a still-firing alert (Alertmanager re-sends them) is no new episode.
      expect(run(c, [alert(host(4), 'HostDown', 'firing', T0 + 110 * S, 'critical', T0)])).toEqual([]);
      expect(c.advance(T0 + 200 * S)).toEqual([]);
      // The absorbed alerts resolve: no second `resolved`, no hold-down; the incident shows them ended.
      const resolving = storm.filter((a) => a.state === 'resolved');
      expect([...run(c, resolving), ...c.advance(T0 + 1200 * S)]).toEqual([]);
      expect(c.get(opened!.id)).toMatchObject({ status: 'resolved', firing: 0, endsAt: T0 + 100 * S });
      expect(c.stats()).toMatchObject({
        opened: 1,
        resolvedIncidents: 1,
        closedByOperator: 1,
        duplicates: 1,
        orphanResolved: 0,
        activeAlerts: 0,
        live: 0,
      });

      // The host goes down again: a new incident with a new id, same root cause.
      const again = hostDown(fleet, 4, T0 + 1300 * S, T0 + 1400 * S);
      const events = [...run(c, again), ...c.flush()];
      expect(events.map((e) => [e.event, e.rootCause.id])).toEqual([
        ['opened', fleet.hosts[4]!.id],
        ['resolved', fleet.hosts[4]!.id],
      ]);
      expect(events[0]!.id).not.toBe(opened!.id);
      expect(events[0]!.version).toBe(1);
    });

    it('a new alert on an entity of a closed incident, while its old alert still fires, opens a new incident', () => {
      const c = new Correlator(topo);
      run(
        c,
        hostDown(fleet, 6, T0, T0 + 900 * S).filter((a) => a.state === 'firing'),
      );
      const [first] = c.advance(T0 + 40 * S) as [IncidentEvent];
      expect(c.resolveIncident(first.id, T0 + 60 * S)).toMatchObject({ event: 'resolved', version: 2 });
      const late = alert(host(6), 'HostDiskFull', 'firing', T0 + 70 * S);
      expect(run(c, [late])).toEqual([]);
      const [next, ...rest] = c.advance(T0 + 70 * S + 36 * S);
      expect(rest).toEqual([]);
      expect(next).toMatchObject({
        event: 'opened',
        rootCause: { level: 'host', id: fleet.hosts[6]!.id, kind: 'self' },
        absorbed: { total: 1 },
        startsAt: T0 + 70 * S,
      });
      expect(next!.id).not.toBe(first.id);
    });

    it('in its hold-down: ends when its last alert resolved, and the hold-down timer stays silent', () => {
      const c = new Correlator(topo, { holdDownMs: 300 * S });
      const storm = hostDown(fleet, 7, T0, T0 + 100 * S);
      const [opened] = run(c, storm);
      const last = storm[storm.length - 1]!.at;
      expect(c.advance(last + 10 * S)).toEqual([]);
      // Asked for an event time before what was processed: it closes at the correlator's now.
      expect(c.resolveIncident(opened!.id, T0)).toMatchObject({
        event: 'resolved',
        endsAt: last,
        at: last + 10 * S,
      });
      expect(c.flush()).toEqual([]);
      expect(c.stats()).toMatchObject({ resolvedIncidents: 1, closedByOperator: 1, activeAlerts: 0 });
      expect(() => c.resolveIncident(opened!.id, Number.NaN)).toThrow(RangeError);
    });

    it('survives a restart: the closed incident stays closed and its alerts resolve silently', () => {
      const storm = hostDown(fleet, 8, T0, T0 + 400 * S);
      const firing = storm.filter((a) => a.state === 'firing');
      const resolving = storm.filter((a) => a.state === 'resolved');
      const again = hostDown(fleet, 8, T0 + 1000 * S, T0 + 1100 * S);
      const script = (c: Correlator, restart: (c: Correlator) => Correlator): IncidentEvent[] => {
        const out = [...run(c, firing), ...c.advance(T0 + 40 * S)];
        out.push(c.resolveIncident(out[0]!.id, T0 + 50 * S)!);
        const d = restart(c);
        out.push(...run(d, [alert(host(8), 'HostDown', 'firing', T0 + 60 * S, 'warning', T0)]));
        out.push(...run(d, resolving), ...run(d, again), ...d.flush());
        expect(d.stats()).toMatchObject({ closedByOperator: 1, duplicates: 1, orphanResolved: 0 });
        return out;
      };
      const expected = script(new Correlator(topo), (c) => c);
      expect(expected.map((e) => e.event)).toEqual(['opened', 'resolved', 'opened', 'resolved']);
      const restored = script(new Correlator(topo), (c) =>
        Correlator.restore(topo, JSON.parse(JSON.stringify(c.snapshot())) as CorrelatorSnapshot),
      );
      expect(restored).toEqual(expected);
    });
  });

  it('counts what it cannot use instead of failing', () => {
    const c = new Correlator(topo);
    const ghost = { level: 'container' as const, id: 'not-in-topology' };
    run(c, [
      alert(ghost, 'X', 'resolved', T0),
      alert(ghost, 'X', 'firing', T0 + S),
      alert(ghost, 'X', 'firing', T0 + 2 * S),
    ]);
    const events = c.flush();
    expect(events.map((e) => [e.event, e.rootCause])).toEqual([
      ['opened', { level: 'container', id: 'not-in-topology', kind: 'self' }],
    ]);
    c.ingest({ ...alert(ghost, 'X', 'firing', T0), at: Number.NaN });
    c.ingest({
      ...alert(ghost, 'X', 'firing', T0),
      entity: { level: 'vm', id: 'x' },
    } as unknown as AlertEvent);
    c.ingest(null as unknown as AlertEvent);
    expect(c.flush()).toEqual([]);
    expect(c.stats()).toMatchObject({ orphanResolved: 1, duplicates: 1, rejected: 3 });
  });

  it('places entities the topology does not know from their alert labels', () => {
    const c = new Correlator(topo);
    const host = { level: 'host' as const, id: 'new-host' };
    const storm = [alert(host, 'HostDown', 'firing', T0)];
    for (let k = 0; k < 8; k++) {
      storm.push(
        alert(
          { level: 'container', id: `new-c${k}` },
          'ContainerDown',
          'firing',
          T0 + S,
          'critical',
          T0 + S,
          { host: 'new-host' },
        ),
      );
    }
    const [opened] = [...run(c, storm), ...c.advance(T0 + 60 * S)];
    expect(opened).toMatchObject({
      rootCause: { level: 'host', id: 'new-host', kind: 'host' },
      absorbed: { total: 9 },
    });
  });

  it('rejects options that make no sense', () => {
    expect(() => new Correlator(topo, { groupWaitMs: -1 })).toThrow(RangeError);
    expect(() => new Correlator(topo, { backgroundRate: 0 })).toThrow(RangeError);
    expect(() => Correlator.restore(topo, { version: 2 } as unknown as CorrelatorSnapshot)).toThrow(
      /snapshot/,
    );
  });
});
