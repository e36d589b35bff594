/**
 * Decoder throughput on one core: ~1M Telegraf-style lines (host and container measurements,
 * ~5 tags, 3-10 fields, 19-digit ns timestamps) held in memory as Kafka-sized messages.
 * Rates are per CPU-second of this process (the machine is shared; wall-clock rates are shown
 * too), median of the rounds. Prints lines/s and MB/s for decode(string) and decodeBuffer(bytes),
 * a baseline of `text.split('\n')` over the same messages in the same run, the TextDecoder +
 * charCodeAt text parser the byte scanner replaced, and the byte scanner on the same lines in
 * random order (worst case for its series prediction). The target applies to decodeBuffer: the
 * path of Kafka message values and of `converge replay`'s file and stdin chunks.
 *
 * Then linearity in the width of a line (issue 10): the same 1,000,000 fields as lines of 10,
 * 1,000 and 100,000 fields (limits lifted), in ns per field and per byte, the ratio of the widest
 * to the narrowest, and the widest line seen for the first time (a new layout, repeated keys
 * looked up in a map).
 *
 *   npx tsx bench/decode.ts [lines=1000000] [rounds=5] [linesPerMessage=1000] [hosts=2000]
 */
import type { DecodeError, Point } from '../core/types.js';
import { decode, decodeBuffer } from '../ingest/decode.js';
import { DEFAULT_LIMITS } from '../ingest/limits.js';
import { decodeLineProtocol } from '../ingest/lineprotocol.js';

const totalLines = Number(process.argv[2] ?? 1_000_000);
const rounds = Number(process.argv[3] ?? 5);
const linesPerMessage = Number(process.argv[4] ?? 1000);
const hostCount = Number(process.argv[5] ?? 2000);

/** Deterministic PRNG so that every run measures the same input. */
let seed = 42;
function rand(): number {
  seed = (seed * 1664525 + 1013904223) >>> 0;
  return seed / 4294967296;
}
function pct(): string {
  return (rand() * 100).toFixed(2);
}
function int(max: number): number {
  return Math.floor(rand() * max);
}
function hex(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += int(16).toString(16);
  return s;
}

interface Host {
  tags: string;
  containers: string[];
}

function makeFleet(hostCount: number): Host[] {
  const apps = ['pay-06da', 'search-c491', 'img-b4a6', 'ship-2066', 'order-88e8', 'rec-20e2'];
  const hosts: Host[] = [];
  for (let h = 0; h < hostCount; h++) {
    const dc = `sz${h % 3}-c${(h >> 4) % 4}b`;
    const host = `node-${hex(8)}`;
    const tags = `host=${host},dc=${dc},rack=${dc}-r${(h >> 3) % 16}`;
    const containers: string[] = [];
    for (let c = 0; c < 8; c++) {
      containers.push(`container_name=c-${hex(12)},app=${apps[int(apps.length)]},${tags}`);
    }
    hosts.push({ tags, containers });
  }
  return hosts;
}

/** Lines of one host for one instant: 6 host measurements + 2 per container. */
function hostLines(h: Host, ts: string, out: string[]): void {
  out.push(
    `cpu,cpu=cpu-total,${h.tags} usage_idle=${pct()},usage_user=${pct()},usage_system=${pct()},usage_iowait=${pct()},usage_steal=0 ${ts}`,
  );
  out.push(
    `mem,${h.tags} used_percent=${pct()},available=${int(1e10)}i,total=68719476736i,used=${int(1e10)}i,cached=${int(1e9)}i ${ts}`,
  );
  out.push(
    `system,${h.tags} load1=${(rand() * 8).toFixed(2)},load5=${(rand() * 8).toFixed(2)},n_cpus=32i ${ts}`,
  );
  out.push(
    `disk,device=nvme0n1p1,fstype=ext4,path=/,${h.tags} used_percent=${pct()},free=${int(1e11)}i,used=${int(1e11)}i,inodes_free=${int(1e7)}i ${ts}`,
  );
  out.push(
    `net,interface=eth0,${h.tags} bytes_recv=${int(1e12)}i,bytes_sent=${int(1e12)}i,packets_recv=${int(1e9)}i,packets_sent=${int(1e9)}i,err_in=0i,err_out=0i,drop_in=${int(10)}i ${ts}`,
  );
  out.push(
    `diskio,name=nvme0n1,${h.tags} reads=${int(1e9)}i,writes=${int(1e9)}i,read_bytes=${int(1e12)}i,write_bytes=${int(1e12)}i,read_time=${int(1e7)}i,write_time=${int(1e7)}i,io_time=${int(1e7)}i,weighted_io_time=${int(1e7)}i,iops_in_progress=${int(4)}i,merged_reads=${int(1e6)}i ${ts}`,
  );
  for (const c of h.containers) {
    out.push(
      `docker_container_cpu,cpu=cpu-total,${c} usage_percent=${pct()},usage_total=${int(1e12)}i,throttling_periods=${int(1e5)}i ${ts}`,
    );
    out.push(
      `docker_container_mem,${c} usage=${int(2e9)}i,limit=2147483648i,usage_percent=${pct()},max_usage=${int(2e9)}i,rss=${int(2e9)}i ${ts}`,
    );
  }
}

