import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Type } from 'typebox';
import { TokenAuthenticator } from './auth.js';
import { type ApiConfig, type ApiConfigInput, parseApiConfig } from './config.js';
import { ApiError, clientErrorHandler, errorBody, errorHandler } from './errors.js';
import { ApiMetrics } from './metrics.js';
import type { ApiBackend } from './ports.js';
import { alertRoutes } from './routes/alerts.js';
import { entityRoutes } from './routes/entities.js';
import { incidentRoutes } from './routes/incidents.js';
import { silenceRoutes } from './routes/silences.js';
import { ErrorSchema, LivenessSchema, ReadinessSchema, withErrors } from './schemas.js';
import { addStrictIntegerQuery } from './strict-query.js';

/**
 * The REST API: fastify with a JSON schema on every route (validation, response serialization,
 * handler types and the OpenAPI document from one definition), bearer-token scopes, rate
 * limits, body limits, and one error shape for every 4xx.
 *
 * ```ts
 * const api = await createApiServer(backend, { ...config.api, logger });
 * const url = await api.listen();   // http://127.0.0.1:8080
 * await api.close();
 * ```
 *
 * Routes: /api/v1/... (incidents, entities, topology, health, alerts, silences, notifications,
 * feedback), /openapi.json, /metrics, /healthz, /readyz.
 */
export type ApiServerOptions = ApiConfigInput & {
  /** The process's pino logger (fastify logs requests through a child); false or absent: silent. */
  logger?: Logger | false;
  /** Wall clock for operator actions and silences. */
  now?: () => number;
};

export interface ApiServer {
  readonly app: FastifyInstance;
  readonly config: ApiConfig;
  readonly metrics: ApiMetrics;
  /** Starts listening on config.host:port; resolves to the base URL (port 0 picks one). */
  listen(): Promise<string>;
  /** The base URL once listening. */
  readonly url: string | undefined;
  close(): Promise<void>;
}

const API_PREFIX = '/api/v1';

/**
 * Security headers on every answer (helmet). The CSP lets a UI served later from this origin
 * (web/) load its own scripts, styles, images and fonts and call this API, and nothing else: no
 * inline scripts or styles, no other origins, no plugins, no framing. No `upgrade-insecure-requests`
 * and no HSTS: the API serves plain HTTP on loopback by default, and HSTS belongs to whatever
 * terminates TLS in front of it.
 */
export const SECURITY_HEADERS = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      fontSrc: ["'self'"],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
  },
  strictTransportSecurity: false,
  // Cross-origin readers (cors.origins) fetch with CORS, which CORP does not block; embedding is.
  crossOriginResourcePolicy: { policy: 'same-origin' as const },
  referrerPolicy: { policy: 'no-referrer' as const },
};
const VERSION = '0.1.0';

