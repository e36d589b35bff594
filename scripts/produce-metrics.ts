/**
 * Telegraf-style metrics for a fleet of hosts with containers, at 1 s steps, many lines per
 * message keyed by host, optionally with malformed lines of several kinds mixed into the same
 * messages, plus the ground truth of what a correct consumer must store and reject.
 *
 * Library (tests, benchmarks):
 *   const fleet = new FleetGenerator({ hosts: 40, containersPerHost: 10, seconds: 100, malformedFraction: 0.01 });
 *   await producer.send(fleet.messages());   // fleet.truth is complete once iterated
 *
 * CLI:
 *   npx tsx scripts/produce-metrics.ts --brokers 127.0.0.1:9092 --topic metrics --hosts 40 \
 *     --containers 10 --seconds 100 --malformed 0.01 [--truth truth.json]
 *   npx tsx scripts/produce-metrics.ts --out fleet.lp ...     (write the lines to a file, - for stdout)
 */
import { createWriteStream, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { MetricsProducer } from '../ingest/kafka/producer.js';

export type MalformedKind =
  | 'bad-field-value'
  | 'missing-fields'
  | 'unescaped-space'
  | 'bad-timestamp'
  | 'garbage-bytes';
export const MALFORMED_KINDS: readonly MalformedKind[] = [
  'bad-field-value',
  'missing-fields',
  'unescaped-space',
  'bad-timestamp',
  'garbage-bytes',
];

export interface FleetOptions {
  /** Default 10. */
  hosts?: number;
  /** Default 10. */
  containersPerHost?: number;
  /** Steps of 1 s. Default 60. */
  seconds?: number;
  /** Event time of the first step (ms). Default 2024-01-01T00:00:00Z. */
  start?: number;
  /** Lines per Kafka message (malformed ones included). Default 500. */
  linesPerMessage?: number;
  /** Malformed lines per good line, mixed into the same messages. Default 0. */
  malformedFraction?: number;
  /** Default 1. */
  seed?: number;
  /** Host names are `${hostPrefix}${index}`; a unique prefix keeps test runs apart in the TSDB. */
  hostPrefix?: string;
  dcs?: number;
  racksPerDc?: number;
  apps?: number;
  /**
   * Every k-th step of each host goes out as its own message whose lines carry no timestamp:
   * the message timestamp is the step's time. 0 (default) = never.
   */
  untimedEvery?: number;
}

export interface FleetMessage {
  host: string;
  value: Buffer;
  /** The message timestamp (ms): the time of its first line. */
  timestamp: number;
  lines: number;
}

export interface MalformedLine {
  kind: MalformedKind;
  line: Buffer;
}

export interface FleetTruth {
  messages: number;
  /** All lines, malformed included. */
  lines: number;
  /** Good lines (InfluxDB points); each is a distinct series + timestamp. */
  goodPoints: number;
  /** Distinct measurement + tag sets. */
  series: number;
  /** Field values of good lines: what victoria-metrics stores as samples. */
  samples: number;
  /** victoria-metrics metric name (`<measurement>_<field>`) -> samples. */
  samplesByMetric: Record<string, number>;
  malformed: MalformedLine[];
  malformedByKind: Record<MalformedKind, number>;
  hosts: string[];
  firstTime: number;
  lastTime: number;
}

const HOST_FIELDS: Record<string, readonly string[]> = {
  cpu: ['usage_idle', 'usage_user', 'usage_system'],
  mem: ['used_percent', 'available'],
  system: ['load1', 'n_cpus'],
  disk: ['used_percent', 'free'],
  net: ['bytes_recv', 'bytes_sent'],
};
const CONTAINER_FIELDS: Record<string, readonly string[]> = {
  docker_container_cpu: ['usage_percent'],
  docker_container_mem: ['usage_percent', 'usage'],
};

/** mulberry32: small, fast, seeded. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface HostState {
  name: string;
  /** `,host=..,dc=..,rack=..` */
  tags: string;
  containerTags: string[];
  /** Pending lines of the current message: strings, or Buffers for binary garbage. */
  parts: Array<string | Buffer>;
  text: string;
  lines: number;
  firstTime: number;
}

