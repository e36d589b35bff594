import type { Logger } from '../core/log.js';
import type { Lifecycle } from '../core/types.js';
import type { DetectionEngine } from '../rules/engine.js';
import { formatRuleError } from '../rules/load.js';
import { RuleWatcher } from '../rules/watcher.js';

/**
 * Hot reload of the running rules for `converge start` and `converge demo`: a change in the rule
 * directory (after a 200 ms quiet time) or a SIGHUP reads it again. A set without a single error
 * replaces the rules of the detection engine (alerts of changed or removed rules resolve; the
 * others go on); a set with errors is refused whole, each problem is logged with its
 * file:line:column, and the previous rules keep running.
 */
export function hotReloadRules(
  detection: DetectionEngine,
  dir: string,
  log: Logger,
  options: {
    debounceMs?: number;
    /** Reload on SIGHUP too (default true; the interactive demo leaves SIGHUP to end it). */
    sighup?: boolean;
  } = {},
): Lifecycle {
  const watcher = new RuleWatcher({
    dir,
    debounceMs: options.debounceMs,
    onReload: (rules) => {
      detection.setRules(rules);
      log.info({ dir, rules: rules.rules.length, files: rules.files.length }, 'rules reloaded');
    },
    onError: (errors) => {
      log.error(
        { dir, errors: errors.map(formatRuleError) },
        `rules not reloaded: ${errors.length} error(s) in ${dir}; the previous rules keep running`,
      );
    },
    onFailure: (e) => {
      log.error({ dir, err: e.message, stack: e.stack }, `rules not reloaded: ${e.message}`);
    },
  });
  // The engine was built from this directory a moment ago; this load only sets the baseline the
  // watcher compares with (a directory broken since then is reported now, and nothing changes).
  const first = watcher.start();
  if (first.errors.length > 0) {
    log.error(
      { dir, errors: first.errors.map(formatRuleError) },
      `rules in ${dir} changed since start and are invalid; the rules loaded at start keep running`,
    );
  }
  const sighup = options.sighup ?? true;
  const removeSighup = sighup
    ? watcher.installSighup((outcome) => {
        if (outcome === 'unchanged') log.info({ dir }, 'SIGHUP: rules unchanged');
      })
    : () => {};
  log.info(
    { dir },
    sighup ? 'watching rules (reload on change or SIGHUP)' : 'watching rules (reload on change)',
  );
  return {
    shutdown: async () => {
      removeSighup();
      await watcher.shutdown();
    },
  };
}
