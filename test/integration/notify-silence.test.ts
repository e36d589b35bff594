// A silence (stored in Redis, shared by every notifier process) mutes a matching incident's
// notifications and not others; the muted incident's later events stay muted while the
// silence covers them, and the silence's end lets notifications through again.

import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNotifyConfig } from '../../notify/config.js';
import { createNotifier, type Notifier } from '../../notify/notifier.js';
import { incidentEvent, WebhookReceiver } from '../../notify/testing.js';
import { serviceUrls } from './services.js';

const SECRET = 'silence-test-secret';
const prefix = `cnv-silence-${randomBytes(4).toString('hex')}`;
const receiver = new WebhookReceiver(SECRET);
const notifiers: Notifier[] = [];

afterAll(async () => {
  await Promise.all(notifiers.map((n) => n.shutdown()));
  await receiver.close();
  const redis = new Redis(serviceUrls().redisUrl);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

describe('silences on Redis', () => {
  it('mute matching incidents and not others, across notifier processes', async () => {
    await receiver.start();
    const raw = {
      queue: { prefix },
      sinks: [{ name: 'hook', type: 'webhook', url: receiver.url, secret: SECRET }],
    };
    const api = createNotifier({
      config: parseNotifyConfig(raw),
      redisUrl: serviceUrls().redisUrl,
      deliver: false,
    });
    const worker = createNotifier({ config: parseNotifyConfig(raw), redisUrl: serviceUrls().redisUrl });
    notifiers.push(api, worker);
    await api.start();
    await worker.start();

    const base = Date.UTC(2024, 2, 1, 10, 0, 0);
    // The silence is made through one process (the API's) and honoured by the other.
    const silence = await api.silences.add({
      matchers: ['root_cause="pay-06da"', 'severity=~"critical|warning"'],
      startsAt: base,
      endsAt: base + 3_600_000,
      createdBy: 'ops@example.com',
      comment: 'pay-06da rollback in progress',
    });
    expect((await worker.silences.list()).map((s) => s.id)).toEqual([silence.id]);

    const mutedEvent = incidentEvent({ id: 'inc-muted', at: base + 60_000 });
    const otherCause = incidentEvent({
      id: 'inc-other',
      at: base + 60_000,
      rootCause: { level: 'host', id: 'h-3', kind: 'host' },
    });
    const infoOnly = incidentEvent({ id: 'inc-info', at: base + 60_000, severity: 'info' });
    const afterWindow = incidentEvent({ id: 'inc-later', at: base + 7_200_000 });
    expect((await worker.notify(mutedEvent)).mutedBy).toBe(silence.id);
    expect(
      (await worker.notify({ ...mutedEvent, version: 2, event: 'updated', at: base + 120_000 })).mutedBy,
    ).toBe(silence.id);
    for (const e of [otherCause, infoOnly, afterWindow])
      expect((await worker.notify(e)).mutedBy).toBeUndefined();
    await worker.idle(20_000);
    expect(receiver.accepted.map((a) => a.body.incident.id).sort()).toEqual([
      'inc-info',
      'inc-later',
      'inc-other',
    ]);

    // Deleted through the API process: the incident's next event goes out.
    expect(await api.silences.delete(silence.id)).toBe(true);
    await new Promise((r) => setTimeout(r, 300)); // the silence cache of the other process
    expect(
      (
        await worker.notify({
          ...mutedEvent,
          version: 3,
          event: 'resolved',
          status: 'resolved',
          at: base + 180_000,
          endsAt: base + 180_000,
        })
      ).mutedBy,
    ).toBeUndefined();
    await worker.idle(20_000);
    expect(
      receiver.accepted.filter((a) => a.body.incident.id === 'inc-muted').map((a) => a.body.incident.version),
    ).toEqual([3]);
  });
});
