import { DelayedError, type Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../../core/log.js';
import type {
  DeadLetter,
  Delivery,
  DeliveryHandler,
  DeliveryQueue,
  EnqueueOutcome,
  QueueCounts,
  RetryDeadLetterResult,
} from '../types.js';
import { laneId } from './keys.js';

/**
 * Deliveries as BullMQ jobs on Redis, one queue per sink (so each sink has its own worker
 * concurrency and BullMQ rate limiter, and a slow sink never holds up another).
 *
 * Redis layout under `<prefix>:` besides BullMQ's own keys:
 *   lanes                 SET of lane ids (sink|incident) that have pending deliveries
 *   lane:<lane>           ZSET pending delivery keys scored by incident version
 *   last:<lane>           highest version delivered on the lane (expires after keepSent)
 *   payload:<key>         the Delivery as JSON while pending
 *   sent:<key>            delivered or muted marker (SET NX, expires after keepSent)
 *   parked                SET of keys whose job waits for its turn (a lower version went first)
 *   dead                  HASH key -> DeadLetter JSON
 *   stats                 HASH of counters
 *
 * Invariant: the head (lowest version) of every lane has a BullMQ job whose id is its delivery
 * key. Whoever changes a lane (enqueue, a finished attempt, a dead letter, a replay) restores
 * it by adding the head's job (BullMQ ignores an add whose jobId exists), and a reconcile pass
 * at start and every lockDuration repairs what a crash between two steps left behind. Only the
 * head is ever attempted, so a later version never overtakes an earlier one still retrying.
 * Marking "sent" and moving the lane on happen in one Lua script; a worker killed after the
 * receiver answered and before that script leaves the job stalled, and BullMQ hands it to
 * another worker, which sends it again (the one redelivery window, as in any HTTP delivery).
 */
export interface BullmqQueueOptions {
  redisUrl: string;
  /** The notifier's command connection (shared with the silence store). */
  redis: Redis;
  prefix: string;
  sinks: string[];
  sinkSettings?: Record<string, { concurrency?: number; rateLimit?: { max: number; perMs: number } }>;
  concurrency: number;
  keepSentMs: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  /** The retry policy's attempts; BullMQ's own limit is set above it so the policy decides. */
  maxAttempts: number;
  logger?: Logger;
}

/** A recoverable failure: BullMQ retries it after the delay the retry policy chose. */
class RetryLater extends Error {
  override name = 'RetryLater';
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
  }
}

const ENQUEUE = `
local sentKey, deadKey, laneKey, lastKey, payloadKey, lanesKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local key, version, payload, lane, prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', sentKey) == 1 then return {'duplicate'} end
if redis.call('HEXISTS', deadKey, key) == 1 then return {'dead-lettered'} end
local last = tonumber(redis.call('GET', lastKey) or '-1')
if version <= last then return {'stale'} end
local added = redis.call('ZADD', laneKey, 'NX', version, key)
redis.call('SET', payloadKey, payload, 'NX')
redis.call('SADD', lanesKey, lane)
local head = redis.call('ZRANGE', laneKey, 0, 0)[1]
local outcome = 'duplicate'
if added == 1 then outcome = 'queued' end
return {outcome, head, redis.call('GET', prefix .. ':payload:' .. head)}
`;

/** Finishes the head: delivered/muted (ARGV[3]='sent') or dead (ARGV[3]='dead'); returns the next head. */
const FINISH = `
local sentKey, laneKey, lastKey, payloadKey, lanesKey, deadKey, statsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local key, version, how, ttlMs, lane, prefix, deadJson, counter = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local removed = redis.call('ZREM', laneKey, key)
if how == 'sent' then
  if redis.call('SET', sentKey, '1', 'NX', 'PX', ttlMs) and removed == 1 then redis.call('HINCRBY', statsKey, counter, 1) end
  local last = tonumber(redis.call('GET', lastKey) or '-1')
  if version > last then redis.call('SET', lastKey, version, 'PX', ttlMs) else redis.call('PEXPIRE', lastKey, ttlMs) end
elseif removed == 1 then
  redis.call('HSET', deadKey, key, deadJson)
  redis.call('HINCRBY', statsKey, 'deadLettered', 1)
end
redis.call('DEL', payloadKey)
local head = redis.call('ZRANGE', laneKey, 0, 0)[1]
if not head then
  redis.call('SREM', lanesKey, lane)
  return {}
end
return {head, redis.call('GET', prefix .. ':payload:' .. head)}
`;

