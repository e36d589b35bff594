import type { AlertEvent, IncidentEvent } from '../core/types.js';
import { Correlator, type CorrelatorOptions } from '../correlate/correlator.js';
import { scenarioTopology } from '../fixtures/evaluate.js';
import { jdScenario, type Scenario } from '../fixtures/scenario.js';
import { parseNotifyConfig } from '../notify/config.js';
import { createNotifier, type Notifier } from '../notify/notifier.js';
import { InMemorySink } from '../notify/sinks/memory.js';
import type { TopologyGraph } from '../topology/graph.js';
import { createEngineBackend, type EngineBackend } from './backend.js';
import { JsonlOperatorStore } from './operator.js';

/**
 * A small engine for API tests, the fuzz server and the benchmark: a fixture scenario's topology
 * in a real TopologyGraph, its alerts through a real Correlator in event time, incident events
 * through a real Notifier (embedded queue) with two in-memory sinks, one of which refuses
 * every send (so there are dead letters to list and retry). The API backend is the same adapter
 * the product uses (createEngineBackend).
 */
export interface ScenarioEngineOptions {
  /** Default: the JD.com storm (jdScenario()). */
  scenario?: Scenario;
  correlator?: CorrelatorOptions;
  /** Operator actions and verdicts go to this JSON Lines file (default: memory). */
  operatorFile?: string;
  /** More sinks (notify config entries, e.g. a slack sink pointed at a test receiver). */
  sinks?: Array<Record<string, unknown>>;
}

export class ScenarioEngine {
  readonly scenario: Scenario;
  readonly topology: TopologyGraph;
  readonly correlator: Correlator;
  readonly notifier: Notifier;
  readonly backend: EngineBackend;
  /** Accepts every notification. */
  readonly ops = new InMemorySink('ops');
  /** Refuses every notification for good: each ends as a dead letter. */
  readonly broken = new InMemorySink('broken');
  readonly events: IncidentEvent[] = [];
  private next = 0;
  private watermark = Number.NEGATIVE_INFINITY;
  private brokenUntil = Number.POSITIVE_INFINITY;

  constructor(options: ScenarioEngineOptions = {}) {
    this.scenario = options.scenario ?? jdScenario();
    this.topology = scenarioTopology(this.scenario);
    this.correlator = new Correlator(this.topology, options.correlator);
    const refuse = () =>
      this.brokenUntil > Date.now()
        ? { ok: false as const, recoverable: false, reason: 'HTTP 410 Gone (test sink refuses everything)' }
        : { ok: true as const };
    this.broken.failNext(...Array.from({ length: 10_000 }, () => refuse));
    this.notifier = createNotifier({
      config: parseNotifyConfig({
        externalUrl: 'http://127.0.0.1:8080',
        retry: { attempts: 1, initialDelay: 10, maxDelay: 10, jitter: 0 },
        sinks: [
          { name: 'ops', type: 'memory' },
          { name: 'broken', type: 'memory' },
          ...(options.sinks ?? []),
        ],
      }),
      sinks: [this.ops, this.broken],
      topology: this.topology,
    });
    this.backend = createEngineBackend({
      topology: this.topology,
      correlator: this.correlator,
      notifier: this.notifier,
      submitAlerts: (alerts) => this.submit(alerts),
      ...(options.operatorFile ? { operator: new JsonlOperatorStore(options.operatorFile) } : {}),
    });
  }

  async start(): Promise<void> {
    await this.notifier.start();
  }

  /** Event time of the first fault's onset. */
  get faultStart(): number {
    return this.scenario.faults[0]?.start ?? this.scenario.window.start;
  }

  /** Feeds the scenario's alerts up to event time `until` (inclusive), like detection would. */
  async feed(until: number): Promise<IncidentEvent[]> {
    const alerts = this.scenario.alerts;
    const out: IncidentEvent[] = [];
    while (this.next < alerts.length && alerts[this.next]!.at <= until) {
      const a = alerts[this.next++]!;
      this.backend.recordAlert(a);
      this.correlator.ingest(a);
      // Advance per alert, as the engine does per batch: timers fire at their exact event times.
      for (const e of this.correlator.advance(a.at)) out.push(e);
    }
    if (until > this.watermark) this.watermark = until;
    for (const e of this.correlator.advance(this.watermark)) out.push(e);
    await this.deliver(out);
    return out;
  }

  /** Feeds every remaining alert and lets every timer fire (the end of a replay). */
  async finish(): Promise<IncidentEvent[]> {
    await this.feed(this.scenario.window.end);
    const out = this.correlator.flush();
    await this.deliver(out);
    return out;
  }

  /** POST /alerts: into the correlator, event time moves to the newest alert. */
  async submit(alerts: readonly AlertEvent[]): Promise<void> {
    let newest = this.watermark;
    for (const a of alerts) {
      this.correlator.ingest(a);
      if (a.at > newest) newest = a.at;
    }
    this.watermark = newest;
    await this.deliver(this.correlator.advance(newest));
  }

  /** From now on the broken sink accepts sends (so retried dead letters get delivered). */
  repairBrokenSink(): void {
    this.brokenUntil = 0;
  }

  private async deliver(events: IncidentEvent[]): Promise<void> {
    for (const e of events) {
      this.events.push(e);
      await this.notifier.notify(e);
    }
  }

  async shutdown(): Promise<void> {
    await this.notifier.shutdown();
  }
}

/** A parsed JSON response body; the tests' expectations are what check its shape. */
// biome-ignore lint/suspicious/noExplicitAny: loosely typed on purpose, see above
export type Json = any;

export interface ApiResponse<T = Json> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** Real HTTP requests (fetch) to a listening API, with an optional bearer token. */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly token?: string,
  ) {}

  withToken(token: string | undefined): ApiClient {
    return new ApiClient(this.baseUrl, token);
  }

  get<T = Json>(path: string, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    return this.request<T>('GET', path, undefined, headers);
  }

  post<T = Json>(
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> {
    return this.request<T>('POST', path, body, headers);
  }

  delete<T = Json>(path: string, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    return this.request<T>('DELETE', path, undefined, headers);
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> {
    const h: Record<string, string> = { ...headers };
    if (this.token !== undefined) h.authorization = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const r = await fetch(this.baseUrl + path, { method, headers: h, body: payload });
    const text = await r.text();
    let parsed: unknown = text;
    if ((r.headers.get('content-type') ?? '').includes('json') && text !== '') parsed = JSON.parse(text);
    return { status: r.status, headers: r.headers, body: parsed as T, text };
  }
}
