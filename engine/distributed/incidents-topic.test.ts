import { describe, expect, it } from 'vitest';
import type { IncidentEvent } from '../../core/types.js';
import { IncidentView, incidentViewRecord, parseIncidentViewRecord } from './incidents-topic.js';

const T0 = Date.UTC(2024, 2, 1, 10, 0, 0);

function event(
  id: string,
  version: number,
  kind: IncidentEvent['event'],
  at: number,
  total = 10,
): IncidentEvent {
  const e: IncidentEvent = {
    event: kind,
    id,
    version,
    status: kind === 'resolved' ? 'resolved' : 'open',
    severity: 'critical',
    rootCause: { level: 'app', id: 'pay', kind: 'app' },
    candidates: [],
    absorbed: { total, byLevel: { container: total } },
    startsAt: T0,
    at,
  };
  if (kind === 'resolved') e.endsAt = at - 60_000;
  return e;
}

const apply = (view: IncidentView, e: IncidentEvent, counts?: { alerts: number; firing: number }) => {
  const summary = counts
    ? { ...e, alerts: counts.alerts, firing: counts.firing, openedAt: T0 + 30_000 }
    : undefined;
  const rec = parseIncidentViewRecord(Buffer.from(incidentViewRecord(e, summary)));
  if (typeof rec === 'string') throw new Error(rec);
  view.apply(rec);
};

describe('IncidentView', () => {
  it('keeps the latest version of each incident with its notification timeline', () => {
    const view = new IncidentView();
    apply(view, event('i1', 1, 'opened', T0 + 30_000, 10), { alerts: 10, firing: 10 });
    apply(view, event('i1', 1, 'opened', T0 + 30_000, 5100), { alerts: 5100, firing: 5100 }); // counts refresh
    apply(view, event('i2', 1, 'opened', T0 + 40_000, 3));
    apply(view, event('i1', 2, 'resolved', T0 + 900_000, 5100), { alerts: 5100, firing: 0 });
    apply(view, event('i1', 1, 'opened', T0 + 30_000, 7)); // an older record arriving late
    const list = view.incidents();
    expect(list.map((s) => [s.id, s.version, s.status, s.absorbed.total, s.firing])).toEqual([
      ['i1', 2, 'resolved', 5100, 0],
      ['i2', 1, 'open', 3, 3],
    ]);
    const d = view.get('i1')!;
    expect(d.tree).toEqual([]);
    expect(d.openedAt).toBe(T0 + 30_000);
    expect(d.timeline.map((t) => t.kind)).toEqual(['opened', 'resolved']);
    expect(view.get('nope')).toBeUndefined();
  });

  it('forgets resolved incidents after the retention and beyond the cap', () => {
    const view = new IncidentView({ retainResolvedMs: 3_600_000, maxIncidents: 2 });
    apply(view, event('old', 2, 'resolved', T0 + 60_000));
    apply(view, event('open', 1, 'opened', T0 + 5 * 3_600_000));
    expect(view.incidents().map((s) => s.id)).toEqual(['open']);
    apply(view, event('r1', 2, 'resolved', T0 + 5 * 3_600_000 + 1));
    apply(view, event('r2', 2, 'resolved', T0 + 5 * 3_600_000 + 2));
    expect(view.size).toBe(2);
    expect(view.get('open')).toBeDefined();
  });

  it('rejects records it cannot read', () => {
    expect(parseIncidentViewRecord(Buffer.from('x'))).toMatch(/invalid JSON/);
    expect(parseIncidentViewRecord(Buffer.from('{"id":"a","version":1,"status":"open"}'))).toMatch(/ISO/);
  });
});
