// Two `converge start` processes share the JD storm's metrics (one consumer group on `metrics`,
// keyed by host); their alerts meet in the one active correlator, and the webhook receiver gets
// one `opened` naming the app and, after the fault, one `resolved` with every absorbed entity.

import { afterAll, describe, expect, it } from 'vitest';
import type { IncidentSummary } from '../../correlate/index.js';
import {
  apiGet,
  apiPost,
  DistributedCluster,
  expectOneJdIncident,
  jdStormFeed,
  logLines,
  until,
} from './distributed-cluster.js';

const cluster = new DistributedCluster();

afterAll(async () => {
  await cluster.tearDown();
}, 60_000);

describe('converge start, two instances, distributed correlation', () => {
  it('one opened naming the app and one resolved for the JD storm', async () => {
    const started = Date.now();
    const feed = jdStormFeed({ stepMs: 15_000, durationMs: 180_000, leadMs: 120_000, tailMs: 300_000 });
    const fault = feed.scenario.faults[0]!;
    await cluster.setUp();
    const [a, b] = await Promise.all([cluster.start('a'), cluster.start('b')]);
    const active = await cluster.settled(2);
    const standby = active === a ? b! : a!;
    const ready = Date.now();

    await cluster.produce(feed, 600);
    const produced = Date.now();
    const r = cluster.receiver;
    await until(
      'the resolved notification',
      () => r.accepted.some((d) => d.body.incident.event === 'resolved'),
      60_000,
    );
    await new Promise((res) => setTimeout(res, 2000)); // anything repeated would arrive now

    const { opened, resolved } = expectOneJdIncident(r, fault);
    expect(r.accepted.every((d) => d.signatureOk)).toBe(true);

    // Both instances ran detection on their share, and both list the incident: the active one
    // from its correlator, the standby from the incidents topic.
    const shares = [a!, b!].map(
      (i) => logLines(i, 'stats').at(-1)?.publisher as { published: number } | undefined,
    );
    for (const s of shares) expect(s?.published ?? 0).toBeGreaterThan(1000);
    for (const i of [active, standby]) {
      await until(
        `${i.name} listing the resolved incident`,
        async () => {
          const list = await apiGet<{ items?: IncidentSummary[] } | IncidentSummary[]>(i, '/incidents');
          const items = Array.isArray(list) ? list : (list.items ?? []);
          const inc = items.find((s) => s.id === opened.id);
          return inc?.status === 'resolved' && inc.absorbed.total === resolved.absorbed.total;
        },
        15_000,
      );
    }

    // The standby's API feeds the active correlator too: alerts from another system (they move
    // event time like metrics do) and an operator's resolve, both through the alerts topic.
    const t1 = Date.parse(resolved.at) + 10 * 60_000;
    const probe = (host: string, at: number) => ({
      entity: { level: 'host', id: host },
      rule: 'ExternalProbeFailed',
      severity: 'critical',
      state: 'firing',
      at: new Date(at).toISOString(),
    });
    await apiPost(standby, '/alerts', probe('edge-1', t1));
    await apiPost(standby, '/alerts', probe('edge-2', t1 + 120_000));
    const external = () => r.accepted.filter((d) => d.body.incident.rootCause.id === 'edge-1');
    await until('the external alert opened as an incident', () => external().length === 1, 30_000);
    const extId = external()[0]!.body.incident.id;
    await until(
      `${standby.name} listing ${extId}`,
      async () =>
        (await apiGet<{ items: IncidentSummary[] }>(standby, '/incidents')).items.some((s) => s.id === extId),
      15_000,
    );
    await apiPost(standby, `/incidents/${extId}/resolve`, { by: 'test', comment: 'known probe outage' });
    await until(
      'the operator resolve notified',
      () => external().some((d) => d.body.incident.event === 'resolved'),
      30_000,
    );
    expect(external().map((d) => d.body.incident.event)).toEqual(['opened', 'resolved']);

    const cp = logLines(active, 'stats').at(-1)?.correlator as Record<string, unknown> | undefined;
    console.log(
      JSON.stringify({
        points: feed.points,
        megabytes: Math.round(feed.bytes / 1e5) / 10,
        startupMs: ready - started,
        produceMs: produced - ready,
        resolvedAfterProduceMs: Date.now() - produced,
        checkpoint: cp?.lastCheckpoint,
        maxCheckpointMs: cp?.maxCheckpointMs,
        publisher: shares,
        alertsProducer: [a!, b!].map((i) => logLines(i, 'stats').at(-1)?.alertsProducer),
      }),
    );
  }, 240_000);
});