export class FleetGenerator {
  readonly options: Required<FleetOptions>;
  readonly truth: FleetTruth;
  private readonly random: () => number;
  private kindIndex = 0;

  constructor(options: FleetOptions = {}) {
    this.options = {
      hosts: options.hosts ?? 10,
      containersPerHost: options.containersPerHost ?? 10,
      seconds: options.seconds ?? 60,
      start: options.start ?? Date.UTC(2024, 0, 1),
      linesPerMessage: options.linesPerMessage ?? 500,
      malformedFraction: options.malformedFraction ?? 0,
      seed: options.seed ?? 1,
      hostPrefix: options.hostPrefix ?? 'node-',
      dcs: options.dcs ?? 2,
      racksPerDc: options.racksPerDc ?? 4,
      apps: options.apps ?? 20,
      untimedEvery: options.untimedEvery ?? 0,
    };
    const o = this.options;
    for (const k of ['hosts', 'seconds', 'linesPerMessage', 'dcs', 'racksPerDc', 'apps'] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 1)
        throw new RangeError(`FleetGenerator: ${k} must be an integer >= 1`);
    }
    if (!(o.malformedFraction >= 0 && o.malformedFraction < 1)) {
      throw new RangeError('FleetGenerator: malformedFraction must be in [0, 1)');
    }
    this.random = rng(o.seed);
    const perHostSeries =
      Object.keys(HOST_FIELDS).length + o.containersPerHost * Object.keys(CONTAINER_FIELDS).length;
    this.truth = {
      messages: 0,
      lines: 0,
      goodPoints: 0,
      series: o.hosts * perHostSeries,
      samples: 0,
      samplesByMetric: {},
      malformed: [],
      malformedByKind: Object.fromEntries(MALFORMED_KINDS.map((k) => [k, 0])) as Record<
        MalformedKind,
        number
      >,
      hosts: [],
      firstTime: o.start,
      lastTime: o.start + (o.seconds - 1) * 1000,
    };
  }

  /** Good points this configuration produces (hosts x steps x lines per host-step). */
  static pointsFor(o: Pick<FleetOptions, 'hosts' | 'containersPerHost' | 'seconds'>): number {
    const perStep =
      Object.keys(HOST_FIELDS).length + (o.containersPerHost ?? 10) * Object.keys(CONTAINER_FIELDS).length;
    return (o.hosts ?? 10) * (o.seconds ?? 60) * perStep;
  }

  /** The messages in production order (time-major, each host's lines packed per message). */
  *messages(): Generator<FleetMessage> {
    const o = this.options;
    const hosts: HostState[] = [];
    for (let h = 0; h < o.hosts; h++) {
      const name = o.hostPrefix + String(h).padStart(4, '0');
      const dc = `dc${h % o.dcs}`;
      const rack = `${dc}-r${Math.floor(h / o.dcs) % o.racksPerDc}`;
      const containerTags: string[] = [];
      for (let c = 0; c < o.containersPerHost; c++) {
        const app = `app-${(h * o.containersPerHost + c) % o.apps}`;
        containerTags.push(`,app=${app},container_name=${name}-c${c},host=${name}`);
      }
      hosts.push({
        name,
        tags: `,dc=${dc},host=${name},rack=${rack}`,
        containerTags,
        parts: [],
        text: '',
        lines: 0,
        firstTime: 0,
      });
      this.truth.hosts.push(name);
    }
    const untimed = o.untimedEvery;
    for (let step = 0; step < o.seconds; step++) {
      const ms = o.start + step * 1000;
      const ts = `${ms}000000`;
      const isUntimed = untimed > 0 && step % untimed === untimed - 1;
      for (const host of hosts) {
        if (isUntimed) {
          const pending = this.take(host);
          if (pending) yield pending;
          host.firstTime = ms;
          this.hostStep(host, '', ms, false);
          const m = this.take(host);
          if (m) yield m;
          continue;
        }
        if (host.lines === 0) host.firstTime = ms;
        this.hostStep(host, ' ' + ts, ms, true);
        if (host.lines >= o.linesPerMessage) yield this.take(host)!;
      }
    }
    for (const host of hosts) {
      const m = this.take(host);
      if (m) yield m;
    }
  }

  /** All messages at once (small fleets). */
  all(): FleetMessage[] {
    return [...this.messages()];
  }

  private hostStep(host: HostState, ts: string, ms: number, allowMalformed: boolean): void {
    const r = this.random;
    const t = (ms - this.options.start) / 1000;
    const idle = 50 + r() * 45;
    const user = (100 - idle) * 0.7;
    this.good(
      host,
      `cpu,cpu=cpu-total${host.tags} usage_idle=${idle.toFixed(2)},usage_user=${user.toFixed(2)},usage_system=${(100 - idle - user).toFixed(2)}${ts}`,
      'cpu',
      allowMalformed,
    );
    this.good(
      host,
      `mem${host.tags} used_percent=${(30 + r() * 60).toFixed(2)},available=${Math.floor(1e9 + r() * 8e9)}i${ts}`,
      'mem',
      allowMalformed,
    );
    this.good(
      host,
      `system${host.tags} load1=${(r() * 8).toFixed(2)},n_cpus=32i${ts}`,
      'system',
      allowMalformed,
    );
    this.good(
      host,
      `disk,device=sda1,fstype=ext4${host.tags},path=/ used_percent=${(40 + (t % 600) / 60).toFixed(2)},free=${Math.floor(2e11 - (t % 600) * 1e6)}i${ts}`,
      'disk',
      allowMalformed,
    );
    this.good(
      host,
      `net${host.tags},interface=eth0 bytes_recv=${1e9 + Math.floor(t * 125_000)}i,bytes_sent=${5e8 + Math.floor(t * 98_000)}i${ts}`,
      'net',
      allowMalformed,
    );
    for (const ct of host.containerTags) {
      this.good(
        host,
        `docker_container_cpu${ct} usage_percent=${(r() * 100).toFixed(2)}${ts}`,
        'docker_container_cpu',
        allowMalformed,
      );
      this.good(
        host,
        `docker_container_mem${ct} usage_percent=${(r() * 100).toFixed(2)},usage=${Math.floor(1e8 + r() * 1e9)}i${ts}`,
        'docker_container_mem',
        allowMalformed,
      );
    }
  }

  private good(host: HostState, line: string, measurement: string, allowMalformed: boolean): void {
    this.append(host, line);
    const fields = HOST_FIELDS[measurement] ?? CONTAINER_FIELDS[measurement]!;
    this.truth.goodPoints++;
    this.truth.samples += fields.length;
    const by = this.truth.samplesByMetric;
    for (const f of fields) {
      const name = measurement + '_' + f;
      by[name] = (by[name] ?? 0) + 1;
    }
    if (
      allowMalformed &&
      this.options.malformedFraction > 0 &&
      this.random() < this.options.malformedFraction
    ) {
      this.malformed(host);
    }
  }

  private malformed(host: HostState): void {
    const kind = MALFORMED_KINDS[this.kindIndex++ % MALFORMED_KINDS.length]!;
    const r = this.random;
    const ts = `${this.options.start}000000`;
    let line: Buffer;
    switch (kind) {
      case 'bad-field-value': {
        const bad = ['abc', '12.3.4', '--1', '0x1F', '"unterminated'][Math.floor(r() * 5)];
        line = Buffer.from(`cpu,cpu=cpu-total${host.tags} usage_idle=${bad} ${ts}`);
        break;
      }
      case 'missing-fields':
        line = Buffer.from(r() < 0.5 ? `mem${host.tags} ${ts}` : `mem${host.tags}`);
        break;
      case 'unescaped-space':
        line = Buffer.from(`disk,device=sda1${host.tags},path=/var/lib docker used_percent=1.5 ${ts}`);
        break;
      case 'bad-timestamp': {
        const bad = [`${ts}x`, '2024-01-01T00:00:00Z', '12:00:00', '1.5e18'][Math.floor(r() * 4)];
        line = Buffer.from(`system${host.tags} load1=0.5 ${bad}`);
        break;
      }
      case 'garbage-bytes': {
        // No newline, CR, space, '#', '=' or ',': nothing a decoder could take for a point.
        const n = 8 + Math.floor(r() * 24);
        line = Buffer.alloc(n);
        line[0] = 0xff;
        for (let i = 1; i < n; i++) {
          let b = Math.floor(r() * 256);
          if (b === 10 || b === 13 || b === 32 || b === 35 || b === 61 || b === 44 || b === 9 || b === 92)
            b = 0xfe;
          line[i] = b;
        }
        break;
      }
    }
    this.truth.malformed.push({ kind, line });
    this.truth.malformedByKind[kind]++;
    if (kind === 'garbage-bytes') {
      if (host.text) host.parts.push(host.text);
      host.text = '';
      host.parts.push(host.lines > 0 ? Buffer.concat([Buffer.from('\n'), line]) : line);
      host.lines++;
      this.truth.lines++;
    } else {
      this.append(host, line.toString('utf8'));
    }
  }

  private append(host: HostState, line: string): void {
    host.text += host.lines > 0 ? '\n' + line : line;
    host.lines++;
    this.truth.lines++;
  }

  private take(host: HostState): FleetMessage | undefined {
    if (host.lines === 0) return undefined;
    let value: Buffer;
    if (host.parts.length === 0) value = Buffer.from(host.text);
    else {
      if (host.text) host.parts.push(host.text);
      value = Buffer.concat(host.parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
    }
    const m: FleetMessage = { host: host.name, value, timestamp: host.firstTime, lines: host.lines };
    host.parts = [];
    host.text = '';
    host.lines = 0;
    this.truth.messages++;
    return m;
  }
}

