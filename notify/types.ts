/**
 * The small interfaces between the stages of the notification pipeline:
 *
 *   notify(event) -> route (labels, route tree, silences) -> DeliveryQueue (dedup, per-lane order,
 *   retry, rate limit, dead letters) -> DeliveryHandler (silences again, template) -> Sink.send
 *
 * A sink only says whether a failure is worth retrying (Alertmanager's `(recoverable, err)`); the
 * retry policy lives once, in retry.ts, and both queues (BullMQ and in-process) use it.
 */

import type { IncidentEvent } from '../core/types.js';

/** What a sink answers for one send. */
export type SendResult =
  | { ok: true; status?: number }
  | {
      ok: false;
      /** Worth trying again later (5xx, timeouts, 429, connection refused). */
      recoverable: boolean;
      /** The receiver asked for this much patience (HTTP 429/503 Retry-After, provider rate limits). */
      retryAfterMs?: number;
      reason: string;
      status?: number;
    };

/** Label set of an incident event: what routes, silences and the Alertmanager sink see. */
export type Labels = Readonly<Record<string, string>>;

/** Title and text rendered from a sink's templates. */
export interface RenderedMessage {
  title: string;
  text: string;
}

/** One notification, ready for a sink: the event, its labels, rendered text and identifiers. */
export interface Notification {
  /** Idempotency key: incident id + version + sink (see deliveryKey). */
  key: string;
  event: IncidentEvent;
  labels: Labels;
  message: RenderedMessage;
  /** `${externalUrl}/api/v1/incidents/${id}`. */
  link: string;
  /** 1-based attempt number. */
  attempt: number;
}

/** An integration. Lifecycle follows OpenTelemetry exporters: send, then shutdown once. */
export interface Sink {
  readonly name: string;
  readonly type: string;
  send(notification: Notification, signal?: AbortSignal): Promise<SendResult>;
  shutdown(): Promise<void>;
}

/** One unit of queued work: an incident event for one sink. */
export interface Delivery {
  key: string;
  sink: string;
  incidentId: string;
  version: number;
  event: IncidentEvent;
  labels: Record<string, string>;
  /** Wall-clock time the delivery was first queued (ms), for latency figures. */
  queuedAt: number;
}

export interface DeadLetter {
  /** The delivery key; retryDeadLetter(id) takes it. */
  id: string;
  delivery: Delivery;
  reason: string;
  attempts: number;
  /** Wall-clock time of the last attempt (ms). */
  failedAt: number;
}

/** What happened to a delivery handed to the queue. */
export type EnqueueOutcome =
  /** Newly queued. */
  | 'queued'
  /** Already queued, or already delivered (idempotency key seen). */
  | 'duplicate'
  /** A later version of this incident was already delivered to this sink. */
  | 'stale'
  /** Already in the dead-letter list: only retryDeadLetter sends it again. */
  | 'dead-lettered';

/** What the handler decided for one attempt; queues turn it into complete / retry / dead letter. */
export type AttemptOutcome =
  | { kind: 'delivered' }
  /** Muted by a silence at send time: completes without sending. */
  | { kind: 'muted'; silenceId: string }
  | { kind: 'retry'; delayMs: number; reason: string; pauseSinkMs?: number }
  | { kind: 'dead'; reason: string };

export type DeliveryHandler = (delivery: Delivery, attempt: number) => Promise<AttemptOutcome>;

export interface RetryDeadLetterResult {
  requeued: boolean;
  reason?: string;
}

export interface QueueCounts {
  /** Deliveries waiting, delayed or in flight. */
  pending: number;
  delivered: number;
  muted: number;
  retried: number;
  deadLettered: number;
}

/**
 * The queue behind Notifier: BullMQ on Redis (distributed) or in-process (embedded). Both keep
 * the same contract, which the shared contract tests (queue/contract.ts) check:
 * - enqueue is idempotent per delivery key, across restarts for as long as `keepSent`;
 * - per (incident, sink) lane, versions are delivered in ascending order, and a version never
 *   overtakes a lower one that is still retrying; a version below the last delivered is stale;
 * - failed attempts are retried as the handler's outcome says; a dead delivery goes to the
 *   dead-letter list and the lane moves on.
 */
export interface DeliveryQueue {
  start(handler: DeliveryHandler): Promise<void>;
  enqueue(delivery: Delivery): Promise<EnqueueOutcome>;
  deadLetters(): Promise<DeadLetter[]>;
  retryDeadLetter(id: string, options?: { force?: boolean }): Promise<RetryDeadLetterResult>;
  counts(): Promise<QueueCounts>;
  /** Resolves when nothing is pending (or rejects after timeoutMs). For tests and benchmarks. */
  idle(timeoutMs?: number): Promise<void>;
  /** Stops taking work, waits for attempts in flight, releases connections. Idempotent. */
  shutdown(): Promise<void>;
}
