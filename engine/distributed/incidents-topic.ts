import type { Kafka } from 'kafkajs';
import type { CauseRef, IncidentEvent, IncidentEventType, Severity } from '../../core/types.js';
import {
  type Correlator,
  type CorrelatorStats,
  type IncidentDetail,
  type IncidentSummary,
  incidentEventJson,
  type TimelineEntry,
} from '../../correlate/index.js';
import type { KafkaLogger } from '../../ingest/kafka/client.js';
import { type KafkaMessageSource, wholeTopicSource } from '../../ingest/kafka/kafkajs-source.js';

/**
 * The compacted `incidents` topic: key = incident id, value = the incident's latest
 * IncidentEvent (the `--incidents-out` JSON, ISO times) plus what the API's list shows and an
 * event does not carry: `alerts` and `firing` (absorbed alert episodes, and how many still
 * fire) and `openedAt`. The active correlator writes it after each delivered event and, while
 * incidents grow between notifications, every few seconds for the ones whose counts changed.
 * Every instance reads it from the start into an IncidentView: the incident list its API
 * serves while another instance is the active correlator.
 */
export interface IncidentViewRecord extends IncidentEvent {
  alerts: number;
  firing: number;
  openedAt: number;
}

/** The record for an event, with the counts of the correlator's summary when it has one. */
export function incidentViewRecord(e: IncidentEvent, summary: IncidentSummary | undefined): string {
  const out = incidentEventJson(e);
  out.alerts = summary?.alerts ?? e.absorbed.total;
  out.firing = summary?.firing ?? (e.status === 'open' ? e.absorbed.total : 0);
  out.openedAt = new Date(summary?.openedAt ?? e.startsAt).toISOString();
  return JSON.stringify(out);
}

/** The record for an incident that changed without an event (its counts grew). */
export function summaryViewRecord(
  s: IncidentSummary,
  last: { event: IncidentEventType; at: number } | undefined,
): string {
  const event: IncidentEvent = {
    event: last?.event ?? (s.status === 'resolved' ? 'resolved' : s.version > 1 ? 'updated' : 'opened'),
    id: s.id,
    version: s.version,
    status: s.status,
    severity: s.severity,
    rootCause: s.rootCause,
    candidates: s.candidates,
    absorbed: s.absorbed,
    startsAt: s.startsAt,
    at: last?.at ?? s.openedAt,
  };
  if (s.endsAt !== undefined) event.endsAt = s.endsAt;
  if (s.mergedInto !== undefined) event.mergedInto = s.mergedInto;
  return incidentViewRecord(event, s);
}

/** Parses a record value; a reason string when it is not one. */
export function parseIncidentViewRecord(value: Buffer): IncidentViewRecord | string {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(value.toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    return `invalid JSON: ${(e as Error).message}`;
  }
  if (typeof v !== 'object' || v === null) return 'expected a JSON object';
  if (typeof v.id !== 'string' || v.id === '') return 'id must be a non-empty string';
  if (!Number.isInteger(v.version)) return 'version must be an integer';
  if (v.status !== 'open' && v.status !== 'resolved') return 'status must be open or resolved';
  const startsAt = Date.parse(String(v.startsAt));
  const at = Date.parse(String(v.at));
  if (!Number.isFinite(startsAt) || !Number.isFinite(at)) return 'startsAt and at must be ISO times';
  const rec: IncidentViewRecord = {
    event: (v.event as IncidentEventType) ?? 'updated',
    id: v.id,
    version: v.version as number,
    status: v.status,
    severity: (v.severity as Severity) ?? 'warning',
    rootCause: v.rootCause as CauseRef,
    candidates: Array.isArray(v.candidates) ? (v.candidates as IncidentEvent['candidates']) : [],
    absorbed: (v.absorbed as IncidentEvent['absorbed']) ?? { total: 0, byLevel: {} },
    startsAt,
    at,
    alerts: typeof v.alerts === 'number' ? v.alerts : 0,
    firing: typeof v.firing === 'number' ? v.firing : 0,
    openedAt: Number.isFinite(Date.parse(String(v.openedAt))) ? Date.parse(String(v.openedAt)) : startsAt,
  };
  const endsAt = Date.parse(String(v.endsAt));
  if (v.endsAt !== undefined && Number.isFinite(endsAt)) rec.endsAt = endsAt;
  if (typeof v.mergedInto === 'string') rec.mergedInto = v.mergedInto;
  return rec;
}

export interface IncidentViewOptions {
  /** Resolved incidents are dropped this long (event time) after the newest record. Default 1 h. */
  retainResolvedMs?: number;
  /** At most this many incidents; the oldest resolved ones go first. Default 10,000. */
  maxIncidents?: number;
  /** Timeline entries kept per incident. Default 50. */
  timelineLimit?: number;
}

/**
 * Incidents as the `incidents` topic tells them: the list (newest first) and, per incident, its
 * latest state with a timeline of the notifications seen. There is no alert tree: the absorbed
 * alerts live in the active correlator only.
 */
export class IncidentView {
  private readonly byId = new Map<string, { rec: IncidentViewRecord; timeline: TimelineEntry[] }>();
  private readonly retainMs: number;
  private readonly max: number;
  private readonly timelineLimit: number;
  private newest = Number.NEGATIVE_INFINITY;
  private lastEviction = Number.NEGATIVE_INFINITY;
  private list: IncidentSummary[] | undefined;