/** One series as victoria-metrics' /api/v1/export prints it. */
export interface ExportedSeriesLike {
  metric: Record<string, string>;
  timestamps: number[];
}

export interface ExportCheck {
  /** Distinct measurement + tag set + timestamp found (a point counts once all its fields are there). */
  points: number;
  /** Distinct (metric, labels, timestamp) samples found. */
  samples: number;
  /** Samples stored more than once (at-least-once redelivery without TSDB dedup). */
  duplicateSamples: number;
  /** Metric name -> samples expected but missing (negative: more than expected). */
  missingByMetric: Record<string, number>;
}

const MEASUREMENT_OF: Record<string, string> = {};
for (const table of [HOST_FIELDS, CONTAINER_FIELDS]) {
  for (const [m, fields] of Object.entries(table)) for (const f of fields) MEASUREMENT_OF[m + '_' + f] = m;
}

/**
 * Compares what the TSDB holds for a fleet (victoria-metrics stores a line's field `f` of
 * measurement `m` as metric `m_f`) with the ground truth: distinct samples per metric and
 * distinct points (a point is found when all of its fields are).
 */
export function checkExport(truth: FleetTruth, exported: readonly ExportedSeriesLike[]): ExportCheck {
  const samplesByMetric = new Map<string, Set<string>>();
  const fieldsAt = new Map<string, number>();
  let duplicateSamples = 0;
  for (const s of exported) {
    const name = s.metric.__name__ ?? '';
    const measurement = MEASUREMENT_OF[name] ?? name;
    const labels = Object.keys(s.metric)
      .filter((k) => k !== '__name__')
      .sort()
      .map((k) => k + '=' + s.metric[k])
      .join(',');
    let set = samplesByMetric.get(name);
    if (set === undefined) {
      set = new Set();
      samplesByMetric.set(name, set);
    }
    for (const t of s.timestamps) {
      const key = labels + '@' + t;
      if (set.has(key)) {
        duplicateSamples++;
        continue;
      }
      set.add(key);
      const pointKey = measurement + ',' + key;
      fieldsAt.set(pointKey, (fieldsAt.get(pointKey) ?? 0) + 1);
    }
  }
  let samples = 0;
  const missingByMetric: Record<string, number> = {};
  for (const [name, expected] of Object.entries(truth.samplesByMetric)) {
    const found = samplesByMetric.get(name)?.size ?? 0;
    samples += found;
    if (found !== expected) missingByMetric[name] = expected - found;
  }
  for (const [name, set] of samplesByMetric) {
    if (!(name in truth.samplesByMetric)) missingByMetric[name] = -set.size;
  }
  const fieldCount: Record<string, number> = {};
  for (const table of [HOST_FIELDS, CONTAINER_FIELDS])
    for (const [m, f] of Object.entries(table)) fieldCount[m] = f.length;
  let points = 0;
  for (const [key, n] of fieldsAt) {
    const measurement = key.slice(0, key.indexOf(','));
    if (n === fieldCount[measurement]) points++;
  }
  return { points, samples, duplicateSamples, missingByMetric };
}

