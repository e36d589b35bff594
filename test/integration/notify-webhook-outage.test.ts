// A generic webhook receiver that fails (HTTP 500 and hanging requests that time out) for 30 s
// and then recovers receives each incident event exactly once, in version order per incident,
// with a valid signature, through BullMQ on the real Redis. Duplicate stage outputs (every
// event notified twice) change nothing.

import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNotifyConfig } from '../../notify/config.js';
import { createNotifier, type Notifier } from '../../notify/notifier.js';
import { incidentLifecycle, WebhookReceiver } from '../../notify/testing.js';
import { serviceUrls } from './services.js';

const SECRET = 'outage-test-secret';
const OUTAGE_MS = 30_000;
const prefix = `cnv-outage-${randomBytes(4).toString('hex')}`;
const receiver = new WebhookReceiver(SECRET);
let notifier: Notifier | undefined;

afterAll(async () => {
  await notifier?.shutdown();
  await receiver.close();
  const redis = new Redis(serviceUrls().redisUrl);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

describe('webhook outage of 30 s', () => {
  it('delivers every event exactly once, in order, signed, after the receiver recovers', async () => {
    await receiver.start();
    const t0 = Date.now();
    // During the outage: alternate 500s and requests that hang past the sink's timeout.
    receiver.answer = (n) => (Date.now() - t0 < OUTAGE_MS ? (n % 2 === 0 ? 'fail' : 'hang') : 'ok');
    receiver.hangMs = 2500;
    const config = parseNotifyConfig({
      externalUrl: 'http://converge.test',
      queue: { prefix, concurrency: 4, lockDuration: '10s', stalledInterval: '10s' },
      retry: { attempts: 30, initialDelay: '500ms', maxDelay: '4s', jitter: 0.2 },
      sinks: [{ name: 'hook', type: 'webhook', url: receiver.url, secret: SECRET, timeout: '1s' }],
    });
    notifier = createNotifier({ config, redisUrl: serviceUrls().redisUrl });
    await notifier.start();

    // 6 incidents x 4 versions (opened, updated, updated, resolved), interleaved over ~6 s,
    // each event notified twice.
    const lifecycles = Array.from({ length: 6 }, (_, i) => incidentLifecycle(`inc-outage-${i}`, 4));
    let queued = 0;
    for (let v = 0; v < 4; v++) {
      for (const events of lifecycles) {
        const first = await notifier.notify(events[v]!);
        const again = await notifier.notify(events[v]!);
        expect(first.deliveries.map((d) => d.outcome)).toEqual(['queued']);
        expect(again.deliveries.map((d) => d.outcome)).toEqual(['duplicate']);
        queued++;
      }
      await new Promise((r) => setTimeout(r, 1500));
    }
    expect(queued).toBe(24);

    await notifier.idle(60_000);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThan(OUTAGE_MS);
    expect(elapsed).toBeLessThan(OUTAGE_MS + 15_000);

    // Nothing accepted during the outage, failures really happened.
    expect(receiver.accepted.every((a) => a.at - t0 >= OUTAGE_MS)).toBe(true);
    const failedArrivals = receiver.arrivals.filter((a) => a.at - t0 < OUTAGE_MS);
    expect(failedArrivals.length).toBeGreaterThanOrEqual(12);

    // Exactly once each, valid signatures.
    const keys = receiver.accepted.map((a) => a.key);
    expect(keys).toHaveLength(24);
    expect(new Set(keys).size).toBe(24);
    expect(receiver.accepted.every((a) => a.signatureOk)).toBe(true);
    // In version order per incident.
    for (let i = 0; i < 6; i++) {
      const versions = receiver.accepted
        .filter((a) => a.body.incident.id === `inc-outage-${i}`)
        .map((a) => a.body.incident.version);
      expect(versions).toEqual([1, 2, 3, 4]);
    }
    // An earlier version was never even attempted after a later one of the same incident.
    for (let i = 0; i < 6; i++) {
      const attempted = receiver.arrivals
        .filter((a) => a.key.includes(`inc-outage-${i}|`))
        .map((a) => Number(a.key.split('|v')[1]));
      expect(attempted).toEqual([...attempted].sort((a, b) => a - b));
    }
    expect(await notifier.deadLetters()).toEqual([]);
    const counts = await notifier.counts();
    expect(counts).toMatchObject({ pending: 0, delivered: 24, deadLettered: 0 });
    expect(counts.retried).toBeGreaterThanOrEqual(failedArrivals.length);
    console.log(
      `[notify outage] ${receiver.arrivals.length} requests, ${failedArrivals.length} during the outage, ` +
        `24 accepted, done ${((elapsed - OUTAGE_MS) / 1000).toFixed(1)} s after recovery`,
    );
  });
});