/** Puts a dead letter back on its lane (ARGV[4]='1' forces past a later delivered version). */
const REQUEUE = `
local deadKey, laneKey, lastKey, payloadKey, lanesKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local key, version, lane, force, prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local json = redis.call('HGET', deadKey, key)
if not json then return {'missing'} end
local last = tonumber(redis.call('GET', lastKey) or '-1')
if version <= last and force ~= '1' then return {'superseded', tostring(last)} end
local letter = cjson.decode(json)
redis.call('HDEL', deadKey, key)
redis.call('SET', payloadKey, cjson.encode(letter['delivery']))
redis.call('ZADD', laneKey, version, key)
redis.call('SADD', lanesKey, lane)
local head = redis.call('ZRANGE', laneKey, 0, 0)[1]
return {'requeued', head, redis.call('GET', prefix .. ':payload:' .. head)}
`;

/** The payload of a delivery and the head of its lane, in one round trip. */
const CLAIM = `
local json = redis.call('GET', KEYS[1])
if not json then return {} end
local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
return {json, head or ''}
`;

interface Scripts {
  notifyClaim(...args: Array<string | number>): Promise<string[]>;
  notifyEnqueue(...args: Array<string | number>): Promise<Array<string | null>>;
  notifyFinish(...args: Array<string | number>): Promise<Array<string | null>>;
  notifyRequeue(...args: Array<string | number>): Promise<Array<string | null>>;
}

export class BullmqDeliveryQueue implements DeliveryQueue {
  private readonly redis: Redis & Scripts;
  private readonly queues = new Map<string, Queue>();
  private readonly workers = new Map<string, Worker>();
  private handler?: DeliveryHandler;
  private reconcileTimer?: NodeJS.Timeout;
  private reconciling?: Promise<void>;
  private stopped = false;
  private readonly p: string;

  constructor(private readonly options: BullmqQueueOptions) {
    this.p = options.prefix;
    const redis = options.redis as Redis & Scripts;
    if (typeof (redis as Partial<Scripts>).notifyEnqueue !== 'function') {
      redis.defineCommand('notifyEnqueue', { numberOfKeys: 6, lua: ENQUEUE });
      redis.defineCommand('notifyClaim', { numberOfKeys: 2, lua: CLAIM });
      redis.defineCommand('notifyFinish', { numberOfKeys: 7, lua: FINISH });
      redis.defineCommand('notifyRequeue', { numberOfKeys: 5, lua: REQUEUE });
    }
    this.redis = redis;
    for (const sink of options.sinks) {
      this.queues.set(
        sink,
        new Queue(queueName(sink), {
          connection: { url: options.redisUrl },
          prefix: this.p,
          defaultJobOptions: {
            // The retry policy (retry.ts) decides when to give up; BullMQ must not do it first.
            attempts: options.maxAttempts + 1,
            backoff: { type: 'converge' },
            removeOnComplete: { count: 1000 },
            removeOnFail: { count: 5000 },
          },
        }),
      );
    }
  }

  private key(...parts: string[]): string {
    return [this.p, ...parts].join(':');
  }

  async start(handler: DeliveryHandler): Promise<void> {
    this.handler = handler;
    const o = this.options;
    for (const sink of o.sinks) {
      const settings = o.sinkSettings?.[sink];
      const worker = new Worker(queueName(sink), (job, token) => this.process(sink, job, token), {
        connection: { url: o.redisUrl, maxRetriesPerRequest: null },
        prefix: this.p,
        concurrency: settings?.concurrency ?? o.concurrency,
        lockDuration: o.lockDurationMs,
        stalledInterval: o.stalledIntervalMs,
        // A delivery survives a few crashed workers before BullMQ gives up on it (then the
        // reconcile pass dead-letters it with BullMQ's reason).
        maxStalledCount: 10,
        // BullMQ honours a manual pause (Queue.rateLimit, used for 429 Retry-After) only on
        // workers that have a limiter, so sinks without a configured limit get a wide one.
        limiter: settings?.rateLimit
          ? { max: settings.rateLimit.max, duration: settings.rateLimit.perMs }
          : { max: 1_000_000, duration: 1000 },
        settings: {
          backoffStrategy: (_attemptsMade: number, _type?: string, err?: Error) =>
            err instanceof RetryLater ? err.delayMs : 1000,
        },
      });
      worker.on('error', (e) => o.logger?.warn({ sink, err: e.message }, 'bullmq worker error'));
      this.workers.set(sink, worker);
    }
    await Promise.all([...this.workers.values()].map((w) => w.waitUntilReady()));
    await this.reconcile();
    this.reconcileTimer = setInterval(() => void this.reconcile(), Math.max(1000, o.lockDurationMs));
    this.reconcileTimer.unref();
  }

