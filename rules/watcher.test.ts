import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EPOCH, point } from '../fixtures/series/generators.js';
import { DetectionEngine } from './engine.js';
import { formatRuleError, type RuleError } from './load.js';
import type { RuleSet } from './model.js';
import { RuleWatcher } from './watcher.js';

const memRule = (threshold: number | string) =>
  `groups:\n  - name: g\n    rules:\n      - alert: MemHigh\n        level: host\n        select: { measurement: mem, field: used_percent }\n        condition: { op: '>', threshold: ${threshold} }\n`;

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting for the watcher');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('RuleWatcher', () => {
  const watchers: RuleWatcher[] = [];
  afterEach(async () => {
    for (const w of watchers.splice(0)) await w.shutdown();
  });

  it('reloads on file changes, keeps the old rules on errors and reports them with positions', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'watch-'));
    const file = join(dir, 'mem.yaml');
    writeFileSync(file, memRule(90));
    const reloads: RuleSet[] = [];
    const errors: RuleError[][] = [];
    const watcher = new RuleWatcher({
      dir,
      debounceMs: 30,
      onReload: (r) => reloads.push(r),
      onError: (e) => errors.push(e),
    });
    watchers.push(watcher);
    const engine = new DetectionEngine({ rules: watcher.start().rules });
    const hot = watcher.current.rules[0]!;
    expect(hot.kind === 'threshold' && hot.condition.threshold).toBe(90);

    // An editor's atomic save (write a temp file, rename over): a valid change applies.
    writeFileSync(join(dir, '.mem.yaml.tmp'), memRule(80));
    renameSync(join(dir, '.mem.yaml.tmp'), file);
    await until(() => reloads.length === 1);
    engine.setRules(reloads[0]!);
    const changed = engine.activeRules[0]!;
    expect(changed.kind === 'threshold' && changed.condition.threshold).toBe(80);

    // A broken change: reported, and the running rules stay.
    writeFileSync(file, memRule('"high"'));
    await until(() => errors.length === 1);
    expect(errors[0]!.map(formatRuleError)).toEqual([
      `${file}:7:42: groups[0].rules[0].condition.threshold: expected a number for threshold`,
    ]);
    expect(watcher.current).toBe(reloads[0]);
    expect(reloads).toHaveLength(1);
    engine.process(point('mem', Object.freeze({ host: 'h1' }), { used_percent: 85 }, EPOCH));
    expect(engine.advance(EPOCH).map((e) => e.rule)).toEqual(['MemHigh']);
  });

  it('reloads on demand (the SIGHUP path), and an unchanged directory is not re-applied', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'watch-'));
    writeFileSync(join(dir, 'a.yaml'), memRule(90));
    const reloads: RuleSet[] = [];
    const watcher = new RuleWatcher({ dir, onReload: (r) => reloads.push(r), onError: () => {} });
    watchers.push(watcher);
    watcher.start();
    await watcher.shutdown();
    // Stopped watchers do nothing; a fresh one reloads on demand.
    expect(watcher.reload()).toBe('stopped');
    const again = new RuleWatcher({ dir, onReload: (r) => reloads.push(r), onError: () => {} });
    watchers.push(again);
    again.start();
    expect(again.reload()).toBe('unchanged');
    expect(reloads).toHaveLength(0);
    writeFileSync(join(dir, 'b.yaml'), memRule(50).replace('MemHigh', 'MemAbove50'));
    const outcomes: string[] = [];
    const remove = again.installSighup((o) => outcomes.push(o));
    process.emit('SIGHUP', 'SIGHUP');
    remove();
    expect(outcomes).toEqual(['applied']);
    expect(reloads.map((r) => r.rules.map((x) => x.name))).toEqual([['MemHigh', 'MemAbove50']]);
  });

  it('never throws out of a reload: a failing apply is reported and tried again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'watch-'));
    writeFileSync(join(dir, 'a.yaml'), memRule(90));
    let fail = true;
    const applied: RuleSet[] = [];
    const failures: string[] = [];
    const watcher = new RuleWatcher({
      dir,
      debounceMs: 30,
      onReload: (r) => {
        if (fail) throw new Error('setRules blew up');
        applied.push(r);
      },
      onError: () => {},
      onFailure: (e) => failures.push(e.message),
    });
    watchers.push(watcher);
    watcher.start();
    // From the file watcher's timer, where a throw would end the process.
    writeFileSync(join(dir, 'a.yaml'), memRule(80));
    await until(() => failures.length === 1);
    expect(failures).toEqual(['setRules blew up']);
    expect(
      watcher.current.rules[0]!.kind === 'threshold' && watcher.current.rules[0]!.condition.threshold,
    ).toBe(90);
    // From SIGHUP: the same set is tried again (it was never applied), and now goes through.
    const outcomes: string[] = [];
    const remove = watcher.installSighup((o) => {
      outcomes.push(o);
      throw new Error('a reporter that throws');
    });
    process.emit('SIGHUP', 'SIGHUP');
    fail = false;
    process.emit('SIGHUP', 'SIGHUP');
    remove();
    expect(outcomes).toEqual(['failed', 'applied']);
    expect(applied).toHaveLength(1);
  });
});
