import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRetryAfter, sendHttp } from './http.js';

let server: Server;
let base = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const path = req.url ?? '/';
      if (path === '/ok') res.writeHead(202).end('{"status":"success"}');
      else if (path === '/throttled') res.writeHead(429, { 'retry-after': '7' }).end('slow down');
      else if (path === '/broken') res.writeHead(503).end('maintenance');
      else if (path === '/invalid') res.writeHead(400).end('{"message":"Event object is invalid"}');
      else if (path === '/slow') setTimeout(() => res.writeHead(200).end('late'), 2000);
      else res.writeHead(404).end('no');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const post = (path: string, timeoutMs = 1000) =>
  sendHttp({ url: base + path, headers: {}, body: '{}' }, timeoutMs, 'test');

describe('sendHttp over loopback', () => {
  it('classifies answers: 2xx ok, 429 and 5xx recoverable (Retry-After kept), 4xx not', async () => {
    expect(await post('/ok')).toEqual({ ok: true, status: 202 });
    expect(await post('/throttled')).toEqual({
      ok: false,
      recoverable: true,
      retryAfterMs: 7000,
      status: 429,
      reason: 'test answered HTTP 429: slow down',
    });
    expect(await post('/broken')).toMatchObject({ ok: false, recoverable: true, status: 503 });
    expect(await post('/invalid')).toMatchObject({ ok: false, recoverable: false, status: 400 });
  });

  it('turns timeouts and refused connections into recoverable failures', async () => {
    const t0 = Date.now();
    expect(await post('/slow', 200)).toEqual({
      ok: false,
      recoverable: true,
      reason: 'timeout after 200 ms',
    });
    expect(Date.now() - t0).toBeLessThan(1500);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const refused = await sendHttp(
      { url: `http://127.0.0.1:${port}/x`, headers: {}, body: '{}' },
      1000,
      'test',
    );
    expect(refused).toMatchObject({
      ok: false,
      recoverable: true,
      reason: expect.stringMatching(/request failed: ECONNREFUSED/),
    });
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});
