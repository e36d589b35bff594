import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';
import { type HttpRequest, sendHttp } from '../http.js';
import type { Notification } from '../types.js';
import { httpUrl } from './common.js';
import { defineSink } from './definition.js';

/**
 * Prometheus Alertmanager: POST <url>/api/v2/alerts with one alert per incident, so that
 * Alertmanager's own routing, grouping, inhibition and silences keep working on incidents.
 *
 * - Labels: alertname (configurable), the incident's routing labels except `event` and `status`
 *   (they change within one incident, and Alertmanager identifies an alert by its label set).
 * - Firing: endsAt = wall-clock now + `alertTtl`, like Prometheus, which sets endsAt ahead and
 *   re-sends. Converge sends on every incident change; an incident that stays open without change
 *   for longer than alertTtl shows as resolved in Alertmanager (default 24h; see ARCHITECTURE).
 * - Resolved: endsAt = the incident's end (capped at now), which resolves the alert at once.
 * - When a change alters the label set (a new root cause, a new severity), the previous label set
 *   is posted in the same request with endsAt = now, so no stale alert stays active. The
 *   previous set is remembered in memory (bounded); after a restart a stale set expires at its
 *   own endsAt.
 */
export interface AlertmanagerOptions {
  url: string;
  alertname: string;
  alertTtlMs: number;
}

export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
}

const DROPPED = new Set(['event', 'status']);

export function alertmanagerLabels(alertname: string, n: Notification): Record<string, string> {
  const labels: Record<string, string> = { alertname };
  for (const [k, v] of Object.entries(n.labels)) {
    if (DROPPED.has(k) || v === '') continue;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) continue;
    labels[k] = v;
  }
  return labels;
}

export function alertmanagerAlert(
  options: AlertmanagerOptions,
  n: Notification,
  nowMs: number,
): AlertmanagerAlert {
  const e = n.event;
  const resolved = e.status === 'resolved' || e.event === 'resolved';
  const end = resolved ? Math.max(e.startsAt, Math.min(e.endsAt ?? e.at, nowMs)) : nowMs + options.alertTtlMs;
  return {
    labels: alertmanagerLabels(options.alertname, n),
    annotations: {
      summary: n.message.title,
      description: n.message.text,
      incident_url: n.link,
      version: String(e.version),
    },
    startsAt: new Date(e.startsAt).toISOString(),
    endsAt: new Date(end).toISOString(),
    generatorURL: n.link,
  };
}

export function alertmanagerRequest(url: string, alerts: AlertmanagerAlert[]): HttpRequest {
  return { url: url.replace(/\/+$/, '') + '/api/v2/alerts', headers: {}, body: JSON.stringify(alerts) };
}

const REMEMBERED = 10_000;

export const alertmanagerSink = defineSink({
  type: 'alertmanager',
  description: 'Prometheus Alertmanager (POST /api/v2/alerts)',
  options: z.object({
    url: httpUrl,
    alertname: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a label value such as ConvergeIncident')
      .default('ConvergeIncident'),
    alertTtl: z
      .union([z.number().positive(), z.string()])
      .default('24h')
      .transform((v, ctx) => {
        const ms = typeof v === 'number' ? v : parseDuration(v);
        if (ms === undefined || ms <= 0) {
          ctx.addIssue({ code: 'custom', message: `invalid duration "${v}" (use e.g. 1h, 24h)` });
          return z.NEVER;
        }
        return ms;
      }),
  }),
  create(options, context) {
    const sinkOptions: AlertmanagerOptions = {
      url: options.url,
      alertname: options.alertname,
      alertTtlMs: options.alertTtl,
    };
    // incident id -> JSON of the label set last posted (insertion order = age, for eviction).
    const lastLabels = new Map<string, string>();
    return {
      name: context.name,
      type: 'alertmanager',
      async send(n, signal) {
        const now = context.now();
        const alert = alertmanagerAlert(sinkOptions, n, now);
        const alerts = [alert];
        const labelsJson = JSON.stringify(alert.labels);
        const previous = lastLabels.get(n.event.id);
        if (previous !== undefined && previous !== labelsJson) {
          alerts.push({
            ...alert,
            labels: JSON.parse(previous) as Record<string, string>,
            endsAt: new Date(Math.max(n.event.startsAt, now)).toISOString(),
          });
        }
        const result = await sendHttp(
          alertmanagerRequest(options.url, alerts),
          context.timeoutMs,
          `alertmanager ${context.name}`,
          signal,
        );
        if (result.ok) {
          lastLabels.delete(n.event.id);
          if (alert.endsAt > new Date(now).toISOString()) lastLabels.set(n.event.id, labelsJson);
          if (lastLabels.size > REMEMBERED) lastLabels.delete(lastLabels.keys().next().value!);
        }
        return result;
      },
      shutdown: async () => {},
    };
  },
});
