import { Counter, Histogram, type Registry } from 'prom-client';
import type { AttemptOutcome } from './types.js';

/**
 * Prometheus metrics of the notifier, registered on the registry the API serves at /metrics:
 *   converge_notify_attempts_total{sink,outcome}   outcome: delivered, muted, retry, dead
 *   converge_notify_delivery_seconds{sink}          queued (notify()) to delivered, wall clock
 *   converge_notify_muted_events_total               events muted at routing time
 */
export class NotifyMetrics {
  private readonly attempts: Counter<'sink' | 'outcome'>;
  private readonly latency: Histogram<'sink'>;
  private readonly mutedEvents: Counter;

  constructor(registry: Registry) {
    this.attempts = new Counter({
      name: 'converge_notify_attempts_total',
      help: 'Delivery attempts by sink and outcome (delivered, muted, retry, dead).',
      labelNames: ['sink', 'outcome'],
      registers: [registry],
    });
    this.latency = new Histogram({
      name: 'converge_notify_delivery_seconds',
      help: 'Time from notify() to the sink accepting the notification.',
      labelNames: ['sink'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 1800],
      registers: [registry],
    });
    this.mutedEvents = new Counter({
      name: 'converge_notify_muted_events_total',
      help: 'Incident events muted by a silence or maintenance window when routed.',
      registers: [registry],
    });
  }

  attempt(sink: string, outcome: AttemptOutcome, queuedAt: number, now: number): void {
    this.attempts.inc({ sink, outcome: outcome.kind });
    if (outcome.kind === 'delivered') this.latency.observe({ sink }, Math.max(0, now - queuedAt) / 1000);
  }

  muted(): void {
    this.mutedEvents.inc();
  }
}
