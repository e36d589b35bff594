import { afterEach, describe, expect, it } from 'vitest';
import type { TopologyView } from '../core/types.js';
import { parseNotifyConfig } from './config.js';
import { createNotifier, IncidentEventError, type Notifier } from './notifier.js';
import { InMemorySink } from './sinks/memory.js';
import { incidentEvent, incidentLifecycle } from './testing.js';

const running: Notifier[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((n) => n.shutdown()));
});

function setup(
  raw: Record<string, unknown> = {},
  extra: { topology?: TopologyView; now?: () => number } = {},
) {
  const im = new InMemorySink('im');
  const pager = new InMemorySink('pager');
  const config = parseNotifyConfig({
    externalUrl: 'http://converge.test:8080/',
    retry: { attempts: 3, initialDelay: 20, maxDelay: 100, jitter: 0 },
    sinks: [
      { name: 'im', type: 'memory' },
      { name: 'pager', type: 'memory' },
    ],
    // Critical pages and also goes to IM (continue); everything else goes to IM.
    route: {
      sinks: ['im'],
      routes: [
        { matchers: ['severity="critical"'], sinks: ['pager'], continue: true },
        { matchers: ['severity=~".+"'] },
      ],
    },
    ...raw,
  });
  const notifier = createNotifier({ config, sinks: [im, pager], ...extra });
  running.push(notifier);
  return { notifier, im, pager };
}

