import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultRulesDir, loadRules } from '../../rules/load.js';
import { ConvergeStart } from './converge-start.js';
import { serviceUrls } from './services.js';

/**
 * Hot reload of the rules in the real `converge start` process (on Kafka): a broken edit is
 * refused with file:line:column and the process keeps running its rules; a valid edit applies;
 * SIGHUP reads the directory again instead of ending the process.
 */

const extraRule = (threshold: number | string) =>
  `groups:\n  - name: extra\n    rules:\n      - alert: ExtraMemHigh\n        level: host\n        select: { measurement: mem, field: used_percent }\n        condition: { op: '>', threshold: ${threshold} }\n`;

const dir = mkdtempSync(join(tmpdir(), 'converge-reload-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('converge start: rule hot reload', () => {
  it('refuses a broken edit with its position, applies a valid one, and reloads on SIGHUP', async () => {
    const rulesDir = join(dir, 'rules');
    mkdirSync(rulesDir);
    for (const f of readdirSync(defaultRulesDir()))
      copyFileSync(join(defaultRulesDir(), f), join(rulesDir, f));
    const packRules = loadRules(rulesDir).rules.rules.length;
    expect(packRules).toBeGreaterThan(20);
    const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
    const configPath = join(dir, 'converge.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        kafka: {
          brokers: serviceUrls().kafkaBrokers,
          clientId: `converge-${run}`,
          groupId: `reload-${run}`,
          topics: { metrics: `metrics-reload-${run}`, topology: `topology-reload-${run}` },
          partitions: 2,
        },
        rules: { dir: rulesDir },
        correlate: { mode: 'embedded' },
        log: { level: 'info' },
      }),
    );
    const c = await ConvergeStart.launch(configPath);
    try {
      await c.waitForOutput(/watching rules \(reload on change or SIGHUP\)/);

      // A broken edit: refused whole, each problem with file:line:column; the process goes on.
      c.clearOutput();
      const extra = join(rulesDir, 'extra.yaml');
      writeFileSync(extra, extraRule('"high"'));
      await c.waitForOutput(/rules not reloaded: 1 error/);
      expect(c.output).toContain(`${extra}:7:42: groups[0].rules[0].condition.threshold: expected a number`);
      expect(await c.ready()).toBe(true);

      // SIGHUP reads the directory again (still broken) and does not end the process.
      c.clearOutput();
      c.kill('SIGHUP');
      await c.waitForOutput(/rules not reloaded: 1 error/);
      expect(await c.ready()).toBe(true);

      // A valid edit applies: the pack's rules and the new one.
      c.clearOutput();
      writeFileSync(extra, extraRule(95));
      const reloaded = await c.waitForOutput(/"rules":\d+,"files":\d+[^\n]*"msg":"rules reloaded"/);
      expect(reloaded).toContain(`"rules":${packRules + 1},`);

      // SIGHUP with nothing changed: nothing is reset.
      c.clearOutput();
      c.kill('SIGHUP');
      await c.waitForOutput(/SIGHUP: rules unchanged/);
      expect(c.output).not.toContain('rules reloaded');

      c.kill('SIGTERM');
      expect((await c.exited).code).toBe(0);
    } finally {
      c.kill('SIGKILL');
    }
  });
});
