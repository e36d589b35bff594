import { z } from 'zod';
import { escapeSlack } from '../escape.js';
import { type HttpAnswer, type HttpRequest, sendHttp } from '../http.js';
import type { Notification, SendResult } from '../types.js';
import { httpUrl, truncate } from './common.js';
import { defineSink } from './definition.js';

/**
 * Slack incoming webhook with Block Kit: a header block (plain_text, at most 150 characters), a
 * section (mrkdwn, at most 3000), a context line and a link button. `text` is the fallback
 * shown in notifications (mrkdwn: the title is escaped for it). The mrkdwn objects are
 * `verbatim`, so Slack does not turn bare names into links or mentions; values inserted by the
 * templates are escaped (escape.ts), the template's own `<url|text>` links work. Slack answers 200 "ok"; 429 carries Retry-After; 400/403/404/410
 * (invalid_payload, action_prohibited, no_service, channel_is_archived) will not get better.
 */
export interface SlackOptions {
  url: string;
  channel?: string | undefined;
  username?: string | undefined;
}

const SEVERITY_EMOJI: Record<string, string> = {
  critical: ':red_circle:',
  warning: ':large_orange_circle:',
  info: ':large_blue_circle:',
};

export function slackRequest(options: SlackOptions, n: Notification): HttpRequest {
  const e = n.event;
  const emoji = e.status === 'resolved' ? ':white_check_mark:' : (SEVERITY_EMOJI[e.severity] ?? '');
  const body: Record<string, unknown> = {
    text: truncate(escapeSlack(n.message.title), 3000),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: truncate(n.message.title, 150), emoji: true } },
      { type: 'section', text: { type: 'mrkdwn', text: truncate(n.message.text, 3000), verbatim: true } },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: truncate(
              `${emoji} *${e.severity}* · ${e.status} · incident \`${escapeSlack(e.id)}\` v${e.version}`,
              3000,
            ),
            verbatim: true,
          },
        ],
      },
      {
        type: 'actions',
        elements: [
          {
            type: 'button',
            text: { type: 'plain_text', text: 'Open incident', emoji: false },
            url: n.link,
            action_id: 'open_incident',
          },
        ],
      },
    ],
  };
  if (options.channel) body.channel = options.channel;
  if (options.username) body.username = options.username;
  return { url: options.url, headers: {}, body: JSON.stringify(body) };
}

export function readSlackAnswer(answer: HttpAnswer): SendResult {
  // Slack answers "ok" on success; anything else with a 200 is unexpected but not retryable.
  return answer.text.trim() === 'ok' || answer.text.trim() === ''
    ? { ok: true, status: answer.status }
    : {
        ok: false,
        recoverable: false,
        reason: `slack answered ${answer.text.slice(0, 200)}`,
        status: answer.status,
      };
}

export const slackSink = defineSink({
  type: 'slack',
  description: 'Slack incoming webhook (Block Kit)',
  format: 'slack',
  options: z.object({
    url: httpUrl,
    channel: z.string().min(1).optional(),
    username: z.string().min(1).optional(),
  }),
  templates: {
    text: [
      '*Root cause*: {{ rootCause.level }} `{{ rootCause.id }}` (kind {{ rootCause.kind }})',
      '*Severity*: {{ severity }} · *status* {{ status }} · version {{ version }}',
      '*Absorbed*: {{ absorbedSummary }}',
      '*Evidence*: {{ evidenceSummary }}',
      '*Time*: {{ timeRange }}',
      '<{{ link }}|Incident {{ id }}>',
    ].join('\n'),
  },
  create(options, context) {
    return {
      name: context.name,
      type: 'slack',
      send: (n, signal) =>
        sendHttp(
          slackRequest(options, n),
          context.timeoutMs,
          `slack ${context.name}`,
          signal,
          readSlackAnswer,
        ),
      shutdown: async () => {},
    };
  },
});
