import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { loadConfig } from '../core/config.js';
import { createLogger } from '../core/log.js';
import type { IncidentEvent, Level, Point } from '../core/types.js';
import type { IncidentSummary } from '../correlate/index.js';
import { buildEngine } from '../engine/build.js';
import { DetectionHealth } from '../engine/detection-health.js';
import { hotReloadRules } from '../engine/rules-reload.js';
import { serveEngine } from '../engine/serve.js';
import { LiveFeed } from '../fixtures/live/feed.js';
import { DEFAULT_LIVE_FLEET, LiveFleet } from '../fixtures/live/fleet.js';
import type { LiveEpisode } from '../fixtures/live/schedule.js';
import { MemorySeriesStore } from '../ingest/tsdb/memory-store.js';
import { UsageError } from './errors.js';

/**
 * `converge demo` (what `npm start` runs): the embedded engine (no Kafka, no TSDB, no Redis) on
 * a live synthetic fleet whose faults repeat on a schedule, with the REST API on localhost.
 *
 * - Points: fixtures/live renders every second of event time that has just passed on the wall
 *   clock (times `--speed`); they go to the in-memory series store (the TSDB stand-in, a
 *   one-minute ring per series field), then through the pipeline (topology, rules, correlation).
 * - Topology: the fleet's CMDB records (hosts with kernel/model/os/zone, apps with their calls)
 *   are loaded first, so apps and attribute groups are known before the first point.
 * - Traffic history: TrafficAnomaly learns each app's daily shape for a day before it may
 *   alert, so the apps' last 26 hours of traffic (one point a minute) are fed first, as a
 *   restart with history would.
 * - Output: stdout gets the fault schedule (ground truth), each fault as it starts and ends, and
 *   each incident event (opened, updated, resolved: root cause, absorbed counts); stderr gets
 *   one summary line, rewritten in place on a terminal, every 5 s otherwise.
 */
export interface DemoOptions {
  host: string;
  port: number;
  rules?: string;
  /** Event seconds per wall second. Default 1. */
  speed?: number;
  seed?: number;
  /** IDCSxRACKSxHOSTSxCONTAINERS (racks per IDC, hosts per rack, containers per host). */
  fleet?: string;
}

/** One minute of 1 s samples per series field: memory stays bounded (about 25 MB at 3,000 containers). */
const RING_POINTS = 60;
/** A day of learning plus the detector's first bucket, and an hour to spare. */
const TRAFFIC_HISTORY_MS = 26 * 3_600_000;
const TRAFFIC_HISTORY_STEP_MS = 60_000;

export const DEFAULT_FLEET_SPEC = `${DEFAULT_LIVE_FLEET.idcs}x${DEFAULT_LIVE_FLEET.racksPerIdc}x${DEFAULT_LIVE_FLEET.hostsPerRack}x${DEFAULT_LIVE_FLEET.containersPerHost}`;

export interface FleetSize {
  idcs: number;
  racksPerIdc: number;
  hostsPerRack: number;
  containersPerHost: number;
}

