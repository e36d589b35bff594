/**
 * The detection stage's public surface: rule files, the engine, hot reload, alert JSON lines.
 * Health scores and predictive detectors live in scoring/ and are driven by the engine.
 */

export type { EntityHealth, HealthStatus } from '../scoring/health.js';
export { type AlertJson, alertJsonLine, alertToJson } from './alert-json.js';
export {
  DetectionEngine,
  type DetectionEngineOptions,
  type DetectionStats,
  type EntityTagResolver,
} from './engine.js';
export {
  checkRules,
  compileRuleSources,
  defaultRulesDir,
  formatRuleError,
  loadRules,
  RULE_DEFAULTS,
  type RuleError,
  type RuleLoad,
} from './load.js';
export type { Rule, RuleKind, RuleSet } from './model.js';
export { RuleWatcher, type RuleWatcherOptions } from './watcher.js';
export { WatermarkTracker } from './watermark.js';
