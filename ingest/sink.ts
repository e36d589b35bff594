import type { Lifecycle, Point } from '../core/types.js';

/**
 * Where decoded points go to become durable (the TSDB writer, the in-memory series store).
 * `write` resolves only once every point is acknowledged; a slow or unavailable store makes it
 * wait (backpressure) instead of dropping. It rejects only when the sink is shut down.
 */
export interface PointSink extends Lifecycle {
  write(points: readonly Point[]): Promise<void>;
  /** Resolves when nothing is buffered. */
  forceFlush(): Promise<void>;
}
