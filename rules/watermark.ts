/**
 * Event-time progress. The watermark says "no point older than this is still expected":
 * the highest event time seen minus the allowed lateness. The detection engine never
 * advances itself; whoever feeds it points (the pipeline, a replay, a test) calls
 * `engine.advance(tracker.watermark)` after each batch, and `engine.advance(tracker.maxSeen)`
 * at the end of a finite stream so that the last windows close.
 */
export class WatermarkTracker {
  private max = Number.NEGATIVE_INFINITY;

  constructor(readonly allowedLatenessMs = 5000) {}

  observe(time: number): void {
    if (time > this.max) this.max = time;
  }

  /** Highest event time seen (ms), -Infinity before any. */
  get maxSeen(): number {
    return this.max;
  }

  get watermark(): number {
    return this.max - this.allowedLatenessMs;
  }
}