function generate(lines: number): string[] {
  const hosts = makeFleet(hostCount);
  const all: string[] = [];
  let t = 1_704_067_200_000_000_000n;
  while (all.length < lines) {
    const ts = String(t);
    for (const h of hosts) {
      hostLines(h, ts, all);
      if (all.length >= lines) break;
    }
    t += 10_000_000_000n;
  }
  const messages: string[] = [];
  for (let i = 0; i < all.length; i += linesPerMessage) {
    messages.push(all.slice(i, i + linesPerMessage).join('\n') + '\n');
  }
  return messages;
}

/** CPU time of this process in seconds: the machine is shared, so wall time overstates cost. */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = int(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

function timeRounds(label: string, fn: () => number, bytes: number, lines: number): number {
  const rates: number[] = [];
  const wallRates: number[] = [];
  let checksum = 0;
  fn(); // warm-up
  for (let r = 0; r < rounds; r++) {
    const c0 = cpuSeconds();
    const t0 = process.hrtime.bigint();
    checksum += fn();
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push(lines / (cpuSeconds() - c0));
    wallRates.push(lines / wall);
  }
  rates.sort((a, b) => a - b);
  wallRates.sort((a, b) => a - b);
  const median = rates[rates.length >> 1]!;
  const best = rates[rates.length - 1]!;
  const wallMedian = wallRates[wallRates.length >> 1]!;
  const mbs = (median * (bytes / lines)) / 1e6;
  console.log(
    `${label.padEnd(22)} ${(median / 1e6).toFixed(2)}M lines/s per CPU-second (best ${(best / 1e6).toFixed(2)}M, wall ${(wallMedian / 1e6).toFixed(2)}M)  ${mbs.toFixed(0)} MB/s  [check ${checksum}]`,
  );
  return median;
}

const messages = generate(totalLines);
const buffers = messages.map((m) => Buffer.from(m, 'utf8'));
const bytes = buffers.reduce((s, b) => s + b.length, 0);
const lines = messages.reduce((s, m) => s + m.split('\n').length - 1, 0);
console.log(
  `input: ${lines} lines in ${messages.length} messages of ${linesPerMessage} lines, ${(bytes / 1e6).toFixed(1)} MB, avg ${(bytes / lines).toFixed(0)} B/line; ${rounds} rounds; node ${process.version}`,
);

const opts = { defaultTime: 0 };
const baseline = timeRounds(
  "split('\\n') baseline",
  () => {
    let n = 0;
    for (const m of messages) n += m.split('\n').length;
    return n;
  },
  bytes,
  lines,
);
const fromString = timeRounds(
  'decode(string)',
  () => {
    let n = 0;
    for (const m of messages) {
      const r = decode(m, 'lp', opts);
      n += r.points.length + r.errors.length;
    }
    return n;
  },
  bytes,
  lines,
);
const fromBytes = timeRounds(
  'decodeBuffer(bytes)',
  () => {
    let n = 0;
    for (const b of buffers) {
      const r = decodeBuffer(b, 'lp', opts);
      n += r.points.length + r.errors.length;
    }
    return n;
  },
  bytes,
  lines,
);
// The alternative the byte scanner replaced: TextDecoder, then the charCodeAt text parser.
const textDecoder = new TextDecoder();
const viaText = timeRounds(
  'TextDecoder+text scan',
  () => {
    let n = 0;
    for (const b of buffers) {
      const points: Point[] = [];
      const errors: DecodeError[] = [];
      decodeLineProtocol(
        textDecoder.decode(b),
        { precision: 'ns', defaultTime: 0, firstLine: 1 },
        points,
        errors,
      );
      n += points.length + errors.length;
    }
    return n;
  },
  bytes,
  lines,
);

// Worst case for the series prediction: the same lines in random order (every line a hash lookup).
const shuffled = shuffle(messages.flatMap((m) => m.split('\n').filter((l) => l !== '')));
const shuffledBuffers: Buffer[] = [];
for (let i = 0; i < shuffled.length; i += linesPerMessage) {
  shuffledBuffers.push(Buffer.from(shuffled.slice(i, i + linesPerMessage).join('\n') + '\n'));
}
timeRounds(
  'decodeBuffer, shuffled',
  () => {
    let n = 0;
    for (const b of shuffledBuffers) {
      const r = decodeBuffer(b, 'lp', opts);
      n += r.points.length + r.errors.length;
    }
    return n;
  },
  bytes,
  lines,
);

let decodedPoints = 0;
let decodeErrors = 0;
for (const b of buffers) {
  const r = decodeBuffer(b, 'lp', opts);
  decodedPoints += r.points.length;
  decodeErrors += r.errors.length;
}
if (decodedPoints !== lines || decodeErrors !== 0) {
  console.log(`WRONG: ${decodedPoints} points and ${decodeErrors} errors for ${lines} good lines`);
  process.exitCode = 1;
}
console.log(
  `byte scan / text scan: ${(fromBytes / viaText).toFixed(2)}  ratio decode/split: ${(fromString / baseline).toFixed(2)}  decodeBuffer/split: ${(fromBytes / baseline).toFixed(2)}`,
);
// Kafka values and `converge replay` chunks are bytes and go through decodeBuffer; decode(string)
// first encodes its text to UTF-8 (a copy), for callers that only have text.
console.log(
  `target 1.50M lines/s on one core, decodeBuffer (Kafka values, replay): ${fromBytes >= 1.5e6 ? 'met' : 'NOT met'}; ` +
    `decode(string) (text callers, + UTF-8 encoding): ${fromString >= 1.5e6 ? 'met' : 'not met'}`,
);

// --- Linearity in the width of a line ---------------------------------------------------------
const wideLimits = { ...DEFAULT_LIMITS, maxFields: 1_000_000, maxLineBytes: 1 << 30 };
const TOTAL_FIELDS = 1_000_000;

function wideMessages(width: number, keyPrefix: string): Buffer[] {
  const lines: string[] = [];
  for (let l = 0; l < TOTAL_FIELDS / width; l++) {
    const fields: string[] = [];
    for (let f = 0; f < width; f++) fields.push(`${keyPrefix}${f}=${(l + f) % 1000}.5`);
    lines.push(`wide,host=h${l % 10} ${fields.join(',')} ${1704067200000000000 + l}`);
  }
  // Messages of about 1 MB (a 100,000-field line is one message of its own).
  const out: Buffer[] = [];
  let part: string[] = [];
  let size = 0;
  for (const line of lines) {
    part.push(line);
    size += line.length;
    if (size >= 1 << 20) {
      out.push(Buffer.from(part.join('\n')));
      part = [];
      size = 0;
    }
  }
  if (part.length > 0) out.push(Buffer.from(part.join('\n')));
  return out;
}

function widthRounds(width: number, messages: Buffer[]): { nsPerField: number; nsPerByte: number } {
  const bytes = messages.reduce((n, b) => n + b.length, 0);
  const run = () => {
    let n = 0;
    for (const b of messages)
      n += decodeBuffer(b, 'lp', { defaultTime: 0, limits: wideLimits }).points.length;
    return n;
  };
  const points = run(); // warm-up; also checks the result
  if (points !== TOTAL_FIELDS / width) {
    console.log(`WRONG: ${points} points for ${TOTAL_FIELDS / width} lines of ${width} fields`);
    process.exitCode = 1;
  }
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const c0 = cpuSeconds();
    run();
    samples.push((cpuSeconds() - c0) * 1e9);
  }
  samples.sort((a, b) => a - b);
  const ns = samples[samples.length >> 1]!;
  return { nsPerField: ns / TOTAL_FIELDS, nsPerByte: ns / bytes };
}

