import { z } from 'zod';
import { type Matcher, parseMatcher } from '../core/matchers.js';
import { durationSchema as durationMs } from '../core/schema.js';
import type { IncidentEventType } from '../core/types.js';
import { SINK_TYPES } from './registry.js';
import { compileTemplate, DEFAULT_TEXT, DEFAULT_TITLE, TemplateError } from './template.js';

/**
 * The `notify:` section of the configuration (the lead mounts NotifyConfigSchema there). Shape:
 *
 * ```yaml
 * notify:
 *   externalUrl: https://converge.example.com     # links: ${externalUrl}/api/v1/incidents/${id}
 *   queue: { prefix: converge-notify, concurrency: 4, lockDuration: 30s, keepSent: 7d }
 *   retry: { attempts: 10, initialDelay: 1s, maxDelay: 5m, jitter: 0.2 }
 *   sinks:
 *     - name: ops-hook
 *       type: webhook            # webhook slack dingtalk feishu wecom pagerduty alertmanager alertmanager-webhook memory
 *       url: https://hooks.example.com/converge
 *       secret: env:OPS_HOOK_SECRET
 *       timeout: 10s
 *       rateLimit: { max: 10, per: 1s }
 *       template: { title: '{{ summary }}', text: '...' }
 *   route:                       # Alertmanager-style tree; the root matches everything
 *     sinks: [ops-hook]
 *     routes:
 *       - matchers: ['severity="critical"', 'kind=~"app|host"']
 *         sinks: [pager]
 *         continue: true
 *   maintenanceWindows:
 *     - { name: dc1-upgrade, matchers: ['idc="dc1"'], startsAt: 2024-06-01T00:00:00Z, endsAt: 2024-06-01T04:00:00Z }
 * ```
 */

/** An instant: ISO-8601 text or milliseconds since the epoch. */
export const instantMs = z.union([z.number(), z.string(), z.date()]).transform((v, ctx) => {
  const ms = v instanceof Date ? v.getTime() : typeof v === 'number' ? v : Date.parse(v);
  if (!Number.isFinite(ms)) {
    ctx.addIssue({
      code: 'custom',
      message: `invalid time ${JSON.stringify(v)} (use ISO-8601, e.g. 2024-06-01T00:00:00Z)`,
    });
    return z.NEVER;
  }
  return ms;
});

const matcherList = z.array(z.string()).transform((list, ctx) => {
  const out: Matcher[] = [];
  list.forEach((text, i) => {
    const m = parseMatcher(text);
    if (m.ok) out.push(m.matcher);
    else ctx.addIssue({ code: 'custom', message: `${m.error} (at offset ${m.offset})`, path: [i] });
  });
  return out;
});

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

const QueueSection = z.strictObject({
  /** Prefix of the BullMQ queues (one per sink) and of the notifier's own Redis keys. */
  prefix: z.string().regex(NAME, 'letters, digits, - and _ only').default('converge-notify'),
  /** Deliveries in flight per sink and process. */
  concurrency: z.number().int().min(1).max(256).default(4),
  /** A worker that dies holds a delivery this long before another takes it over. */
  lockDuration: durationMs.default(30_000),
  stalledInterval: durationMs.default(30_000),
  /** How long "already delivered" is remembered (idempotency across restarts). */
  keepSent: durationMs.default(7 * 86_400_000),
});

const RetrySection = z.strictObject({
  attempts: z.number().int().min(1).max(1000).default(10),
  initialDelay: durationMs.default(1000),
  maxDelay: durationMs.default(5 * 60_000),
  jitter: z.number().min(0).max(1).default(0.2),
});

const commonSinkKeys = {
  name: z.string({ error: 'missing sink name' }).regex(NAME, 'letters, digits, - and _ only (at most 64)'),
  type: z.string(),
  timeout: durationMs.default(10_000),
  /** At most `max` sends per `per` for this sink, across all workers (BullMQ limiter). */
  rateLimit: z.strictObject({ max: z.number().int().min(1), per: durationMs }).optional(),
  concurrency: z.number().int().min(1).max(256).optional(),
  template: z.strictObject({ title: z.string().optional(), text: z.string().optional() }).default({}),
};

export interface SinkConfig {
  name: string;
  type: string;
  timeoutMs: number;
  rateLimit?: { max: number; perMs: number };
  concurrency?: number;
  /** Template sources after defaults (validated). */
  template: { title: string; text: string };
  /** The sink type's own options, parsed by its definition's schema. */
  options: Record<string, unknown>;
}

