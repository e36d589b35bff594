// Security of the REST API on listening servers (real HTTP): bearer scopes on every write route,
// loopback-only reads without a configured token, no tokens in logs, rate and body limits, CORS.

import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, type ApiServerOptions, createApiServer } from '../../api/server.js';
import { ApiClient, type Json, ScenarioEngine } from '../../api/testing.js';
import { jdScenario } from '../../fixtures/scenario.js';

const WRITE = 'auth-test-writer-7f3a9c2e51d04b68';
const READ = 'auth-test-reader-0b6e8d4a92c7f315';
const MIN = 60_000;

let engine: ScenarioEngine;
let incidentId: string;
let deadId: string;
const servers: ApiServer[] = [];

async function serve(options: ApiServerOptions): Promise<ApiClient> {
  const s = await createApiServer(engine.backend, { port: 0, ...options });
  servers.push(s);
  return new ApiClient(await s.listen());
}

beforeAll(async () => {
  // A small JD-like storm: an app of 5 containers on 5 hosts, 4 containers per host.
  engine = new ScenarioEngine({
    scenario: jdScenario(11, {
      fleet: {
        idcs: 1,
        racksPerIdc: 2,
        hostsPerRack: 5,
        containersPerHost: 4,
        extraApps: [{ family: 'pay', replicas: 5 }],
      },
      appReplicas: 5,
    }),
  });
  await engine.start();
  await engine.feed(engine.faultStart + 5 * MIN);
  await engine.notifier.idle(10_000);
  incidentId = engine.correlator.incidents()[0]!.id;
  deadId = (await engine.notifier.deadLetters())[0]!.id;
}, 60_000);

afterAll(async () => {
  for (const s of servers) await s.close();
  await engine?.shutdown();
});

/** Every route that changes state, with a body that would be accepted. */
function writeRoutes(silenceId: string): Array<[string, string, unknown]> {
  return [
    ['POST', `/api/v1/incidents/${incidentId}/ack`, {}],
    ['POST', `/api/v1/incidents/${incidentId}/resolve`, {}],
    ['POST', `/api/v1/incidents/${incidentId}/feedback`, { verdict: 'correct' }],
    [
      'POST',
      '/api/v1/alerts',
      { entity: { level: 'host', id: 'h-x' }, rule: 'X', state: 'firing', at: engine.faultStart },
    ],
    ['POST', '/api/v1/silences', { matchers: ['app="pay"'], duration: '1h' }],
    ['DELETE', `/api/v1/silences/${silenceId}`, undefined],
    ['POST', `/api/v1/notifications/dead/${encodeURIComponent(deadId)}/retry`, undefined],
  ];
}

