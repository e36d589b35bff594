import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { formatMatcher, type Matcher, matchesAll, parseMatcher } from '../core/matchers.js';
import type { Labels } from './types.js';

/**
 * Silences and maintenance windows: matchers plus a time range that mute notifications (the
 * incidents themselves are kept and still served by the API).
 *
 * Which clock. Incident events carry event time (`at`, the metrics' own timestamps); silences
 * are made by people, in wall time. A notification is muted when a matching silence
 *   (a) covers the incident event's own time `at` (checked when the event is routed and again
 *       before sending), or
 *   (b) is active on the wall clock at the moment of sending,
 * so a maintenance window written for a period mutes exactly the events of that period (also in
 * a replay of recorded data, where event time is far from now), and a silence created now stops
 * deliveries that are still waiting in retry. In live operation event time trails the wall
 * clock by the watermark lateness only, so the two readings agree.
 */
export interface Silence {
  id: string;
  matchers: string[];
  /** Inclusive start, ms since the epoch. */
  startsAt: number;
  /** Exclusive end, ms since the epoch. */
  endsAt: number;
  createdBy: string;
  comment: string;
  /** Wall-clock creation time (ms). */
  createdAt: number;
}

export interface SilenceInput {
  matchers: string[];
  startsAt: number | string;
  endsAt: number | string;
  createdBy?: string;
  comment?: string;
}

export class SilenceError extends Error {
  override name = 'SilenceError';
}

/** What the API calls: the silences behind the notifier (in memory, or shared through Redis). */
export interface SilenceStore {
  add(input: SilenceInput): Promise<Silence>;
  list(): Promise<Silence[]>;
  get(id: string): Promise<Silence | undefined>;
  /** False when no such silence exists (or it is a configured maintenance window). */
  delete(id: string): Promise<boolean>;
}

/** Validates API input; throws SilenceError naming the field. */
export function validateSilence(input: SilenceInput, now: number, id = randomUUID()): Silence {
  if (!input || typeof input !== 'object') throw new SilenceError('silence: expected an object');
  if (!Array.isArray(input.matchers) || input.matchers.length === 0) {
    throw new SilenceError('matchers: at least one matcher is needed (a silence never mutes everything)');
  }
  const parsed = input.matchers.map((m, i) => {
    if (typeof m !== 'string')
      throw new SilenceError(`matchers.${i}: expected a string such as severity="critical"`);
    const r = parseMatcher(m);
    if (!r.ok) throw new SilenceError(`matchers.${i}: ${r.error} (at offset ${r.offset})`);
    return r.matcher;
  });
  if (parsed.every((m) => matchesAll([m], {}))) {
    throw new SilenceError(
      'matchers: every matcher also matches an empty label set (this would mute everything)',
    );
  }
  const startsAt = toMs(input.startsAt, 'startsAt');
  const endsAt = toMs(input.endsAt, 'endsAt');
  if (endsAt <= startsAt) throw new SilenceError('endsAt: must be after startsAt');
  return {
    id,
    matchers: parsed.map(formatMatcher),
    startsAt,
    endsAt,
    createdBy: typeof input.createdBy === 'string' ? input.createdBy : '',
    comment: typeof input.comment === 'string' ? input.comment : '',
    createdAt: now,
  };
}

function toMs(v: unknown, field: string): number {
  const ms = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : Number.NaN;
  if (!Number.isFinite(ms)) throw new SilenceError(`${field}: expected ISO-8601 text or epoch milliseconds`);
  return ms;
}

/** A silence with its matchers compiled, for the hot path. */
export interface ActiveSilence {
  silence: Silence;
  matchers: Matcher[];
}

export function compileSilences(silences: readonly Silence[]): ActiveSilence[] {
  const out: ActiveSilence[] = [];
  for (const silence of silences) {
    const matchers: Matcher[] = [];
    for (const text of silence.matchers) {
      const r = parseMatcher(text);
      if (r.ok) matchers.push(r.matcher);
    }
    // A stored silence that no longer parses (written by an older version) mutes nothing:
    // dropping one of its matchers would mute more than it says.
    if (matchers.length === silence.matchers.length) out.push({ silence, matchers });
  }
  return out;
}

/** The first silence muting these labels at event time `eventAt` or wall time `wallNow` (if given). */
export function findSilence(
  silences: readonly ActiveSilence[],
  labels: Labels,
  eventAt: number,
  wallNow?: number,
): Silence | undefined {
  for (const s of silences) {
    const { startsAt, endsAt } = s.silence;
    const byEventTime = eventAt >= startsAt && eventAt < endsAt;
    const byWallTime = wallNow !== undefined && wallNow >= startsAt && wallNow < endsAt;
    if ((byEventTime || byWallTime) && matchesAll(s.matchers, labels)) return s.silence;
  }
  return undefined;
}

export class MemorySilenceStore implements SilenceStore {
  private readonly silences = new Map<string, Silence>();
  constructor(private readonly now: () => number = Date.now) {}

  async add(input: SilenceInput): Promise<Silence> {
    const s = validateSilence(input, this.now());
    this.silences.set(s.id, s);
    return s;
  }
  async list(): Promise<Silence[]> {
    return [...this.silences.values()].sort((a, b) => a.startsAt - b.startsAt);
  }
  async get(id: string): Promise<Silence | undefined> {
    return this.silences.get(id);
  }
  async delete(id: string): Promise<boolean> {
    return this.silences.delete(id);
  }
}

/** Silences shared by every notifier process on one Redis (a hash of JSON records). */
export class RedisSilenceStore implements SilenceStore {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly now: () => number = Date.now,
  ) {}

  async add(input: SilenceInput): Promise<Silence> {
    const s = validateSilence(input, this.now());
    await this.redis.hset(this.key, s.id, JSON.stringify(s));
    return s;
  }
  async list(): Promise<Silence[]> {
    const all = await this.redis.hgetall(this.key);
    const out: Silence[] = [];
    for (const json of Object.values(all)) {
      try {
        out.push(JSON.parse(json) as Silence);
      } catch {
        // A record some other writer damaged: skip it rather than stop notifying.
      }
    }
    return out.sort((a, b) => a.startsAt - b.startsAt);
  }
  async get(id: string): Promise<Silence | undefined> {
    const json = await this.redis.hget(this.key, id);
    return json ? (JSON.parse(json) as Silence) : undefined;
  }
  async delete(id: string): Promise<boolean> {
    return (await this.redis.hdel(this.key, id)) > 0;
  }
}
