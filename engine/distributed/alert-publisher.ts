import type { AlertEvent, TopologyView } from '../../core/types.js';
import type { RecordLogProducer } from '../../ingest/kafka/alerts-producer.js';
import { alertRecord, watermarkRecord } from '../../ingest/kafka/alerts-records.js';
import type { MetricsOwnership } from './ownership.js';

export interface AlertPublisherOptions {
  producer: RecordLogProducer;
  ownership: MetricsOwnership;
  /** Finds a container's host when its alert has no `host` label. */
  topology?: TopologyView;
  /** This instance's id (in every record it publishes). */
  instance: string;
  /** The instance's watermark (ms). */
  watermark: () => number;
  /** Newest event time seen in a `metrics` partition (ms; -Infinity: none, or idle). */
  partitionTime?: (partition: number) => number;
  /** Owned partitions with unread messages: not idle, whatever the time since the last batch. */
  lagging?: () => number[];
  /** Heartbeat period (wall ms) when no batch publishes a watermark. Default 1000. */
  heartbeatMs?: number;
  /** No metrics batch for this long (wall ms): idle. Default 10,000. */
  idleAfterMs?: number;
  /** Least wall time between two watermark records of consecutive batches. Default 200 ms. */
  watermarkEveryMs?: number;
  onError?: (error: Error) => void;
  now?: () => number;
}

export interface AlertPublisherStats {
  published: number;
  /** State changes about hosts of partitions this instance does not own (not its to tell). */
  notOwned: number;
  /** Resolutions of alerts this instance never published as firing. */
  unpublishedResolved: number;
  /** Firing alerts re-published when their partition came back to this instance. */
  reasserted: number;
  watermarks: number;
  /** Alerts published as firing and not resolved yet. */
  firing: number;
}

/**
 * The detection side of distributed mode: every alert state change of this instance's share of
 * `metrics` goes to the `alerts` topic, with this instance's watermark after it, and
 * `flush()` resolves once they are acknowledged, before the metrics batch is committed.
 *
 * Only the owner of a host's partition speaks for its alerts. After a rebalance the former
 * owner still holds detector state for hosts it no longer receives: its absence rules would
 * report them down and its stale series would resolve alerts the new owner still sees. Those
 * changes stay here. A firing alert it published and that is still firing when its partition
 * comes back is published again (the new owner may have let it go meanwhile).
 */
export class AlertPublisher {
  private readonly heartbeatMs: number;
  private readonly idleAfterMs: number;
  private readonly watermarkEveryMs: number;
  private readonly now: () => number;
  /** Alerts published as firing and not resolved, by fingerprint. */
  private readonly firing = new Map<string, { alert: AlertEvent; partition: number }>();
  private lastBatchAt = Number.NEGATIVE_INFINITY;
  private lastWatermarkAt = Number.NEGATIVE_INFINITY;
  private lastWatermark = Number.NEGATIVE_INFINITY;
  private alertsSinceWatermark = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly s = { published: 0, notOwned: 0, unpublishedResolved: 0, reasserted: 0, watermarks: 0 };

  constructor(private readonly options: AlertPublisherOptions) {
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.idleAfterMs = options.idleAfterMs ?? 10_000;
    this.watermarkEveryMs = options.watermarkEveryMs ?? 200;
    this.now = options.now ?? Date.now;
    options.ownership.onChange((gained) => this.reassert(gained));
  }

  /** Starts the heartbeat (watermark records while no batch sends one). */
  start(): void {
    this.timer ??= setInterval(
      () => {
        if (this.now() - this.lastWatermarkAt < this.heartbeatMs) return;
        this.enqueueWatermark(false);
        this.options.producer.flush().catch((e) => this.options.onError?.(e as Error));
      },
      Math.max(50, Math.floor(this.heartbeatMs / 2)),
    );
    this.timer.unref();
  }

