import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ApiBackend, EngineStats } from './ports.js';

/**
 * /metrics: the API's own request figures, the engine's counters (points in, consumer lag,
 * alerts, incidents, notification outcomes, read from the backend at scrape time) and the
 * process's (event loop lag, memory, GC) from prom-client's default collectors. One registry
 * per server, so several servers in one process (tests) do not collide.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly latency: Histogram<'method' | 'route'>;
  private readonly totals = new Map<string, number>();
  private readonly counters: Record<string, Counter<string>> = {};
  private readonly gauges: Record<string, Gauge<string>> = {};

  constructor(private readonly backend: ApiBackend) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'converge_api_requests_total',
      help: 'API requests by route and status code',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.latency = new Histogram({
      name: 'converge_api_request_duration_seconds',
      help: 'API request latency',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    const counter = (name: string, help: string, labelNames: string[] = []) => {
      this.counters[name] = new Counter({ name, help, labelNames, registers });
    };
    const gauge = (name: string, help: string, labelNames: string[] = []) => {
      this.gauges[name] = new Gauge({ name, help, labelNames, registers });
    };
    counter('converge_points_total', 'Points accepted by the pipeline');
    counter(
      'converge_malformed_lines_total',
      'Input lines that could not be decoded (sent to the dead-letter topic)',
    );
    counter(
      'converge_tsdb_refused_points_total',
      'Points the TSDB refused for good (HTTP 400/413/422 for that line), sent to the dead-letter topic',
    );
    gauge('converge_points_in_flight', 'Decoded points waiting for the TSDB to acknowledge them');
    gauge('converge_consumer_lag_messages', 'Kafka consumer lag per partition', ['partition']);
    gauge('converge_watermark_seconds', 'Event-time watermark (Unix seconds)');
    gauge('converge_entities', 'Entities in the topology', ['level']);
    counter('converge_alert_events_total', 'Alert state changes seen', ['state']);
    gauge('converge_alerts_firing', 'Alerts firing now');
    gauge('converge_incidents', 'Incidents held by the correlator', ['status']);
    counter('converge_incident_events_total', 'Incident events', ['event']);
    counter('converge_notifications_total', 'Notification delivery outcomes', ['outcome']);
    gauge('converge_notifications_pending', 'Notifications waiting, delayed or in flight');
    counter('converge_template_errors_total', 'Annotation template actions that failed to render');
    counter('converge_detection_failures_total', 'Batches of points whose detection threw');
    gauge('converge_capacity_held', 'Held in a bounded store (entities, incidents, ...)', ['resource']);
    gauge('converge_capacity_limit', 'Bound of a bounded store', ['resource']);
    counter('converge_capacity_evicted_total', 'Removed from a full store to make room', ['resource']);
    counter('converge_capacity_refused_total', 'Refused by a full store with nothing to evict', ['resource']);
  }

  /** Reads the backend's figures into the metrics, then renders the exposition text. */
  async render(): Promise<string> {
    const [stats, alertCounts, incidents, capacity] = await Promise.all([
      this.backend.stats(),
      this.backend.alerts.counts(),
      this.backend.incidents.list(),
      this.backend.capacity?.(),
    ]);
    this.apply(stats);
    for (const [resource, c] of Object.entries(capacity ?? {})) {
      this.gauges.converge_capacity_held!.set({ resource }, c.held);
      this.gauges.converge_capacity_limit!.set({ resource }, c.limit);
      this.total('converge_capacity_evicted_total', { resource }, c.evicted);
      this.total('converge_capacity_refused_total', { resource }, c.refused);
    }
    this.gauges.converge_alerts_firing!.set(alertCounts.firing);
    let open = 0;
    for (const i of incidents) if (i.status === 'open') open++;
    this.gauges.converge_incidents!.set({ status: 'open' }, open);
    this.gauges.converge_incidents!.set({ status: 'resolved' }, incidents.length - open);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private apply(s: EngineStats): void {
    if (s.points !== undefined) this.total('converge_points_total', {}, s.points);
    if (s.malformed !== undefined) this.total('converge_malformed_lines_total', {}, s.malformed);
    if (s.tsdbRefused !== undefined) this.total('converge_tsdb_refused_points_total', {}, s.tsdbRefused);
    if (s.inFlightPoints !== undefined) this.gauges.converge_points_in_flight!.set(s.inFlightPoints);
    if (s.consumerLag !== undefined) {
      this.gauges.converge_consumer_lag_messages!.reset(); // partitions taken away by a rebalance go
      for (const [partition, lag] of Object.entries(s.consumerLag)) {
        this.gauges.converge_consumer_lag_messages!.set({ partition }, lag);
      }
    }
    if (s.watermark !== undefined && Number.isFinite(s.watermark)) {
      this.gauges.converge_watermark_seconds!.set(s.watermark / 1000);
    }
    if (s.entities !== undefined) {
      for (const [level, n] of Object.entries(s.entities))
        this.gauges.converge_entities!.set({ level }, n ?? 0);
    }
    if (s.alertEvents !== undefined) {
      this.total('converge_alert_events_total', { state: 'firing' }, s.alertEvents.firing);
      this.total('converge_alert_events_total', { state: 'resolved' }, s.alertEvents.resolved);
    }
    if (s.incidents !== undefined) {
      for (const [event, n] of Object.entries(s.incidents)) {
        if (n !== undefined) this.total('converge_incident_events_total', { event }, n);
      }
    }
    if (s.templateErrors !== undefined) this.total('converge_template_errors_total', {}, s.templateErrors);
    if (s.detectionFailures !== undefined)
      this.total('converge_detection_failures_total', {}, s.detectionFailures);
    if (s.notifications !== undefined) {
      const n = s.notifications;
      this.total('converge_notifications_total', { outcome: 'delivered' }, n.delivered);
      this.total('converge_notifications_total', { outcome: 'muted' }, n.muted);
      this.total('converge_notifications_total', { outcome: 'retried' }, n.retried);
      this.total('converge_notifications_total', { outcome: 'dead_lettered' }, n.deadLettered);
      this.gauges.converge_notifications_pending!.set(n.pending);
    }
  }

  /** Stages keep their own totals; a counter follows them by increments (a restart starts over). */
  private total(name: string, labels: Record<string, string>, value: number): void {
    if (!Number.isFinite(value)) return;
    const key = name + JSON.stringify(labels);
    const last = this.totals.get(key) ?? 0;
    const c = this.counters[name]!;
    if (value >= last) c.inc(labels, value - last);
    else {
      c.remove(labels);
      c.inc(labels, value);
    }
    this.totals.set(key, value);
  }
}
