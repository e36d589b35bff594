import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AlertEvent, DecodeError } from '../../core/types.js';
import {
  AlertmanagerPayloadError,
  isAlertmanagerPayload,
  parseAlertmanagerWebhook,
} from '../../correlate/alertmanager.js';
import { parseAlertLines, toAlertEvent } from '../../correlate/alerts.js';
import { page } from '../cursor.js';
import { ApiError } from '../errors.js';
import type { AlertQuery } from '../ports.js';
import { alertJson } from '../render.js';
import {
  AlertIngestSchema,
  AlertListQuery,
  AlertListSchema,
  AlertsBodySchema,
  withErrors,
} from '../schemas.js';
import { entityParam, queryTime, type RouteDeps } from './common.js';

/**
 * Alerts: the firing ones and recent resolutions; and alerts from other systems into the
 * correlator (native records as in `--alerts` JSON Lines, or Alertmanager webhook v4 payloads,
 * so an Alertmanager receiver can point here).
 */
export const alertRoutes: FastifyPluginAsyncTypebox<RouteDeps & { alertsBodyLimit: number }> = async (
  app,
  { backend, alertsBodyLimit },
) => {
  // JSON Lines as the replay command reads them; only this plugin's routes take it.
  app.addContentTypeParser(
    ['application/x-ndjson', 'application/jsonl', 'application/jsonlines'],
    { parseAs: 'string', bodyLimit: alertsBodyLimit },
    (_request, body, done) => done(null, body),
  );

  app.get(
    '/alerts',
    {
      schema: {
        tags: ['alerts'],
        summary: 'Firing alerts and recent resolutions, newest state change first',
        querystring: AlertListQuery,
        response: withErrors({ 200: AlertListSchema }),
      },
    },
    async (request) => {
      const q = request.query;
      const query: AlertQuery = {};
      if (q.state !== undefined) query.state = q.state;
      if (q.severity !== undefined) query.severity = q.severity;
      if (q.rule !== undefined) query.rule = q.rule;
      if (q.level !== undefined) query.level = q.level;
      if (q.predicted !== undefined) query.predicted = q.predicted;
      const entity = entityParam(q.entity, 'entity');
      if (entity !== undefined) query.entity = entity;
      const since = queryTime(q.since, 'since');
      if (since !== undefined) query.since = since;
      const until = queryTime(q.until, 'until');
      if (until !== undefined) query.until = until;
      const all = await backend.alerts.list(query);
      const p = page(all, (a) => ({ t: a.at, id: a.id + '/' + a.state }), q.limit ?? 100, q.cursor);
      const out: { items: ReturnType<typeof alertJson>[]; nextCursor?: string } = {
        items: p.items.map(alertJson),
      };
      if (p.nextCursor !== undefined) out.nextCursor = p.nextCursor;
      return out;
    },
  );

  app.post(
    '/alerts',
    {
      bodyLimit: alertsBodyLimit,
      config: { scope: 'write' },
      // Each alert is checked by the parsers below, so that one bad alert in a batch is reported
      // (index and field) while the good ones go on to the correlator.
      validatorCompiler: () => () => true,
      schema: {
        tags: ['alerts'],
        summary: 'Alert state changes from other systems, into the correlator',
        description:
          'Native alert records (single or array; also JSON Lines as application/x-ndjson) or a Prometheus ' +
          'Alertmanager webhook payload (version 4: point a webhook receiver at this URL with a bearer token). ' +
          'Bad alerts are listed with their index and the problem; the others are accepted. 400 when none is.',
        body: AlertsBodySchema,
        response: withErrors({ 200: AlertIngestSchema }),
      },
    },
    async (request) => {
      const body: unknown = request.body;
      let format: 'native' | 'alertmanager' | 'jsonl';
      let parsed: { alerts: AlertEvent[]; errors: DecodeError[] };
      if (typeof body === 'string') {
        format = 'jsonl';
        parsed = parseAlertLines(body);
      } else if (isAlertmanagerPayload(body)) {
        format = 'alertmanager';
        try {
          parsed = parseAlertmanagerWebhook(body);
        } catch (e) {
          if (e instanceof AlertmanagerPayloadError)
            throw new ApiError(400, e.field, `body/${e.field}: ${e.problem}`);
          throw e;
        }
      } else if (Array.isArray(body)) {
        format = 'native';
        parsed = { alerts: [], errors: [] };
        for (let i = 0; i < body.length; i++) collect(parsed, toAlertEvent(body[i]), i + 1, `[${i}].`);
      } else if (typeof body === 'object' && body !== null) {
        format = 'native';
        parsed = { alerts: [], errors: [] };
        collect(parsed, toAlertEvent(body), 1, '');
      } else {
        throw new ApiError(
          400,
          'body',
          'body must be an alert object, an array of them, or an Alertmanager webhook payload',
        );
      }
      // Every refusal (times out of range included) comes from the parsers, with its index.
      const accepted = parsed.alerts;
      const errors = parsed.errors;
      if (accepted.length === 0 && errors.length > 0) {
        const first = errors[0]!;
        const prefix =
          format === 'native' && Array.isArray(body) ? '' : format === 'jsonl' ? `line ${first.line}: ` : '';
        throw new ApiError(400, reasonField(first.reason), `body: ${prefix}${first.reason}`);
      }
      if (accepted.length > 0) await backend.alerts.ingest(accepted);
      errors.sort((a, b) => a.line - b.line);
      return {
        accepted: accepted.length,
        rejected: errors.length,
        format,
        errors: errors.slice(0, 100).map((e) => ({ index: Math.max(0, e.line - 1), message: e.reason })),
      };
    },
  );
};

function collect(
  out: { alerts: AlertEvent[]; errors: DecodeError[] },
  r: AlertEvent | string,
  line: number,
  prefix: string,
): void {
  if (typeof r === 'string') out.errors.push({ line, reason: prefix + r, text: '' });
  else out.alerts.push(r);
}

/** "entity.level must be ..." -> "entity.level"; "alerts.3: labels.alertname: missing" -> "alerts.3.labels.alertname". */
export function reasonField(reason: string): string {
  const m = /^([\w[\].]+?)(?::\s*([\w.]+?))?(?=:|\s|$)/.exec(reason);
  if (!m) return 'body';
  const head = m[1]!.replace(/^\[(\d+)\]\./, '$1.');
  return m[2] !== undefined && /^alerts\.\d+$/.test(head) ? `${head}.${m[2]}` : head;
}
