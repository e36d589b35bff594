import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { Logger } from '../core/log.js';
import { formatMatcher } from '../core/matchers.js';
import type { IncidentEvent, Lifecycle, TopologyView } from '../core/types.js';
import type { NotifyConfig, SinkConfig } from './config.js';
import type { TextFormat } from './escape.js';
import { incidentLabels } from './labels.js';
import { NotifyMetrics } from './metrics.js';
import { BullmqDeliveryQueue } from './queue/bullmq.js';
import { deliveryKey } from './queue/keys.js';
import { MemoryDeliveryQueue } from './queue/memory.js';
import { SINK_TYPES } from './registry.js';
import { RetryPolicy } from './retry.js';
import { RouteTree } from './route.js';
import {
  type ActiveSilence,
  compileSilences,
  findSilence,
  MemorySilenceStore,
  RedisSilenceStore,
  type Silence,
  type SilenceInput,
  type SilenceStore,
} from './silences.js';
import { buildContext, compileTemplate, type MessageTemplates, renderMessage } from './template.js';
import type {
  AttemptOutcome,
  DeadLetter,
  Delivery,
  DeliveryQueue,
  EnqueueOutcome,
  Notification,
  QueueCounts,
  RetryDeadLetterResult,
  Sink,
} from './types.js';

export interface NotifierOptions {
  config: NotifyConfig;
  /** redis://... : BullMQ queues and shared silences. Absent: the embedded in-process queue. */
  redisUrl?: string;
  /** Root-cause ancestors (idc, rack, host) and attributes become routing labels. */
  topology?: TopologyView;
  logger?: Logger;
  /** Wall clock (ms): signature timestamps, silences at send time, queue bookkeeping. */
  now?: () => number;
  /** Sinks built by the caller (tests, embedding); they replace config sinks of the same name. */
  sinks?: Sink[];
  /** A queue built by the caller (tests); overrides the choice made from redisUrl. */
  queue?: DeliveryQueue;
  /**
   * false: only route and queue (a producer, e.g. beside the correlator), and let other
   * processes' notifiers deliver. Meaningful with Redis only. Default true.
   */
  deliver?: boolean;
  /** Registers the notifier's Prometheus metrics here (the API's /metrics registry). */
  metrics?: Registry;
}

export interface NotifyResult {
  /** Sinks the route tree chose. */
  routed: string[];
  /** One entry per routed sink that was handed to the queue. */
  deliveries: Array<{ sink: string; key: string; outcome: EnqueueOutcome }>;
  /** Set when a silence or maintenance window muted the event (nothing was queued). */
  mutedBy?: string;
}

export class IncidentEventError extends Error {
  override name = 'IncidentEventError';
}

/**
 * The notification stage: incident events in, one notification per (incident version, sink)
 * out, through the route tree, silences, the delivery queue and the sinks.
 *
 * ```ts
 * const notifier = createNotifier({ config: parseNotifyConfig(raw), redisUrl });
 * await notifier.start();
 * await notifier.notify(incidentEvent); // idempotent per (id, version, sink)
 * await notifier.shutdown();            // waits for sends in flight
 * ```
 */
export class Notifier implements Lifecycle {
  readonly silences: SilenceStore;
  private readonly queue: DeliveryQueue;
  private readonly sinks = new Map<string, { sink: Sink; templates: MessageTemplates; format: TextFormat }>();
  private readonly routes: RouteTree;
  private readonly retry: RetryPolicy;
  private readonly now: () => number;
  private readonly log: Logger | undefined;
  private readonly abort = new AbortController();
  private readonly redis: Redis | undefined;
  private readonly windows: Silence[];
  private silenceCache: { at: number; compiled: ActiveSilence[] } | undefined;
  private readonly metrics: NotifyMetrics | undefined;
  private started = false;
  private stopped = false;

