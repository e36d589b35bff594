import { createHash } from 'node:crypto';
import { z } from 'zod';
import { type HttpRequest, sendHttp } from '../http.js';
import type { Notification } from '../types.js';
import { alertmanagerLabels } from './alertmanager.js';
import { httpUrl } from './common.js';
import { defineSink } from './definition.js';

/**
 * The payload Alertmanager's webhook receiver sends (version "4"), for tools that already read
 * it (alert-to-IM bridges, ticketing hooks): one group per incident, one alert in it. A firing
 * alert's endsAt is the zero time "0001-01-01T00:00:00Z", as Alertmanager renders it.
 */
export interface AlertmanagerWebhookOptions {
  url: string;
  alertname: string;
  headers: Record<string, string>;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

export function alertmanagerWebhookBody(
  options: AlertmanagerWebhookOptions,
  receiver: string,
  n: Notification,
) {
  const e = n.event;
  const status = e.status === 'resolved' || e.event === 'resolved' ? 'resolved' : 'firing';
  const labels = alertmanagerLabels(options.alertname, n);
  const annotations = { summary: n.message.title, description: n.message.text, incident_url: n.link };
  const fingerprint = createHash('sha256').update(`converge-incident\n${e.id}`).digest('hex').slice(0, 16);
  return {
    version: '4',
    groupKey: `{}:{incident=${JSON.stringify(e.id)}}`,
    truncatedAlerts: 0,
    status,
    receiver,
    groupLabels: { incident: e.id },
    commonLabels: labels,
    commonAnnotations: annotations,
    externalURL: n.link.replace(/\/api\/v1\/incidents\/.*$/, ''),
    alerts: [
      {
        status,
        labels,
        annotations,
        startsAt: new Date(e.startsAt).toISOString(),
        endsAt: status === 'resolved' ? new Date(e.endsAt ?? e.at).toISOString() : ZERO_TIME,
        generatorURL: n.link,
        fingerprint,
      },
    ],
  };
}

export function alertmanagerWebhookRequest(
  options: AlertmanagerWebhookOptions,
  receiver: string,
  n: Notification,
): HttpRequest {
  return {
    url: options.url,
    headers: { ...options.headers },
    body: JSON.stringify(alertmanagerWebhookBody(options, receiver, n)),
  };
}

export const alertmanagerWebhookSink = defineSink({
  type: 'alertmanager-webhook',
  description: 'Alertmanager webhook payload (version "4")',
  options: z.object({
    url: httpUrl,
    alertname: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .default('ConvergeIncident'),
    headers: z.record(z.string(), z.string()).default({}),
  }),
  create(options, context) {
    return {
      name: context.name,
      type: 'alertmanager-webhook',
      send: (n, signal) =>
        sendHttp(
          alertmanagerWebhookRequest(options, context.name, n),
          context.timeoutMs,
          `alertmanager-webhook ${context.name}`,
          signal,
        ),
      shutdown: async () => {},
    };
  },
});
