// Hostile clients against a listening API (real HTTP) over a running engine (issue 10): page
// limits that must be finite integers, rate limits that a tokenless client or a re-spelled
// header cannot dodge, deep and oversized alert bodies, security headers.

import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineBackend } from '../../api/backend.js';
import { type ApiServer, type ApiServerOptions, createApiServer } from '../../api/server.js';
import { ApiClient, type Json, ScenarioEngine } from '../../api/testing.js';
import { Correlator } from '../../correlate/correlator.js';
import { jdScenario } from '../../fixtures/scenario.js';
import { TopologyGraph } from '../../topology/graph.js';

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

/** GET over a fresh connection from a chosen local address (127.0.0.x are all loopback on Linux). */
function getFrom(
  base: string,
  path: string,
  headers: Record<string, string>,
  localAddress = '127.0.0.1',
): Promise<{ status: number; body: Json }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(base + path, { headers, localAddress, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text) }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('rate limits per normalized token and per client address', () => {
  it('limits requests without a token, with malformed headers and with made-up tokens, per address', async () => {
    const { baseUrl } = await serve({ rateLimit: { max: 5, window: '1m' } });
    const statuses: number[] = [];
    const headers: Array<Record<string, string>> = [
      {},
      {},
      { authorization: 'Basic YTpi' },
      { authorization: 'Bearer made-up-token-0001' },
      { authorization: 'Bearer made-up-token-0002' },
      { authorization: 'Bearer made-up-token-0003' },
      {},
      { authorization: 'Bearer made-up-token-0004' },
    ];
    for (const h of headers) statuses.push((await getFrom(baseUrl, '/api/v1/incidents', h)).status);
    // Five refusals for want of a token, then the address's budget is spent.
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const limited = await getFrom(baseUrl, '/api/v1/no-such-route', {});
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ error: 'Too Many Requests', field: 'rate' });
    // Another address has its own budget; a configured token has its own bucket even from here.
    expect((await getFrom(baseUrl, '/api/v1/incidents', {}, '127.0.0.2')).status).toBe(401);
    const reader = await getFrom(baseUrl, '/api/v1/incidents', { authorization: `Bearer ${READ}` });
    expect(reader.status).toBe(200);
    // Probes are never limited.
    expect((await getFrom(baseUrl, '/healthz', {})).status).toBe(200);
    expect((await getFrom(baseUrl, '/readyz', {})).status).toBe(200);
  });

  it('gives one bucket to a token however the header spells Bearer and the spacing', async () => {
    const { baseUrl } = await serve({ rateLimit: { max: 6, window: '1m' } });
    const spellings = [
      `Bearer ${WRITE}`,
      `Bearer  ${WRITE}`,
      `bearer ${WRITE}`,
      `Bearer\t${WRITE}`,
      `BEARER ${WRITE}`,
      `Bearer ${WRITE}\t`,
      `bEaReR   ${WRITE}`,
      `Bearer \t ${WRITE}`,
    ];
    const statuses: number[] = [];
    for (const authorization of spellings) {
      statuses.push((await getFrom(baseUrl, '/api/v1/health?level=idc', { authorization })).status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429]);
    // The other token, from the same address, is not affected.
    const reader = await getFrom(baseUrl, '/api/v1/health?level=idc', { authorization: `Bearer ${READ}` });
    expect(reader.status).toBe(200);
  });

  it('keys IPv6 clients by /64 and IPv4-mapped addresses as IPv4', async () => {
    const s = await createApiServer(engine.backend, { port: 0, rateLimit: { max: 2, window: '1m' } });
    servers.push(s);
    const get = (remoteAddress: string) =>
      s.app.inject({ url: '/api/v1/incidents', remoteAddress }).then((r) => r.statusCode);
    // No token configured: reads answer on loopback only, so remote clients get 401 until limited.
    expect([
      await get('2001:db8:1:2::1'),
      await get('2001:db8:1:2:ffff::9'),
      await get('2001:db8:1:2::77'),
    ]).toEqual([401, 401, 429]);
    expect(await get('2001:db8:1:3::1')).toBe(401);
    expect([await get('::ffff:192.0.2.9'), await get('192.0.2.9'), await get('::ffff:192.0.2.9')]).toEqual([
      401, 401, 429,
    ]);
  });
});

