import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ApiConfigSchema } from '../api/config.js';
import { NotifyConfigSchema } from '../notify/config.js';
import { durationSchema as duration } from './schema.js';

/**
 * The configuration file (YAML or JSON). Every section is optional: a missing `kafka`, `tsdb` or
 * `redis` section means the embedded stand-in (in-process bus, in-memory series store,
 * in-process queue) is used for that part. The shape mirrors the stages of the pipeline.
 * Unknown keys are errors (a typo must not silently fall back to a default).
 */

const tagList = z.array(z.string().min(1)).min(1);

const KafkaSection = z.strictObject({
  brokers: z.array(z.string().regex(/^[^\s:]+:\d+$/, 'expected host:port')).min(1),
  clientId: z.string().min(1).default('converge'),
  groupId: z.string().min(1).default('converge-ingest'),
  topics: z
    .strictObject({
      metrics: z.string().min(1).default('metrics'),
      dlq: z.string().min(1).default('metrics.dlq'),
      topology: z.string().min(1).default('topology'),
      alerts: z.string().min(1).default('alerts'),
      incidents: z.string().min(1).default('incidents'),
    })
    .default({
      metrics: 'metrics',
      dlq: 'metrics.dlq',
      topology: 'topology',
      alerts: 'alerts',
      incidents: 'incidents',
    }),
  /** Partitions to create for topics that do not exist yet. */
  partitions: z.number().int().min(1).max(10_000).default(12),
  /** Upper bound on decoded points held in memory while waiting for the TSDB (backpressure). */
  maxInFlightPoints: z.number().int().min(1000).default(200_000),
});

const TsdbSection = z.strictObject({
  url: z.url(),
  org: z.string().default('converge'),
  bucket: z.string().min(1).default('metrics'),
  token: z.string().default(''),
  precision: z.enum(['ns', 'us', 'ms', 's']).default('ns'),
  batchSize: z.number().int().min(1).max(1_000_000).default(5000),
  /** 0: a partial batch goes as soon as a request slot is free (batches form while one is in flight). */
  flushInterval: duration.default(0),
  gzip: z.boolean().default(true),
});

const TopologySection = z.strictObject({
  mapping: z
    .strictObject({
      idc: tagList.optional(),
      rack: tagList.optional(),
      host: tagList.optional(),
      container: tagList.optional(),
      app: tagList.optional(),
    })
    .default({}),
  /** Host tags copied into topology attributes (used by attribute-group correlation). */
  attributeTags: z.array(z.string().min(1)).default([]),
  /** Entities seen only in metrics expire after this much event time without data. */
  ttl: duration.default(15 * 60_000),
  /** CMDB record files (JSON Lines) loaded at start. */
  files: z.array(z.string().min(1)).default([]),
});

export const ConfigSchema = z.strictObject({
  input: z
    .strictObject({
      format: z.enum(['lp', 'json']).default('lp'),
      precision: z.enum(['ns', 'us', 'ms', 's']).default('ns'),
    })
    .default({ format: 'lp', precision: 'ns' }),
  kafka: KafkaSection.optional(),
  tsdb: TsdbSection.optional(),
  redis: z.strictObject({ url: z.string().regex(/^rediss?:\/\//, 'expected redis://host:port') }).optional(),
  topology: TopologySection.default({ mapping: {}, attributeTags: [], ttl: 15 * 60_000, files: [] }),
  rules: z.strictObject({ dir: z.string().min(1).optional() }).default({}),
  detect: z.strictObject({ lateness: duration.default(5000) }).default({ lateness: 5000 }),
  correlate: z
    .strictObject({ groupWait: duration.default(30_000), holdDown: duration.default(300_000) })
    .default({ groupWait: 30_000, holdDown: 300_000 }),
  /** The REST API (api/config.ts): listen address, bearer tokens, limits, CORS. */
  api: ApiConfigSchema.prefault({}),
  /** Notification routes, sinks, silences (notify/config.ts); absent: incidents are not sent anywhere. */
  notify: NotifyConfigSchema.optional(),
  log: z
    .strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info') })
    .default({
      level: 'info',
    }),
});

export type Config = z.output<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Validates a parsed config object; `source` names the file in error messages. */
export function parseConfig(raw: unknown, source = 'config'): Config {
  const r = ConfigSchema.safeParse(raw ?? {});
  if (r.success) return r.data;
  throw new ConfigError(
    source,
    r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(top level)'}: ${describeIssue(i)}`),
  );
}

function describeIssue(i: z.core.$ZodIssue): string {
  if (i.code === 'unrecognized_keys')
    return `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.join(', ')}`;
  return i.message;
}

/** Reads a YAML or JSON config file (JSON is YAML). No file: the embedded defaults. */
export function loadConfig(path?: string): Config {
  if (!path) return parseConfig({}, 'defaults');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(path, [`cannot read: ${(e as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new ConfigError(path, [(e as Error).message]);
  }
  return parseConfig(raw, path);
}
