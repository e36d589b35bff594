import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { aliasedRules, billionLaughs } from '../../fixtures/hostile-rules.js';
import { MetricsProducer } from '../../ingest/kafka/producer.js';
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

/** `converge start` on its own topics over a copy of the default pack in `<dir>/<name>`. */
async function launchWithPack(name: string) {
  const rulesDir = join(dir, name);
  mkdirSync(rulesDir);
  for (const f of readdirSync(defaultRulesDir())) copyFileSync(join(defaultRulesDir(), f), join(rulesDir, f));
  const packRules = loadRules(rulesDir).rules.rules.length;
  expect(packRules).toBeGreaterThan(20);
  const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
  const metricsTopic = `metrics-reload-${run}`;
  const configPath = join(dir, `${name}.json`);
  writeFileSync(
    configPath,
    JSON.stringify({
      kafka: {
        brokers: serviceUrls().kafkaBrokers,
        clientId: `converge-${run}`,
        groupId: `reload-${run}`,
        topics: { metrics: metricsTopic, topology: `topology-reload-${run}` },
        partitions: 2,
      },
      rules: { dir: rulesDir },
      correlate: { mode: 'embedded' },
      log: { level: 'info' },
    }),
  );
  const c = await ConvergeStart.launch(configPath);
  return { rulesDir, packRules, metricsTopic, c };
}

describe('converge start: rule hot reload', () => {
  it('refuses a broken edit with its position, applies a valid one, and reloads on SIGHUP', async () => {
    const { rulesDir, packRules, c } = await launchWithPack('a');
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

  it('hostile rule files never end it nor blind detection; a file using one anchor 150 times runs', async () => {
    const { rulesDir, packRules, metricsTopic, c } = await launchWithPack('b');
    const producer = new MetricsProducer({
      brokers: serviceUrls().kafkaBrokers,
      topic: metricsTopic,
      partitions: 2,
    });
    try {
      await c.waitForOutput(/watching rules \(reload on change or SIGHUP\)/);
      const file = join(rulesDir, 'hostile.yaml');
      const refused = async (text: string, problem: string) => {
        c.clearOutput();
        writeFileSync(file, text);
        await c.waitForOutput(/rules not reloaded: 1 error/);
        const logged = c.output
          .split('\n')
          .filter((l) => l.includes('"rules not reloaded'))
          .map((l) => JSON.parse(l) as { errors: string[] });
        expect(logged.map((l) => l.errors)).toEqual([[`${file}:${problem}`]]);
        expect(await c.ready()).toBe(true);
      };
      // A template that threw at every render (detection failed on every batch, then removing
      // the rule ended the process) is refused where it is written.
      await refused(
        extraRule(95) + '        annotations: { summary: \'at {{ $value | printf "%.200f" }}\' }\n',
        '8:37: groups[0].rules[0].annotations.summary: annotation "summary": {{ $value | printf "%.200f" }} fails when rendered: toFixed() digits argument must be between 0 and 100',
      );
      // YAML aliases used to throw out of toJS() and end the process.
      await refused(billionLaughs(), '6:14: aliases expand the document beyond 250000 nodes (at *e)');
      await refused(
        `groups: ${'['.repeat(100_000)}${']'.repeat(100_000)}`,
        '1:135: nested more than 64 levels deep',
      );
      // A regex that escaped its anchoring with an unbalanced ")".
      await refused(
        extraRule(95).replace('field: used_percent', `field: used_percent, match: ['host=~"web)|(.*"']`),
        '6:77: groups[0].rules[0].select.match[0]: bad regex in matcher "host=~\\"web)|(.*\\"": unexpected ): `web)|(.*`',
      );

      // Legitimate: one anchor 150 times, and a regex that is catastrophic for backtracking.
      c.clearOutput();
      const evil = [
        '      - alert: EvilRegex',
        '        level: host',
        `        select: { measurement: mem, field: used_percent, match: ['host=~"(a+)+b"'] }`,
        "        condition: { op: '>', threshold: 90 }",
      ].join('\n');
      writeFileSync(file, aliasedRules(150) + evil + '\n');
      const reloaded = await c.waitForOutput(/"rules":\d+,"files":\d+[^\n]*"msg":"rules reloaded"/);
      expect(reloaded).toContain(`"rules":${packRules + 151},`);

      // Points: h7 breaches Aliased7; 28 "a"s (15 s of backtracking per regex test before) and
      // "aaab" go through the EvilRegex matcher; only "aaab" matches it.
      const t0 = Date.now() - 120_000;
      const hosts = ['h7', 'a'.repeat(28), 'aaab'];
      const started = performance.now();
      for (let i = 0; i < 8; i++) {
        const t = t0 + i * 10_000;
        await producer.send(
          hosts.map((host) => ({ host, value: `mem,host=${host} used_percent=97 ${t}000000`, timestamp: t })),
        );
      }
      const firing = async () => {
        const r = await c.get('/api/v1/alerts?state=firing&limit=1000');
        expect(r.status).toBe(200);
        return r.body.items as Array<{
          rule: string;
          entity: { id: string };
          labels: Record<string, string>;
          annotations: Record<string, string>;
        }>;
      };
      let items = await firing();
      for (
        let tries = 0;
        !(items.some((a) => a.rule === 'Aliased7') && items.some((a) => a.rule === 'EvilRegex'));
        tries++
      ) {
        if (tries > 150)
          throw new Error(`no alerts from the reloaded rules:\n${JSON.stringify(items)}\n${c.output}`);
        await new Promise((r) => setTimeout(r, 200));
        items = await firing();
      }
      expect(performance.now() - started).toBeLessThan(30_000);
      const aliased = items.filter((a) => a.rule.startsWith('Aliased'));
      expect(aliased.map((a) => [a.rule, a.entity.id])).toEqual([['Aliased7', 'h7']]);
      expect(aliased[0]!.labels).toMatchObject({ team: 'infra', source: 'aliased' });
      expect(aliased[0]!.annotations.summary).toBe('memory 97% on h7');
      expect(items.filter((a) => a.rule === 'EvilRegex').map((a) => a.entity.id)).toEqual(['aaab']);

      const readiness = await c.get('/readyz');
      expect(readiness.status).toBe(200);
      expect(readiness.body.checks.detection).toEqual({ ok: true, detail: 'running' });
      const metrics = await c.metrics();
      expect(metrics.get('converge_template_errors_total')).toBe(0);
      expect(metrics.get('converge_detection_failures_total')).toBe(0);

      // Removing the rules resolves their alerts (this is where the process used to end).
      c.clearOutput();
      rmSync(file);
      const back = await c.waitForOutput(/"rules":\d+,"files":\d+[^\n]*"msg":"rules reloaded"/);
      expect(back).toContain(`"rules":${packRules},`);
      const t = t0 + 80_000;
      await producer.send([{ host: 'h7', value: `mem,host=h7 used_percent=50 ${t}000000`, timestamp: t }]);
      for (let tries = 0; ; tries++) {
        const r = await c.get('/api/v1/alerts?rule=Aliased7&state=resolved');
        if (r.body.items.length === 1) break;
        if (tries > 150) throw new Error(`Aliased7 not resolved:\n${c.output}`);
        await new Promise((res) => setTimeout(res, 200));
      }
      expect(await c.ready()).toBe(true);

      c.kill('SIGTERM');
      expect((await c.exited).code).toBe(0);
    } finally {
      await producer.shutdown();
      c.kill('SIGKILL');
    }
  }, 120_000);
});