  constructor(private readonly options: NotifierOptions) {
    const { config } = options;
    this.now = options.now ?? Date.now;
    this.log = options.logger?.child({ stage: 'notify' });
    this.routes = new RouteTree(config.route);
    this.metrics = options.metrics ? new NotifyMetrics(options.metrics) : undefined;
    this.retry = new RetryPolicy({
      attempts: config.retry.attempts,
      initialDelayMs: config.retry.initialDelay,
      maxDelayMs: config.retry.maxDelay,
      jitter: config.retry.jitter,
    });
    const given = new Map((options.sinks ?? []).map((s) => [s.name, s]));
    for (const sc of config.sinks) this.addSink(sc, given.get(sc.name));
    for (const [name, sink] of given) if (!this.sinks.has(name)) this.addSink(undefined, sink);

    this.redis = options.redisUrl
      ? new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3, enableOfflineQueue: true })
      : undefined;
    const store = this.redis
      ? new RedisSilenceStore(this.redis, `${config.queue.prefix}:silences`, this.now)
      : new MemorySilenceStore(this.now);
    this.windows = config.maintenanceWindows.map((w) => ({
      id: `maintenance:${w.name}`,
      matchers: w.matchers.map(formatMatcher),
      startsAt: w.startsAt,
      endsAt: w.endsAt,
      createdBy: 'config',
      comment: w.comment,
      createdAt: 0,
    }));
    this.silences = this.silenceApi(store);

    const sinkSettings: Record<string, { concurrency?: number; rateLimit?: { max: number; perMs: number } }> =
      {};
    for (const sc of config.sinks) {
      const s: { concurrency?: number; rateLimit?: { max: number; perMs: number } } = {};
      if (sc.concurrency !== undefined) s.concurrency = sc.concurrency;
      if (sc.rateLimit) s.rateLimit = sc.rateLimit;
      sinkSettings[sc.name] = s;
    }
    this.queue =
      options.queue ??
      (options.redisUrl && this.redis
        ? new BullmqDeliveryQueue({
            redisUrl: options.redisUrl,
            redis: this.redis,
            prefix: config.queue.prefix,
            sinks: [...this.sinks.keys()],
            sinkSettings,
            concurrency: config.queue.concurrency,
            keepSentMs: config.queue.keepSent,
            lockDurationMs: config.queue.lockDuration,
            stalledIntervalMs: config.queue.stalledInterval,
            maxAttempts: this.retry.attempts,
            ...(this.log ? { logger: this.log } : {}),
          })
        : new MemoryDeliveryQueue({
            keepSentMs: config.queue.keepSent,
            concurrency: config.queue.concurrency,
            sinks: sinkSettings,
            now: this.now,
          }));
  }

  private addSink(config: SinkConfig | undefined, given: Sink | undefined): void {
    let sink = given;
    if (!sink && config) {
      const definition = SINK_TYPES.get(config.type);
      if (!definition) throw new Error(`sink ${config.name}: unknown type ${config.type}`);
      sink = definition.create(config.options as never, {
        name: config.name,
        timeoutMs: config.timeoutMs,
        now: () => this.now(),
      });
    }
    if (!sink) return;
    const definition = SINK_TYPES.get(sink.type);
    const title = config?.template.title ?? definition?.templates?.title ?? '{{ summary }}';
    const text = config?.template.text ?? definition?.templates?.text ?? '{{ summary }}';
    this.sinks.set(sink.name, {
      sink,
      templates: { title: compileTemplate(title), text: compileTemplate(text) },
      format: definition?.format ?? 'plain',
    });
  }

  private silenceApi(store: SilenceStore): SilenceStore {
    const windows = this.windows;
    const invalidate = () => {
      this.silenceCache = undefined;
    };
    return {
      async add(input: SilenceInput) {
        const s = await store.add(input);
        invalidate();
        return s;
      },
      async list() {
        return [...windows, ...(await store.list())];
      },
      async get(id: string) {
        return windows.find((w) => w.id === id) ?? (await store.get(id));
      },
      async delete(id: string) {
        if (windows.some((w) => w.id === id)) return false;
        const removed = await store.delete(id);
        invalidate();
        return removed;
      },
    };
  }

  /** Compiled silences, re-read at most every 250 ms (other processes' changes show up that fast). */
  private async activeSilences(): Promise<ActiveSilence[]> {
    const now = this.now();
    if (this.silenceCache && now - this.silenceCache.at < 250) return this.silenceCache.compiled;
    const compiled = compileSilences(await this.silences.list());
    this.silenceCache = { at: now, compiled };
    return compiled;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.redis) await this.redis.connect();
    if (this.options.deliver !== false || !this.redis) {
      await this.queue.start(async (delivery, attempt) => {
        const outcome = await this.attempt(delivery, attempt);
        this.metrics?.attempt(delivery.sink, outcome, delivery.queuedAt, this.now());
        return outcome;
      });
    }
    this.log?.info(
      { sinks: [...this.sinks.keys()], mode: this.redis ? 'bullmq' : 'embedded' },
      'notifier started',
    );
  }

  /**
   * Routes one incident event and queues a delivery per chosen sink. Resolves once every
   * delivery is durable in the queue (Redis in distributed mode), so an upstream stage may
   * commit its input then. Calling it again with the same event is harmless.
   */
  async notify(event: IncidentEvent): Promise<NotifyResult> {
    if (this.stopped) throw new Error('notifier is shut down');
    checkEvent(event);
    const labels = incidentLabels(event, this.options.topology);
    const routed = this.routes.sinksFor(labels, event.event);
    const result: NotifyResult = { routed, deliveries: [] };
    if (routed.length === 0) return result;
    const silence = findSilence(await this.activeSilences(), labels, event.at, this.now());
    if (silence) {
      result.mutedBy = silence.id;
      this.metrics?.muted();
      this.log?.debug({ incident: event.id, version: event.version, silence: silence.id }, 'muted');
      return result;
    }
    const queuedAt = this.now();
    for (const sink of routed) {
      if (!this.sinks.has(sink)) continue;
      const key = deliveryKey(sink, event.id, event.version);
      const delivery: Delivery = {
        key,
        sink,
        incidentId: event.id,
        version: event.version,
        event,
        labels,
        queuedAt,
      };
      result.deliveries.push({ sink, key, outcome: await this.queue.enqueue(delivery) });
    }
    return result;
  }

  /** One attempt of one delivery: silences again (they may have changed), render, send, decide. */
  private async attempt(delivery: Delivery, attempt: number): Promise<AttemptOutcome> {
    const entry = this.sinks.get(delivery.sink);
    if (!entry) return { kind: 'dead', reason: `sink "${delivery.sink}" is not configured in this process` };
    try {
      const silence = findSilence(
        await this.activeSilences(),
        delivery.labels,
        delivery.event.at,
        this.now(),
      );
      if (silence) return { kind: 'muted', silenceId: silence.id };
      const notification = this.render(delivery, attempt, entry.templates, entry.format);
      const result = await entry.sink.send(notification, this.abort.signal);
      const outcome = this.retry.outcome(result, attempt);
      if (outcome.kind === 'retry') {
        this.log?.warn(
          { key: delivery.key, attempt, delayMs: outcome.delayMs, reason: outcome.reason },
          'send failed, will retry',
        );
      } else if (outcome.kind === 'dead') {
        this.log?.error({ key: delivery.key, attempt, reason: outcome.reason }, 'send failed, dead-lettered');
      }
      return outcome;
    } catch (e) {
      // A bug in a sink or template must not stop the queue: count it as a recoverable failure.
      return this.retry.outcome(
        { ok: false, recoverable: true, reason: `sink threw: ${(e as Error).message}` },
        attempt,
      );
    }
  }

  private render(
    delivery: Delivery,
    attempt: number,
    templates: MessageTemplates,
    format: TextFormat,
  ): Notification {
    const base = this.options.config.externalUrl.replace(/\/+$/, '');
    const link = `${base}/api/v1/incidents/${encodeURIComponent(delivery.incidentId)}`;
    const context = buildContext(delivery.event, delivery.labels, link, delivery.sink);
    return {
      key: delivery.key,
      event: delivery.event,
      labels: delivery.labels,
      message: renderMessage(templates, context, format),
      link,
      attempt,
    };
  }

  deadLetters(): Promise<DeadLetter[]> {
    return this.queue.deadLetters();
  }

  /** Sends a dead letter again; refuses one that a later delivered version superseded unless forced. */
  retryDeadLetter(id: string, options?: { force?: boolean }): Promise<RetryDeadLetterResult> {
    return this.queue.retryDeadLetter(id, options);
  }

  counts(): Promise<QueueCounts> {
    return this.queue.counts();
  }

  /** Resolves when nothing is pending. */
  idle(timeoutMs?: number): Promise<void> {
    return this.queue.idle(timeoutMs);
  }

  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.queue.shutdown();
    this.abort.abort();
    await Promise.allSettled([...this.sinks.values()].map((s) => s.sink.shutdown()));
    if (this.redis) await this.redis.quit().catch(() => this.redis?.disconnect());
    this.log?.info('notifier stopped');
  }
}

