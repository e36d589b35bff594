import type { Lifecycle, Point } from '../core/types.js';

/**
 * Where decoded points go to become durable (the TSDB writer, the in-memory series store).
 * `write` resolves only once every point is acknowledged; a slow or unavailable store makes it
 * wait (backpressure) instead of dropping. It rejects only when the sink is shut down.
 */
export interface PointSink extends Lifecycle {
  /**
   * `onRefused` hears of each point the store refused for good (a TSDB answering 400 for that
   * one line), before the write resolves; the write still resolves (the refused points are
   * dealt with: the caller dead-letters them). Without it the sink logs and counts them.
   */
  write(points: readonly Point[], onRefused?: RefusedHandler): Promise<void>;
  /** Resolves when nothing is buffered. */
  forceFlush(): Promise<void>;
}

/** A line the store refused for good. */
export interface RefusedLine {
  /** Index of the point in the written array (writeLines: of the line in the body, 0-based). */
  index: number;
  /** The line as it was sent. */
  line: string;
  /** The store's answer, e.g. `HTTP 400: cannot read influx line protocol data: too long line`. */
  reason: string;
}

export type RefusedHandler = (refused: RefusedLine) => void;
