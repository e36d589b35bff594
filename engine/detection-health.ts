import type { ReadinessCheck } from '../api/ports.js';
import type { Logger } from '../core/log.js';

/**
 * Whether detection keeps up with the batches it is given. Each batch of durable points goes
 * through `run`: a batch whose detection throws is counted (/metrics:
 * converge_detection_failures_total) and logged (at most every 10 s), never thrown at the
 * consumer, and once `unreadyAfter` batches in a row have failed /readyz says so (503 with the
 * last error) until a batch goes through again. An engine that alerts on nothing while its
 * readiness says 200 is the failure this exists to make visible.
 */
export class DetectionHealth {
  private consecutive = 0;
  private total = 0;
  private lastError = '';
  private lastLogAt = Number.NEGATIVE_INFINITY;
  private unlogged = 0;

  constructor(
    private readonly log: Pick<Logger, 'error'>,
    private readonly unreadyAfter = 3,
    /** Wall clock, only to space out the log lines. */
    private readonly now: () => number = Date.now,
  ) {}

  /** Runs one batch; false when it threw (the error is counted and logged). */
  run(batch: () => void): boolean {
    try {
      batch();
      this.consecutive = 0;
      return true;
    } catch (e) {
      this.total++;
      this.consecutive++;
      this.lastError = e instanceof Error ? e.message : String(e);
      const t = this.now();
      if (t - this.lastLogAt >= 10_000) {
        this.log.error(
          { err: this.lastError, failedInARow: this.consecutive, failedSinceLastLog: this.unlogged + 1 },
          'detection failed on a batch',
        );
        this.lastLogAt = t;
        this.unlogged = 0;
      } else {
        this.unlogged++;
      }
      return false;
    }
  }

  /** Batches whose detection threw, since start. */
  get failures(): number {
    return this.total;
  }

  check(): ReadinessCheck {
    if (this.consecutive >= this.unreadyAfter) {
      return { ok: false, detail: `failed on the last ${this.consecutive} batches: ${this.lastError}` };
    }
    return { ok: true, detail: this.total === 0 ? 'running' : `running (${this.total} failed batches)` };
  }
}