const sinkList = z.array(z.unknown()).transform((list, ctx) => {
  const out: SinkConfig[] = [];
  list.forEach((raw, i) => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      ctx.addIssue({ code: 'custom', message: 'expected a sink object with name and type', path: [i] });
      return;
    }
    const type = (raw as Record<string, unknown>).type;
    const definition = typeof type === 'string' ? SINK_TYPES.get(type) : undefined;
    if (!definition) {
      ctx.addIssue({
        code: 'custom',
        message:
          type === undefined
            ? `missing sink type (known: ${[...SINK_TYPES.keys()].join(', ')})`
            : `unknown sink type ${JSON.stringify(type)} (known: ${[...SINK_TYPES.keys()].join(', ')})`,
        path: [i, 'type'],
      });
      return;
    }
    const schema = definition.options.extend(commonSinkKeys).strict();
    const parsed = schema.safeParse(raw);
    // Templates are checked even when other keys are wrong, so one run reports every problem.
    const rawTemplate = (raw as { template?: unknown }).template;
    const given =
      rawTemplate && typeof rawTemplate === 'object'
        ? (rawTemplate as { title?: unknown; text?: unknown })
        : {};
    const title =
      typeof given.title === 'string' ? given.title : (definition.templates?.title ?? DEFAULT_TITLE);
    const text = typeof given.text === 'string' ? given.text : (definition.templates?.text ?? DEFAULT_TEXT);
    for (const [key, source] of [
      ['title', title],
      ['text', text],
    ] as const) {
      try {
        compileTemplate(source);
      } catch (e) {
        if (!(e instanceof TemplateError)) throw e;
        ctx.addIssue({
          code: 'custom',
          message: `invalid template: ${e.message}`,
          path: [i, 'template', key],
        });
      }
    }
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        ctx.addIssue({ ...issue, path: [i, ...issue.path] } as Parameters<typeof ctx.addIssue>[0]);
      }
      return;
    }
    const {
      name,
      timeout,
      rateLimit,
      concurrency,
      template: _template,
      type: _type,
      ...options
    } = parsed.data as Record<string, unknown> & {
      name: string;
      timeout: number;
      rateLimit?: { max: number; per: number };
      concurrency?: number;
      template: { title?: string; text?: string };
    };
    const sink: SinkConfig = {
      name,
      type: definition.type,
      timeoutMs: timeout,
      template: { title, text },
      options,
    };
    if (rateLimit) sink.rateLimit = { max: rateLimit.max, perMs: rateLimit.per };
    if (concurrency !== undefined) sink.concurrency = concurrency;
    out.push(sink);
  });
  return out;
});

export interface RouteConfig {
  matchers: Matcher[];
  /** Sinks of this route; a route without `sinks` inherits its parent's. */
  sinks?: string[];
  continue: boolean;
  /** Only these incident event types go out on this route (default: all). */
  events?: IncidentEventType[];
  routes: RouteConfig[];
}

const RouteSchema: z.ZodType<RouteConfig, unknown> = z.lazy(() =>
  z.strictObject({
    matchers: matcherList.default([]),
    sinks: z.array(z.string()).optional(),
    continue: z.boolean().default(false),
    events: z
      .array(z.enum(['opened', 'updated', 'resolved']))
      .min(1)
      .optional(),
    routes: z.array(RouteSchema).default([]),
  }),
) as unknown as z.ZodType<RouteConfig, unknown>;

const MaintenanceWindow = z.strictObject({
  name: z.string().min(1),
  matchers: matcherList,
  startsAt: instantMs,
  endsAt: instantMs,
  comment: z.string().default(''),
});

export const NotifyConfigSchema = z
  .strictObject({
    externalUrl: z
      .url({
        protocol: /^https?$/,
        error: 'expected an http(s) URL such as http://converge.example.com:8080',
      })
      .default('http://127.0.0.1:8080'),
    queue: QueueSection.default({
      prefix: 'converge-notify',
      concurrency: 4,
      lockDuration: 30_000,
      stalledInterval: 30_000,
      keepSent: 7 * 86_400_000,
    }),
    retry: RetrySection.default({ attempts: 10, initialDelay: 1000, maxDelay: 5 * 60_000, jitter: 0.2 }),
    sinks: sinkList.default([]),
    route: RouteSchema.optional(),
    maintenanceWindows: z.array(MaintenanceWindow).default([]),
  })
  .superRefine((config, ctx) => {
    const names = new Set<string>();
    config.sinks.forEach((s, i) => {
      if (names.has(s.name)) {
        ctx.addIssue({
          code: 'custom',
          message: `duplicate sink name "${s.name}"`,
          path: ['sinks', i, 'name'],
        });
      }
      names.add(s.name);
    });
    const walk = (route: RouteConfig, path: (string | number)[], depth: number) => {
      if (depth === 0 && route.matchers.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: 'the root route matches everything: no matchers',
          path: [...path, 'matchers'],
        });
      }
      route.sinks?.forEach((name, i) => {
        if (!names.has(name)) {
          ctx.addIssue({
            code: 'custom',
            message: `unknown sink "${name}" (defined: ${[...names].join(', ') || 'none'})`,
            path: [...path, 'sinks', i],
          });
        }
      });
      route.routes.forEach((child, i) => {
        walk(child, [...path, 'routes', i], depth + 1);
      });
    };
    if (config.route) walk(config.route, ['route'], 0);
    config.maintenanceWindows.forEach((w, i) => {
      if (w.endsAt <= w.startsAt) {
        ctx.addIssue({
          code: 'custom',
          message: 'must be after startsAt',
          path: ['maintenanceWindows', i, 'endsAt'],
        });
      }
    });
  })
  .transform((config) => ({
    ...config,
    // No route: every sink gets every incident event.
    route: config.route ?? {
      matchers: [],
      sinks: config.sinks.map((s) => s.name),
      continue: false,
      routes: [],
    },
  }));

export type NotifyConfig = z.output<typeof NotifyConfigSchema>;
export type NotifyConfigInput = z.input<typeof NotifyConfigSchema>;

export class NotifyConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid notify configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'NotifyConfigError';
  }
}

/**
 * Validates a `notify:` section on its own (the lead's config loader does the same when mounted);
 * messages name the offending key: `notify.sinks.2.type: unknown sink type "teams" (known: ...)`.
 */
export function parseNotifyConfig(raw: unknown, prefix = 'notify'): NotifyConfig {
  const r = NotifyConfigSchema.safeParse(raw ?? {});
  if (r.success) return r.data;
  throw new NotifyConfigError(
    r.error.issues.map((i) => {
      const path = [prefix, ...i.path.map(String)].filter((p) => p !== '').join('.');
      const message =
        i.code === 'unrecognized_keys'
          ? `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.join(', ')}`
          : i.message;
      return `${path || '(top level)'}: ${message}`;
    }),
  );
}
