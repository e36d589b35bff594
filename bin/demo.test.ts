import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { LiveFleet } from '../fixtures/live/fleet.js';
import { type LiveEpisode, MINUTE_MS } from '../fixtures/live/schedule.js';

// `converge demo` as a user runs it: the CLI in its own process, the API over real HTTP, the
// fleet 120 times faster than the wall clock so that the first fault cycle (about 80 minutes of
// event time) takes 40 s. Ground truth: the same fixture's schedule (victims depend on the
// seed and the fleet, not on the start time).
const FLEET = '2x2x8x6';
const SEED = 4;
const SPEED = 120;

interface Demo {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function startDemo(args: string[]): Demo {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/cli.ts', 'demo', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface IncidentJson {
  id: string;
  status: 'open' | 'resolved';
  severity: string;
  rootCause: { level: string; id: string; kind: string };
  absorbed: { total: number; byLevel: Record<string, number> };
  startsAt: string;
  endsAt?: string;
  acknowledged?: { by: string };
}

/** The fields of responses the test reads. */
interface ResponseBody {
  id?: string;
  attributes?: Record<string, string>;
  acknowledged?: { by: string };
}

interface AlertJson {
  predicted: boolean;
  etaSeconds?: number;
  labels: Record<string, string>;
}

const running: Demo[] = [];
afterAll(async () => {
  for (const d of running) if (d.child.exitCode === null) d.child.kill('SIGKILL');
});

describe('converge demo', () => {
  it('serves a live fleet whose faults become incidents naming their causes, then resolve', async () => {
    const demo = startDemo([
      '--port',
      '0',
      '--speed',
      String(SPEED),
      '--fleet',
      FLEET,
      '--seed',
      String(SEED),
    ]);
    running.push(demo);
    const banner = await waitFor('the API address and token', 30_000, () => {
      const api = /^API\s+(http:\/\/127\.0\.0\.1:\d+)\/api\/v1/m.exec(demo.stdout());
      const token = /^token\s+(\S+)/m.exec(demo.stdout());
      return api && token ? { url: api[1]!, token: token[1]! } : undefined;
    });
    const { url, token } = banner;
    const get = async <T = ResponseBody>(path: string, auth = token) => {
      const r = await fetch(url + path, { headers: auth ? { authorization: `Bearer ${auth}` } : {} });
      return { status: r.status, body: (await r.json()) as T };
    };
    const post = async (path: string, body: unknown, auth?: string) => {
      const r = await fetch(url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
        body: JSON.stringify(body),
      });
      return { status: r.status, body: (await r.json()) as ResponseBody };
    };

    // Ground truth: the first cycle of the same fleet's schedule, also printed by the demo.
    const truth = new LiveFleet({ origin: 0, seed: SEED, ...fleetSize(FLEET) });
    const episodes = truth.schedule.cycle(0);
    const of = (kind: LiveEpisode['kind']) => episodes.find((e) => e.kind === kind)!;
    const cascade = of('app-cascade');
    const down = of('host-down');
    const drop = of('traffic-drop');
    const leak = of('memory-leak');
    for (const ep of episodes) expect(demo.stdout()).toContain(ep.summary);
    expect(demo.stdout()).toContain(`export CONVERGE_TOKEN=${token}`);
    expect(demo.stdout()).toMatch(
      /curl -s -H "Authorization: Bearer \$CONVERGE_TOKEN" .*\/api\/v1\/incidents/,
    );

    // Liveness and readiness need no token; with the demo's token configured, reads need it
    // too. The CMDB topology is loaded.
    expect((await get('/healthz', '')).status).toBe(200);
    await waitFor('readiness', 10_000, async () =>
      (await get('/readyz', '')).status === 200 ? true : undefined,
    );
    expect((await get('/api/v1/incidents', '')).status).toBe(401);
    const health = await get('/api/v1/health');
    expect(health.status).toBe(200);
    const topo = await get(`/api/v1/entities/app/${encodeURIComponent(cascade.cause.id)}`);
    expect(topo.status).toBe(200);
    const host = await get(`/api/v1/entities/host/${encodeURIComponent(down.cause.id)}`);
    expect(host.status).toBe(200);
    expect(Object.keys(host.body.attributes ?? {}).sort()).toEqual(['kernel', 'model', 'os', 'zone']);

    // The printed token works on a write route; no token and a wrong one are refused.
    const silence = { matchers: ['app="not-in-this-fleet"'], duration: '5m', comment: 'demo test' };
    expect((await post('/api/v1/silences', silence)).status).toBe(401);
    expect((await post('/api/v1/silences', silence, 'x'.repeat(token.length))).status).toBe(401);
    const created = await post('/api/v1/silences', silence, token);
    expect(created.status).toBe(201);
    const del = await fetch(`${url}/api/v1/silences/${created.body.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(del.status).toBe(200);

    // Every incident seen so far, latest state: resolved incidents are kept an hour of event
    // time, half a minute at this speed, so each is recorded as it goes by.
    const seen = new Map<string, IncidentJson>();
    const incidents = async (): Promise<IncidentJson[]> => {
      const { items } = (await get<{ items: IncidentJson[] }>('/api/v1/incidents?limit=1000')).body;
      for (const i of items) seen.set(i.id, i);
      return [...seen.values()];
    };
    // The first (cycle 0) incident of a fault's cause: later cycles may pick the same victim.
    const find = (list: IncidentJson[], ep: LiveEpisode) =>
      list
        .filter((i) => i.rootCause.level === ep.cause.level && i.rootCause.id === ep.cause.id)
        .sort((a, b) => Date.parse(a.startsAt) - Date.parse(b.startsAt))[0];

    // The JD storm collapses into one incident naming the app; the host down names the host.
    const storm = await waitFor('the cascade incident', 60_000, async () => find(await incidents(), cascade));
    expect(storm.rootCause).toEqual({ level: 'app', id: cascade.cause.id, kind: 'app' });
    expect(storm.severity).toBe('critical');
    const hostDown = await waitFor('the host-down incident', 10_000, async () =>
      find(await incidents(), down),
    );
    expect(hostDown.rootCause.id).toBe(down.cause.id);
    const traffic = await waitFor('the traffic-drop incident', 10_000, async () =>
      find(await incidents(), drop),
    );
    expect(traffic.absorbed.byLevel.app).toBe(1);

    // Ack the storm with the printed token.
    const ack = await post(`/api/v1/incidents/${storm.id}/ack`, { by: 'demo-test' }, token);
    expect(ack.status).toBe(200);
    expect((await get(`/api/v1/incidents/${storm.id}`)).body.acknowledged?.by).toBe('demo-test');

    // The cascade's neighbours join the storm before it ends; the whole storm is one incident.
    const grown = await waitFor('neighbours in the storm', 30_000, async () => {
      const i = find(await incidents(), cascade);
      return i && (i.absorbed.byLevel.neighbour ?? 0) > 20 ? i : undefined;
    });
    const cascadeHosts = new Set(cascade.hosts);
    expect(grown.absorbed.byLevel.host).toBeGreaterThanOrEqual(Math.min(3, cascadeHosts.size));

    // The leak is predicted (an ETA, before any memory threshold breaks) on the leaking app's containers.
    const leakApp = leak.cause.id;
    const predicted = await waitFor('the leak prediction', 40_000, async () => {
      const { items } = (
        await get<{ items: AlertJson[] }>('/api/v1/alerts?predicted=true&rule=ContainerMemoryLeak&limit=1000')
      ).body;
      return items.length >= 3 ? items : undefined;
    });
    for (const a of predicted) {
      expect(a.predicted).toBe(true);
      expect(a.etaSeconds).toBeGreaterThan(0);
      expect(a.etaSeconds).toBeLessThan(30 * 60);
      expect(a.labels.app).toBe(leakApp);
    }
    const leakIncident = await waitFor('the leak incident', 10_000, async () =>
      find(await incidents(), leak),
    );
    expect(leakIncident.rootCause.kind).toBe('app');

    // Every incident of the first cycle resolves after its fault ends.
    await waitFor('the first cycle resolved', 45_000, async () => {
      const list = await incidents();
      return [cascade, down, drop, leak].every((ep) => find(list, ep)?.status === 'resolved')
        ? list
        : undefined;
    });
    const list = await incidents();
    for (const ep of [cascade, down, drop, leak]) {
      const i = find(list, ep)!;
      const lasted = Date.parse(i.endsAt!) - Date.parse(i.startsAt);
      // Alerts start a `for` after the fault (up to 22 minutes for the leak's prediction) and the
      // incident ends a hold-down after the last alert: it lasts at least the fault minus that.
      expect(lasted, `${ep.kind} ${ep.cause.id}`).toBeGreaterThan(ep.end - ep.start - 23 * MINUTE_MS);
    }
    // Nothing but the scheduled faults made incidents.
    const causes = new Set(
      [...episodes, ...truth.schedule.cycle(1)].map((e) => `${e.cause.level}:${e.cause.id}`),
    );
    expect(list.filter((i) => !causes.has(`${i.rootCause.level}:${i.rootCause.id}`))).toEqual([]);

    // stdout told the story as it happened; stderr carried the summary line (every 5 s off a terminal).
    const out = demo.stdout();
    expect(out).toMatch(
      new RegExp(`OPENED\\s+${storm.id}\\s+critical\\s+root cause app ${cascade.cause.id}`),
    );
    expect(out).toMatch(new RegExp(`RESOLVED\\s+${storm.id}`));
    expect(out).toMatch(new RegExp(`FAULT\\s+host-down: host ${down.cause.id}`));
    const summaries = demo
      .stderr()
      .split('\n')
      .filter((l) => l.includes('points/s'));
    expect(summaries.length).toBeGreaterThanOrEqual(3);
    expect(summaries.at(-1)).toMatch(
      /\d[\d,]* points\/s \| [\d,]+ series \| [\d,]+ alerts firing \| \d+ open incidents?/,
    );
    expect(summaries.at(-1)).toContain(url);

    // A second demo on the same port says which port and how to pick another.
    const clash = startDemo(['--port', new URL(url).port, '--fleet', FLEET]);
    running.push(clash);
    expect(await clash.exited).toBe(1);
    expect(clash.stderr()).toContain(`port ${new URL(url).port} on 127.0.0.1 is already in use`);
    expect(clash.stderr()).toContain('--port');

    // SIGINT: a clean stop with a last summary.
    demo.child.kill('SIGINT');
    expect(await demo.exited).toBe(0);
    expect(demo.stdout()).toMatch(/converge demo: stopped after [\d,]+ s of event time: [\d,]+ points/);
  }, 180_000);

  it('refuses bad options with a usage error', async () => {
    const bad = startDemo(['--fleet', '2x2', '--port', '0']);
    running.push(bad);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toContain('--fleet "2x2": expected IDCSxRACKSxHOSTSxCONTAINERS');
    const speed = startDemo(['--speed', '0']);
    running.push(speed);
    expect(await speed.exited).not.toBe(0);
    expect(speed.stderr()).toContain('--speed');
  }, 30_000);
});

function fleetSize(spec: string) {
  const [idcs, racksPerIdc, hostsPerRack, containersPerHost] = spec.split('x').map(Number) as [
    number,
    number,
    number,
    number,
  ];
  return { idcs, racksPerIdc, hostsPerRack, containersPerHost };
}
