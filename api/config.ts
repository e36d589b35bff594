import { z } from 'zod';
import { positiveDurationSchema as durationMs, secretString } from '../core/schema.js';

/**
 * The `api:` section of the config file. The lead mounts `ApiConfigSchema` in core/config.ts;
 * `createApiServer` takes the parsed value (plus the process's logger).
 *
 * ```yaml
 * api:
 *   host: 127.0.0.1
 *   port: 8080
 *   tokens:
 *     - { token: "env:CONVERGE_API_TOKEN", scopes: [read, write] }
 *     - { token: "dashboards-read-only-token", scopes: [read] }
 *   rateLimit: { max: 6000, window: 1m }
 *   cors: { origins: ["https://ops.example.com"] }
 * ```
 */

export const API_SCOPES = ['read', 'write'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

export const ApiTokenSchema = z.strictObject({
  /** At least 16 characters: a bearer token is a password. `env:NAME` reads it from the environment. */
  token: secretString.pipe(z.string().min(16, 'a token needs at least 16 characters')),
  scopes: z
    .array(z.enum(API_SCOPES))
    .min(1)
    .default(['read'])
    .refine((s) => !s.includes('write') || s.includes('read'), 'a write token also needs the read scope'),
  /** Shown in logs instead of the token. */
  name: z.string().min(1).optional(),
});

export type ApiToken = z.output<typeof ApiTokenSchema>;

export const ApiConfigSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65_535).default(8080),
  tokens: z.array(ApiTokenSchema).default([]),
  /** Largest request body (bytes) of every route but POST /alerts. */
  bodyLimit: z
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  /** Largest POST /alerts body (bytes): Alertmanager batches and storms are big. */
  alertsBodyLimit: z
    .number()
    .int()
    .min(1024)
    .max(256 * 1024 * 1024)
    .default(16 * 1024 * 1024),
  /** Requests per client (token, or address without one) per window; false: off. */
  rateLimit: z
    .union([
      z.literal(false),
      z.strictObject({
        max: z.number().int().min(1).default(6000),
        window: durationMs.default(60_000),
      }),
    ])
    .default({ max: 6000, window: 60_000 }),
  /** CORS is off unless origins are listed. */
  cors: z.strictObject({ origins: z.array(z.string().min(1)).default([]) }).default({ origins: [] }),
  /** Public base URL: the servers entry of the OpenAPI document (notification links: notify.externalUrl). */
  externalUrl: z.url().optional(),
});

export type ApiConfig = z.output<typeof ApiConfigSchema>;
export type ApiConfigInput = z.input<typeof ApiConfigSchema>;

/** Parses the `api:` section; throws with `api.<path>: problem` lines. */
export function parseApiConfig(raw: unknown): ApiConfig {
  const r = ApiConfigSchema.safeParse(raw ?? {});
  if (r.success) return r.data;
  throw new Error(
    'invalid api configuration:\n  ' +
      r.error.issues.map((i) => `api.${i.path.join('.') || '(section)'}: ${i.message}`).join('\n  '),
  );
}
