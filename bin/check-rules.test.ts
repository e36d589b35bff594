import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { aliasedRules, billionLaughs } from '../fixtures/hostile-rules.js';

// `converge check-rules` and `converge replay --rules` as a user runs them, on rule files that
// used to pass validation and then kill detection, or to throw out of the YAML reader.
const dir = mkdtempSync(join(tmpdir(), 'converge-check-rules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function converge(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bin/cli.ts', ...args], {
    encoding: 'utf8',
    maxBuffer: 16 << 20,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A directory holding one rule file with `text`. */
function rulesDir(name: string, text: string): { dir: string; file: string } {
  const d = join(dir, name);
  mkdirSync(d);
  const file = join(d, 'rules.yaml');
  writeFileSync(file, text);
  return { dir: d, file };
}

const cpuRule = (extra: string) =>
  [
    'groups:',
    '  - name: g',
    '    rules:',
    '      - alert: CpuHigh',
    '        level: host',
    '        select: { measurement: cpu, field: usage_user }',
    "        condition: { op: '>', threshold: 50 }",
    extra,
  ].join('\n') + '\n';

/** 10 points a minute apart of host h1 at 90 % user CPU, and of two more hosts. */
function cpuPoints(hosts = ['h1']): string {
  const file = join(dir, `cpu-${hosts.length}.lp`);
  const lines: string[] = [];
  for (let i = 0; i < 10; i++)
    for (const h of hosts) lines.push(`cpu,host=${h} usage_user=90 ${1_704_067_200 + i * 60}000000000`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

describe('converge check-rules refuses what would fail later, with file:line:column', () => {
  it('a template that throws when rendered (it passed, then killed replay and detection)', () => {
    const { dir: d, file } = rulesDir(
      'template',
      cpuRule(`        annotations: { summary: '{{ $value | printf "%.200f" }}' }`),
    );
    const r = converge(['check-rules', d]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(
      `${file}:8:34: groups[0].rules[0].annotations.summary: annotation "summary": {{ $value | printf "%.200f" }} fails when rendered: toFixed() digits argument must be between 0 and 100\n`,
    );
    // replay refuses the same directory up front instead of dying on the first alert.
    const replay = converge(['replay', cpuPoints(), '--rules', d, '--summary-json']);
    expect(replay.status).toBe(2);
    expect(replay.stderr).toContain(`${file}:8:34: `);
    expect(replay.stderr).not.toContain('toFixed() digits argument must be between 0 and 100\n    at');
  });

  it('YAML aliases: a billion laughs is refused at its position; 150 uses of one anchor are fine', () => {
    const laughs = rulesDir('laughs', billionLaughs());
    const r = converge(['check-rules', laughs.dir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      `${laughs.file}:6:14: aliases expand the document beyond 250000 nodes (at *e)\n` +
        `${laughs.dir}: 1 problem(s); no rule from this directory would be loaded\n`,
    );
    const aliased = rulesDir('aliased', aliasedRules(150));
    const ok = converge(['check-rules', aliased.dir]);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe(`${aliased.dir}: 150 rules in 1 files, all valid\n`);
  });

  it('regexes are RE2 and cannot escape their anchoring', () => {
    const { dir: d, file } = rulesDir(
      'escape',
      cpuRule('').replace('field: usage_user }', `field: usage_user, match: ['host=~"web)|(.*"'] }`),
    );
    const r = converge(['check-rules', d]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(
      `${file}:6:75: groups[0].rules[0].select.match[0]: bad regex in matcher "host=~\\"web)|(.*\\"": unexpected ): \`web)|(.*\`\n`,
    );
  });
});

describe('converge replay with rules that are hard on the engine', () => {
  it('one anchor 150 times and a catastrophic-for-backtracking regex: alerts as written, at once', () => {
    const rules = aliasedRules(3, 50)
      .replaceAll('measurement: mem, field: used_percent', 'measurement: cpu, field: usage_user')
      .concat(
        [
          '      - alert: EvilRegex',
          '        level: host',
          `        select: { measurement: cpu, field: usage_user, match: ['host=~"(a+)+b"'] }`,
          "        condition: { op: '>', threshold: 50 }",
        ].join('\n') + '\n',
      );
    const { dir: d } = rulesDir('replay', rules);
    const out = join(dir, 'alerts.jsonl');
    const started = performance.now();
    const r = converge([
      'replay',
      cpuPoints(['h1', 'a'.repeat(28), 'aaab']),
      '--rules',
      d,
      '--alerts-out',
      out,
      '--summary-json',
      '--quiet',
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // Backtracking took 15 s per test of the 28 "a"s; the whole run is a few seconds of start-up.
    expect(performance.now() - started).toBeLessThan(10_000);
    const alerts = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            rule: string;
            state: string;
            entity: { id: string };
            labels: Record<string, string>;
            annotations: Record<string, string>;
          },
      );
    const firing = alerts.filter((a) => a.state === 'firing');
    expect(firing.map((a) => `${a.rule} ${a.entity.id}`).sort()).toEqual(['Aliased1 h1', 'EvilRegex aaab']);
    const aliased = firing.find((a) => a.rule === 'Aliased1')!;
    expect(aliased.labels).toMatchObject({ team: 'infra', source: 'aliased' });
    expect(aliased.annotations.summary).toBe('memory 90% on h1');
  }, 30_000);
});