/** `2x4x25x15` -> 2 IDCs, 4 racks each, 25 hosts per rack, 15 containers per host. */
export function parseFleetSpec(spec: string): FleetSize {
  const parts = spec.trim().toLowerCase().split('x');
  const nums = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : Number.NaN));
  if (nums.length !== 4 || nums.some((n) => !Number.isInteger(n) || n < 1))
    throw new UsageError(
      `--fleet ${JSON.stringify(spec)}: expected IDCSxRACKSxHOSTSxCONTAINERS with whole numbers >= 1 (racks per IDC, hosts per rack, containers per host), e.g. ${DEFAULT_FLEET_SPEC}`,
    );
  const [idcs, racksPerIdc, hostsPerRack, containersPerHost] = nums as [number, number, number, number];
  const hosts = idcs * racksPerIdc * hostsPerRack;
  if (hosts < 4 || hosts > 20_000 || hosts * containersPerHost > 200_000)
    throw new UsageError(
      `--fleet ${spec}: ${hosts} hosts and ${hosts * containersPerHost} containers; the demo runs 4..20000 hosts and at most 200000 containers`,
    );
  return { idcs, racksPerIdc, hostsPerRack, containersPerHost };
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  const out = process.stdout;
  const err = process.stderr;
  const speed = opts.speed ?? 1;
  if (!(speed > 0 && speed <= 10_000))
    throw new UsageError(`--speed ${speed}: expected a number in (0, 10000]`);
  const seed = opts.seed ?? 1;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new UsageError(`--seed ${seed}: expected a whole number 0..4294967295`);
  const size = parseFleetSpec(opts.fleet ?? DEFAULT_FLEET_SPEC);

  // Before any work: a busy port is the most likely first failure.
  const portProblem = opts.port === 0 ? undefined : await probePort(opts.host, opts.port);
  if (portProblem !== undefined) {
    err.write(`converge demo: ${portProblem}\n`);
    return 1;
  }

  const config = loadConfig();
  // Info-level logs (every request) would bury the summary line; CONVERGE_LOG_LEVEL brings them back.
  const logger = createLogger(process.env.CONVERGE_LOG_LEVEL ?? 'warn');
  const origin = Math.floor(Date.now() / 1000) * 1000;
  const live = new LiveFleet({ origin, seed, ...size });
  const engine = buildEngine(config, { rulesDir: opts.rules });
  const { pipeline, topology } = engine;
  // Rule files edited while the demo runs take effect; SIGHUP keeps ending it (a closed terminal).
  const rulesReload = hotReloadRules(engine.detection, engine.rulesDir, logger, { sighup: false });
  const store = new MemorySeriesStore({
    pointsPerSeries: RING_POINTS,
    maxSeries: 2 * live.pointsPerSecond() + 1000,
  });

  const records = live.records();
  let rejected = 0;
  for (const r of records) {
    const problem = topology.apply(r, origin);
    if (problem !== undefined && ++rejected <= 5)
      err.write(`converge demo: topology record ${r.level} ${r.id}: ${problem}\n`);
  }

  // Points become durable in the store first, then the pipeline sees them (the store is
  // synchronous: its write has stored everything when it returns).
  const detectionHealth = new DetectionHealth(logger);
  const ingest = (points: Point[]): void => {
    void store.write(points);
    detectionHealth.run(() => {
      pipeline.accept(points);
      pipeline.advance();
    });
  };
  for (const batch of live.trafficHistory(origin - TRAFFIC_HISTORY_MS, origin, TRAFFIC_HISTORY_STEP_MS))
    ingest(batch);

  const token = randomBytes(24).toString('base64url');
  let feed: LiveFeed | undefined;
  let serving: Awaited<ReturnType<typeof serveEngine>>;
  try {
    serving = await serveEngine({
      config,
      engine,
      logger,
      host: opts.host,
      port: opts.port,
      extraTokens: [{ token, scopes: ['read', 'write'], name: 'demo' }],
      detectionHealth,
      readiness: () => ({
        ready: feed !== undefined,
        checks: { fleet: { ok: feed !== undefined, detail: feed !== undefined ? 'generating' : 'starting' } },
      }),
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      err.write(`converge demo: ${portMessage(opts.host, opts.port, code)}\n`);
      return 1;
    }
    throw e;
  }
  const url = serving.url;
  const status = new StatusLine(err);
  const say = (line: string): void => status.above(() => out.write(line + '\n'));

  // Incidents, as they happen. A storm keeps growing after its incident opened (neighbours
  // alert minutes later) without an incident event: an ABSORBED line shows each big step.
  const shownTotal = new Map<string, number>();
  const counts = { opened: 0, resolved: 0 };
  pipeline.on({
    onIncident: (e) => {
      if (e.event === 'opened') counts.opened++;
      if (e.event === 'resolved') {
        counts.resolved++;
        shownTotal.delete(e.id);
      } else shownTotal.set(e.id, e.absorbed.total);
      say(incidentLine(clockTime(e.at), e.event.toUpperCase(), e));
    },
  });
  const showGrowth = (open: readonly IncidentSummary[], at: number): void => {
    for (const inc of open) {
      const shown = shownTotal.get(inc.id) ?? 0;
      if (inc.absorbed.total < Math.max(shown + 20, shown * 1.5)) continue;
      shownTotal.set(inc.id, inc.absorbed.total);
      say(incidentLine(clockTime(at), 'ABSORBED', inc));
    }
  };

  const fleet = live.fleet;
  out.write(
    `converge demo: ${fleet.hosts.length.toLocaleString('en-US')} hosts (${fleet.idcs.length} IDCs, ${fleet.racks.length} racks), ` +
      `${fleet.containers.length.toLocaleString('en-US')} containers, ${fleet.apps.length} apps; ` +
      `${live.pointsPerSecond().toLocaleString('en-US')} points per second of event time; speed ${speed}x, seed ${seed}\n` +
      `  loaded ${(records.length - rejected).toLocaleString('en-US')} CMDB records and a day of app traffic history\n\n` +
      `API      ${url}/api/v1   (OpenAPI: ${url}/openapi.json, metrics: ${url}/metrics)\n` +
      `token    ${token}   (read + write, valid for this run only)\n\n` +
      `  export CONVERGE_TOKEN=${token}   # every route but /healthz and /readyz needs it\n` +
      `  curl -s -H "Authorization: Bearer $CONVERGE_TOKEN" '${url}/api/v1/incidents?status=open'\n` +
      `  curl -s -H "Authorization: Bearer $CONVERGE_TOKEN" ${url}/api/v1/incidents/INCIDENT_ID\n` +
      `  curl -s -H "Authorization: Bearer $CONVERGE_TOKEN" '${url}/api/v1/alerts?state=firing&predicted=true'\n` +
      `  curl -s -H "Authorization: Bearer $CONVERGE_TOKEN" ${url}/api/v1/health\n` +
      `  curl -s -H "Authorization: Bearer $CONVERGE_TOKEN" -H 'content-type: application/json' \\\n` +
      `       -d '{"by":"me"}' ${url}/api/v1/incidents/INCIDENT_ID/ack\n` +
      `\nFault schedule (ground truth; repeats every ${live.schedule.cycleMs / 60_000} min with new victims):\n`,
  );
  for (const ep of live.schedule.cycle(0)) {
    out.write(`  ${clockTime(ep.start)}-${clockTime(ep.end)}  ${ep.kind.padEnd(12)}  ${ep.summary}\n`);
  }
  out.write('\n');

  // Faults as they start and end, in event time, next to the incidents they cause.
  const started: LiveEpisode[] = [];
  const onSecond = (points: Point[], t: number): void => {
    for (const ep of live.schedule.episodes(t, t + 1000)) {
      started.push(ep);
      say(`${clockTime(t)}  FAULT     ${ep.kind}: ${ep.summary} (until ${clockTime(ep.end)})`);
    }
    for (let i = started.length - 1; i >= 0; i--) {
      const ep = started[i]!;
      if (ep.end > t + 1000) continue;
      started.splice(i, 1);
      say(`${clockTime(ep.end)}  FAULT END ${ep.kind}: ${causeText(ep.cause)}`);
    }
    ingest(points);
  };

  let ticker: NodeJS.Timeout | undefined;
  let stop: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => {
    let stopping = false;
    stop = (code) => {
      if (stopping) return;
      stopping = true;
      clearInterval(ticker);
      feed?.stop();
      status.clear();
      const seconds = feed?.stats().seconds ?? 0;
      rulesReload
        .shutdown()
        .then(() => serving.shutdown())
        .then(() => store.shutdown())
        .then(
          () => {
            const p = pipeline.stats();
            out.write(
              `converge demo: stopped after ${seconds.toLocaleString('en-US')} s of event time: ${p.points.toLocaleString('en-US')} points, ` +
                `${p.alerts.toLocaleString('en-US')} alert changes, ${counts.opened} incidents opened, ${counts.resolved} resolved\n`,
            );
            resolve(code);
          },
          (e: unknown) => {
            err.write(`converge demo: shutdown failed: ${e instanceof Error ? e.message : String(e)}\n`);
            resolve(1);
          },
        );
    };
  });
  let signals = 0;
  const onSignal = (): void => {
    if (++signals > 1) {
      err.write('\nconverge demo: second signal, exiting without a clean shutdown\n');
      process.exit(130);
    }
    stop(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  feed = new LiveFeed({
    fleet: live,
    speed,
    onSecond,
    onError: (e) => {
      status.clear();
      err.write(
        `converge demo: the fleet generator failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
      );
      stop(1);
    },
  });
  feed.start();

  // The summary line: ~1 s on a terminal (rewritten in place), 5 s otherwise (one line each).
  let lastWall = performance.now();
  let lastPoints = 0;
  ticker = setInterval(
    () => {
      const now = performance.now();
      const f = feed!.stats();
      const rate = ((f.points - lastPoints) * 1000) / Math.max(1, now - lastWall);
      lastWall = now;
      lastPoints = f.points;
      const firing = engine.detection?.stats().firingAlerts ?? 0;
      // Newest first; the correlator's own view, so operator resolves count too.
      const open = engine.correlator.incidents({ status: 'open' });
      showGrowth(open, f.next);
      const incidents = `${open.length} open incident${open.length === 1 ? '' : 's'}`;
      // Most important first: what a narrow terminal loses is the newest cause, then the tail.
      status.show(
        [
          clockTime(f.next),
          `${Math.round(rate).toLocaleString('en-US')} points/s`,
          `${store.stats().series.toLocaleString('en-US')} series`,
          `${firing.toLocaleString('en-US')} alerts firing`,
          open.length > 0 ? `${incidents}, newest: ${causeText(open[0]!.rootCause)}` : incidents,
          ...(f.lagMs > 5000 ? [`${Math.round(f.lagMs / 1000).toLocaleString('en-US')} s behind`] : []),
          url,
        ],
        incidents,
      );
    },
    status.tty ? 1000 : 5000,
  );

  const code = await done;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return code;
}

/**
 * The live summary on stderr: on a terminal one line rewritten in place (other output is
 * written above it), otherwise one plain line each time.
 */
class StatusLine {
  readonly tty: boolean;
  private line = '';

  constructor(private readonly stream: NodeJS.WriteStream) {
    this.tty = stream.isTTY === true;
  }

  /** `parts` joined by " | "; on a narrow terminal `short` replaces the part that starts with it. */
  show(parts: string[], short?: string): void {
    let line = parts.join(' | ');
    if (!this.tty) {
      this.stream.write(line + '\n');
      return;
    }
    const width = (this.stream.columns ?? 120) - 1;
    if (line.length > width && short !== undefined)
      line = parts.map((p) => (p.startsWith(short) ? short : p)).join(' | ');
    this.line = line.length > width ? line.slice(0, width - 1) + '…' : line;
    this.stream.write('\r\x1b[2K' + this.line);
  }

  /** Writes other output above the status line. */
  above(write: () => void): void {
    if (this.tty && this.line !== '') this.stream.write('\r\x1b[2K');
    write();
    if (this.tty && this.line !== '') this.stream.write(this.line);
  }

  clear(): void {
    if (this.tty && this.line !== '') this.stream.write('\r\x1b[2K');
    this.line = '';
  }
}

const LEVEL_ORDER: readonly (Level | 'neighbour')[] = [
  'idc',
  'rack',
  'host',
  'container',
  'app',
  'neighbour',
];

function incidentLine(
  time: string,
  what: string,
  e: Pick<IncidentEvent, 'id' | 'severity' | 'rootCause' | 'absorbed' | 'mergedInto'>,
): string {
  const parts: string[] = [];
  for (const level of LEVEL_ORDER) {
    const n = e.absorbed.byLevel[level];
    if (n !== undefined && n > 0) parts.push(`${level} ${n.toLocaleString('en-US')}`);
  }
  const merged = e.mergedInto !== undefined ? ` (merged into ${e.mergedInto})` : '';
  return (
    `${time}  ${what.padEnd(9)} ${e.id}  ${e.severity.padEnd(8)}  ` +
    `root cause ${causeText(e.rootCause)}  absorbed ${e.absorbed.total.toLocaleString('en-US')}` +
    (parts.length > 0 ? ` (${parts.join(', ')})` : '') +
    merged
  );
}

function causeText(c: { level: string; id: string; kind: string }): string {
  return c.kind === c.level || c.kind === 'self' ? `${c.level} ${c.id}` : `${c.level} ${c.id} (${c.kind})`;
}

/** Event time as the local wall-clock time of day (at speed 1 they are the same thing). */
function clockTime(t: number): string {
  const d = new Date(t);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

function portMessage(host: string, port: number, code: string | undefined): string {
  return code === 'EACCES'
    ? `cannot listen on ${host}:${port}: permission denied (ports below 1024 need privileges); pick another with --port, e.g. --port 8080`
    : `port ${port} on ${host} is already in use (another converge demo?); stop that process or pick another port with --port, e.g. --port ${port === 65_535 ? 8081 : port + 1}`;
}

/** Why the demo cannot listen on host:port, or undefined when it can. */
function probePort(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE' || e.code === 'EACCES') resolve(portMessage(host, port, e.code));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND')
        resolve(
          `cannot listen on ${host}:${port}: no such local address; pick another with --host, e.g. --host 127.0.0.1`,
        );
      else resolve(`cannot listen on ${host}:${port}: ${e.message}`);
    });
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}