/** Truth as JSON (malformed lines base64, since garbage bytes are not text). */
export function truthToJson(t: FleetTruth): string {
  return JSON.stringify(
    { ...t, malformed: t.malformed.map((m) => ({ kind: m.kind, base64: m.line.toString('base64') })) },
    null,
    2,
  );
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      brokers: { type: 'string', default: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092' },
      topic: { type: 'string', default: 'metrics' },
      partitions: { type: 'string', default: '12' },
      hosts: { type: 'string', default: '10' },
      containers: { type: 'string', default: '10' },
      seconds: { type: 'string', default: '60' },
      start: { type: 'string' },
      'lines-per-message': { type: 'string', default: '500' },
      malformed: { type: 'string', default: '0' },
      seed: { type: 'string', default: '1' },
      'host-prefix': { type: 'string', default: 'node-' },
      'untimed-every': { type: 'string', default: '0' },
      out: { type: 'string' },
      truth: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: produce-metrics [--brokers H:P] [--topic metrics] [--hosts N] [--containers N] [--seconds N]\n' +
        '         [--lines-per-message N] [--malformed FRACTION] [--seed N] [--host-prefix P] [--start ISO|ms]\n' +
        '         [--untimed-every K] [--out FILE|-] [--truth FILE]\n',
    );
    return;
  }
  const num = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || v === '' || !Number.isFinite(n))
      throw new Error(`--${name}: expected a number, got ${JSON.stringify(v)}`);
    return n;
  };
  let start: number | undefined;
  if (values.start !== undefined) {
    start = /^\d+$/.test(values.start) ? Number(values.start) : Date.parse(values.start);
    if (!Number.isFinite(start)) throw new Error(`--start: expected ms or an ISO time, got ${values.start}`);
  }
  const fleet = new FleetGenerator({
    hosts: num('hosts', values.hosts),
    containersPerHost: num('containers', values.containers),
    seconds: num('seconds', values.seconds),
    start,
    linesPerMessage: num('lines-per-message', values['lines-per-message']),
    malformedFraction: num('malformed', values.malformed),
    seed: num('seed', values.seed),
    hostPrefix: values['host-prefix'],
    untimedEvery: num('untimed-every', values['untimed-every']),
  });
  const t0 = performance.now();
  if (values.out !== undefined) {
    const out: NodeJS.WritableStream = values.out === '-' ? process.stdout : createWriteStream(values.out);
    for (const m of fleet.messages()) {
      const ok = out.write(m.value);
      if (!out.write('\n') || !ok) await new Promise((r) => out.once('drain', r));
    }
    if (out !== process.stdout) await new Promise<void>((r) => out.end(() => r()));
  } else {
    const producer = new MetricsProducer({
      brokers: values.brokers!.split(','),
      topic: values.topic,
      partitions: num('partitions', values.partitions),
      clientId: 'converge-produce-metrics',
    });
    try {
      await producer.send(fleet.messages());
    } finally {
      await producer.shutdown();
    }
  }
  const s = (performance.now() - t0) / 1000;
  const t = fleet.truth;
  process.stderr.write(
    `produce-metrics: ${t.messages} messages, ${t.goodPoints} good points, ${t.malformed.length} malformed lines ` +
      `in ${s.toFixed(2)} s (${Math.round(t.lines / s)} lines/s)\n`,
  );
  if (values.truth) writeFileSync(values.truth, truthToJson(t));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((e: Error) => {
    process.stderr.write(`produce-metrics: ${e.message}\n`);
    process.exit(1);
  });
}
