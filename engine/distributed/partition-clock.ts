import type { Point } from '../../core/types.js';
import type { MetricsOwnership } from './ownership.js';

/**
 * The event time a detection instance reports: per `metrics` partition it owns, the newest
 * event time seen there, and as its own watermark the least of those minus the allowed
 * lateness (the per-input minimum of Flink or Kafka Streams), never going back. The correlator
 * takes the least over every instance's partitions (AlertGate).
 *
 * The pipeline's own watermark is the newest time over all partitions, right for detection
 * inside the instance but not for the correlator: after a rebalance hands it a partition that
 * is minutes behind (a dead instance's backlog), a max-based clock would run the correlator
 * past the inherited hosts' alerts before they are re-detected.
 *
 * Idle is not the same as quiet: a partition is idle only when it has had no batch for
 * `idleAfterMs` AND nothing is left to read in it (its end offset, fetched every few seconds,
 * is where this instance has got). A partition that is behind (the TSDB is slow, consumption
 * is paused by backpressure, or its backlog has not been fetched yet) keeps holding event time:
 * its alerts are still to come.
 */
export interface PartitionClockOptions {
  hostTags: readonly string[];
  latenessMs: number;
  idleAfterMs: number;
  /**
   * Event time when no owned partition has recent data (alerts from POST /alerts move the
   * pipeline's clock with no metrics at all): the pipeline's own watermark.
   */
  fallback?: () => number;
  now?: () => number;
}

export class PartitionClock {
  private readonly newest: Float64Array;
  private readonly lastBatchAt: Float64Array;
  /** Next offset to read per partition, as far as this instance knows (-1: unknown). */
  private readonly position: Array<bigint>;
  /** End offset per partition at the last fetch (-1: unknown). */
  private readonly end: Array<bigint>;
  private published = Number.NEGATIVE_INFINITY;
  private externalMax = Number.NEGATIVE_INFINITY;
  private lastHost = '';
  private lastPartition = -1;

  constructor(
    private readonly ownership: MetricsOwnership,
    private readonly options: PartitionClockOptions,
  ) {
    const n = ownership.partitions;
    this.newest = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
    this.lastBatchAt = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
    this.position = Array.from({ length: n }, () => -1n);
    this.end = Array.from({ length: n }, () => -1n);
  }

  /** Points of a batch (any partitions): the newest time per partition, by each point's host. */
  observe(points: readonly Point[]): void {
    const tags = this.options.hostTags;
    const newest = this.newest;
    for (let i = 0; i < points.length; i++) {
      const p = points[i]!;
      let host: string | undefined;
      for (let k = 0; k < tags.length; k++) {
        const v = p.tags[tags[k]!];
        if (v !== undefined && v !== '') {
          host = v;
          break;
        }
      }
      if (host === undefined) continue;
      // A message carries one host's points: the partition is looked up once per run of them.
      if (host !== this.lastHost) {
        this.lastHost = host;
        this.lastPartition = this.ownership.partitionOfKey(host);
      }
      if (p.time > newest[this.lastPartition]!) newest[this.lastPartition] = p.time;
    }
  }

  /**
   * An alert from another system at event time `t` (already clamped to now): with no metrics
   * at all, such alerts move event time, as they do in the embedded pipeline.
   */
  external(t: number): void {
    if (t > this.externalMax) this.externalMax = t;
  }

  /** A batch of the partition, up to `lastOffset`, went through detection. */
  batch(partition: number, lastOffset?: string): void {
    if (partition < 0 || partition >= this.lastBatchAt.length) return;
    this.lastBatchAt[partition] = this.now();
    if (lastOffset !== undefined) {
      const next = BigInt(lastOffset) + 1n;
      if (next > this.position[partition]!) this.position[partition] = next;
    }
  }

  /**
   * End offsets of the topic and the group's committed offsets (where a newly assigned
   * partition starts), fetched by the caller every few seconds.
   */
  setOffsets(ends: ReadonlyMap<number, bigint>, committed: ReadonlyMap<number, bigint>): void {
    for (const [p, e] of ends) if (p >= 0 && p < this.end.length) this.end[p] = e;
    for (const [p, c] of committed)
      if (p >= 0 && p < this.position.length && c > this.position[p]!) this.position[p] = c;
  }

  /** Whether the partition has messages this instance has not read (unknown counts as yes). */
  lagging(partition: number): boolean {
    const end = this.end[partition] ?? -1n;
    const pos = this.position[partition] ?? -1n;
    if (end < 0n || pos < 0n) return end !== 0n;
    return end > pos;
  }

  /**
   * The partition's newest event time, or -Infinity when it has none yet or is idle (quiet for
   * `idleAfterMs` with nothing left to read).
   */
  activeTimeOf(partition: number): number {
    const t = this.newest[partition] ?? Number.NEGATIVE_INFINITY;
    const quiet =
      this.now() - (this.lastBatchAt[partition] ?? Number.NEGATIVE_INFINITY) > this.options.idleAfterMs;
    return quiet && !this.lagging(partition) ? Number.NEGATIVE_INFINITY : t;
  }

  /** Owned partitions with unread messages. */
  laggingPartitions(): number[] {
    return this.ownership.assigned().filter((p) => this.lagging(p));
  }

  /** The watermark to publish; -Infinity before any data. */
  watermark(): number {
    let least = Number.POSITIVE_INFINITY;
    for (const p of this.ownership.assigned()) {
      const t = this.activeTimeOf(p);
      if (t !== Number.NEGATIVE_INFINITY && t < least) least = t;
    }
    const wm =
      least !== Number.POSITIVE_INFINITY
        ? least - this.options.latenessMs
        : Math.max(
            this.options.fallback?.() ?? Number.NEGATIVE_INFINITY,
            this.externalMax - this.options.latenessMs,
          );
    if (wm > this.published) this.published = wm;
    return this.published;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
