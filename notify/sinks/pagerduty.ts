import { z } from 'zod';
import type { Severity } from '../../core/types.js';
import { type HttpRequest, sendHttp } from '../http.js';
import type { Notification } from '../types.js';
import { httpUrl, secretString, truncate } from './common.js';
import { defineSink } from './definition.js';

/**
 * PagerDuty Events API v2 (POST https://events.pagerduty.com/v2/enqueue). dedup_key is the
 * incident id (at most 255 characters), so opened/updated events are `trigger`s of one PagerDuty
 * alert and the resolve event closes it. payload.summary is at most 1024 characters;
 * payload.severity is one of critical, error, warning, info. PagerDuty answers 202; 400 means
 * the event is invalid (not retried), 429 and 5xx are retried.
 */
export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

export interface PagerDutyOptions {
  url: string;
  routingKey: string;
  source?: string | undefined;
}

const PD_SEVERITY: Record<Severity, 'critical' | 'error' | 'warning' | 'info'> = {
  critical: 'critical',
  warning: 'warning',
  info: 'info',
};

export function pagerdutyRequest(options: PagerDutyOptions, n: Notification): HttpRequest {
  const e = n.event;
  const dedupKey = truncate(e.id, 255);
  let body: Record<string, unknown>;
  if (e.event === 'resolved' || e.status === 'resolved') {
    body = { routing_key: options.routingKey, event_action: 'resolve', dedup_key: dedupKey };
  } else {
    const customDetails: Record<string, unknown> = {
      incident: e.id,
      version: e.version,
      root_cause: `${e.rootCause.level} ${e.rootCause.id}`,
      kind: e.rootCause.kind,
      absorbed: e.absorbed,
      text: n.message.text,
    };
    const top = e.candidates[0];
    if (top) customDetails.evidence = top.evidence;
    const payload: Record<string, unknown> = {
      summary: truncate(n.message.title, 1024),
      source: options.source ?? `${e.rootCause.level}:${e.rootCause.id}`,
      severity: PD_SEVERITY[e.severity],
      timestamp: new Date(e.at).toISOString(),
      component: e.rootCause.id,
      class: e.rootCause.kind,
      custom_details: customDetails,
    };
    if (n.labels.idc) payload.group = n.labels.idc;
    body = {
      routing_key: options.routingKey,
      event_action: 'trigger',
      dedup_key: dedupKey,
      payload,
      client: 'Converge',
      client_url: n.link,
      links: [{ href: n.link, text: `Incident ${e.id}` }],
    };
  }
  return { url: options.url, headers: {}, body: JSON.stringify(body) };
}

export const pagerdutySink = defineSink({
  type: 'pagerduty',
  description: 'PagerDuty Events API v2 (trigger, then resolve; dedup_key = incident id)',
  options: z.object({
    url: httpUrl.default(PAGERDUTY_EVENTS_URL),
    routingKey: secretString,
    source: z.string().min(1).optional(),
  }),
  create(options, context) {
    return {
      name: context.name,
      type: 'pagerduty',
      send: (n, signal) =>
        sendHttp(pagerdutyRequest(options, n), context.timeoutMs, `pagerduty ${context.name}`, signal),
      shutdown: async () => {},
    };
  },
});
