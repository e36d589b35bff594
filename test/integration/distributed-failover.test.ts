// The active correlator instance is killed (SIGKILL: no goodbye, no last checkpoint) in the
// middle of the JD storm. The standby takes over the `alerts` partition from the Redis
// checkpoint and the dead instance's share of `metrics` by rebalance; the receiver still gets
// exactly one `opened` and one `resolved`, with the incident's absorbed counts complete.

import { afterAll, describe, expect, it } from 'vitest';
import type { IncidentSummary } from '../../correlate/index.js';
import {
  apiGet,
  DistributedCluster,
  expectOneJdIncident,
  type Instance,
  jdStormFeed,
  logLines,
  role,
  sleep,
  until,
} from './distributed-cluster.js';

const cluster = new DistributedCluster();

afterAll(async () => {
  await cluster.tearDown();
}, 60_000);

describe('converge start, two instances, the active correlator killed mid-storm', () => {
  it('the standby takes over: one opened, one resolved, nothing lost or repeated', async () => {
    const feed = jdStormFeed({ stepMs: 15_000, durationMs: 180_000, leadMs: 120_000, tailMs: 300_000 });
    const fault = feed.scenario.faults[0]!;
    await cluster.setUp();
    const [a, b] = await Promise.all([cluster.start('a'), cluster.start('b')]);
    const active = await cluster.settled(2);
    const survivor = (active === a ? b : a) as Instance;
    const r = cluster.receiver;

    // Killed in the middle of the storm as the correlator sees it: once 1,500 records are in
    // the alerts topic (the storm's first alerts from both instances, a checkpoint of them in
    // Redis), with thousands of alerts and every resolution still to come.
    let killedAt = 0;
    let killedAtRecords = 0;
    let takeoverMs = -1;
    let openedBeforeKill = false;
    let lastStep = -1;
    const production = cluster.produce(feed, 600, (step) => {
      lastStep = step;
    });
    const admin = cluster.kafka.admin();
    await admin.connect();
    try {
      await until(
        '1,500 records in the alerts topic',
        async () => {
          const [o] = await admin.fetchTopicOffsets(cluster.topics.alerts);
          killedAtRecords = Number(o?.high ?? 0);
          return killedAtRecords >= 1500;
        },
        90_000,
      );
    } finally {
      await admin.disconnect();
    }
    openedBeforeKill = r.accepted.some((d) => d.body.incident.event === 'opened');
    process.kill(-active.child.pid!, 'SIGKILL');
    killedAt = Date.now();
    const killedAtStep = lastStep;
    const takeover = until(
      'the survivor to become the active correlator',
      async () => (await role(survivor)) === 'active',
      60_000,
    ).then(() => {
      takeoverMs = Date.now() - killedAt;
    });
    await production;
    await takeover;
    expect(killedAtStep).toBeLessThan(feed.faultEndStep + 4);
    expect(await active.exited).toMatchObject({ signal: 'SIGKILL' });

    await until(
      'the resolved notification',
      () => r.accepted.some((d) => d.body.incident.event === 'resolved'),
      90_000,
    );
    await sleep(3000); // anything repeated would arrive now
    expect(takeoverMs).toBeGreaterThan(0);

    const { opened } = expectOneJdIncident(r, fault);

    // The survivor restored the dead one's checkpoint and owns every metrics partition.
    const activation = logLines(survivor, 'correlator active').at(-1) as Record<string, unknown> | undefined;
    expect(activation?.checkpointAgeMs).not.toBeNull();
    const list = await apiGet<{ items: IncidentSummary[] }>(survivor, '/incidents');
    const inc = list.items.find((s) => s.id === opened.id);
    expect(inc?.status).toBe('resolved');
    const stats = logLines(survivor, 'stats').at(-1) as
      | {
          partitions?: number[];
          publisher?: unknown;
          correlator?: { gate?: unknown; lastCheckpoint?: unknown };
        }
      | undefined;
    expect(stats?.partitions).toEqual([0, 1, 2, 3, 4, 5]);

    console.log(
      JSON.stringify({
        killedAtStep,
        killedAtRecords,
        openedBeforeKill,
        faultEndStep: feed.faultEndStep,
        takeoverMs,
        activation,
        gate: stats?.correlator?.gate,
        checkpoint: stats?.correlator?.lastCheckpoint,
        publisher: stats?.publisher,
      }),
    );
  }, 240_000);
});