console.log(
  `\nline width: ${TOTAL_FIELDS.toLocaleString('en')} fields as lines of 10, 1,000 and 100,000 fields (median CPU of ${rounds} rounds)`,
);
const widths = new Map<number, { nsPerField: number; nsPerByte: number }>();
for (const width of [10, 1000, 100_000]) {
  const r = widthRounds(width, wideMessages(width, 'f'));
  widths.set(width, r);
  console.log(
    `${String(width).padStart(7)} fields/line  ${r.nsPerField.toFixed(0).padStart(5)} ns/field  ${r.nsPerByte.toFixed(1).padStart(6)} ns/byte`,
  );
}
// The widest line seen for the first time: a new layout each (distinct keys per line).
let firstSightNs = 0;
let firstSightBytes = 0;
for (let i = 0; i < 3; i++) {
  const [line] = wideMessages(100_000, `k${i}_`).slice(0, 1);
  const c0 = cpuSeconds();
  decodeBuffer(line!, 'lp', { defaultTime: 0, limits: wideLimits });
  firstSightNs += (cpuSeconds() - c0) * 1e9;
  firstSightBytes += line!.length;
}
const narrow = widths.get(10)!;
const widest = widths.get(100_000)!;
console.log(
  `100,000-field line seen for the first time: ${(firstSightNs / 3e6).toFixed(0)} ms each, ${(firstSightNs / 300_000).toFixed(0)} ns/field, ${(firstSightNs / firstSightBytes).toFixed(1)} ns/byte`,
);
console.log(
  `ratio 100,000 / 10 fields per line: ${(widest.nsPerField / narrow.nsPerField).toFixed(2)} per field, ` +
    `${(widest.nsPerByte / narrow.nsPerByte).toFixed(2)} per byte (linear: ~1; quadratic: ~10,000)`,
);
