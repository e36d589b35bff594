import type { IncidentEvent } from '../core/types.js';

/**
 * Incident events for tests and benchmarks: the JD.com case (one app's containers on 50 hosts,
 * 5,100 alerts absorbed), with version/event/status following each other.
 */
export function incidentEvent(overrides: Partial<IncidentEvent> = {}): IncidentEvent {
  const version = overrides.version ?? 1;
  const base: IncidentEvent = {
    event: version === 1 ? 'opened' : 'updated',
    id: 'inc-pay-06da',
    version,
    status: 'open',
    severity: 'critical',
    rootCause: { level: 'app', id: 'pay-06da', kind: 'app' },
    candidates: [
      {
        entity: { level: 'app', id: 'pay-06da', kind: 'app' },
        kind: 'app',
        score: 0.93,
        evidence: {
          coverage: 0.98,
          hosts: 50,
          containers: 50,
          firstAlert: 'container c-4ad659cdd55f',
          idc: 'dc1',
        },
      },
      {
        entity: { level: 'host', id: 'h-017', kind: 'host' },
        kind: 'host',
        score: 0.21,
        evidence: { coverage: 0.02 },
      },
    ],
    absorbed: { total: 5100, byLevel: { container: 5050, host: 50 } },
    startsAt: Date.UTC(2024, 2, 1, 10, 0, 0, 777),
    at: Date.UTC(2024, 2, 1, 10, 0, 30) + (version - 1) * 60_000,
  };
  const event = { ...base, ...overrides };
  if (event.event === 'resolved' && overrides.status === undefined) event.status = 'resolved';
  if (event.status === 'resolved' && event.endsAt === undefined) event.endsAt = event.at;
  return event;
}

/** opened (v1), updated (v2..n-1), resolved (vn) for one incident. */
export function incidentLifecycle(
  id: string,
  versions: number,
  overrides: Partial<IncidentEvent> = {},
): IncidentEvent[] {
  const out: IncidentEvent[] = [];
  for (let v = 1; v <= versions; v++) {
    const event = v === 1 ? 'opened' : v === versions ? 'resolved' : 'updated';
    out.push(incidentEvent({ ...overrides, id, version: v, event }));
  }
  return out;
}
