import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { IncidentEvent } from '../core/types.js';
import { TopologyGraph } from '../topology/graph.js';
import { parseTopologyLines } from '../topology/records.js';
import { parseAlertLines } from './alerts.js';
import { Correlator } from './correlator.js';
import { renderIncidentEvent } from './render.js';

// The shared example (a copy of /work/shared/examples): the JD.com storm as alert records plus
// its CMDB topology.
const EXAMPLES = new URL('../fixtures/streams/', import.meta.url);

function load() {
  const topo = new TopologyGraph();
  const records = parseTopologyLines(
    readFileSync(new URL('jd-topology.jsonl', EXAMPLES), 'utf8'),
    'jd-topology',
  );
  expect(records.errors).toEqual([]);
  for (const r of records.records) expect(topo.apply(r, 0)).toBeUndefined();
  const parsed = parseAlertLines(readFileSync(new URL('jd-alerts.jsonl', EXAMPLES), 'utf8'));
  expect(parsed.errors).toEqual([]);
  return { topo, alerts: parsed.alerts };
}

describe('the JD.com example (jd-alerts.jsonl + jd-topology.jsonl)', () => {
  const { topo, alerts } = load();

  it('becomes one incident naming app pay-06da, opened once and resolved once', () => {
    const c = new Correlator(topo);
    const events: IncidentEvent[] = [];
    for (const a of alerts) {
      c.ingest(a);
      events.push(...c.advance(a.at));
    }
    events.push(...c.flush());

    expect(alerts).toHaveLength(10_200);
    expect(events.map((e) => e.event)).toEqual(['opened', 'resolved']);
    const [opened, resolved] = events as [IncidentEvent, IncidentEvent];
    expect(opened.id).toBe(resolved.id);
    expect(opened.rootCause).toEqual({ level: 'app', id: 'pay-06da', kind: 'app' });
    expect(opened.severity).toBe('critical');
    // Opened after the 30 s group wait, counted from the first alert (10:00:00.777).
    expect(new Date(opened.at).toISOString()).toBe('2024-03-01T10:00:30.777Z');
    expect(resolved.absorbed).toEqual({ total: 5100, byLevel: { container: 50, host: 50, neighbour: 5000 } });
    // Resolved 5 min (hold-down) after the last alert resolved at 10:11:34.298.
    expect(new Date(resolved.endsAt!).toISOString()).toBe('2024-03-01T10:11:34.298Z');
    expect(new Date(resolved.at).toISOString()).toBe('2024-03-01T10:16:34.298Z');
    expect(c.incidents()).toHaveLength(1);

    const top = opened.candidates[0]!;
    expect(top.entity).toEqual(opened.rootCause);
    expect(top.evidence).toMatchObject({ units: 'container', hit: 50, size: 50, coverage: 1, ownAlerts: 50 });
    expect(top.score).toBeGreaterThan(opened.candidates[1]!.score);

    const detail = c.get(opened.id)!;
    const alertsInTree = (nodes: typeof detail.tree): number =>
      nodes.reduce((n, x) => n + x.alerts.length + alertsInTree(x.children), 0);
    expect(alertsInTree(detail.tree)).toBe(5100);
    expect(detail.tree).toHaveLength(1); // one IDC
    expect(detail.tree[0]!.entity).toEqual({ level: 'idc', id: 'gz0-04d' });
  });

  it('gives the same events whether alerts come one by one or all at once', () => {
    const one = new Correlator(topo);
    const a: IncidentEvent[] = [];
    for (const x of alerts) {
      one.ingest(x);
      a.push(...one.advance(x.at));
    }
    a.push(...one.flush());
    const batch = new Correlator(topo);
    for (const x of alerts) batch.ingest(x);
    const b = batch.flush();
    expect(b.map(renderIncidentEvent)).toEqual(a.map(renderIncidentEvent));
  });

  it('renders --incidents-out lines with ISO times and the issue shape', () => {
    const c = new Correlator(topo);
    for (const x of alerts) c.ingest(x);
    const lines = c.flush().map(renderIncidentEvent);
    const first = JSON.parse(lines[0]!);
    expect(Object.keys(first)).toEqual([
      'event',
      'id',
      'version',
      'status',
      'severity',
      'rootCause',
      'candidates',
      'absorbed',
      'startsAt',
      'at',
    ]);
    expect(first.startsAt).toBe('2024-03-01T10:00:00.777Z');
    expect(first.rootCause).toEqual({ level: 'app', id: 'pay-06da', kind: 'app' });
    expect(first.candidates[0]).toMatchObject({ entity: first.rootCause, kind: 'app' });
    const last = JSON.parse(lines[1]!);
    expect(last).toMatchObject({ event: 'resolved', status: 'resolved', endsAt: '2024-03-01T10:11:34.298Z' });
  });
});