  constructor(options: IncidentViewOptions = {}) {
    this.retainMs = options.retainResolvedMs ?? 60 * 60_000;
    this.max = options.maxIncidents ?? 10_000;
    this.timelineLimit = options.timelineLimit ?? 50;
  }

  get size(): number {
    return this.byId.size;
  }

  apply(rec: IncidentViewRecord): void {
    const known = this.byId.get(rec.id);
    if (known !== undefined && rec.version < known.rec.version) return;
    const timeline = known?.timeline ?? [];
    if (known === undefined || known.rec.version !== rec.version || known.rec.status !== rec.status) {
      timeline.push({ at: rec.at, kind: rec.event, detail: `${rec.event} (version ${rec.version})` });
      if (timeline.length > this.timelineLimit) timeline.splice(0, timeline.length - this.timelineLimit);
    }
    this.byId.set(rec.id, { rec, timeline });
    if (rec.at > this.newest) this.newest = rec.at;
    this.list = undefined;
    if (rec.status === 'resolved' || this.byId.size > this.max || this.newest - this.lastEviction >= 60_000)
      this.evict();
  }

  delete(id: string): void {
    if (this.byId.delete(id)) this.list = undefined;
  }

  incidents(): IncidentSummary[] {
    if (this.list === undefined) {
      const out: IncidentSummary[] = [];
      for (const { rec } of this.byId.values()) out.push(summaryOf(rec));
      out.sort((a, b) => b.startsAt - a.startsAt || (a.id < b.id ? -1 : 1));
      this.list = out;
    }
    return this.list;
  }

  get(id: string): IncidentDetail | undefined {
    const e = this.byId.get(id);
    if (e === undefined) return undefined;
    return { ...summaryOf(e.rec), tree: [], timeline: e.timeline.slice() };
  }

  private evict(): void {
    this.lastEviction = this.newest;
    const limit = this.newest - this.retainMs;
    const resolved: Array<[string, number]> = [];
    for (const [id, { rec }] of this.byId) {
      if (rec.status !== 'resolved') continue;
      const end = rec.endsAt ?? rec.at;
      if (end < limit) this.byId.delete(id);
      else resolved.push([id, end]);
    }
    if (this.byId.size > this.max) {
      resolved.sort((a, b) => a[1] - b[1]);
      for (const [id] of resolved) {
        if (this.byId.size <= this.max) break;
        this.byId.delete(id);
      }
    }
  }
}

function summaryOf(rec: IncidentViewRecord): IncidentSummary {
  const s: IncidentSummary = {
    id: rec.id,
    version: rec.version,
    status: rec.status,
    severity: rec.severity,
    rootCause: rec.rootCause,
    candidates: rec.candidates,
    absorbed: rec.absorbed,
    alerts: rec.alerts,
    firing: rec.firing,
    startsAt: rec.startsAt,
    openedAt: rec.openedAt,
  };
  if (rec.endsAt !== undefined) s.endsAt = rec.endsAt;
  if (rec.mergedInto !== undefined) s.mergedInto = rec.mergedInto;
  return s;
}

export interface IncidentFeedOptions {
  kafka: Kafka;
  topic: string;
  /** Prefix of this instance's own consumer group (it reads every record from the start). */
  groupPrefix: string;
  logger?: KafkaLogger;
}

/** Keeps an IncidentView in step with the `incidents` topic. */
export class IncidentFeed {
  private readonly source: KafkaMessageSource;
  records = 0;
  rejected = 0;

  constructor(
    readonly view: IncidentView,
    private readonly options: IncidentFeedOptions,
  ) {
    this.source = wholeTopicSource({
      kafka: options.kafka,
      topic: options.topic,
      groupPrefix: options.groupPrefix,
      partitions: 1,
      logger: options.logger,
    });
  }

  async start(): Promise<void> {
    await this.source.run(async (batch) => {
      for (const m of batch.messages) {
        const id = m.key?.toString('utf8');
        if (m.value === null) {
          if (id) this.view.delete(id);
          continue;
        }
        const rec = parseIncidentViewRecord(m.value);
        if (typeof rec === 'string') {
          this.rejected++;
          this.options.logger?.warn(
            { problem: rec, where: `${batch.topic}[${batch.partition}]@${m.offset}` },
            'incident record rejected',
          );
          continue;
        }
        this.records++;
        this.view.apply(rec);
      }
    });
  }

  shutdown(): Promise<void> {
    return this.source.shutdown();
  }
}

/**
 * What the API asks of "the correlator" on an instance of a distributed deployment: the
 * active correlator's own state when this instance is the active one (full detail with the
 * alert tree), the incidents-topic view otherwise (list and counts, notification timeline, no
 * tree). An operator's resolve goes to the active correlator through the `alerts` topic.
 */
export class DistributedIncidents {
  constructor(
    private readonly view: IncidentView,
    private readonly active: () => Correlator | undefined,
  ) {}

  incidents(): IncidentSummary[] {
    return this.active()?.incidents() ?? this.view.incidents();
  }

  get(id: string): IncidentDetail | undefined {
    const c = this.active();
    return c !== undefined ? c.get(id) : this.view.get(id);
  }

  /** Present only on the active instance (the figures are the correlator's own). */
  get stats(): (() => CorrelatorStats) | undefined {
    const c = this.active();
    return c === undefined ? undefined : () => c.stats();
  }

  /** Whether the incident is open as far as this instance knows. */
  isOpen(id: string): boolean {
    const list = this.active()?.incidents() ?? this.view.incidents();
    return list.some((s) => s.id === id && s.status === 'open');
  }
}
