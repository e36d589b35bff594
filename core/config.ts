import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ApiConfigSchema } from '../api/config.js';
import { LimitsConfigSchema } from '../ingest/limits.js';
import { NotifyConfigSchema } from '../notify/config.js';
import { durationSchema as duration } from './schema.js';
import { parseYaml } from './yaml.js';

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
      /** Distributed mode: entities each instance learned from its share of `metrics` (compacted). */
      observed: z.string().min(1).default('topology.observed'),
    })
    .default({
      metrics: 'metrics',
      dlq: 'metrics.dlq',
      topology: 'topology',
      alerts: 'alerts',
      incidents: 'incidents',
      observed: 'topology.observed',
    }),
  /** Partitions to create for topics that do not exist yet. */
  partitions: z.number().int().min(1).max(10_000).default(12),
  /** Upper bound on decoded points held in memory while waiting for the TSDB (backpressure). */
  maxInFlightPoints: z.number().int().min(1000).default(200_000),
  /**
   * A consumer silent this long loses its partitions to the others of its group: how soon a
   * killed instance's share of `metrics` is taken over. Kafka's broker bounds it (6 s to 30 min
   * by default).
   */
  sessionTimeout: duration.default(30_000),
});

/**
 * Where correlation runs. `embedded`: in each `converge start` process, over the alerts of its
 * own share of `metrics` (one instance, or a partitioned fleet whose faults never span
 * instances). `distributed`: detection instances publish alert state changes to the `alerts`
 * topic and one active correlator (a consumer group on that one-partition topic, the others
 * standby) correlates them all, keeping its state recoverable in Redis (engine/distributed/).
 * `auto` (default): distributed when the config has both `kafka` and `redis`.
 */
const DistributedSection = z.strictObject({
  /** Consumer group of the correlator instances on the `alerts` topic. */
  group: z.string().min(1).default('converge-correlator'),
  /** Prefix of the correlator's Redis keys (checkpoint, epoch). */
  redisPrefix: z
    .string()
    .regex(/^[A-Za-z0-9:_-]{1,64}$/, 'letters, digits, :, - and _ only')
    .default('converge-correlator'),
  /** Longest wall time between two checkpoints while alerts flow (incident events force one at once). */
  checkpointInterval: duration.default(1000),
  /** How soon a standby takes over a killed active correlator (Kafka session timeout, >= 6 s). */
  sessionTimeout: duration.default(10_000),
  /** A detection instance whose records stop for this long no longer holds event time back. */
  instanceTimeout: duration.default(30_000),
  /** Event time a new owner of a `metrics` partition has to confirm the alerts it inherited. */
  handoverGrace: duration.default(15 * 60_000),
  /** A detection instance without a metrics batch for this long is idle (its watermark waits for no one). */
  idleAfter: duration.default(10_000),
  /** How often each detection instance publishes its watermark when nothing else goes out. */
  heartbeat: duration.default(1000),
});

const DISTRIBUTED_DEFAULTS = {
  group: 'converge-correlator',
  redisPrefix: 'converge-correlator',
  checkpointInterval: 1000,
  sessionTimeout: 10_000,
  instanceTimeout: 30_000,
  handoverGrace: 15 * 60_000,
  idleAfter: 10_000,
  heartbeat: 1000,
};

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
  /**
   * Most topology entities held. At the cap, metrics-only entities unseen the longest make room;
   * when none can, new ones are refused (both counted in /metrics and /api/v1/health).
   */
  maxEntities: z.number().int().min(5).default(1_500_000),
});

export const ConfigSchema = z.strictObject({
  input: z
    .strictObject({
      format: z.enum(['lp', 'json']).default('lp'),
      /**
       * Unit of the input's timestamps. Default by format: ns for line protocol (InfluxDB's
       * default), s for Telegraf JSON (its serializer's json_timestamp_units default).
       */
      precision: z.enum(['ns', 'us', 'ms', 's']).optional(),
      /** What a line may hold (ingest/limits.ts; README "Input limits"). */
      limits: LimitsConfigSchema.prefault({}),
    })
    .prefault({}),
  kafka: KafkaSection.optional(),
  tsdb: TsdbSection.optional(),
  redis: z.strictObject({ url: z.string().regex(/^rediss?:\/\//, 'expected redis://host:port') }).optional(),
  topology: TopologySection.default({
    mapping: {},
    attributeTags: [],
    ttl: 15 * 60_000,
    files: [],
    maxEntities: 1_500_000,
  }),
  rules: z.strictObject({ dir: z.string().min(1).optional() }).default({}),
  detect: z.strictObject({ lateness: duration.default(5000) }).default({ lateness: 5000 }),
  correlate: z
    .strictObject({
      groupWait: duration.default(30_000),
      holdDown: duration.default(300_000),
      mode: z.enum(['auto', 'embedded', 'distributed']).default('auto'),
      distributed: DistributedSection.default(DISTRIBUTED_DEFAULTS),
    })
    .default({ groupWait: 30_000, holdDown: 300_000, mode: 'auto', distributed: DISTRIBUTED_DEFAULTS }),
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

/** Where `converge start` correlates (see `correlate.mode`). */
export function correlationMode(config: Config): 'embedded' | 'distributed' {
  const mode = config.correlate.mode;
  if (mode === 'auto')
    return config.kafka !== undefined && config.redis !== undefined ? 'distributed' : 'embedded';
  return mode;
}

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
  if (r.success) {
    if (r.data.correlate.mode === 'distributed' && (r.data.kafka === undefined || r.data.redis === undefined))
      throw new ConfigError(source, [
        'correlate.mode: distributed needs a `kafka` section (the alerts topic) and a `redis` section (the checkpoint)',
      ]);
    return r.data;
  }
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
  // Bounded (size, depth, aliases), positions in the messages; never throws on its own.
  const yaml = parseYaml(text);
  if (!yaml.ok)
    throw new ConfigError(
      path,
      yaml.problems.map((p) => `${p.line}:${p.column}: ${p.message}`),
    );
  return parseConfig(yaml.data, path);
}
