import { matchesAll } from '../core/matchers.js';
import type { IncidentEventType } from '../core/types.js';
import type { RouteConfig } from './config.js';
import type { Labels } from './types.js';

/**
 * The route tree, evaluated like Alertmanager's: a route matches when all its matchers match;
 * its children are tried in order and the deepest matching routes win; a child without
 * `continue: true` stops its later siblings; when no child matches, the route itself is the
 * match. A route without `sinks` or `events` inherits its parent's. The root matches everything.
 */
interface ResolvedRoute {
  config: RouteConfig;
  sinks: readonly string[];
  events: readonly IncidentEventType[] | undefined;
  children: ResolvedRoute[];
}

export class RouteTree {
  private readonly root: ResolvedRoute;

  constructor(config: RouteConfig) {
    this.root = resolve(config, [], undefined);
  }

  /** Sink names for one event's labels, each once, in route order. */
  sinksFor(labels: Labels, event: IncidentEventType): string[] {
    const matched: ResolvedRoute[] = [];
    match(this.root, labels, matched);
    const out: string[] = [];
    for (const route of matched) {
      if (route.events && !route.events.includes(event)) continue;
      for (const s of route.sinks) if (!out.includes(s)) out.push(s);
    }
    return out;
  }
}

function resolve(
  config: RouteConfig,
  parentSinks: readonly string[],
  parentEvents: readonly IncidentEventType[] | undefined,
): ResolvedRoute {
  const sinks = config.sinks ?? parentSinks;
  const events = config.events ?? parentEvents;
  return { config, sinks, events, children: config.routes.map((c) => resolve(c, sinks, events)) };
}

function match(route: ResolvedRoute, labels: Labels, out: ResolvedRoute[]): boolean {
  if (!matchesAll(route.config.matchers, labels)) return false;
  let any = false;
  for (const child of route.children) {
    if (match(child, labels, out)) {
      any = true;
      if (!child.config.continue) break;
    }
  }
  if (!any) out.push(route);
  return true;
}
