/**
 * Notifications through the notifier to a local HTTP receiver (the signed generic webhook):
 * throughput (notifications/s from the first notify() to the last acknowledgement) and latency
 * from notify() to the receiver's acknowledgement (p50/p99), with BullMQ on Redis and, as the
 * baseline in the same run, the embedded in-process queue.
 *
 * The ceiling, measured in the same run: the same signed POSTs straight from a loop of
 * `concurrency` fetch calls (no queue, no Redis).
 *
 * Two loads per queue: a burst (all events at once: throughput, latency includes queueing) and
 * a paced stream (a steady rate well under capacity: the latency an operator sees).
 *
 *   npx tsx bench/notify.ts [burst=2000] [paced=600] [pacedRate=200/s] [concurrency=16]
 *
 * Redis: REDIS_URL, else the one scripts/services.mjs starts on loopback.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { parseNotifyConfig } from '../notify/config.js';
import { createNotifier } from '../notify/notifier.js';
import { incidentEvent } from '../notify/testing.js';
import { start as startServices } from '../scripts/services.mjs';

const burst = Number(process.argv[2] ?? 2000);
const paced = Number(process.argv[3] ?? 600);
const pacedRate = Number(process.argv[4] ?? 200);
const concurrency = Number(process.argv[5] ?? 16);

const acked = new Map<string, number>();
const server = createServer((req, res) => {
  const key = String(req.headers['x-converge-delivery'] ?? '');
  req.resume();
  req.on('end', () => {
    res.writeHead(200).end('ok');
    acked.set(key, performance.now());
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

let redisUrl = process.env.REDIS_URL;
if (!redisUrl) {
  const started = await startServices(['redis'], { log: () => {} });
  redisUrl = started.redis!.url;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

interface Figures {
  rate: number;
  p50: number;
  p99: number;
  max: number;
}

async function run(mode: 'bullmq' | 'embedded', count: number, ratePerSecond?: number): Promise<Figures> {
  const prefix = `cnv-bench-${randomBytes(4).toString('hex')}`;
  const config = parseNotifyConfig({
    queue: { prefix, concurrency },
    sinks: [{ name: 'hook', type: 'webhook', url, secret: 'bench-secret', timeout: '5s' }],
  });
  const notifier = createNotifier({ config, ...(mode === 'bullmq' ? { redisUrl } : {}) });
  await notifier.start();
  acked.clear();
  const sentAt = new Map<string, number>();
  const events = Array.from({ length: count }, (_, i) => incidentEvent({ id: `bench-${prefix}-${i}` }));
  const t0 = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < events.length; i++) {
    if (ratePerSecond) {
      const due = t0 + (i * 1000) / ratePerSecond;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    const e = events[i]!;
    sentAt.set(`hook|${encodeURIComponent(e.id)}|v1`, performance.now());
    pending.push(notifier.notify(e));
    if (pending.length >= 64) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  await notifier.idle(120_000);
  const t1 = Math.max(...acked.values());
  const latencies: number[] = [];
  for (const [key, at] of sentAt) {
    const ack = acked.get(key);
    if (ack === undefined) throw new Error(`${mode}: ${key} was never acknowledged`);
    latencies.push(ack - at);
  }
  latencies.sort((a, b) => a - b);
  await notifier.shutdown();
  if (mode === 'bullmq') {
    const redis = new Redis(redisUrl!);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    await redis.quit();
  }
  return {
    rate: count / ((t1 - t0) / 1000),
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    max: latencies.at(-1)!,
  };
}

/** Signed POSTs with the same concurrency and no queue: what HTTP alone costs here. */
async function rawFetch(count: number): Promise<number> {
  const body = JSON.stringify({ incident: incidentEvent() });
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const ts = Math.floor(Date.now() / 1000);
        const signature = createHmac('sha256', 'bench-secret').update(`${ts}.${body}`).digest('hex');
        const r = await fetch(url, {
          method: 'POST',
          body,
          headers: {
            'content-type': 'application/json',
            'x-converge-signature': `v1=${signature}`,
            'x-converge-delivery': `raw-${i}`,
          },
          signal: AbortSignal.timeout(5000),
        });
        await r.text();
      }
    }),
  );
  return count / ((performance.now() - t0) / 1000);
}

const fmt = (f: Figures) =>
  `${f.rate.toFixed(0).padStart(6)} notifications/s   latency p50 ${f.p50.toFixed(1).padStart(7)} ms   p99 ${f.p99.toFixed(1).padStart(7)} ms   max ${f.max.toFixed(1).padStart(7)} ms`;

console.log(`notify bench: signed webhook to a loopback receiver, concurrency ${concurrency} per sink`);
await run('bullmq', 200); // warm-up: connections, Lua scripts, JIT
await rawFetch(200); // warm-up of the raw loop
const ceiling = await rawFetch(burst);
const bullBurst = await run('bullmq', burst);
const memBurst = await run('embedded', burst);
const bullPaced = await run('bullmq', paced, pacedRate);
const memPaced = await run('embedded', paced, pacedRate);
console.log(`burst of ${burst} incidents (throughput; latency includes queueing):`);
console.log(`  BullMQ/Redis   ${fmt(bullBurst)}`);
console.log(`  embedded       ${fmt(memBurst)}`);
console.log(
  `  raw fetch loop ${ceiling.toFixed(0).padStart(6)} requests/s (no queue: the HTTP ceiling here)`,
);
console.log(
  `  ratios: BullMQ/raw ${(bullBurst.rate / ceiling).toFixed(2)}, embedded/raw ${(memBurst.rate / ceiling).toFixed(2)}, BullMQ/embedded ${(bullBurst.rate / memBurst.rate).toFixed(2)}`,
);
console.log(`paced ${paced} incidents at ${pacedRate}/s (latency an operator sees):`);
console.log(`  BullMQ/Redis   ${fmt(bullPaced)}`);
console.log(`  embedded       ${fmt(memPaced)}`);
server.close();
process.exit(0);
