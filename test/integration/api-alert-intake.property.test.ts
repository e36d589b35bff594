// Property over POST /api/v1/alerts on a listening server (real HTTP, real correlator): batches
// of good and hostile alert records (deep nesting, huge strings, too many labels, wrong types,
// far timestamps, garbage lines), as a JSON array, as JSON Lines and as Alertmanager webhook
// payloads. Never a 5xx; every good alert accepted and handed to the correlator; every bad one
// listed with its index; 400 only when nothing was good.

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineBackend, type EngineBackend } from '../../api/backend.js';
import { type ApiServer, createApiServer } from '../../api/server.js';
import { ApiClient } from '../../api/testing.js';
import { ALERT_LIMITS } from '../../correlate/alerts.js';
import { Correlator } from '../../correlate/correlator.js';
import { TopologyGraph } from '../../topology/graph.js';
import { type AlertRecord, alertBatch } from '../hostile-alerts.js';

const WRITE = 'property-writer-7a1d3e5c9b2f4068';

let server: ApiServer;
let backend: EngineBackend;
let api: ApiClient;

beforeAll(async () => {
  const topology = new TopologyGraph();
  backend = createEngineBackend({ topology, correlator: new Correlator(topology) });
  server = await createApiServer(backend, {
    port: 0,
    tokens: [{ token: WRITE, scopes: ['read', 'write'] }],
    rateLimit: false,
  });
  api = new ApiClient(await server.listen(), WRITE);
});

afterAll(async () => {
  await server?.close();
});

/** Posts a batch and checks the answer against what each record is. */
async function check(records: readonly { good: boolean }[], body: string, contentType: string) {
  const before = backend.alertLog.counts().received;
  const r = await api.post('/api/v1/alerts', body, { 'content-type': contentType });
  const good = records.filter((x) => x.good).length;
  const badIndices = records.flatMap((x, i) => (x.good ? [] : [i]));
  expect(r.status, r.text.slice(0, 300)).toBeLessThan(500);
  if (good === 0) {
    expect(r.status, r.text.slice(0, 300)).toBe(400);
    expect(typeof r.body.field).toBe('string');
  } else {
    expect(r.status, r.text.slice(0, 300)).toBe(200);
    expect(r.body.accepted).toBe(good);
    expect(r.body.rejected).toBe(badIndices.length);
    expect(r.body.errors.map((e: { index: number }) => e.index)).toEqual(badIndices.slice(0, 100));
  }
  expect(backend.alertLog.counts().received - before).toBe(good);
  // Answers stay small whatever came in.
  expect(r.text.length).toBeLessThan(200 + 700 * Math.min(100, badIndices.length));
}

describe('POST /api/v1/alerts with hostile batches', () => {
  it('JSON arrays', async () => {
    await fc.assert(
      fc.asyncProperty(alertBatch(), (records: AlertRecord[]) =>
        check(records, `[${records.map((r) => r.text).join(',')}]`, 'application/json'),
      ),
      { numRuns: 60 },
    );
  });

  it('JSON Lines, garbage lines included', async () => {
    await fc.assert(
      fc.asyncProperty(alertBatch({ jsonLines: true }), (records: AlertRecord[]) =>
        check(records, records.map((r) => r.text).join('\n'), 'application/x-ndjson'),
      ),
      { numRuns: 60 },
    );
  });

  it('Alertmanager webhook payloads', async () => {
    const deep = (d: number) => '{"a":'.repeat(d) + '"x"' + '}'.repeat(d);
    const amAlert = fc.oneof(
      {
        weight: 2,
        arbitrary: fc
          .record({
            host: fc.string({ minLength: 1, maxLength: 30, unit: 'grapheme' }),
            name: fc.string({ minLength: 1, maxLength: 30, unit: 'grapheme' }),
            at: fc.integer({ min: 0, max: 253_370_764_799_999 }),
            resolved: fc.boolean(),
          })
          .map((a) => ({
            good: true,
            text: JSON.stringify({
              status: a.resolved ? 'resolved' : 'firing',
              labels: { alertname: a.name, host: a.host },
              startsAt: new Date(a.at).toISOString(),
              ...(a.resolved ? { endsAt: new Date(a.at).toISOString() } : {}),
            }),
          })),
      },
      {
        weight: 1,
        arbitrary: fc
          .oneof(
            fc.integer({ min: 1, max: 100_000 }).map((d) => `{"alertname":"A","host":"h","team":${deep(d)}}`),
            fc
              .integer({ min: ALERT_LIMITS.labels.value + 1, max: 200_000 })
              .map((n) => `{"alertname":"A","host":"${'h'.repeat(n)}"}`),
            fc.constant('{"host":"h"}'),
            fc.constant('{"alertname":"A"}'),
            fc.constant('{"alertname":"A","host":["h"]}'),
          )
          .map((labels) => ({
            good: false,
            text: `{"status":"firing","labels":${labels},"startsAt":"2024-03-01T10:00:00Z"}`,
          })),
      },
      {
        weight: 1,
        arbitrary: fc
          .constantFrom('"+275760-09-13T00:00:00Z"', '"9999-06-01T00:00:00Z"', '42', 'null', '{}', '"now"')
          .map((t) => ({
            good: false,
            text: `{"status":"firing","labels":{"alertname":"A","host":"h"},"startsAt":${t}}`,
          })),
      },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(amAlert, { minLength: 1, maxLength: 12 }), (alerts) =>
        check(
          alerts,
          `{"version":"4","receiver":"converge","status":"firing","alerts":[${alerts.map((a) => a.text).join(',')}]}`,
          'application/json',
        ),
      ),
      { numRuns: 60 },
    );
  });
});