describe('with tokens configured', () => {
  let base: ApiClient;
  beforeAll(async () => {
    base = await serve({
      tokens: [
        { token: WRITE, scopes: ['read', 'write'], name: 'writer' },
        { token: READ, scopes: ['read'], name: 'reader' },
      ],
      rateLimit: false,
    });
  });

  it('refuses every write route without a token (401), with an unknown one (401) and read-only (403)', async () => {
    const silence = await base
      .withToken(WRITE)
      .post('/api/v1/silences', { matchers: ['rack="r0"'], duration: '1h' });
    expect(silence.status).toBe(201);
    const alertsBefore = engine.backend.alertLog.counts().received;
    for (const [method, path, body] of writeRoutes(silence.body.id)) {
      const anonymous = await base.request<Json>(method, path, body);
      expect(anonymous.status, `${method} ${path} without token`).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="converge"');
      expect(anonymous.body).toMatchObject({ error: 'Unauthorized', field: 'authorization' });
      expect(anonymous.body.message).toMatch(/missing "Authorization: Bearer <token>" header/);

      const wrong = await base.withToken('not-a-configured-token-at-all').request<Json>(method, path, body);
      expect(wrong.status, `${method} ${path} unknown token`).toBe(401);
      expect(wrong.body.message).toBe('unknown bearer token');

      const basic = await base.request<Json>(method, path, body, { authorization: `Basic ${btoa('a:b')}` });
      expect(basic.status).toBe(401);
      expect(basic.body.message).toMatch(/must read "Bearer <token>"/);

      const reader = await base.withToken(READ).request<Json>(method, path, body);
      expect(reader.status, `${method} ${path} read-only token`).toBe(403);
      expect(reader.body).toMatchObject({ error: 'Forbidden', field: 'authorization' });
      expect(reader.body.message).toMatch(/token "reader" has scopes \[read\]; .* needs the write scope/);
    }
    // Nothing the refused requests asked for happened.
    const inc = await base.withToken(READ).get(`/api/v1/incidents/${incidentId}`);
    expect(inc.body.acknowledged).toBeUndefined();
    expect(inc.body.status).toBe('open');
    expect(inc.body.feedback).toEqual([]);
    expect(engine.backend.alertLog.counts().received).toBe(alertsBefore);
    const silences = await base.withToken(READ).get('/api/v1/silences');
    expect(silences.body.items.map((s: Json) => s.id)).toEqual([silence.body.id]);
    expect((await engine.notifier.deadLetters()).map((d) => d.id)).toContain(deadId);
    // The write token passes.
    const ack = await base.withToken(WRITE).post(`/api/v1/incidents/${incidentId}/ack`);
    expect(ack.status).toBe(200);
    expect(ack.body.acknowledged.by).toBe('writer');
    expect((await base.withToken(WRITE).delete(`/api/v1/silences/${silence.body.id}`)).status).toBe(200);
  });

  it('read routes need a token too; liveness and readiness do not', async () => {
    for (const path of [
      '/api/v1/incidents',
      '/api/v1/health',
      '/api/v1/topology',
      '/metrics',
      '/openapi.json',
    ]) {
      expect((await base.get(path)).status, path).toBe(401);
      expect((await base.withToken(READ).get(path)).status, path).toBe(200);
    }
    expect((await base.get('/healthz')).status).toBe(200);
    expect((await base.get('/readyz')).status).toBe(200);
  });
});

