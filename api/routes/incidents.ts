import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { EntityRef } from '../../core/types.js';
import type { IncidentSummary, IncidentTreeNode } from '../../correlate/incident.js';
import { page } from '../cursor.js';
import { ApiError } from '../errors.js';
import type { Feedback, OperatorState } from '../ports.js';
import { effectiveStatus, feedbackJson, incidentDetailJson, incidentSummaryJson } from '../render.js';
import {
  FeedbackBody,
  FeedbackListQuery,
  FeedbackListSchema,
  FeedbackSchema,
  IncidentDetailQuery,
  IncidentDetailSchema,
  IncidentIdParams,
  IncidentListQuery,
  IncidentListSchema,
  IncidentSummarySchema,
  OperatorBody,
  withErrors,
} from '../schemas.js';
import { actor, entityParam, queryTime, type RouteDeps } from './common.js';

/**
 * Incidents: what is open, what caused it, what it absorbed; acknowledge, resolve, and the
 * operator's verdict on the root cause.
 */
export const incidentRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { backend, now }) => {
  const { incidents, operator } = backend;
  const rendered = new WeakMap<object, Map<string, ReturnType<typeof incidentDetailJson>>>();

  const summaryOf = async (id: string): Promise<IncidentSummary> => {
    const all = await incidents.list();
    const s = all.find((i) => i.id === id);
    if (s === undefined) throw notFound(id);
    return s;
  };

  app.get(
    '/incidents',
    {
      schema: {
        tags: ['incidents'],
        summary: 'List incidents, newest first',
        description:
          'Filters combine (AND). entity matches incidents whose root cause is the entity or that absorbed ' +
          'an alert of it. since/until select incidents going on during that time. Pages: pass nextCursor ' +
          'as cursor.',
        querystring: IncidentListQuery,
        response: withErrors({ 200: IncidentListSchema }),
      },
    },
    async (request) => {
      const q = request.query;
      const since = queryTime(q.since, 'since');
      const until = queryTime(q.until, 'until');
      const entity = entityParam(q.entity, 'entity');
      const limit = q.limit ?? 50;
      const all = await incidents.list();
      const matched: Array<{ s: IncidentSummary; op: OperatorState | undefined }> = [];
      for (const s of all) {
        if (q.severity !== undefined && s.severity !== q.severity) continue;
        if (q.level !== undefined && s.rootCause.level !== q.level) continue;
        if (q.kind !== undefined && s.rootCause.kind !== q.kind) continue;
        if (until !== undefined && s.startsAt > until) continue;
        if (since !== undefined && s.endsAt !== undefined && s.endsAt < since) continue;
        const op = await operator.state(s.id);
        if (q.status !== undefined && effectiveStatus(s, op) !== q.status) continue;
        if (q.acknowledged !== undefined && (op?.acknowledged !== undefined) !== q.acknowledged) continue;
        if (entity !== undefined && !(await involves(s, entity))) continue;
        matched.push({ s, op });
      }
      const p = page(matched, (m) => ({ t: m.s.startsAt, id: m.s.id }), limit, q.cursor);
      const out: { items: ReturnType<typeof incidentSummaryJson>[]; nextCursor?: string } = {
        items: p.items.map((m) => incidentSummaryJson(m.s, m.op)),
      };
      if (p.nextCursor !== undefined) out.nextCursor = p.nextCursor;
      return out;
    },
  );

  /** Root cause is the entity, or the incident absorbed one of its alerts. */
  const involves = async (s: IncidentSummary, e: EntityRef): Promise<boolean> => {
    if (s.rootCause.level === e.level && s.rootCause.id === e.id) return true;
    const d = await incidents.get(s.id);
    return d !== undefined && treeHas(d.tree, e);
  };

  app.get(
    '/incidents/:id',
    {
      schema: {
        tags: ['incidents'],
        summary:
          'One incident: root cause, ranked candidates with evidence, absorbed alerts by level, timeline',
        description:
          'The absorbed alerts come as a tree idc > rack > host > container (apps at the top); childrenPerNode ' +
          'and alertsPerNode bound its size (omittedChildren says what was left out).',
        params: IncidentIdParams,
        querystring: IncidentDetailQuery,
        response: withErrors({ 200: IncidentDetailSchema }),
      },
    },
    async (request) => {
      const { id } = request.params;
      const d = await incidents.get(id);
      if (d === undefined) throw notFound(id);
      const [op, feedback] = await Promise.all([operator.state(id), operator.feedback({ incidentId: id })]);
      const limits = {
        childrenPerNode: request.query.childrenPerNode ?? 5,
        alertsPerNode: request.query.alertsPerNode ?? 3,
      };
      // The backend hands out the same detail object while the incident is unchanged; its rendering
      // (thousands of ISO times for a storm) is kept with it.
      const key = `${limits.childrenPerNode}/${limits.alertsPerNode}/${op?.acknowledged?.at}/${op?.resolved?.at}/${feedback.length}/${feedback[0]?.id}`;
      let byKey = rendered.get(d);
      if (byKey === undefined) {
        byKey = new Map();
        rendered.set(d, byKey);
      }
      let json = byKey.get(key);
      if (json === undefined) {
        json = incidentDetailJson(d, op, feedback, limits);
        if (byKey.size >= 8) byKey.clear();
        byKey.set(key, json);
      }
      return json;
    },
  );

  app.post(
    '/incidents/:id/ack',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['incidents'],
        summary: 'Acknowledge an incident (someone is on it)',
        params: IncidentIdParams,
        body: OperatorBody,
        response: withErrors({ 200: IncidentSummarySchema }),
      },
    },
    async (request) => {
      const { id } = request.params;
      const s = await summaryOf(id);
      const op = await operator.state(id);
      if (effectiveStatus(s, op) === 'resolved') {
        throw new ApiError(409, 'id', `incident ${id} is resolved; there is nothing to acknowledge`);
      }
      await operator.acknowledge(id, {
        by: actor(request, request.body?.by),
        comment: request.body?.comment ?? '',
        at: now(),
        version: s.version,
      });
      return incidentSummaryJson(s, await operator.state(id));
    },
  );

  app.post(
    '/incidents/:id/resolve',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['incidents'],
        summary: 'Resolve an incident by hand',
        description:
          'Idempotent: resolving a resolved incident changes nothing. When the correlator can close incidents, ' +
          'later alerts open a new one; otherwise the incident shows resolved until it changes again.',
        params: IncidentIdParams,
        body: OperatorBody,
        response: withErrors({ 200: IncidentSummarySchema }),
      },
    },
    async (request) => {
      const { id } = request.params;
      let s = await summaryOf(id);
      let op = await operator.state(id);
      if (effectiveStatus(s, op) === 'resolved') return incidentSummaryJson(s, op);
      const at = now();
      await operator.resolve(id, {
        by: actor(request, request.body?.by),
        comment: request.body?.comment ?? '',
        at,
        version: s.version,
      });
      if (incidents.close !== undefined && (await incidents.close(id, at))) {
        s = await summaryOf(id);
      }
      op = await operator.state(id);
      return incidentSummaryJson(s, op);
    },
  );

  app.post(
    '/incidents/:id/feedback',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['incidents'],
        summary: "The operator's verdict on the root cause (kept for learning)",
        description:
          'verdict correct or incorrect; with incorrect, actualCause may name the real cause. Each verdict is ' +
          'stored with the root cause and ranked candidates it judged.',
        params: IncidentIdParams,
        body: FeedbackBody,
        response: withErrors({ 201: FeedbackSchema }),
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const body = request.body;
      const s = await summaryOf(id);
      if (body.verdict === 'correct' && body.actualCause !== undefined) {
        const rc = s.rootCause;
        if (body.actualCause.level !== rc.level || body.actualCause.id !== rc.id) {
          throw new ApiError(
            400,
            'actualCause',
            'body/actualCause names another cause than the root cause, but verdict is correct (use verdict incorrect)',
          );
        }
      }
      const feedback: Feedback = {
        id: randomUUID(),
        incidentId: id,
        incidentVersion: s.version,
        verdict: body.verdict,
        rootCause: { level: s.rootCause.level, id: s.rootCause.id, kind: s.rootCause.kind },
        candidates: s.candidates.map((c) => ({
          entity: { level: c.entity.level, id: c.entity.id, kind: c.entity.kind },
          score: c.score,
        })),
        comment: body.comment ?? '',
        by: actor(request, body.by),
        at: now(),
      };
      if (body.actualCause !== undefined) feedback.actualCause = body.actualCause;
      await operator.addFeedback(feedback);
      reply.code(201);
      return feedbackJson(feedback);
    },
  );

  app.get(
    '/feedback',
    {
      schema: {
        tags: ['incidents'],
        summary: 'Root-cause verdicts, newest first (for learning)',
        querystring: FeedbackListQuery,
        response: withErrors({ 200: FeedbackListSchema }),
      },
    },
    async (request) => {
      const q = request.query;
      const filter: { incidentId?: string; verdict?: 'correct' | 'incorrect' } = {};
      if (q.incident !== undefined) filter.incidentId = q.incident;
      if (q.verdict !== undefined) filter.verdict = q.verdict;
      const all = [...(await operator.feedback(filter))].sort(
        (a, b) => b.at - a.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
      );
      const p = page(all, (f) => ({ t: f.at, id: f.id }), q.limit ?? 100, q.cursor);
      const out: { items: ReturnType<typeof feedbackJson>[]; nextCursor?: string } = {
        items: p.items.map(feedbackJson),
      };
      if (p.nextCursor !== undefined) out.nextCursor = p.nextCursor;
      return out;
    },
  );
};

function notFound(id: string): ApiError {
  return new ApiError(404, 'id', `no incident "${id}" (resolved incidents are kept for a limited time)`);
}

function treeHas(nodes: readonly IncidentTreeNode[], e: EntityRef): boolean {
  for (const n of nodes) {
    if (n.alerts.length > 0 && n.entity.level === e.level && n.entity.id === e.id) return true;
    if (n.children.length > 0 && treeHas(n.children, e)) return true;
  }
  return false;
}
