import type { Config } from '../core/config.js';
import type { Logger } from '../core/log.js';
import { Correlator } from '../correlate/correlator.js';
import { type DecodeLimits, limitsFromConfig } from '../ingest/limits.js';
import { InfluxPointSink } from '../ingest/tsdb/influx-writer.js';
import { DetectionEngine } from '../rules/engine.js';
import { defaultRulesDir, formatRuleError, loadRules } from '../rules/load.js';
import type { RuleSet } from '../rules/model.js';
import { TopologyGraph } from '../topology/graph.js';
import { TagResolver } from '../topology/mapping.js';
import { Pipeline, type PipelineListeners } from './pipeline.js';

/**
 * Builds the stages from the config, the one place where they are put together (the CLI
 * commands only add their inputs and outputs around it).
 */
export interface BuiltEngine {
  topology: TopologyGraph;
  detection: DetectionEngine;
  correlator: Correlator;
  pipeline: Pipeline;
  rulesDir: string;
}

export class RulesError extends Error {
  constructor(
    readonly dir: string,
    readonly problems: string[],
  ) {
    super(`rules in ${dir} are invalid:\n  ${problems.join('\n  ')}`);
    this.name = 'RulesError';
  }
}

/** Loads a rule directory (default: the bundled pack); any error refuses the whole set. */
export function loadRuleSet(dir: string | undefined): { rules: RuleSet; dir: string } {
  const rulesDir = dir ?? defaultRulesDir();
  const { rules, errors } = loadRules(rulesDir);
  if (errors.length > 0) throw new RulesError(rulesDir, errors.map(formatRuleError));
  return { rules, dir: rulesDir };
}

/** Topology and detection from the config: what every instance runs, embedded or distributed. */
export function buildDetection(
  config: Config,
  rulesDir?: string,
): { topology: TopologyGraph; detection: DetectionEngine; rulesDir: string } {
  const { rules, dir } = loadRuleSet(rulesDir ?? config.rules.dir);
  const topology = new TopologyGraph({
    ttlMs: config.topology.ttl,
    mapping: config.topology.mapping,
    attributeTags: config.topology.attributeTags,
    maxEntities: config.topology.maxEntities,
  });
  const detection = new DetectionEngine({
    rules,
    tagResolver: new TagResolver(config.topology.mapping),
    topology,
  });
  return { topology, detection, rulesDir: dir };
}

export function buildEngine(
  config: Config,
  options: { rulesDir?: string; listeners?: PipelineListeners } = {},
): BuiltEngine {
  const { topology, detection, rulesDir } = buildDetection(config, options.rulesDir);
  const correlator = new Correlator(topology, {
    groupWaitMs: config.correlate.groupWait,
    holdDownMs: config.correlate.holdDown,
    // The correlator prefers causes whose own signals are abnormal: detection's health score.
    health: (cause) =>
      cause.level === 'attribute' ? undefined : detection.health({ level: cause.level, id: cause.id })?.score,
  });
  const pipeline = new Pipeline(
    { topology, detection, correlator },
    { latenessMs: config.detect.lateness },
    options.listeners,
  );
  return { topology, detection, correlator, pipeline, rulesDir };
}

/** How the config's `input` section has metrics decoded (every consumer and replay alike). */
export function decodeSettings(config: Config): { limits: DecodeLimits; refuseFieldTypeChanges: boolean } {
  return {
    limits: limitsFromConfig(config.input.limits),
    refuseFieldTypeChanges: config.input.limits.fieldTypeChanges === 'refuse',
  };
}

/** The TSDB writer for the config's `tsdb` section. */
export function influxSinkFromConfig(tsdb: NonNullable<Config['tsdb']>, logger?: Logger): InfluxPointSink {
  return new InfluxPointSink({
    url: tsdb.url,
    org: tsdb.org,
    bucket: tsdb.bucket,
    token: tsdb.token,
    precision: tsdb.precision,
    batchSize: tsdb.batchSize,
    flushIntervalMs: tsdb.flushInterval,
    gzipThreshold: tsdb.gzip ? 1000 : false,
    logger,
  });
}
