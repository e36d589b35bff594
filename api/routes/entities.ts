import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type EntityRef, HIERARCHY, LEVELS, type Level } from '../../core/types.js';
import { ApiError } from '../errors.js';
import type { TopologyPort } from '../ports.js';
import { alertJson, iso } from '../render.js';
import {
  EntityParams,
  EntityQuery,
  EntitySchema,
  FleetHealthQuery,
  FleetHealthSchema,
  TOPOLOGY_MAX_DEPTH,
  type TopologyNodeJson,
  TopologyQuery,
  TopologySchema,
  withErrors,
} from '../schemas.js';
import type { RouteDeps } from './common.js';

/** Entities, the topology around them, and health across the fleet. */
export const entityRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { backend }) => {
  const { topology, health, alerts, incidents } = backend;

  app.get(
    '/entities/:level/:id',
    {
      schema: {
        tags: ['entities'],
        summary: 'One entity: health, firing alerts, parent, children, attributes, last seen',
        params: EntityParams,
        querystring: EntityQuery,
        response: withErrors({ 200: EntitySchema }),
      },
    },
    async (request) => {
      const ref: EntityRef = { level: request.params.level, id: request.params.id };
      const inTopology = topology.has(ref);
      const [h, firing, all] = await Promise.all([
        health.health(ref),
        alerts.firingOf(ref),
        incidents.list(),
      ]);
      if (!inTopology && h === undefined && firing.length === 0) {
        throw new ApiError(
          404,
          'id',
          `no ${ref.level} "${ref.id}" in the topology, the health scores or the alerts`,
        );
      }
      const ancestors: EntityRef[] = [];
      for (
        let at = topology.parent(ref);
        at !== undefined && ancestors.length < 8;
        at = topology.parent(at)
      ) {
        ancestors.push(at);
      }
      const sorted = [...firing].sort((a, b) => b.at - a.at || (a.id < b.id ? -1 : 1));
      const out: Record<string, unknown> = {
        entity: ref,
        inTopology,
        declared: inTopology && (topology.isDeclared?.(ref) ?? false),
        firingAlerts: sorted.slice(0, request.query.alerts ?? 100).map(alertJson),
        firingTotal: firing.length,
        ancestors,
        children: inTopology ? descendants(topology, ref) : { total: 0, byLevel: {} },
        attributes: inTopology ? { ...topology.attributes(ref) } : {},
        incidents: all
          .filter((s) => s.rootCause.level === ref.level && s.rootCause.id === ref.id)
          .map((s) => ({ id: s.id, status: s.status, severity: s.severity, rootCause: s.rootCause })),
      };
      if (h !== undefined) out.health = h;
      if (ancestors.length > 0) out.parent = ancestors[0];
      if (ref.level === 'container') {
        const app = topology.appOf(ref.id);
        if (app !== undefined) out.app = app;
      }
      if (ref.level === 'app' && inTopology) {
        out.calls = topology.calls(ref.id);
        out.callers = topology.callers(ref.id);
      }
      const seen = inTopology ? topology.lastSeen(ref) : undefined;
      if (seen !== undefined && Number.isFinite(seen)) out.lastSeen = iso(seen);
      return out as never;
    },
  );

  app.get(
    '/topology',
    {
      schema: {
        tags: ['entities'],
        summary: 'A subtree of the topology with health per node',
        description:
          'Rooted at level+id (an app roots its containers), or at every IDC without them. depth levels below ' +
          'the root; limit bounds the nodes (truncated says when it cut; omittedChildren where).',
        querystring: TopologyQuery,
        response: withErrors({ 200: TopologySchema }),
      },
    },
    async (request) => {
      const q = request.query;
      if ((q.level === undefined) !== (q.id === undefined)) {
        const missing = q.level === undefined ? 'level' : 'id';
        throw new ApiError(
          400,
          missing,
          `querystring/${missing} is needed with ${missing === 'level' ? 'id' : 'level'}`,
        );
      }
      const depth = Math.min(q.depth ?? 2, TOPOLOGY_MAX_DEPTH);
      const limit = q.limit ?? 1000;
      const withHealth = q.health ?? true;
      let roots: EntityRef[];
      if (q.level !== undefined && q.id !== undefined) {
        const ref = { level: q.level, id: q.id };
        if (!topology.has(ref)) throw new ApiError(404, 'id', `no ${ref.level} "${ref.id}" in the topology`);
        roots = [ref];
      } else {
        roots = topRoots(topology);
      }
      let nodes = 0;
      let truncated = false;
      const build = async (ref: EntityRef, left: number): Promise<TopologyNodeJson> => {
        nodes++;
        const count = ref.level === 'container' ? 0 : topology.childCount(ref);
        const node: TopologyNodeJson = { entity: ref, childCount: count, omittedChildren: count };
        if (withHealth) {
          const h = await health.health(ref);
          if (h !== undefined)
            node.health = { score: h.score, status: h.status, firingAlerts: h.firingAlerts };
        }
        if (left > 0) {
          const kids = count === 0 ? [] : sortedChildren(topology, ref);
          const children: TopologyNodeJson[] = [];
          for (const k of kids) {
            if (nodes >= limit) {
              truncated = true;
              break;
            }
            children.push(await build(k, left - 1));
          }
          node.children = children;
          node.omittedChildren = kids.length - children.length;
        }
        return node;
      };
      const out: TopologyNodeJson[] = [];
      for (const r of roots) {
        if (nodes >= limit) {
          truncated = true;
          break;
        }
        out.push(await build(r, depth));
      }
      return { roots: out, nodes, truncated, counts: topology.counts() as Record<string, number> };
    },
  );

  app.get(
    '/health',
    {
      schema: {
        tags: ['entities'],
        summary: 'Fleet health: Healthy/Warning/Fatal counts and the worst entities per level',
        querystring: FleetHealthQuery,
        response: withErrors({ 200: FleetHealthSchema }),
      },
    },
    async (request) => {
      const levels: Level[] = request.query.level !== undefined ? [request.query.level] : [...LEVELS];
      const limit = request.query.limit ?? 10;
      const rank = { healthy: 0, warning: 1, fatal: 2 } as const;
      let status: 'healthy' | 'warning' | 'fatal' = 'healthy';
      let statusFrom: Level | undefined;
      const out = [];
      for (const level of levels) {
        const list = await health.healthAll(level);
        const counts = { healthy: 0, warning: 0, fatal: 0, total: list.length };
        let levelWorst: 'healthy' | 'warning' | 'fatal' = 'healthy';
        for (const h of list) {
          counts[h.status]++;
          if (rank[h.status] > rank[levelWorst]) levelWorst = h.status;
        }
        // The fleet's status is that of its top-most populated hierarchy level (roll-ups carry everything up).
        if (statusFrom === undefined && list.length > 0 && level !== 'app') {
          statusFrom = level;
          status = levelWorst;
        }
        const worst = [];
        for (const h of list) {
          if (worst.length >= limit || h.score >= 100) break;
          worst.push({ entity: h.entity, score: h.score, status: h.status, firingAlerts: h.firingAlerts });
        }
        out.push({ level, counts, worst });
      }
      const capacity = Object.entries((await backend.capacity?.()) ?? {}).map(([resource, c]) => ({
        resource,
        held: c.held,
        limit: c.limit,
        evicted: c.evicted,
        refused: c.refused,
      }));
      return { status, capacity, levels: out };
    },
  );
};

/** The top-most populated hierarchy level's entities (normally the IDCs). */
function topRoots(topology: TopologyPort): EntityRef[] {
  for (const level of HIERARCHY) {
    const ids = [...topology.ids(level)].filter((id) => topology.parent({ level, id }) === undefined);
    if (ids.length > 0) return ids.sort().map((id) => ({ level, id }));
  }
  return [];
}

function sortedChildren(topology: TopologyPort, ref: EntityRef): EntityRef[] {
  return topology.children(ref).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Direct children and every descendant per level (an IDC: racks, hosts, containers). */
function descendants(
  topology: TopologyPort,
  ref: EntityRef,
): { total: number; byLevel: Record<string, number> } {
  const direct = topology.children(ref);
  const byLevel: Record<string, number> = {};
  let frontier = direct;
  for (let depth = 0; depth < 4 && frontier.length > 0; depth++) {
    const next: EntityRef[] = [];
    for (const c of frontier) {
      byLevel[c.level] = (byLevel[c.level] ?? 0) + 1;
      if (c.level !== 'container' && ref.level !== 'app') next.push(...topology.children(c));
    }
    frontier = next;
  }
  return { total: direct.length, byLevel };
}
