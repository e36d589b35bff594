/**
 * REST API under load: requests/s and latency (p50, p99) of GET /api/v1/incidents/:id and
 * GET /api/v1/topology, from a second process (autocannon), with the engine idle and while it
 * ingests.
 *
 *   npx tsx bench/api.ts [--seconds 5] [--connections 10] [--rate 4000]
 *
 * This process runs the engine (api/testing.ts: TopologyGraph, Correlator, Notifier over the
 * JD.com storm: one app's 50 containers on 50 hosts, 5,100 alerts) and the API server. "Ingesting"
 * means a fixture alert stream fed into the correlator, alert log and health (what the API reads)
 * at --rate alerts/s of wall time: the JD storm and its resolution, replayed again and again,
 * shifted forward in event time. The incident detail is the 5,100-alert JD incident with the
 * default bounds (childrenPerNode 10, alertsPerNode 5).
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { createApiServer } from '../api/server.js';
import { ScenarioEngine } from '../api/testing.js';
import type { AlertEvent } from '../core/types.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '10' },
    rate: { type: 'string', default: '4000' },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const rate = Number(values.rate);

const TOKEN = 'bench-token-0123456789abcdef0123';
const engine = new ScenarioEngine();
await engine.start();
const storm = engine.scenario.alerts;
const span = engine.scenario.window.end - engine.scenario.window.start + 60_000;
// Open the JD incident and keep its storm firing.
await engine.feed(engine.faultStart + 5 * 60_000);
const api = await createApiServer(engine.backend, {
  port: 0,
  tokens: [{ token: TOKEN, scopes: ['read', 'write'] }],
  rateLimit: false,
});
const url = await api.listen();
const incidentId = engine.correlator.incidents()[0]!.id;

/** Replays the storm's alerts in a loop, each round shifted by the scenario's span. */
class AlertStream {
  private i = 0;
  private round = 1;
  fed = 0;
  private timer: NodeJS.Timeout | undefined;

  start(): void {
    const perTick = Math.max(1, Math.round(rate / 100));
    this.timer = setInterval(() => this.tick(perTick), 10);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(n: number): void {
    const batch: AlertEvent[] = [];
    for (let k = 0; k < n; k++) {
      if (this.i >= storm.length) {
        this.i = 0;
        this.round++;
      }
      const a = storm[this.i++]!;
      const shift = this.round * span;
      batch.push({ ...a, id: `${a.id}#${this.round}`, at: a.at + shift, startsAt: a.startsAt + shift });
    }
    for (const a of batch) engine.backend.recordAlert(a);
    void engine.submit(batch);
    this.fed += batch.length;
  }
}

const autocannonBin = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

function load(path: string): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        autocannonBin,
        '-c',
        String(connections),
        '-d',
        String(seconds),
        '-j',
        '-H',
        `authorization=Bearer ${TOKEN}`,
        url + path,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${code}: ${err}`));
      const r = JSON.parse(out);
      resolve({
        rps: r.requests.average,
        p50: r.latency.p50,
        p99: r.latency.p99,
        errors: r.errors + r.timeouts,
        non2xx: r.non2xx,
      });
    });
  });
}

const routes: Array<[string, string]> = [
  ['GET /incidents/:id (JD, 5,100 alerts)', `/api/v1/incidents/${incidentId}`],
  ['GET /topology (IDC root, depth 2: 127 nodes)', '/api/v1/topology?depth=2'],
];

// Warm up (JIT, caches) before measuring.
for (const [, path] of routes) await fetch(url + path, { headers: { authorization: `Bearer ${TOKEN}` } });

console.log(
  `API load: autocannon ${connections} connections x ${seconds} s per run, from a second process; ingest ${rate} alerts/s`,
);
console.log(
  'route                                       | engine     |    req/s | p50 ms | p99 ms | non-2xx',
);
for (const [name, path] of routes) {
  const idle = await load(path);
  const stream = new AlertStream();
  stream.start();
  const started = performance.now();
  const busy = await load(path);
  stream.stop();
  const ingested = stream.fed / ((performance.now() - started) / 1000);
  const row = (mode: string, r: LoadResult) =>
    `${name.padEnd(43)} | ${mode.padEnd(10)} | ${r.rps.toFixed(0).padStart(8)} | ${String(r.p50).padStart(6)} | ${String(r.p99).padStart(6)} | ${r.non2xx + r.errors}`;
  console.log(row('idle', idle));
  console.log(row('ingesting', busy));
  console.log(
    `  ingest kept up at ${ingested.toFixed(0)} alerts/s; throughput while ingesting ${((busy.rps / idle.rps) * 100).toFixed(0)}% of idle, p99 x${(busy.p99 / Math.max(idle.p99, 1)).toFixed(1)}`,
  );
}
const stats = engine.correlator.stats();
console.log(
  `engine: ${stats.alerts} alert state changes processed, ${stats.opened} incidents opened, ${engine.backend.alertLog.counts().firing} alerts firing at the end`,
);

await api.close();
await engine.shutdown();
