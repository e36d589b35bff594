import type { AlertEvent, IncidentEvent, Point } from '../core/types.js';
import type { Correlator } from '../correlate/correlator.js';
import type { DetectionEngine } from '../rules/engine.js';
import type { TopologyGraph } from '../topology/graph.js';

/**
 * What happens to points once they are durable (written to the TSDB or the in-memory store):
 * the topology learns where every series lives, detection turns them into alert state changes,
 * and correlation turns alerts into incidents. The Kafka consumer, `converge replay` and the
 * demo all drive one object the same way: `accept(points)` for each batch, then `advance()`;
 * `finish()` at the end of a finite stream.
 *
 * Event time: the watermark is the newest event time seen minus the allowed lateness. Nothing
 * here reads the wall clock, so a recorded stream replays deterministically.
 */
export interface PipelineParts {
  topology: TopologyGraph;
  /** Rules, health scores, predictive detectors; absent: points only feed the topology. */
  detection?: DetectionEngine;
  /** Alerts -> incidents; absent: alerts are only reported. */
  correlator?: Correlator;
}

export interface PipelineListeners {
  /** Each alert state change, from detection or from outside (`acceptAlert`). */
  onAlert?: (alert: AlertEvent) => void;
  /** Each notification-worthy incident event, in event-time order. */
  onIncident?: (event: IncidentEvent) => void;
}

export interface PipelineOptions {
  /** How late (ms of event time) a point may arrive and still count. Default 5 s. */
  latenessMs?: number;
  /** How often (ms of event time) topology expiry sweeps run. Default 10 s. */
  sweepEveryMs?: number;
}

export interface PipelineStats {
  points: number;
  /** Points whose tags named no host and no container (kept in the TSDB, absent from the topology). */
  unplaced: number;
  /** Entities expired from the topology so far. */
  expired: number;
  /** Alert state changes (detected and external). */
  alerts: number;
  /** Incidents opened. */
  incidents: number;
  /** Incident events (opened, updated, resolved). */
  incidentEvents: number;
  /** Newest event time seen (ms), or -Infinity before the first point or alert. */
  maxEventTime: number;
  watermark: number;
}

export class Pipeline {
  readonly topology: TopologyGraph;
  readonly detection: DetectionEngine | undefined;
  readonly correlator: Correlator | undefined;
  private readonly listeners: PipelineListeners[] = [];
  private readonly latenessMs: number;
  private readonly sweepEveryMs: number;
  private maxEventTime = Number.NEGATIVE_INFINITY;
  private watermark = Number.NEGATIVE_INFINITY;
  private lastSweep = Number.NEGATIVE_INFINITY;
  private points = 0;
  private unplaced = 0;
  private expired = 0;
  private alerts = 0;
  private incidents = 0;
  private incidentEvents = 0;

  constructor(parts: PipelineParts, options: PipelineOptions = {}, listeners: PipelineListeners = {}) {
    this.topology = parts.topology;
    this.detection = parts.detection;
    this.correlator = parts.correlator;
    this.listeners.push(listeners);
    this.latenessMs = options.latenessMs ?? 5000;
    this.sweepEveryMs = options.sweepEveryMs ?? 10_000;
  }

  /** Adds a listener (the API's alert log, the notifier, output files). */
  on(listeners: PipelineListeners): void {
    this.listeners.push(listeners);
  }

  /** Durable points, in (roughly) event-time order. Hot path: one call per batch. */
  accept(points: readonly Point[]): void {
    const topology = this.topology;
    const detection = this.detection;
    let max = this.maxEventTime;
    let unplaced = 0;
    for (let i = 0; i < points.length; i++) {
      const p = points[i]!;
      if (!topology.observe(p.tags, p.time)) unplaced++;
      if (detection !== undefined) detection.process(p);
      if (p.time > max) max = p.time;
    }
    this.points += points.length;
    this.unplaced += unplaced;
    this.maxEventTime = max;
  }

  /**
   * An alert from outside detection (the `--alerts` replay input, the API, Alertmanager): it
   * goes to the correlator and moves event time like a point does (up to `maxTime`).
   */
  acceptAlert(alert: AlertEvent, options: { maxTime?: number } = {}): void {
    this.alerts++;
    for (const l of this.listeners) l.onAlert?.(alert);
    this.correlator?.ingest(alert);
    // Alerts from other systems carry their wall-clock times: `maxTime` (now) keeps one from the
    // future from dragging every window ahead.
    const t = options.maxTime !== undefined ? Math.min(alert.at, options.maxTime) : alert.at;
    if (t > this.maxEventTime) this.maxEventTime = t;
  }

  /** Moves the watermark to what the input seen so far allows and runs what came due. */
  advance(): number {
    this.advanceTo(this.maxEventTime - this.latenessMs);
    return this.watermark;
  }

  /** Moves the watermark to `wm` (never backwards). */
  advanceTo(wm: number): void {
    if (!(wm > this.watermark)) return;
    this.watermark = wm;
    if (wm - this.lastSweep >= this.sweepEveryMs) {
      this.lastSweep = wm;
      this.expired += this.topology.expire(wm).length;
    }
    if (this.detection !== undefined) {
      const changes = this.detection.advance(wm);
      for (let i = 0; i < changes.length; i++) {
        const a = changes[i]!;
        this.alerts++;
        for (const l of this.listeners) l.onAlert?.(a);
        this.correlator?.ingest(a);
      }
    }
    if (this.correlator !== undefined) this.emit(this.correlator.advance(wm));
  }

  /**
   * The end of a finite stream: every window closes at the newest event time seen, and the
   * correlator runs its remaining timers (group waits, hold-downs).
   */
  finish(): void {
    if (Number.isFinite(this.maxEventTime)) this.advanceTo(this.maxEventTime);
    if (this.correlator !== undefined) this.emit(this.correlator.flush());
  }

  /**
   * An incident event made outside `advance()` (an operator closing an incident through the API:
   * `Correlator.resolveIncident`), to the same listeners as the correlator's own events.
   */
  emitIncident(event: IncidentEvent): void {
    this.emit([event]);
  }

  private emit(events: readonly IncidentEvent[]): void {
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      this.incidentEvents++;
      if (e.event === 'opened') this.incidents++;
      for (const l of this.listeners) l.onIncident?.(e);
    }
  }

  stats(): PipelineStats {
    return {
      points: this.points,
      unplaced: this.unplaced,
      expired: this.expired,
      alerts: this.alerts,
      incidents: this.incidents,
      incidentEvents: this.incidentEvents,
      maxEventTime: this.maxEventTime,
      watermark: this.watermark,
    };
  }
}