describe('Notifier (embedded queue)', () => {
  it('routes, renders and delivers each incident version once per sink, in order', async () => {
    const { notifier, im, pager } = setup();
    await notifier.start();
    const events = incidentLifecycle('inc-1', 3);
    for (const e of events) await notifier.notify(e);
    const again = await notifier.notify(events[1]!);
    expect(again.deliveries.map((d) => d.outcome)).toEqual(['duplicate', 'duplicate']);
    await notifier.idle(5000);
    expect(pager.sent.map((n) => n.key)).toEqual(['pager|inc-1|v1', 'pager|inc-1|v2', 'pager|inc-1|v3']);
    expect(im.sent.map((n) => n.event.event)).toEqual(['opened', 'updated', 'resolved']);
    const first = im.sent[0]!;
    expect(first.message.title).toBe('[OPEN] root cause app pay-06da (app), critical');
    expect(first.link).toBe('http://converge.test:8080/api/v1/incidents/inc-1');
    expect(first.message.text).toContain('5100 alerts (container 5050, host 50)');
    expect(await notifier.counts()).toMatchObject({ pending: 0, delivered: 6 });
  });

  it('routes warnings to the default route only', async () => {
    const { notifier, im, pager } = setup();
    await notifier.start();
    const r = await notifier.notify(incidentEvent({ id: 'inc-w', severity: 'warning' }));
    expect(r.routed).toEqual(['im']);
    await notifier.idle(5000);
    expect(im.sent).toHaveLength(1);
    expect(pager.sent).toHaveLength(0);
  });

  it('retries recoverable failures and dead-letters after the last attempt; replay works', async () => {
    const { notifier, pager } = setup({ route: { sinks: ['pager'] } });
    await notifier.start();
    const fail = { ok: false as const, recoverable: true, reason: 'HTTP 503' };
    pager.failNext(fail, fail, fail);
    await notifier.notify(incidentEvent({ id: 'inc-d' }));
    await notifier.idle(5000);
    expect(pager.attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    const dead = await notifier.deadLetters();
    expect(dead.map((d) => [d.id, d.attempts, d.reason])).toEqual([
      ['pager|inc-d|v1', 3, 'gave up after 3 attempts: HTTP 503'],
    ]);
    expect(await notifier.retryDeadLetter('pager|inc-d|v1')).toEqual({ requeued: true });
    await notifier.idle(5000);
    expect(pager.sent.map((n) => n.key)).toEqual(['pager|inc-d|v1']);
  });

  it('a silence mutes matching incidents (in event time) and not others', async () => {
    const { notifier, im, pager } = setup();
    await notifier.start();
    const e = incidentEvent({ id: 'inc-s' });
    const silence = await notifier.silences.add({
      matchers: ['root_cause="pay-06da"'],
      startsAt: e.at - 60_000,
      endsAt: e.at + 60_000,
      createdBy: 'test',
      comment: 'deploying pay',
    });
    const muted = await notifier.notify(e);
    expect(muted).toEqual({ routed: ['pager', 'im'], deliveries: [], mutedBy: silence.id });
    // Same time, other root cause: not muted.
    const other = incidentEvent({ id: 'inc-o', rootCause: { level: 'host', id: 'h-9', kind: 'host' } });
    expect((await notifier.notify(other)).deliveries).toHaveLength(2);
    // Same root cause, after the silence (event time): not muted.
    const later = incidentEvent({ id: 'inc-l', at: e.at + 120_000 });
    expect((await notifier.notify(later)).mutedBy).toBeUndefined();
    await notifier.idle(5000);
    expect(im.sent.map((n) => n.event.id).sort()).toEqual(['inc-l', 'inc-o']);
    expect(pager.sent.map((n) => n.event.id).sort()).toEqual(['inc-l', 'inc-o']);
    expect(await notifier.silences.delete(silence.id)).toBe(true);
    expect(await notifier.silences.list()).toEqual([]);
  });

  it('honours a silence created while a delivery waits in retry (wall clock at send time)', async () => {
    let wall = Date.UTC(2030, 0, 1);
    const { notifier, pager } = setup({ route: { sinks: ['pager'] } }, { now: () => wall });
    await notifier.start();
    pager.failNext({ ok: false, recoverable: true, reason: 'HTTP 500' });
    await notifier.notify(incidentEvent({ id: 'inc-r' }));
    await new Promise((r) => setTimeout(r, 5));
    await notifier.silences.add({
      matchers: ['incident="inc-r"'],
      startsAt: wall - 1000,
      endsAt: wall + 3_600_000,
    });
    wall += 10;
    await notifier.idle(5000);
    expect(pager.attempts).toHaveLength(1);
    expect(pager.sent).toHaveLength(0);
    expect((await notifier.counts()).muted).toBe(1);
  });

  it('mutes with configured maintenance windows, which the API cannot delete', async () => {
    const topology: TopologyView = {
      has: () => true,
      parent: (ref) =>
        ref.level === 'app'
          ? undefined
          : ref.level === 'host'
            ? { level: 'rack', id: 'r1' }
            : ref.level === 'rack'
              ? { level: 'idc', id: 'dc1' }
              : undefined,
      children: () => [],
      childCount: () => 0,
      appOf: () => undefined,
      calls: () => [],
      callers: () => [],
      attributes: () => ({ kernel: '5.10' }),
      lastSeen: () => undefined,
      counts: () => ({ idc: 1, rack: 1, host: 1, container: 0, app: 0 }),
    };
    const e = incidentEvent({
      id: 'inc-m',
      rootCause: { level: 'host', id: 'h1', kind: 'host' },
      candidates: [],
    });
    const { notifier, im } = setup(
      {
        maintenanceWindows: [
          {
            name: 'dc1-kernel',
            matchers: ['idc="dc1"', 'kernel="5.10"'],
            startsAt: e.at - 1000,
            endsAt: e.at + 1000,
          },
        ],
      },
      { topology },
    );
    await notifier.start();
    expect((await notifier.notify(e)).mutedBy).toBe('maintenance:dc1-kernel');
    expect(await notifier.silences.delete('maintenance:dc1-kernel')).toBe(false);
    expect((await notifier.silences.list()).map((s) => s.id)).toEqual(['maintenance:dc1-kernel']);
    await notifier.idle(5000);
    expect(im.sent).toHaveLength(0);
  });

  it('rejects malformed events and silences with a message naming the field', async () => {
    const { notifier } = setup();
    await notifier.start();
    await expect(notifier.notify({ ...incidentEvent(), version: -1 })).rejects.toThrow(IncidentEventError);
    await expect(notifier.notify({ ...incidentEvent(), version: 1.5 })).rejects.toThrow(
      /version: expected an integer/,
    );
    await expect(notifier.notify({ ...incidentEvent(), rootCause: undefined } as never)).rejects.toThrow(
      /rootCause/,
    );
    await expect(notifier.silences.add({ matchers: [], startsAt: 0, endsAt: 1 })).rejects.toThrow(
      /matchers: at least one/,
    );
    await expect(notifier.silences.add({ matchers: ['idc=~".*"'], startsAt: 0, endsAt: 1 })).rejects.toThrow(
      /mute everything/,
    );
    await expect(
      notifier.silences.add({ matchers: ['idc="x"'], startsAt: 'soon', endsAt: 1 }),
    ).rejects.toThrow(/startsAt/);
    await expect(notifier.silences.add({ matchers: ['idc="x"'], startsAt: 5, endsAt: 1 })).rejects.toThrow(
      /endsAt: must be after/,
    );
  });
});

describe('Notifier metrics', () => {
  it('counts attempts by sink and outcome and times deliveries', async () => {
    const { Registry } = await import('prom-client');
    const registry = new Registry();
    const pager = new InMemorySink('pager');
    const config = parseNotifyConfig({
      retry: { attempts: 3, initialDelay: 10, jitter: 0 },
      sinks: [{ name: 'pager', type: 'memory' }],
    });
    const notifier = createNotifier({ config, sinks: [pager], metrics: registry });
    running.push(notifier);
    await notifier.start();
    pager.failNext({ ok: false, recoverable: true, reason: 'HTTP 502' });
    await notifier.notify(incidentEvent({ id: 'inc-metrics' }));
    await notifier.idle(5000);
    const text = await registry.metrics();
    expect(text).toContain('converge_notify_attempts_total{sink="pager",outcome="retry"} 1');
    expect(text).toContain('converge_notify_attempts_total{sink="pager",outcome="delivered"} 1');
    expect(text).toContain('converge_notify_delivery_seconds_count{sink="pager"} 1');
  });
});