export async function createApiServer(
  backend: ApiBackend,
  options: ApiServerOptions = {},
): Promise<ApiServer> {
  const { logger, now: nowOption, ...raw } = options;
  const config = parseApiConfig(raw);
  const now = nowOption ?? Date.now;
  const auth = new TokenAuthenticator(config.tokens);

  const app = Fastify({
    ...(logger ? { loggerInstance: logger.child({ stage: 'api' }) } : { logger: false }),
    bodyLimit: config.bodyLimit,
    routerOptions: { maxParamLength: 2048 },
    trustProxy: false,
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false },
    },
    clientErrorHandler,
    // Malformed URLs and the like, before any route: the same error shape as everything else.
    frameworkErrors: (error, _request, reply) => {
      const field = error.code === 'FST_ERR_BAD_URL' ? 'url' : 'request';
      (reply as unknown as FastifyReply).code(400).send(errorBody(400, field, error.message));
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const metrics = new ApiMetrics(backend);

  app.setErrorHandler(errorHandler);
  // Integer query parameters in decimal digits only: ajv would coerce `Infinity` and skip `maximum`.
  app.addHook('onRoute', addStrictIntegerQuery);
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(errorBody(404, 'url', `no route ${request.method} ${request.url.split('?')[0]}`));
  });

  // JSON as fastify parses it (prototype-poisoning safe), but an empty body is no body: POST
  // .../ack without one is fine.
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' || (typeof body === 'string' && body.trim() === '')) {
      done(null, undefined);
      return;
    }
    defaultJson(request, body as string, done);
  });
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined && request.method !== 'GET' && request.method !== 'DELETE')
      request.body = {};
  });

  // First, so that every answer carries them, refusals by the rate limit and the token check too.
  await app.register(helmet, SECURITY_HEADERS);
  if (config.rateLimit !== false) {
    const { max, window } = config.rateLimit;
    await app.register(rateLimit, {
      // Not per route: route-level hooks run after the app's, so a request refused by the token
      // check (no token, a bad one) would never be counted. One app-level hook, before auth.
      global: false,
      max,
      timeWindow: window,
      keyGenerator: (request) => rateLimitKey(request, auth),
      errorResponseBuilder: (_request, context) =>
        new ApiError(
          429,
          'rate',
          `rate limit of ${context.max} requests per ${Math.round(window / 1000)} s reached; retry in ${context.after}`,
        ),
    });
    // The handler does not use `this`; its type asks for the plain instance type.
    const limit = app.rateLimit() as unknown as (
      request: FastifyRequest,
      reply: FastifyReply,
    ) => Promise<void>;
    app.addHook('onRequest', async (request, reply) => {
      // Liveness and readiness probes are never limited (an orchestrator must always get an answer).
      if (request.routeOptions.config?.scope === 'public') return;
      await limit(request, reply);
    });
  }
  if (config.cors.origins.length > 0) {
    await app.register(cors, {
      origin: config.cors.origins.includes('*') ? true : config.cors.origins,
      methods: ['GET', 'POST', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type'],
    });
  }
  app.addHook('onRequest', async (request) => auth.check(request));
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.latency.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Converge API',
        version: VERSION,
        description:
          'Root-cause queries over the live incident, topology and health state of a Converge engine. ' +
          'Times are ISO-8601; incident and alert times are event times (the metrics’ own timestamps). ' +
          'Every error is {statusCode, error, message, field}. Authentication: bearer tokens with read or ' +
          'read+write scope (api.tokens in the config); without any configured token, read routes answer on ' +
          'loopback only and write routes are refused.',
      },
      ...(config.externalUrl ? { servers: [{ url: config.externalUrl.replace(/\/+$/, '') }] } : {}),
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearerAuth: [] }],
      tags: [
        { name: 'incidents', description: 'Incidents, root causes, operator actions and verdicts' },
        { name: 'entities', description: 'Entities, topology and health' },
        { name: 'alerts', description: 'Alerts in and out' },
        { name: 'silences', description: 'Silences' },
        { name: 'notifications', description: 'Notification dead letters' },
        { name: 'operations', description: 'Liveness, readiness, metrics' },
      ],
    },
  });

  const deps = { backend, now };
  await app.register(incidentRoutes, { prefix: API_PREFIX, ...deps });
  await app.register(entityRoutes, { prefix: API_PREFIX, ...deps });
  await app.register(alertRoutes, { prefix: API_PREFIX, ...deps, alertsBodyLimit: config.alertsBodyLimit });
  await app.register(silenceRoutes, { prefix: API_PREFIX, ...deps });

  app.get(
    '/healthz',
    {
      config: { scope: 'public', rateLimit: false },
      schema: {
        tags: ['operations'],
        summary: 'Liveness: the process serves requests',
        security: [],
        response: withErrors({ 200: LivenessSchema }),
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      config: { scope: 'public', rateLimit: false },
      schema: {
        tags: ['operations'],
        summary: 'Readiness: the consumers and stores are ready (503 until they are)',
        security: [],
        response: { 200: ReadinessSchema, 503: ReadinessSchema, '4xx': withErrors({})['4xx'] },
      },
    },
    async (_request, reply) => {
      let r: Awaited<ReturnType<ApiBackend['readiness']>>;
      try {
        r = await backend.readiness();
      } catch (e) {
        r = { ready: false, checks: { backend: { ok: false, detail: (e as Error).message } } };
      }
      reply.code(r.ready ? 200 : 503);
      return r;
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format)',
        response: {
          200: {
            description: 'Prometheus text exposition format 0.0.4',
            content: { 'text/plain': { schema: Type.String() } },
          },
          '4xx': { description: 'Error', content: { 'application/json': { schema: ErrorSchema } } },
          '5xx': { description: 'Error', content: { 'application/json': { schema: ErrorSchema } } },
        },
      },
    },
    async (_request, reply) => {
      const text = await metrics.render();
      reply.type(metrics.contentType);
      return text;
    },
  );

  const openapi = async () => app.swagger() as unknown as Record<string, unknown>;
  const openapiRoute = {
    schema: {
      hide: true,
      response: { 200: Type.Unsafe<Record<string, unknown>>({ type: 'object', additionalProperties: true }) },
    },
  };
  app.get('/openapi.json', openapiRoute, openapi);
  app.get(`${API_PREFIX}/openapi.json`, openapiRoute, openapi);

  await app.ready();

  let url: string | undefined;
  return {
    app: app as unknown as FastifyInstance,
    config,
    metrics,
    get url() {
      return url;
    },
    async listen() {
      const address = await app.listen({ host: config.host, port: config.port });
      url = address;
      return address;
    },
    async close() {
      await app.close();
    },
  };
}

/**
 * The rate limiter's bucket: the configured token a request presents (however `Bearer` and the
 * spacing are spelled, so re-spelling the header gets no fresh quota), else the client address
 * (IPv4-mapped addresses as IPv4, IPv6 by /64 prefix, as one host usually holds a whole /64).
 * Requests without a token, with a malformed header or an unknown token all count against their
 * address, so rotating made-up tokens does not reset the budget either.
 */
export function rateLimitKey(request: FastifyRequest, auth: TokenAuthenticator): string {
  const principal = auth.presented(request);
  if (principal?.key !== undefined) return 'token:' + principal.key;
  return 'addr:' + normalizeIP(request.ip ?? request.socket.remoteAddress ?? 'unknown');
}
