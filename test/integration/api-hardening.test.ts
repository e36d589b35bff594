// Hostile clients against a listening API (real HTTP) over a running engine (issue 10): page
// limits that must be finite integers, rate limits that a tokenless client or a re-spelled
// header cannot dodge, deep and oversized alert bodies, security headers.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, type ApiServerOptions, createApiServer } from '../../api/server.js';
import { ApiClient, type Json, ScenarioEngine } from '../../api/testing.js';
import { jdScenario } from '../../fixtures/scenario.js';

const WRITE = 'hardening-writer-5c1e9a7f3b2d4e60';
const READ = 'hardening-reader-8d2f6b1a9c4e7035';
const MIN = 60_000;

let engine: ScenarioEngine;
let incidentId: string;
let hostId: string;
const servers: ApiServer[] = [];

async function serve(options: ApiServerOptions = {}): Promise<ApiClient> {
  const s = await createApiServer(engine.backend, {
    port: 0,
    tokens: [
      { token: WRITE, scopes: ['read', 'write'], name: 'writer' },
      { token: READ, scopes: ['read'], name: 'reader' },
    ],
    rateLimit: false,
    ...options,
  });
  servers.push(s);
  return new ApiClient(await s.listen());
}

beforeAll(async () => {
  engine = new ScenarioEngine({
    scenario: jdScenario(7, {
      fleet: { idcs: 1, racksPerIdc: 2, hostsPerRack: 6, containersPerHost: 6, extraApps: [] },
      appReplicas: 6,
    }),
  });
  await engine.start();
  await engine.feed(engine.faultStart + 5 * MIN);
  incidentId = engine.correlator.incidents()[0]!.id;
  hostId = engine.scenario.fleet.hosts[0]!.id;
}, 60_000);

afterAll(async () => {
  for (const s of servers) await s.close();
  await engine?.shutdown();
});

describe('page limits are finite integers on every route that takes one', () => {
  let api: ApiClient;
  beforeAll(async () => {
    api = (await serve()).withToken(READ);
  });

  /** Every route with an integer query parameter, and the parameter. */
  const routes = (): Array<[string, string]> => [
    ['/api/v1/incidents', 'limit'],
    ['/api/v1/feedback', 'limit'],
    ['/api/v1/alerts', 'limit'],
    ['/api/v1/health', 'limit'],
    ['/api/v1/topology', 'limit'],
    ['/api/v1/topology', 'depth'],
    [`/api/v1/entities/host/${hostId}`, 'alerts'],
    [`/api/v1/incidents/${incidentId}`, 'childrenPerNode'],
    [`/api/v1/incidents/${incidentId}`, 'alertsPerNode'],
  ];

  it('refuses Infinity, 1e309 and other non-decimal spellings with a 400 naming the parameter', async () => {
    for (const [path, name] of routes()) {
      for (const bad of ['Infinity', '1e309', '-Infinity', 'NaN', '1e3', '0x10', '5.0', '+5', ' 5', '']) {
        const r = await api.get(`${path}?${name}=${encodeURIComponent(bad)}`);
        expect(r.status, `${path}?${name}=${bad}`).toBe(400);
        expect(r.body.field, `${path}?${name}=${bad}`).toBe(name);
        expect(r.body.message).toContain(`querystring/${name}`);
      }
      // Repeating the parameter does not slip a bad value past the check either.
      const twice = await api.get(`${path}?${name}=1&${name}=Infinity`);
      expect(twice.status, `${path} repeated ${name}`).toBe(400);
    }
  });

  it('keeps the bounds: above the maximum is a 400, decimal values within it are served and honoured', async () => {
    const over = await api.get('/api/v1/alerts?limit=1001');
    expect(over.status).toBe(400);
    expect(over.body).toMatchObject({ field: 'limit', message: 'querystring/limit must be <= 1000' });
    const huge = await api.get('/api/v1/topology?limit=99999999999999');
    expect(huge.status).toBe(400);
    expect(huge.body.field).toBe('limit');

    const all = engine.backend.alertLog.counts().received;
    expect(all).toBeGreaterThan(20);
    const page = await api.get('/api/v1/alerts?limit=7');
    expect(page.status).toBe(200);
    expect(page.body.items).toHaveLength(7);
    expect(page.body.nextCursor).toEqual(expect.any(String));
    const padded = await api.get('/api/v1/alerts?limit=0007');
    expect(padded.body.items).toHaveLength(7);
    const topo = await api.get('/api/v1/topology?limit=5&depth=4');
    expect(topo.status).toBe(200);
    expect(topo.body.nodes).toBeLessThanOrEqual(5);
    expect(topo.body.truncated).toBe(true);
  });
});
