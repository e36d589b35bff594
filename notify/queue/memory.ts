import type {
  AttemptOutcome,
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
 * The embedded stand-in for BullMQ behind the same DeliveryQueue contract: per-sink dispatch
 * with concurrency and a rate limit, per-(incident, sink) lanes delivered in version order,
 * retries as the handler says, a dead-letter list. State lives in this process only, so
 * idempotency holds for the life of the process (bounded by keepSentMs).
 */
export interface MemoryQueueOptions {
  /** How long a delivered key is remembered (ms). */
  keepSentMs?: number;
  /** Attempts in flight per sink. */
  concurrency?: number;
  /** Per-sink overrides. */
  sinks?: Record<string, { concurrency?: number; rateLimit?: { max: number; perMs: number } }>;
  now?: () => number;
}

interface PendingItem {
  delivery: Delivery;
  attempts: number;
  /** Monotonic time before which the item is not attempted (its retry delay). */
  notBefore: number;
}

interface Lane {
  id: string;
  sink: string;
  /** Sorted by version, ascending; the head is the only one ever in flight. */
  pending: PendingItem[];
  active: boolean;
  /** Wakes the lane when its head's retry delay is over. */
  timer?: NodeJS.Timeout;
  queued: boolean;
}

interface SinkState {
  concurrency: number;
  rateLimit?: { max: number; perMs: number };
  active: number;
  ready: Lane[];
  /** Start times of recent attempts, for the sliding-window rate limit. */
  starts: number[];
  pausedUntil: number;
  wake?: NodeJS.Timeout;
}

export class MemoryDeliveryQueue implements DeliveryQueue {
  private readonly keepSentMs: number;
  private readonly now: () => number;
  private readonly sent = new Map<string, number>();
  /** Highest version delivered per lane, with the time it may be forgotten. */
  private readonly lastDelivered = new Map<string, { version: number; expires: number }>();
  private readonly lanes = new Map<string, Lane>();
  private readonly dead = new Map<string, DeadLetter>();
  private readonly sinks = new Map<string, SinkState>();
  private readonly idleWaiters: Array<() => void> = [];
  private readonly flights = new Set<Promise<void>>();
  private handler?: DeliveryHandler;
  private stopped = false;
  private readonly stats = { delivered: 0, muted: 0, retried: 0, deadLettered: 0 };
  private lastSweep = 0;

  constructor(private readonly options: MemoryQueueOptions = {}) {
    this.keepSentMs = options.keepSentMs ?? 7 * 86_400_000;
    this.now = options.now ?? Date.now;
  }

  async start(handler: DeliveryHandler): Promise<void> {
    this.handler = handler;
    for (const lane of this.lanes.values()) this.makeReady(lane);
  }

  async enqueue(delivery: Delivery): Promise<EnqueueOutcome> {
    if (this.stopped) throw new Error('delivery queue is shut down');
    this.sweep();
    const key = delivery.key;
    if (this.sent.has(key)) return 'duplicate';
    if (this.dead.has(key)) return 'dead-lettered';
    const id = laneId(delivery.sink, delivery.incidentId);
    if (delivery.version <= this.lastVersion(id)) return 'stale';
    return this.insert(this.lane(id, delivery.sink), delivery, 0) ? 'queued' : 'duplicate';
  }

  private lastVersion(lane: string): number {
    return this.lastDelivered.get(lane)?.version ?? -1;
  }

  private lane(id: string, sink: string): Lane {
    let lane = this.lanes.get(id);
    if (!lane) {
      lane = { id, sink, pending: [], active: false, queued: false };
      this.lanes.set(id, lane);
    }
    return lane;
  }

  private insert(lane: Lane, delivery: Delivery, attempts: number): boolean {
    const list = lane.pending;
    let i = list.length;
    while (i > 0 && list[i - 1]!.delivery.version > delivery.version) i--;
    if (i > 0 && list[i - 1]!.delivery.version === delivery.version) return false;
    list.splice(i, 0, { delivery, attempts, notBefore: 0 });
    // A lower version that arrives while the old head waits for a retry goes first, at once;
    // the old head keeps its own retry time (as a delayed BullMQ job does).
    if (i === 0 && lane.timer) {
      clearTimeout(lane.timer);
      lane.timer = undefined;
    }
    this.makeReady(lane);
    return true;
  }

  private sinkState(sink: string): SinkState {
    let s = this.sinks.get(sink);
    if (!s) {
      const o = this.options.sinks?.[sink];
      s = {
        concurrency: o?.concurrency ?? this.options.concurrency ?? 4,
        active: 0,
        ready: [],
        starts: [],
        pausedUntil: 0,
      };
      if (o?.rateLimit) s.rateLimit = o.rateLimit;
      this.sinks.set(sink, s);
    }
    return s;
  }

  private makeReady(lane: Lane): void {
    if (
      !this.handler ||
      this.stopped ||
      lane.active ||
      lane.timer ||
      lane.queued ||
      lane.pending.length === 0
    ) {
      return;
    }
    const wait = lane.pending[0]!.notBefore - performance.now();
    if (wait > 0) {
      lane.timer = setTimeout(() => {
        lane.timer = undefined;
        this.makeReady(lane);
      }, wait);
      return;
    }
    lane.queued = true;
    const s = this.sinkState(lane.sink);
    s.ready.push(lane);
    this.dispatch(lane.sink, s);
  }

  private dispatch(sink: string, s: SinkState): void {
    while (!this.stopped && s.active < s.concurrency && s.ready.length > 0) {
      // Scheduling runs on the monotonic clock; `now` (possibly a test clock) is for bookkeeping.
      const now = performance.now();
      let waitMs = s.pausedUntil - now;
      if (s.rateLimit) {
        while (s.starts.length > 0 && s.starts[0]! <= now - s.rateLimit.perMs) s.starts.shift();
        if (s.starts.length >= s.rateLimit.max)
          waitMs = Math.max(waitMs, s.starts[0]! + s.rateLimit.perMs - now);
      }
      if (waitMs > 0) {
        if (!s.wake) {
          s.wake = setTimeout(() => {
            s.wake = undefined;
            this.dispatch(sink, s);
          }, waitMs);
        }
        return;
      }
      const lane = s.ready.shift()!;
      lane.queued = false;
      if (lane.active || lane.timer || lane.pending.length === 0) continue;
      if (s.rateLimit) s.starts.push(now);
      lane.active = true;
      s.active++;
      const flight = this.attempt(lane, s).finally(() => {
        this.flights.delete(flight);
        lane.active = false;
        s.active--;
        this.makeReady(lane);
        this.dispatch(sink, s);
        this.checkIdle();
      });
      this.flights.add(flight);
    }
  }

  private async attempt(lane: Lane, s: SinkState): Promise<void> {
    const item = lane.pending[0]!;
    item.attempts++;
    let outcome: AttemptOutcome;
    try {
      outcome = await this.handler!(item.delivery, item.attempts);
    } catch (e) {
      outcome = { kind: 'retry', delayMs: 1000, reason: `handler failed: ${(e as Error).message}` };
    }
    // The head may have changed while we were away only by a lower version arriving; the item
    // we attempted is found by identity.
    const at = lane.pending.indexOf(item);
    switch (outcome.kind) {
      case 'delivered':
      case 'muted': {
        if (outcome.kind === 'delivered') this.stats.delivered++;
        else this.stats.muted++;
        const expires = this.now() + this.keepSentMs;
        this.sent.set(item.delivery.key, expires);
        const version = Math.max(item.delivery.version, this.lastVersion(lane.id));
        this.lastDelivered.set(lane.id, { version, expires });
        if (at >= 0) lane.pending.splice(at, 1);
        break;
      }
      case 'dead': {
        this.stats.deadLettered++;
        this.dead.set(item.delivery.key, {
          id: item.delivery.key,
          delivery: item.delivery,
          reason: outcome.reason,
          attempts: item.attempts,
          failedAt: this.now(),
        });
        if (at >= 0) lane.pending.splice(at, 1);
        break;
      }
      case 'retry': {
        this.stats.retried++;
        if (outcome.pauseSinkMs)
          s.pausedUntil = Math.max(s.pausedUntil, performance.now() + outcome.pauseSinkMs);
        item.notBefore = performance.now() + outcome.delayMs;
        break;
      }
    }
    if (lane.pending.length === 0 && !lane.timer) this.lanes.delete(lane.id);
  }

  /** Forgets delivered keys older than keepSentMs, so memory stays bounded. */
  private sweep(): void {
    const now = this.now();
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [key, expires] of this.sent) if (expires <= now) this.sent.delete(key);
    for (const [key, last] of this.lastDelivered) if (last.expires <= now) this.lastDelivered.delete(key);
  }

  async deadLetters(): Promise<DeadLetter[]> {
    return [...this.dead.values()].sort((a, b) => a.failedAt - b.failedAt);
  }

  async retryDeadLetter(id: string, options: { force?: boolean } = {}): Promise<RetryDeadLetterResult> {
    const letter = this.dead.get(id);
    if (!letter) return { requeued: false, reason: `no dead letter ${JSON.stringify(id)}` };
    const d = letter.delivery;
    const lid = laneId(d.sink, d.incidentId);
    const last = this.lastVersion(lid);
    if (!options.force && d.version <= last) {
      return { requeued: false, reason: `superseded: version ${last} was delivered to ${d.sink} since` };
    }
    this.dead.delete(id);
    this.insert(this.lane(lid, d.sink), d, 0);
    return { requeued: true };
  }

  async counts(): Promise<QueueCounts> {
    let pending = 0;
    for (const lane of this.lanes.values()) pending += lane.pending.length;
    return { pending, ...this.stats };
  }

  private isIdle(): boolean {
    for (const lane of this.lanes.values()) if (lane.pending.length > 0) return false;
    return this.flights.size === 0;
  }

  private checkIdle(): void {
    if (!this.isIdle()) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  idle(timeoutMs = 60_000): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.idleWaiters.indexOf(done);
        if (i >= 0) this.idleWaiters.splice(i, 1);
        reject(new Error(`delivery queue not idle after ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.idleWaiters.push(done);
    });
  }

  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const s of this.sinks.values()) if (s.wake) clearTimeout(s.wake);
    for (const lane of this.lanes.values()) {
      if (lane.timer) clearTimeout(lane.timer);
      lane.timer = undefined;
    }
    await Promise.allSettled([...this.flights]);
  }
}
