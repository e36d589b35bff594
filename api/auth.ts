import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { ApiScope, ApiToken } from './config.js';
import { ApiError } from './errors.js';

/**
 * Bearer tokens with read and write scopes. Routes say what they need in their config
 * (`config: { scope: 'write' }`); `public` routes (liveness, readiness) need nothing.
 *
 * - Tokens configured: every non-public route needs `Authorization: Bearer <token>` (401
 *   without or with an unknown one), write routes a token with the write scope (403).
 * - No token configured: read routes answer on loopback only; write routes are refused with 401
 *   and how to configure a token.
 *
 * Presented tokens are compared as SHA-256 digests with timingSafeEqual against every configured
 * token (no early exit), so timing tells nothing about a token's prefix, length or position.
 * Tokens are never logged: the principal carries the token's name only.
 */
export type RouteScope = ApiScope | 'public';

export interface Principal {
  name: string;
  scopes: ReadonlySet<ApiScope>;
  /** Which configured token (`t1`, `t2`, ...): the rate limiter's bucket, unique unlike names. */
  readonly key?: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    scope?: RouteScope;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

export const HOW_TO_CONFIGURE =
  'add a token to the config file, e.g. api: { tokens: [{ token: "<at least 16 random characters>", ' +
  'scopes: [read, write] }] } (`converge demo` prints one it generated), and send it as ' +
  '"Authorization: Bearer <token>"';

/** `Bearer <token>`, the scheme in any case, spaces or tabs around the token. */
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

export class TokenAuthenticator {
  private readonly entries: Array<{ digest: Buffer; principal: Principal }>;
  /** What each request presented, looked up once (the rate limiter asks before check() does). */
  private readonly presentedBy = new WeakMap<FastifyRequest, Principal | null>();

  constructor(tokens: readonly ApiToken[]) {
    this.entries = tokens.map((t, i) => ({
      digest: digest(t.token),
      principal: { name: t.name ?? `token-${i + 1}`, scopes: new Set(t.scopes), key: `t${i + 1}` },
    }));
  }

  get configured(): boolean {
    return this.entries.length > 0;
  }

  /** The principal of a presented token, or undefined. Constant time in the token's content. */
  find(presented: string): Principal | undefined {
    const d = digest(presented);
    let found: Principal | undefined;
    for (const e of this.entries) {
      if (timingSafeEqual(d, e.digest) && found === undefined) found = e.principal;
    }
    return found;
  }

  /**
   * The configured token a request presents, however the header spells `Bearer` and its
   * spacing; undefined without a header, with another scheme or an unknown token.
   */
  presented(request: FastifyRequest): Principal | undefined {
    const known = this.presentedBy.get(request);
    if (known !== undefined) return known ?? undefined;
    const m = BEARER.exec(request.headers.authorization ?? '');
    const principal = m ? this.find(m[1]!) : undefined;
    this.presentedBy.set(request, principal ?? null);
    return principal;
  }

  /** onRequest: sets request.principal or throws the 401/403 to send. */
  check(request: FastifyRequest): void {
    const scope: RouteScope = request.routeOptions.config?.scope ?? 'read';
    if (scope === 'public') return;
    const route = `${request.method} ${request.routeOptions.url ?? request.url}`;
    if (!this.configured) {
      if (scope === 'write') {
        throw unauthorized(
          `${route} changes state and needs a token with the write scope; none is configured: ${HOW_TO_CONFIGURE}`,
        );
      }
      if (!isLoopback(request.socket.remoteAddress)) {
        throw unauthorized(
          `no API token is configured, so read routes answer on loopback only: ${HOW_TO_CONFIGURE}`,
        );
      }
      request.principal = { name: 'loopback', scopes: new Set(['read']) };
      return;
    }
    const header = request.headers.authorization;
    if (header === undefined || header === '') {
      throw unauthorized('missing "Authorization: Bearer <token>" header');
    }
    if (!BEARER.test(header)) throw unauthorized('the Authorization header must read "Bearer <token>"');
    const principal = this.presented(request);
    if (principal === undefined) throw unauthorized('unknown bearer token');
    if (!principal.scopes.has(scope)) {
      throw new ApiError(
        403,
        'authorization',
        `token "${principal.name}" has scopes [${[...principal.scopes].join(', ')}]; ${route} needs the ${scope} scope`,
      );
    }
    request.principal = principal;
  }
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, 'authorization', message, { 'www-authenticate': 'Bearer realm="converge"' });
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}
