// What integration tests use to reach the real services that test/integration/global-setup.ts
// started (or that KAFKA_BROKERS / REDIS_URL / TSDB_URL / ALERTMANAGER_URL point at), to stop and
// restart the ones the harness owns, and to read points back from victoria-metrics.

import { inject } from 'vitest';
import {
  type ServiceEnvVar,
  type ServiceName,
  type StartResult,
  type StopResult,
  serviceEnvVars,
  start,
  stop,
} from '../../scripts/services.mjs';

export type { ServiceName } from '../../scripts/services.mjs';

/** What the global setup hands to the test workers. */
export interface ProvidedServices {
  env: Record<ServiceEnvVar, string>;
  /** Services whose process this harness owns (no env var pointed elsewhere). */
  managed: ServiceName[];
}

declare module 'vitest' {
  export interface ProvidedContext {
    convergeServices: ProvidedServices;
  }
}

export interface ServiceUrls {
  kafkaBrokers: string[];
  redisUrl: string;
  tsdbUrl: string;
  alertmanagerUrl: string;
}

function provided(): ProvidedServices | undefined {
  try {
    return inject('convergeServices');
  } catch {
    // Outside a vitest worker (a bench, a script): fall back to the environment.
    return undefined;
  }
}

function envValue(envVar: ServiceEnvVar): string {
  const value = provided()?.env[envVar] ?? process.env[envVar];
  if (!value?.trim()) {
    throw new Error(
      `${envVar} is not set and no service was provided: run under the vitest "integration" project ` +
        '(its globalSetup starts the services) or set the variable.',
    );
  }
  return value.trim();
}

function httpBase(envVar: ServiceEnvVar): string {
  const value = envValue(envVar);
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new Error(`${envVar}=${JSON.stringify(value)} is not an http(s) URL (e.g. http://127.0.0.1:8428)`);
  }
  return value.replace(/\/+$/, '');
}

export function serviceUrls(): ServiceUrls {
  const kafkaBrokers = envValue('KAFKA_BROKERS')
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  for (const broker of kafkaBrokers) {
    if (!/^[^\s:/]+:\d+$/.test(broker)) {
      throw new Error(`KAFKA_BROKERS entry ${JSON.stringify(broker)} is not host:port`);
    }
  }
  const redisUrl = envValue('REDIS_URL');
  if (!/^rediss?:\/\//.test(redisUrl)) {
    throw new Error(`REDIS_URL=${JSON.stringify(redisUrl)} is not a redis:// URL`);
  }
  return {
    kafkaBrokers,
    redisUrl,
    tsdbUrl: httpBase('TSDB_URL'),
    alertmanagerUrl: httpBase('ALERTMANAGER_URL'),
  };
}

/** True when the harness owns the service's process, so a test may stop and restart it. */
export function isManaged(name: ServiceName): boolean {
  return provided()?.managed.includes(name) ?? false;
}

function requireManaged(name: ServiceName, verb: string): void {
  if (!isManaged(name)) {
    throw new Error(
      `cannot ${verb} ${name}: ${serviceEnvVars[name]} points at a service the test harness does not own`,
    );
  }
}

const harnessLog = (message: string) => console.log(`[services] ${message}`);

/** Stops a harness-owned service (SIGTERM, then SIGKILL); its data stays for the next start. */
export async function stopService(name: ServiceName): Promise<StopResult> {
  requireManaged(name, 'stop');
  const result = (await stop([name], { log: harnessLog }))[name];
  if (!result) throw new Error(`stop(${name}) returned nothing`);
  return result;
}

/** Starts a harness-owned service again (same port and data) and waits until it is ready. */
export async function startService(name: ServiceName): Promise<StartResult> {
  requireManaged(name, 'start');
  const result = (await start([name], { log: harnessLog }))[name];
  if (!result) throw new Error(`start(${name}) returned nothing`);
  return result;
}

// ---------------------------------------------------------------------------------------------
// victoria-metrics read-back

/** One series as /api/v1/export prints it: a line protocol field `f` of measurement `m` is metric `m_f`. */
export interface ExportedSeries {
  metric: Record<string, string>;
  values: number[];
  /** Milliseconds since the epoch (victoria-metrics keeps millisecond precision). */
  timestamps: number[];
}

/** A number is milliseconds since the epoch; a string is passed through (RFC 3339 or seconds). */
export type TimeBound = number | Date | string;

function timeParam(bound: TimeBound): string {
  if (typeof bound === 'string') return bound;
  const ms = bound instanceof Date ? bound.getTime() : bound;
  if (!Number.isFinite(ms)) throw new Error(`time bound ${String(bound)} is not a finite time`);
  return (ms / 1000).toFixed(3);
}

async function tsdbRequest(path: string, body?: URLSearchParams): Promise<string> {
  const url = `${serviceUrls().tsdbUrl}${path}`;
  const response = await fetch(url, body ? { method: 'POST', body } : undefined);
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`${body ? 'POST' : 'GET'} ${url} answered ${response.status}: ${text.slice(0, 500)}`);
  }
  return text;
}

/**
 * Every series matching the selector(s), e.g. `{__name__=~"cpu_.*",host="h1"}`, with all their
 * points in [start, end] (all time when omitted). Call tsdbFlush() first for writes just made.
 */
export async function tsdbExport(
  match: string | readonly string[],
  start?: TimeBound,
  end?: TimeBound,
): Promise<ExportedSeries[]> {
  const params = new URLSearchParams();
  for (const m of typeof match === 'string' ? [match] : match) params.append('match[]', m);
  if (start !== undefined) params.set('start', timeParam(start));
  if (end !== undefined) params.set('end', timeParam(end));
  const text = await tsdbRequest('/api/v1/export', params);
  const series: ExportedSeries[] = [];
  let lineNumber = 0;
  for (const line of text.split('\n')) {
    lineNumber++;
    if (line.trim() === '') continue;
    try {
      series.push(JSON.parse(line) as ExportedSeries);
    } catch (error) {
      throw new Error(
        `/api/v1/export line ${lineNumber} is not JSON (${(error as Error).message}): ${line.slice(0, 200)}`,
      );
    }
  }
  return series;
}

/** Makes points written so far visible to searches (victoria-metrics' /internal/force_flush). */
export async function tsdbFlush(): Promise<void> {
  await tsdbRequest('/internal/force_flush');
}

/** Deletes the matching series, so a test can start from nothing under names it reuses. */
export async function tsdbDelete(match: string | readonly string[]): Promise<void> {
  const params = new URLSearchParams();
  for (const m of typeof match === 'string' ? [match] : match) params.append('match[]', m);
  await tsdbRequest('/api/v1/admin/tsdb/delete_series', params);
}