  /** One alert state change from detection (or POST /alerts through the pipeline). */
  onAlert(alert: AlertEvent): void {
    if (this.stopped) return;
    const ownership = this.options.ownership;
    const partition = ownership.partitionOfAlert(alert, this.options.topology);
    const fp = alert.fingerprint;
    if (partition >= 0 && !ownership.owns(partition)) {
      this.s.notOwned++;
      // The engine ended it: if the partition comes back, there is nothing to re-publish.
      if (alert.state === 'resolved') this.firing.delete(fp);
      return;
    }
    if (alert.state === 'firing') {
      this.firing.set(fp, { alert, partition });
    } else if (!this.firing.delete(fp) && partition >= 0) {
      // Fired while this instance did not own the host (absence of data it no longer
      // receives) and ends now: nobody was told it fired.
      this.s.unpublishedResolved++;
      return;
    }
    this.options.producer.enqueue(alertRecord(alert, this.options.instance, partition));
    this.s.published++;
    this.alertsSinceWatermark++;
  }

  /**
   * A metrics batch went through detection: queue the watermark (if it moved, and at most
   * every `watermarkEveryMs` unless alerts went out) and send. Resolves when acknowledged.
   */
  afterBatch(): Promise<void> {
    this.lastBatchAt = this.now();
    const wm = this.options.watermark();
    const due = this.alertsSinceWatermark > 0 || this.now() - this.lastWatermarkAt >= this.watermarkEveryMs;
    if (wm > this.lastWatermark && due) this.enqueueWatermark(false);
    return this.options.producer.flush();
  }

  /**
   * Alerts from other systems (POST /alerts, Alertmanager): published whatever host they name
   * (this instance speaks for what it was sent), tied to no partition, so no handover ends them:
   * their source resolves them. Resolves once acknowledged.
   */
  publishExternal(alerts: readonly AlertEvent[]): Promise<void> {
    // Input like a metrics batch: the instance is not idle, its watermark counts.
    this.lastBatchAt = this.now();
    for (const a of alerts) {
      this.options.producer.enqueue(alertRecord(a, this.options.instance, -1));
      this.s.published++;
      this.alertsSinceWatermark++;
    }
    return this.options.producer.flush();
  }

  /** Sends what is queued; resolves once acknowledged. */
  flush(): Promise<void> {
    return this.options.producer.flush();
  }

  stats(): AlertPublisherStats {
    return { ...this.s, firing: this.firing.size };
  }

  /** Says goodbye (the correlator stops waiting for this instance's watermark) and sends. */
  async shutdown(): Promise<void> {
    if (this.stopped) return;
    clearInterval(this.timer);
    this.enqueueWatermark(true);
    this.stopped = true;
    await this.options.producer.shutdown();
  }

  private enqueueWatermark(leaving: boolean): void {
    const wm = this.options.watermark();
    const partitions = leaving ? [] : this.options.ownership.assigned();
    const time = this.options.partitionTime;
    const lagging = leaving ? [] : (this.options.lagging?.() ?? []);
    this.options.producer.enqueue(
      watermarkRecord({
        instance: this.options.instance,
        watermark: Number.isFinite(wm) ? wm : null,
        partitions,
        partitionTimes: time === undefined ? undefined : partitions.map(time),
        lagging: time === undefined ? undefined : lagging,
        // Quiet with nothing left to read; an instance held up (backpressure) is not idle.
        idle: this.now() - this.lastBatchAt > this.idleAfterMs && lagging.length === 0,
        leaving,
      }),
    );
    if (wm > this.lastWatermark) this.lastWatermark = wm;
    this.lastWatermarkAt = this.now();
    this.alertsSinceWatermark = 0;
    this.s.watermarks++;
  }

  private reassert(gained: readonly number[]): void {
    if (gained.length === 0 || this.firing.size === 0 || this.stopped) return;
    const back = new Set(gained);
    for (const { alert, partition } of this.firing.values()) {
      if (!back.has(partition)) continue;
      this.options.producer.enqueue(alertRecord(alert, this.options.instance, partition));
      this.s.reasserted++;
    }
  }
}
