import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { parseDuration } from '../../core/duration.js';
import { SilenceError } from '../../notify/silences.js';
import { ApiError } from '../errors.js';
import { deadLetterJson, silenceJson } from '../render.js';
import {
  DeadLetterListSchema,
  DeadLetterParams,
  DeletedSchema,
  RetryQuery,
  RetrySchema,
  SilenceBody,
  SilenceIdParams,
  SilenceListQuery,
  SilenceListSchema,
  SilenceSchema,
  withErrors,
} from '../schemas.js';
import { actor, MAX_DATE_MS, type RouteDeps } from './common.js';

/** Silences (mute notifications by incident labels) and the notification dead letters. */
export const silenceRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { backend, now }) => {
  const { silences, notifications } = backend;

  app.get(
    '/silences',
    {
      schema: {
        tags: ['silences'],
        summary: 'Silences and configured maintenance windows',
        querystring: SilenceListQuery,
        response: withErrors({ 200: SilenceListSchema }),
      },
    },
    async (request) => {
      const t = now();
      let items = (await silences.list()).map((s) => silenceJson(s, t));
      if (request.query.active !== undefined) items = items.filter((s) => s.active === request.query.active);
      return { items };
    },
  );

  app.post(
    '/silences',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['silences'],
        summary: 'Mute notifications of incidents whose labels match, for a time',
        description:
          'Matchers use Alertmanager syntax on incident labels (incident, severity, level, kind, root_cause, ' +
          'idc, rack, host, container, app, topology attributes). Give endsAt or duration; startsAt defaults to now. ' +
          'A silence mutes events whose event time or the send time falls in its range.',
        body: SilenceBody,
        response: withErrors({ 201: SilenceSchema }),
      },
    },
    async (request, reply) => {
      const b = request.body;
      const startsAt = b.startsAt === undefined ? now() : bodyTime(b.startsAt, 'startsAt');
      let endsAt: number;
      if (b.endsAt !== undefined && b.duration !== undefined) {
        throw new ApiError(400, 'duration', 'body/duration: give endsAt or duration, not both');
      } else if (b.endsAt !== undefined) {
        endsAt = bodyTime(b.endsAt, 'endsAt');
      } else if (b.duration !== undefined) {
        const ms = parseDuration(b.duration);
        if (ms === undefined || ms <= 0)
          throw new ApiError(400, 'duration', `body/duration must be like 30m or 2h (got "${b.duration}")`);
        endsAt = startsAt + ms;
      } else {
        throw new ApiError(400, 'endsAt', 'body must have endsAt or duration (how long the silence lasts)');
      }
      if (!(endsAt <= MAX_DATE_MS)) throw new ApiError(400, 'endsAt', 'body/endsAt is out of range');
      try {
        const s = await silences.add({
          matchers: b.matchers,
          startsAt,
          endsAt,
          createdBy: actor(request, b.createdBy),
          comment: b.comment ?? '',
        });
        reply.code(201);
        return silenceJson(s, now());
      } catch (e) {
        if (e instanceof SilenceError) {
          const field = /^(\w+)(\.\d+)?:/.exec(e.message);
          throw new ApiError(400, field ? field[1]! + (field[2] ?? '') : 'body', `body/${e.message}`);
        }
        throw e;
      }
    },
  );

  app.delete(
    '/silences/:id',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['silences'],
        summary: 'Remove a silence (maintenance windows from the config file stay)',
        params: SilenceIdParams,
        response: withErrors({ 200: DeletedSchema }),
      },
    },
    async (request) => {
      const { id } = request.params;
      if (id.startsWith('maintenance:') && (await silences.get(id)) !== undefined) {
        throw new ApiError(409, 'id', `${id} is a maintenance window from the config file; change it there`);
      }
      if (!(await silences.delete(id))) throw new ApiError(404, 'id', `no silence "${id}"`);
      return { id, deleted: true };
    },
  );

  app.get(
    '/notifications/dead',
    {
      schema: {
        tags: ['notifications'],
        summary: 'Notifications that failed for good (dead letters)',
        response: withErrors({ 200: DeadLetterListSchema }),
      },
    },
    async () => {
      const dead = await notifications.deadLetters();
      return { items: [...dead].sort((a, b) => b.failedAt - a.failedAt).map(deadLetterJson) };
    },
  );

  app.post(
    '/notifications/dead/:id/retry',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['notifications'],
        summary: 'Send a dead letter again',
        description:
          'Refused (409) when a later version of the incident was delivered to that sink since, unless force=true.',
        params: DeadLetterParams,
        querystring: RetryQuery,
        response: withErrors({ 200: RetrySchema }),
      },
    },
    async (request) => {
      const { id } = request.params;
      const dead = await notifications.deadLetters();
      if (!dead.some((d) => d.id === id)) throw new ApiError(404, 'id', `no dead letter "${id}"`);
      const r = await notifications.retryDeadLetter(id, { force: request.query.force ?? false });
      if (!r.requeued)
        throw new ApiError(409, 'id', `dead letter "${id}" was not sent again: ${r.reason ?? 'refused'}`);
      return { id, requeued: true };
    },
  );
};

function bodyTime(text: string, field: string): number {
  const t = Date.parse(text);
  if (!Number.isFinite(t) || Math.abs(t) > MAX_DATE_MS) {
    throw new ApiError(400, field, `body/${field} must be an ISO-8601 time (got "${text}")`);
  }
  return t;
}
