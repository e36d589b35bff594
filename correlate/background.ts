/**
 * How often entities alert on their own, learned from the alerts no cause explained (incidents
 * of kind `self`), per level, in event time with exponential forgetting. The election's
 * "surprise" compares a candidate's coverage with this chance rate: in a noisy fleet ten hosts
 * alerting within a minute may be nothing, in a quiet one it is a storm.
 */
export interface BackgroundState {
  host: number;
  container: number;
  exposureMs: number;
  last: number;
}

export class BackgroundRate {
  private host = 0;
  private container = 0;
  /** Forgetting-weighted observation time (ms). */
  private exposure = 0;
  private last = Number.NaN;
  private readonly tau: number;

  constructor(
    halfLifeMs = 30 * 60_000,
    /** Weight of the configured floor rate, as observation time. */
    private readonly priorMs = 2 * 60_000,
  ) {
    this.tau = halfLifeMs / Math.LN2;
  }

  /** An unexplained alerting entity of this level, first seen at `at`. */
  observe(level: string, at: number): void {
    this.decay(at);
    if (level === 'host') this.host++;
    else if (level === 'container') this.container++;
  }

  /**
   * Chance that one entity of the level alerts by itself within `windowMs`: the learned rate,
   * never below `floor` (the configured background rate), at most 0.3.
   */
  chance(level: 'host' | 'container', at: number, entities: number, windowMs: number, floor: number): number {
    this.decay(at);
    if (!(entities > 0) || !(windowMs > 0)) return floor;
    const count = level === 'host' ? this.host : this.container;
    const priorCount = ((floor * entities) / windowMs) * this.priorMs;
    const perMs = (count + priorCount) / (this.exposure + this.priorMs);
    return Math.min(0.3, Math.max(floor, (perMs * windowMs) / entities));
  }

  state(): BackgroundState {
    return { host: this.host, container: this.container, exposureMs: this.exposure, last: this.last };
  }

  restore(s: BackgroundState): void {
    this.host = s.host;
    this.container = s.container;
    this.exposure = s.exposureMs;
    this.last = s.last ?? Number.NaN;
  }

  private decay(at: number): void {
    if (!Number.isFinite(at)) return;
    if (Number.isNaN(this.last)) {
      this.last = at;
      return;
    }
    const dt = at - this.last;
    if (dt <= 0) return;
    const f = Math.exp(-dt / this.tau);
    this.host *= f;
    this.container *= f;
    this.exposure = this.exposure * f + this.tau * (1 - f);
    this.last = at;
  }
}