describe('deep and oversized alert bodies', () => {
  let writer: ApiClient;
  const deep = (depth: number) => '{"a":'.repeat(depth) + '"x"' + '}'.repeat(depth);
  const alert = (extra: string) =>
    `{"entity":{"level":"host","id":"h-deep"},"rule":"Deep","state":"firing","at":${engine.faultStart}${extra}}`;

  beforeAll(async () => {
    writer = (await serve()).withToken(WRITE);
  });

  it('refuses deeply nested labels with a 400 naming the label, not a 500', async () => {
    const before = engine.backend.alertLog.counts().received;
    const r = await writer.post('/api/v1/alerts', alert(`,"labels":{"team":${deep(100_000)}}`));
    expect(r.status).toBe(400);
    expect(r.body.field).toBe('labels.team');
    expect(r.body.message).toMatch(/^body: labels\.team must be a string \(got an object: \{"a":\{"a":/);
    expect(r.text.length).toBeLessThan(400);
    const annotations = await writer.post('/api/v1/alerts', alert(`,"annotations":${deep(50_000)}`));
    expect(annotations.status).toBe(400);
    expect(annotations.body.field).toBe('annotations.a');
    const entity = await writer.post(
      '/api/v1/alerts',
      `{"entity":{"level":${deep(100_000)},"id":"h"},"rule":"R","state":"firing","at":1}`,
    );
    expect(entity.status).toBe(400);
    expect(entity.body.field).toBe('entity.level');
    // A body that is nothing but nesting.
    const bare = await writer.post('/api/v1/alerts', `[${deep(200_000)}]`);
    expect(bare.status).toBe(400);
    expect(engine.backend.alertLog.counts().received).toBe(before);
  });

  it('bounds label sizes and counts, naming the label', async () => {
    const big = await writer.post('/api/v1/alerts', alert(`,"labels":{"note":"${'n'.repeat(5000)}"}`));
    expect(big.status).toBe(400);
    expect(big.body).toMatchObject({ field: 'labels.note' });
    expect(big.body.message).toContain('labels.note is 5000 characters long (at most 4096)');
    const labels: Record<string, string> = {};
    for (let i = 0; i < 200; i++) labels[`l${i}`] = 'v';
    const many = await writer.post('/api/v1/alerts', alert(`,"labels":${JSON.stringify(labels)}`));
    expect(many.status).toBe(400);
    expect(many.body.message).toContain('labels has more than 128 entries');
    const id = await writer.post(
      '/api/v1/alerts',
      `{"entity":{"level":"host","id":"${'h'.repeat(513)}"},"rule":"R","state":"firing","at":1}`,
    );
    expect(id.status).toBe(400);
    expect(id.body).toMatchObject({ field: 'entity.id' });
  });

  it('keeps the good alerts of a batch and lists the bad ones by index (array, JSON Lines, Alertmanager)', async () => {
    const good = (id: string) =>
      `{"entity":{"level":"host","id":"${id}"},"rule":"DeepBatch","state":"firing","at":${engine.faultStart}}`;
    const array = await writer.post(
      '/api/v1/alerts',
      `[${good('h-ok-1')},${alert(`,"labels":{"team":${deep(100_000)}}`)},${good('h-ok-2')}]`,
    );
    expect(array.status).toBe(200);
    expect(array.body).toMatchObject({ accepted: 2, rejected: 1, format: 'native' });
    expect(array.body.errors[0].index).toBe(1);
    expect(array.body.errors[0].message).toMatch(/^\[1\]\.labels\.team must be a string/);

    const lines = [good('h-ok-3'), alert(`,"labels":{"team":${deep(100_000)}}`), good('h-ok-4')].join('\n');
    const jsonl = await writer.post('/api/v1/alerts', lines, { 'content-type': 'application/x-ndjson' });
    expect(jsonl.status).toBe(200);
    expect(jsonl.body).toMatchObject({ accepted: 2, rejected: 1, format: 'jsonl' });
    expect(jsonl.body.errors[0]).toMatchObject({ index: 1 });

    const start = new Date(engine.faultStart).toISOString();
    const am = (labels: string) => `{"status":"firing","labels":${labels},"startsAt":"${start}"}`;
    const webhook = await writer.post(
      '/api/v1/alerts',
      `{"version":"4","receiver":"converge","status":"firing","alerts":[` +
        `${am('{"alertname":"AmDeep","host":"h-am-1"}')},` +
        `${am(`{"alertname":"AmDeep","host":"h-am-2","team":${deep(100_000)}}`)}]}`,
    );
    expect(webhook.status).toBe(200);
    expect(webhook.body).toMatchObject({ accepted: 1, rejected: 1, format: 'alertmanager' });
    expect(webhook.body.errors[0].message).toMatch(/^alerts\.1: labels\.team must be a string/);
  });
});

describe('security headers and own-property lookups', () => {
  it('sends security headers and a same-origin CSP without inline scripts on every answer', async () => {
    const base = await serve({ rateLimit: { max: 3, window: '1m' } });
    const reader = base.withToken(READ);
    const answers = [
      await reader.get('/api/v1/incidents'),
      await base.get('/api/v1/incidents'), // 401
      await reader.get('/api/v1/no-such-route'), // 404
      await reader.get('/api/v1/alerts?limit=Infinity'), // 400
      await reader.get('/api/v1/incidents'), // 429
      await base.get('/healthz'),
      await base.withToken(WRITE).get('/metrics'),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 401, 404, 400, 429, 200, 200]);
    for (const a of answers) {
      const csp = a.headers.get('content-security-policy') ?? '';
      expect(csp, `status ${a.status}`).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("object-src 'none'");
      expect(csp).not.toContain('upgrade-insecure-requests');
      expect(a.headers.get('x-content-type-options')).toBe('nosniff');
      expect(a.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(a.headers.get('referrer-policy')).toBe('no-referrer');
      expect(a.headers.get('cross-origin-resource-policy')).toBe('same-origin');
      expect(a.headers.get('strict-transport-security')).toBeNull();
      expect(a.headers.get('x-powered-by')).toBeNull();
    }
  });

  it('treats names of Object.prototype as ordinary ids and labels', async () => {
    const base = await serve();
    const reader = base.withToken(READ);
    const writer = base.withToken(WRITE);
    for (const id of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect((await reader.get(`/api/v1/entities/host/${id}`)).status, id).toBe(404);
      expect((await reader.get(`/api/v1/incidents/${id}`)).status, id).toBe(404);
      expect((await reader.get(`/api/v1/alerts?entity=host:${id}`)).body.items, id).toEqual([]);
      expect((await reader.get(`/api/v1/topology?level=host&id=${id}`)).status, id).toBe(404);
      expect((await writer.post(`/api/v1/incidents/${id}/ack`)).status, id).toBe(404);
    }
    const r = await writer.post('/api/v1/alerts', {
      entity: { level: 'host', id: 'constructor' },
      rule: 'toString',
      state: 'firing',
      at: engine.faultStart,
      labels: { constructor: 'c', toString: 't', valueOf: 'v' },
    });
    expect(r.body).toMatchObject({ accepted: 1, rejected: 0 });
    const listed = await reader.get('/api/v1/alerts?entity=host:constructor');
    expect(listed.body.items).toHaveLength(1);
    expect(listed.body.items[0]).toMatchObject({
      rule: 'toString',
      labels: { constructor: 'c', toString: 't', valueOf: 'v' },
    });
  });
});

describe('the topology cap, visible in /metrics and /api/v1/health', () => {
  it('counts what the cap evicted and refused, per resource', async () => {
    const topology = new TopologyGraph({ maxEntities: 50 });
    const backend = createEngineBackend({ topology, correlator: new Correlator(topology) });
    const s = await createApiServer(backend, {
      port: 0,
      tokens: [{ token: READ, scopes: ['read'] }],
      rateLimit: false,
    });
    servers.push(s);
    const api = new ApiClient(await s.listen(), READ);
    const t0 = engine.scenario.window.start;
    // Metric tags naming 1,000 containers nobody has seen before.
    for (let i = 0; i < 1000; i++)
      topology.observe({ host: `h${i % 4}`, rack: 'r1', dc: 'd1', container_name: `c${i}` }, t0 + i);
    // And 48 CMDB hosts under the same rack: with the rack and its IDC, the cap is full of what
    // cannot be evicted (every metrics-only entity went to make room), and the next point is refused.
    for (let i = 0; i < 48; i++) {
      expect(
        topology.apply({ level: 'host', id: `cmdb-${i}`, parent: { level: 'rack', id: 'r1' } }, t0),
      ).toBeUndefined();
    }
    expect(topology.observe({ host: 'h-late', rack: 'r1', dc: 'd1' }, t0 + 2000)).toBe(false);

    const health = await api.get('/api/v1/health');
    expect(health.status).toBe(200);
    const entities = health.body.capacity.find((c: Json) => c.resource === 'entities');
    // 1,006 metrics-only entities came (1,000 containers, 4 hosts, the rack and the IDC); all but
    // the rack and the IDC (they hold the CMDB hosts) were evicted.
    expect(entities).toEqual({ resource: 'entities', held: 50, limit: 50, evicted: 1004, refused: 1 });
    const metrics = await api.get('/metrics');
    expect(metrics.text).toContain('converge_capacity_held{resource="entities"} 50');
    expect(metrics.text).toContain('converge_capacity_limit{resource="entities"} 50');
    expect(metrics.text).toContain(
      `converge_capacity_evicted_total{resource="entities"} ${entities.evicted}`,
    );
    expect(metrics.text).toContain('converge_capacity_refused_total{resource="entities"} 1');
  });
});