export function createNotifier(options: NotifierOptions): Notifier {
  return new Notifier(options);
}

/** Rejects events that would make a broken notification, naming the field. */
export function checkEvent(event: IncidentEvent): void {
  const fail = (field: string, expected: string) => {
    throw new IncidentEventError(`incident event ${field}: expected ${expected}`);
  };
  if (!event || typeof event !== 'object') fail('(record)', 'an object');
  if (typeof event.id !== 'string' || event.id === '') fail('id', 'a non-empty string');
  if (!Number.isInteger(event.version) || event.version < 0) fail('version', 'an integer >= 0');
  if (event.event !== 'opened' && event.event !== 'updated' && event.event !== 'resolved') {
    fail('event', 'opened, updated or resolved');
  }
  if (event.status !== 'open' && event.status !== 'resolved') fail('status', 'open or resolved');
  if (event.severity !== 'critical' && event.severity !== 'warning' && event.severity !== 'info') {
    fail('severity', 'critical, warning or info');
  }
  const rc = event.rootCause;
  if (!rc || typeof rc.id !== 'string' || typeof rc.level !== 'string' || typeof rc.kind !== 'string') {
    fail('rootCause', '{level, id, kind}');
  }
  if (!Array.isArray(event.candidates)) fail('candidates', 'an array');
  if (!event.absorbed || typeof event.absorbed.total !== 'number') fail('absorbed', '{total, byLevel}');
  if (!Number.isFinite(event.startsAt)) fail('startsAt', 'epoch milliseconds');
  if (!Number.isFinite(event.at)) fail('at', 'epoch milliseconds');
}
