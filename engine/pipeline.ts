import type { Point } from '../core/types.js';
import type { TopologyGraph } from '../topology/graph.js';

/**
 * What happens to points once they are durable (written to the TSDB or the in-memory store):
 * the topology learns where every series lives, and event time moves forward. Detection and
 * correlation hang off the same two calls, so the Kafka consumer, `converge replay` and the demo
 * all drive one object the same way: `accept(points)` for each batch, then `advance()`.
 *
 * Event time: the watermark is the newest event time seen minus the allowed lateness. Nothing
 * here reads the wall clock, so a recorded stream replays deterministically.
 */
export interface PipelineOptions {
  /** How late (ms of event time) a point may arrive and still count. Default 5 s. */
  latenessMs?: number;
  /**
   * How often (ms of event time) expiry sweeps run; sweeps are cheap but need not run on
   * every batch. Default 10 s.
   */
  sweepEveryMs?: number;
}

export interface PipelineStats {
  points: number;
  /** Points whose tags named no host and no container (kept in the TSDB, absent from the topology). */
  unplaced: number;
  /** Entities expired from the topology so far. */
  expired: number;
  /** Newest event time seen (ms), or -Infinity before the first point. */
  maxEventTime: number;
  watermark: number;
}

export class Pipeline {
  readonly topology: TopologyGraph;
  private readonly latenessMs: number;
  private readonly sweepEveryMs: number;
  private maxEventTime = Number.NEGATIVE_INFINITY;
  private watermark = Number.NEGATIVE_INFINITY;
  private lastSweep = Number.NEGATIVE_INFINITY;
  private points = 0;
  private unplaced = 0;
  private expired = 0;

  constructor(topology: TopologyGraph, options: PipelineOptions = {}) {
    this.topology = topology;
    this.latenessMs = options.latenessMs ?? 5000;
    this.sweepEveryMs = options.sweepEveryMs ?? 10_000;
  }

  /** Durable points, in (roughly) event-time order. Hot path: one call per batch. */
  accept(points: readonly Point[]): void {
    const topology = this.topology;
    let max = this.maxEventTime;
    for (let i = 0; i < points.length; i++) {
      const p = points[i]!;
      if (!topology.observe(p.tags, p.time)) this.unplaced++;
      if (p.time > max) max = p.time;
    }
    this.points += points.length;
    this.maxEventTime = max;
  }

  /** Moves the watermark to what the points seen so far allow and runs what came due. */
  advance(): number {
    const wm = this.maxEventTime - this.latenessMs;
    if (wm > this.watermark) this.advanceTo(wm);
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
  }

  stats(): PipelineStats {
    return {
      points: this.points,
      unplaced: this.unplaced,
      expired: this.expired,
      maxEventTime: this.maxEventTime,
      watermark: this.watermark,
    };
  }
}