describe('without any token configured', () => {
  it('answers read routes on loopback, refuses writes saying how to configure a token', async () => {
    const base = await serve({ rateLimit: false });
    const list = await base.get('/api/v1/incidents');
    expect(list.status).toBe(200);
    expect(list.body.items.map((i: Json) => i.id)).toContain(incidentId);
    // A token is ignored rather than trusted: there is none to check it against.
    for (const [method, path, body] of writeRoutes('some-silence')) {
      for (const client of [base, base.withToken(WRITE)]) {
        const r = await client.request<Json>(method, path, body);
        expect(r.status, `${method} ${path}`).toBe(401);
        expect(r.body.field).toBe('authorization');
        expect(r.body.message).toMatch(/needs a token with the write scope; none is configured/);
        expect(r.body.message).toMatch(/api: \{ tokens: \[\{ token: .*scopes: \[read, write\]/);
      }
    }
  });

  it('refuses reads from other addresses (loopback only)', async () => {
    const s = await createApiServer(engine.backend, { port: 0 });
    servers.push(s);
    const remote = await s.app.inject({ url: '/api/v1/incidents', remoteAddress: '192.0.2.7' });
    expect(remote.statusCode).toBe(401);
    expect(remote.json().message).toMatch(/read routes answer on loopback only/);
    const mapped = await s.app.inject({ url: '/api/v1/incidents', remoteAddress: '::ffff:127.0.0.1' });
    expect(mapped.statusCode).toBe(200);
    const v6 = await s.app.inject({ url: '/api/v1/incidents', remoteAddress: '::1' });
    expect(v6.statusCode).toBe(200);
    const probe = await s.app.inject({ url: '/healthz', remoteAddress: '192.0.2.7' });
    expect(probe.statusCode).toBe(200);
  });

  it('refuses a configuration with a short token, naming it', async () => {
    await expect(
      createApiServer(engine.backend, { tokens: [{ token: 'short', scopes: ['read'] }] }),
    ).rejects.toThrow(/api\.tokens\.0\.token: a token needs at least 16 characters/);
  });
});

describe('hardening', () => {
  it('never writes tokens to the log', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const base = await serve({
      tokens: [
        { token: WRITE, scopes: ['read', 'write'] },
        { token: READ, scopes: ['read'] },
      ],
      rateLimit: false,
      logger: pino({ level: 'trace' }, sink),
    });
    const bogus = 'bogus-token-that-must-not-be-logged';
    await base.withToken(WRITE).get('/api/v1/incidents');
    await base.withToken(WRITE).post('/api/v1/silences', { matchers: ['app="x"'] });
    await base.withToken(READ).post(`/api/v1/incidents/${incidentId}/feedback`, { verdict: 'correct' });
    await base.withToken(bogus).get('/api/v1/alerts');
    await base.withToken(WRITE).get('/api/v1/incidents?limit=0');
    const log = lines.join('');
    expect(lines.length).toBeGreaterThan(8);
    expect(log).toContain('request refused');
    for (const secret of [WRITE, READ, bogus]) expect(log).not.toContain(secret);
    expect(log).not.toMatch(/bearer\s+[\w-]{16,}/i);
    expect(log.toLowerCase()).not.toContain('authorization":');
  });

  it('rate-limits per client with a JSON 429 and Retry-After; probes are not limited', async () => {
    const base = await serve({
      tokens: [
        { token: WRITE, scopes: ['read', 'write'] },
        { token: READ, scopes: ['read'] },
      ],
      rateLimit: { max: 3, window: '1m' },
    });
    const writer = base.withToken(WRITE);
    for (let i = 0; i < 3; i++) expect((await writer.get('/api/v1/health?level=idc')).status).toBe(200);
    const limited = await writer.get('/api/v1/health?level=idc');
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ error: 'Too Many Requests', field: 'rate' });
    expect(limited.body.message).toMatch(/rate limit of 3 requests per 60 s reached; retry in/);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another client (token) has its own budget.
    expect((await base.withToken(READ).get('/api/v1/health?level=idc')).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await base.get('/healthz')).status).toBe(200);
  });

  it('limits request bodies (413 naming the body), larger for POST /alerts', async () => {
    const base = (
      await serve({
        tokens: [{ token: WRITE, scopes: ['read', 'write'] }],
        rateLimit: false,
        bodyLimit: 2048,
        alertsBodyLimit: 8192,
      })
    ).withToken(WRITE);
    const big = await base.post('/api/v1/silences', {
      matchers: ['app="x"'],
      duration: '1h',
      comment: 'x'.repeat(3000),
    });
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ error: 'Payload Too Large', field: 'body' });
    const alert = {
      entity: { level: 'host', id: 'h-big' },
      rule: 'Big',
      state: 'firing',
      at: engine.faultStart,
      annotations: { text: '' },
    };
    alert.annotations.text = 'y'.repeat(4000);
    expect((await base.post('/api/v1/alerts', alert)).status).toBe(200);
    alert.annotations.text = 'y'.repeat(9000);
    const tooBig = await base.post('/api/v1/alerts', alert);
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.field).toBe('body');
  });

  it('answers requests the HTTP parser refuses with the same error shape', async () => {
    const base = await serve({ rateLimit: false });
    const r = await fetch(`${base.baseUrl}/api/v1/incidents`, {
      headers: { 'x-padding': 'p'.repeat(20_000) },
    });
    expect(r.status).toBe(431);
    expect(await r.json()).toEqual({
      statusCode: 431,
      error: 'Request Header Fields Too Large',
      message: "request headers exceed the server's limit",
      field: 'headers',
    });
  });

  it('CORS is off by default and answers only the configured origins', async () => {
    const off = await serve({ rateLimit: false });
    const plain = await off.get('/api/v1/incidents', { origin: 'https://evil.example.com' });
    expect(plain.status).toBe(200);
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await off.request<Json>('OPTIONS', '/api/v1/incidents', undefined, {
      origin: 'https://evil.example.com',
      'access-control-request-method': 'GET',
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();

    const on = await serve({ rateLimit: false, cors: { origins: ['https://ops.example.com'] } });
    const allowed = await on.get('/api/v1/incidents', { origin: 'https://ops.example.com' });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://ops.example.com');
    const other = await on.get('/api/v1/incidents', { origin: 'https://evil.example.com' });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});
