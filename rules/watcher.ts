import { type FSWatcher, watch } from 'node:fs';
import type { Lifecycle } from '../core/types.js';
import { loadRules, type RuleError, type RuleLoad } from './load.js';
import type { RuleSet } from './model.js';

export type RuleReloadOutcome = 'applied' | 'unchanged' | 'invalid' | 'failed' | 'stopped';

export interface RuleWatcherOptions {
  dir: string;
  /** A new, fully valid rule set (the engine's `setRules`). */
  onReload: (rules: RuleSet) => void;
  /** A reload found errors; the previous rules stay in force. */
  onError: (errors: RuleError[]) => void;
  /**
   * Reading the directory or applying a valid set threw (a bug, not a bad file): the previous
   * rules stay in force as far as `onReload` left them, and the next reload tries again.
   */
  onFailure?: (error: Error) => void;
  /** Quiet time after the last file event before reloading (editors write in bursts). */
  debounceMs?: number;
}

/**
 * Hot reload of a rule directory: on a file change (fs.watch) or on `reload()` (which the CLI
 * calls from its SIGHUP handler, or use `installSighup()`), the directory is read again. Only a
 * set without a single error replaces the running rules; otherwise the previous rules keep
 * running and `onError` gets every problem with its file:line:column. Nothing a reload meets
 * ends the process: it runs from a timer or a signal handler, where an exception would.
 */
export class RuleWatcher implements Lifecycle {
  private readonly debounceMs: number;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private rules: RuleSet = { rules: [], files: [] };
  private appliedDigest = '';
  private stopped = false;

  constructor(private readonly options: RuleWatcherOptions) {
    this.debounceMs = options.debounceMs ?? 200;
  }

  /** The rules in force (the last valid set). */
  get current(): RuleSet {
    return this.rules;
  }

  /**
   * First load, then watch. Returns the load result; with errors nothing is applied and the
   * caller decides (the CLI refuses to start with an invalid rule directory).
   */
  start(): RuleLoad {
    const first = loadRules(this.options.dir);
    if (first.errors.length === 0) {
      this.rules = first.rules;
      this.appliedDigest = digest(first);
    }
    try {
      this.watcher = watch(this.options.dir, { persistent: false }, () => this.schedule());
      this.watcher.on('error', () => {
        // The directory went away: keep the running rules; a SIGHUP can still reload.
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      // Not watchable (e.g. missing): reload() still works.
    }
    return first;
  }

  /**
   * Reads the directory again: `applied` (a new valid set replaced the rules), `unchanged`,
   * `invalid` (errors reported through onError; the previous rules stay), `failed` (something threw:
   * onFailure heard it) or `stopped`.
   */
  reload(): RuleReloadOutcome {
    if (this.stopped) return 'stopped';
    try {
      const next = loadRules(this.options.dir);
      if (next.errors.length > 0) {
        this.options.onError(next.errors);
        return 'invalid';
      }
      const d = digest(next);
      if (d === this.appliedDigest) return 'unchanged';
      this.options.onReload(next.rules);
      this.appliedDigest = d;
      this.rules = next.rules;
      return 'applied';
    } catch (e) {
      try {
        this.options.onFailure?.(e instanceof Error ? e : new Error(String(e)));
      } catch {
        // A failing reporter must not end the process either.
      }
      return 'failed';
    }
  }

  /** Reload on SIGHUP (`onSighup` hears each outcome); returns a function that removes the handler. */
  installSighup(onSighup?: (outcome: RuleReloadOutcome) => void): () => void {
    const handler = () => {
      const outcome = this.reload();
      try {
        onSighup?.(outcome);
      } catch {
        // As in reload(): a signal handler never throws.
      }
    };
    process.on('SIGHUP', handler);
    return () => process.off('SIGHUP', handler);
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reload();
    }, this.debounceMs);
    this.timer.unref?.();
  }
}

/** Same rules, same digest: a touch or an editor's swap file does not reset anything. */
function digest(load: RuleLoad): string {
  return JSON.stringify(load.rules.rules, (k, v) => (k === 'regex' ? undefined : v));
}
