// A real Alertmanager (started by the harness) shows an incident as an alert via
// GET /api/v2/alerts, follows a change of root cause (the old label set resolves), and the
// alert resolves when the incident resolves. Deliveries go through BullMQ on the real Redis.

import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNotifyConfig } from '../../notify/config.js';
import { createNotifier, type Notifier } from '../../notify/notifier.js';
import { incidentEvent } from '../../notify/testing.js';
import { serviceUrls } from './services.js';

const suffix = randomBytes(4).toString('hex');
const prefix = `cnv-am-${suffix}`;
let notifier: Notifier | undefined;

interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: string };
}

async function alerts(filter: string): Promise<AmAlert[]> {
  const response = await fetch(
    `${serviceUrls().alertmanagerUrl}/api/v2/alerts?filter=${encodeURIComponent(filter)}`,
  );
  expect(response.status).toBe(200);
  return (await response.json()) as AmAlert[];
}

async function waitFor<T>(
  what: string,
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: last ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

afterAll(async () => {
  await notifier?.shutdown();
  const redis = new Redis(serviceUrls().redisUrl);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

describe('Alertmanager sink against a real Alertmanager', () => {
  it('shows the incident as an alert, follows a new root cause, resolves with the incident', async () => {
    const config = parseNotifyConfig({
      externalUrl: 'http://converge.test:8080',
      queue: { prefix },
      retry: { attempts: 5, initialDelay: '200ms' },
      sinks: [
        {
          name: 'am',
          type: 'alertmanager',
          url: serviceUrls().alertmanagerUrl,
          alertname: `ConvergeTest_${suffix}`,
        },
      ],
    });
    notifier = createNotifier({ config, redisUrl: serviceUrls().redisUrl });
    await notifier.start();
    const id = `inc-am-${suffix}`;
    const startsAt = Date.now() - 60_000;
    const opened = incidentEvent({ id, version: 1, startsAt, at: startsAt + 30_000 });
    await notifier.notify(opened);

    const filter = `incident="${id}"`;
    const active = await waitFor(
      'the alert',
      () => alerts(filter),
      (a) => a.length === 1,
    );
    expect(active[0]!.labels).toEqual({
      alertname: `ConvergeTest_${suffix}`,
      incident: id,
      severity: 'critical',
      level: 'app',
      kind: 'app',
      root_cause: 'pay-06da',
      app: 'pay-06da',
      idc: 'dc1',
    });
    expect(active[0]!.status.state).toBe('active');
    expect(Date.parse(active[0]!.startsAt)).toBe(startsAt);
    expect(active[0]!.annotations.summary).toBe('[OPEN] root cause app pay-06da (app), critical');
    expect(active[0]!.annotations.incident_url).toBe(`http://converge.test:8080/api/v1/incidents/${id}`);

    // The root cause moves to a host: the new label set is active, the old one resolved.
    const updated = incidentEvent({
      id,
      version: 2,
      startsAt,
      at: Date.now() - 1000,
      rootCause: { level: 'host', id: 'h-017', kind: 'host' },
      candidates: [],
    });
    await notifier.notify(updated);
    const moved = await waitFor(
      'the moved alert',
      () => alerts(filter),
      (a) => a.length === 1 && a[0]!.labels.root_cause === 'h-017',
    );
    expect(moved[0]!.labels).toMatchObject({ level: 'host', kind: 'host', host: 'h-017' });

    const resolved = incidentEvent({
      id,
      version: 3,
      event: 'resolved',
      startsAt,
      at: Date.now() - 500,
      endsAt: Date.now() - 500,
      rootCause: { level: 'host', id: 'h-017', kind: 'host' },
      candidates: [],
    });
    await notifier.notify(resolved);
    await waitFor(
      'the alert to resolve',
      () => alerts(filter),
      (a) => a.length === 0,
    );
    await notifier.idle(10_000);
    expect(await notifier.counts()).toMatchObject({ pending: 0, delivered: 3, deadLettered: 0 });
  });
});