  async enqueue(delivery: Delivery): Promise<EnqueueOutcome> {
    if (this.stopped) throw new Error('delivery queue is shut down');
    if (!this.queues.has(delivery.sink)) throw new Error(`no queue for sink "${delivery.sink}"`);
    const lane = laneId(delivery.sink, delivery.incidentId);
    const [outcome, head, headPayload] = await this.redis.notifyEnqueue(
      this.key('sent', delivery.key),
      this.key('dead'),
      this.key('lane', lane),
      this.key('last', lane),
      this.key('payload', delivery.key),
      this.key('lanes'),
      delivery.key,
      delivery.version,
      JSON.stringify(delivery),
      lane,
      this.p,
    );
    // Only a new head needs a job: any other head got one when it became the head. (A crash
    // in between is repaired by the reconcile pass.)
    if (head === delivery.key && headPayload) await this.ensureJob(delivery.sink, head, false);
    return outcome as EnqueueOutcome;
  }

  /**
   * Makes sure the lane head has a job. `turn` means the head just became the head (not that it
   * is retrying): a job parked while a lower version went first is promoted at once.
   */
  private async ensureJob(sink: string, key: string, turn: boolean): Promise<void> {
    const queue = this.queues.get(sink);
    if (!queue) return;
    await queue.add('deliver', { key }, { jobId: key });
    if (turn && (await this.redis.srem(this.key('parked'), key)) === 1) {
      const job = await queue.getJob(key);
      if (job && (await job.isDelayed())) await job.promote().catch(() => undefined);
    }
  }

  private async process(sink: string, job: Job, token?: string): Promise<string> {
    const key = job.id!;
    const lane = key.slice(0, key.lastIndexOf('|'));
    const [json, head] = await this.redis.notifyClaim(this.key('payload', key), this.key('lane', lane));
    if (!json) {
      // Finished by an earlier run of this job that died before BullMQ recorded it, or a
      // leftover: move the lane on and complete.
      await this.advanceAfterLeftover(sink, key);
      return 'leftover';
    }
    const delivery = JSON.parse(json) as Delivery;
    if (head !== key) {
      // A lower version arrived after this job was made: park until it is done.
      if (head) await this.ensureJob(sink, head, false);
      await this.redis.sadd(this.key('parked'), key);
      await job.moveToDelayed(Date.now() + Math.max(5000, this.options.lockDurationMs), token);
      throw new DelayedError();
    }
    const attempt = job.attemptsMade + 1;
    const outcome = await this.handler!(delivery, attempt);
    switch (outcome.kind) {
      case 'delivered':
      case 'muted':
        await this.finish(sink, delivery, 'sent', outcome.kind);
        return outcome.kind;
      case 'dead': {
        const letter: DeadLetter = {
          id: key,
          delivery,
          reason: outcome.reason,
          attempts: attempt,
          failedAt: Date.now(),
        };
        await this.finish(sink, delivery, 'dead', '', JSON.stringify(letter));
        return 'dead';
      }
      case 'retry':
        await this.redis.hincrby(this.key('stats'), 'retried', 1);
        if (outcome.pauseSinkMs) await this.queues.get(sink)?.rateLimit(outcome.pauseSinkMs);
        throw new RetryLater(outcome.reason, outcome.delayMs);
    }
  }

  private async finish(
    sink: string,
    d: Delivery,
    how: 'sent' | 'dead',
    counter: string,
    deadJson = '',
  ): Promise<void> {
    const lane = laneId(sink, d.incidentId);
    const [next, nextPayload] = await this.redis.notifyFinish(
      this.key('sent', d.key),
      this.key('lane', lane),
      this.key('last', lane),
      this.key('payload', d.key),
      this.key('lanes'),
      this.key('dead'),
      this.key('stats'),
      d.key,
      d.version,
      how,
      this.options.keepSentMs,
      lane,
      this.p,
      deadJson,
      counter,
    );
    if (next && nextPayload) await this.ensureJob(sink, next, true);
  }

  private async advanceAfterLeftover(sink: string, key: string): Promise<void> {
    const m = /^(.*)\|v\d+$/.exec(key);
    if (!m) return;
    const lane = m[1]!;
    await this.redis.zrem(this.key('lane', lane), key);
    const head = (await this.redis.zrange(this.key('lane', lane), '0', '0'))[0];
    if (head) await this.ensureJob(sink, head, true);
    else await this.redis.srem(this.key('lanes'), lane);
  }

  /**
   * Repairs lanes whose head has no live job: a crash between a Redis step and a BullMQ step,
   * a job BullMQ failed on its own (stalled too often), or a job removed by hand.
   */
  reconcile(): Promise<void> {
    if (this.reconciling) return this.reconciling;
    this.reconciling = this.reconcileOnce()
      .catch((e) => this.options.logger?.warn({ err: (e as Error).message }, 'notify reconcile failed'))
      .finally(() => {
        this.reconciling = undefined;
      });
    return this.reconciling;
  }

  private async reconcileOnce(): Promise<void> {
    if (this.stopped) return;
    const lanes = await this.redis.smembers(this.key('lanes'));
    for (const lane of lanes) {
      if (this.stopped) return;
      const sink = lane.slice(0, lane.indexOf('|'));
      const queue = this.queues.get(sink);
      if (!queue) continue;
      const head = (await this.redis.zrange(this.key('lane', lane), '0', '0'))[0];
      if (!head) {
        await this.redis.srem(this.key('lanes'), lane);
        continue;
      }
      const job = await queue.getJob(head);
      if (!job) {
        await this.ensureJob(sink, head, false);
        continue;
      }
      const state = await job.getState();
      if (state === 'failed') {
        const json = await this.redis.get(this.key('payload', head));
        if (!json) {
          await this.advanceAfterLeftover(sink, head);
          continue;
        }
        const delivery = JSON.parse(json) as Delivery;
        const letter: DeadLetter = {
          id: head,
          delivery,
          reason: `queue gave up: ${job.failedReason ?? 'unknown'}`,
          attempts: job.attemptsMade,
          failedAt: Date.now(),
        };
        await job.remove().catch(() => undefined);
        await this.finish(sink, delivery, 'dead', '', JSON.stringify(letter));
      } else if (state === 'completed') {
        // Completed yet still the head: its finish step was lost. Run it again.
        await job.remove().catch(() => undefined);
        await this.ensureJob(sink, head, false);
      }
    }
  }

  async deadLetters(): Promise<DeadLetter[]> {
    const all = await this.redis.hgetall(this.key('dead'));
    return Object.values(all)
      .map((json) => JSON.parse(json) as DeadLetter)
      .sort((a, b) => a.failedAt - b.failedAt);
  }

  async retryDeadLetter(id: string, options: { force?: boolean } = {}): Promise<RetryDeadLetterResult> {
    const json = await this.redis.hget(this.key('dead'), id);
    if (!json) return { requeued: false, reason: `no dead letter ${JSON.stringify(id)}` };
    const letter = JSON.parse(json) as DeadLetter;
    const d = letter.delivery;
    const queue = this.queues.get(d.sink);
    if (!queue) return { requeued: false, reason: `sink "${d.sink}" is not configured` };
    // The finished job keeps its id while BullMQ retains it; remove it so the id can be reused.
    await queue.remove(id).catch(() => undefined);
    const lane = laneId(d.sink, d.incidentId);
    const [outcome, a, b] = await this.redis.notifyRequeue(
      this.key('dead'),
      this.key('lane', lane),
      this.key('last', lane),
      this.key('payload', id),
      this.key('lanes'),
      id,
      d.version,
      lane,
      options.force ? '1' : '0',
      this.p,
    );
    if (outcome === 'missing') return { requeued: false, reason: `no dead letter ${JSON.stringify(id)}` };
    if (outcome === 'superseded') {
      return { requeued: false, reason: `superseded: version ${a} was delivered to ${d.sink} since` };
    }
    if (a && b) await this.ensureJob(d.sink, a, true);
    return { requeued: true };
  }

  async counts(): Promise<QueueCounts> {
    const lanes = await this.redis.smembers(this.key('lanes'));
    let pending = 0;
    if (lanes.length > 0) {
      const pipeline = this.redis.pipeline();
      for (const lane of lanes) pipeline.zcard(this.key('lane', lane));
      for (const [err, n] of (await pipeline.exec()) ?? []) if (!err) pending += Number(n);
    }
    const stats = await this.redis.hgetall(this.key('stats'));
    return {
      pending,
      delivered: Number(stats.delivered ?? 0),
      muted: Number(stats.muted ?? 0),
      retried: Number(stats.retried ?? 0),
      deadLettered: Number(stats.deadLettered ?? 0),
    };
  }

  async idle(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if ((await this.counts()).pending === 0) return;
      if (Date.now() > deadline) throw new Error(`delivery queue not idle after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    await this.reconciling;
    // Worker.close waits for the attempts in flight (graceful); queues then release Redis.
    await Promise.allSettled([...this.workers.values()].map((w) => w.close()));
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
  }
}

function queueName(sink: string): string {
  return `sink-${sink}`;
}
