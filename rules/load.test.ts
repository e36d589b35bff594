import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { aliasedRules, billionLaughs } from '../fixtures/hostile-rules.js';
import { checkRules, compileRuleSources, defaultRulesDir, formatRuleError, loadRules } from './load.js';

function errorsOf(text: string, file = 'r.yaml'): string[] {
  return compileRuleSources([{ file, text }]).errors.map(formatRuleError);
}

describe('default rule pack', () => {
  const { rules, errors } = loadRules(defaultRulesDir());

  it('loads without errors', () => {
    expect(errors).toEqual([]);
    expect(rules.files.map((f) => f.split('/').pop())).toEqual([
      'absence.yaml',
      'container.yaml',
      'host.yaml',
      'predictive.yaml',
      'traffic.yaml',
    ]);
  });

  it("covers Telegraf's standard measurements and the traffic measurement", () => {
    const selected = new Set<string>();
    for (const r of rules.rules) if ('select' in r) selected.add(`${r.select.measurement}.${r.select.field}`);
    for (const f of [
      'cpu.usage_idle',
      'cpu.usage_user',
      'cpu.usage_system',
      'mem.used_percent',
      'system.load1',
      'disk.used_percent',
      'net.err_in',
      'net.err_out',
      'net.drop_in',
      'processes.total_threads',
      'docker_container_cpu.usage_percent',
      'docker_container_cpu.throttling_throttled_periods',
      'docker_container_mem.usage',
      'docker_container_mem.usage_percent',
      'docker_container_status.restart_count',
      'docker_container_status.oomkilled',
      'procstat.num_threads',
      'http_requests.rate',
      'http_requests.errors',
      'http_requests.latency_p99',
    ]) {
      expect(selected, f).toContain(f);
    }
    const kinds = rules.rules.reduce<Record<string, number>>((acc, r) => {
      acc[r.kind] = (acc[r.kind] ?? 0) + 1;
      return acc;
    }, {});
    expect(kinds).toEqual({ absence: 2, threshold: 23, group: 2, trend: 5, seasonal: 1 });
  });

  it('compiles durations, defaults and divideBy', () => {
    const load = rules.rules.find((r) => r.name === 'HostLoadHigh')!;
    expect(load.kind).toBe('threshold');
    if (load.kind !== 'threshold') return;
    expect(load.forMs).toBe(600_000);
    expect(load.condition).toMatchObject({
      op: '>',
      threshold: 2,
      divideBy: 'n_cpus',
      margin: 0.5,
      resolveForMs: 600_000,
    });
    const leak = rules.rules.find((r) => r.name === 'ContainerMemoryLeak')!;
    expect(leak).toMatchObject({
      kind: 'trend',
      level: 'container',
      trend: { windowMs: 300_000, windows: 12, horizonMs: 1_800_000, limitField: 'limit' },
    });
    const down = rules.rules.find((r) => r.name === 'HostDown')!;
    expect(down).toMatchObject({ kind: 'absence', afterMs: 120_000, severity: 'critical' });
  });
});

describe('rule file errors carry file:line:column', () => {
  it('reports each problem of a file at its node', () => {
    const text = [
      'groups:', //                                                         1
      '  - name: g', //                                                     2
      '    rules:', //                                                      3
      '      - alert: A', //                                                4
      '        level: pod', //                                              5
      '        select: { measurement: cpu, field: usage_idle }', //         6
      '        condition: { op: "<", threshold: "10" }', //                 7
      '        for: 5 minutes', //                                          8
      '        severity: critcal', //                                       9
      '        colour: red', //                                             10
      '      - alert: B', //                                                11
      '        level: host', //                                             12
      '        select: { measurement: cpu, field: f, match: [\'cpu=~"("\'] }', // 13
      "        condition: { op: '>', threshold: 1 }", //                    14
      "        annotations: { summary: '{{ $valu }}' }", //                  15
    ].join('\n');
    expect(errorsOf(text)).toEqual([
      'r.yaml:5:16: groups[0].rules[0].level: unknown level "pod" (expected container, host, app, rack or idc)',
      'r.yaml:7:42: groups[0].rules[0].condition.threshold: expected a number for threshold',
      'r.yaml:8:14: groups[0].rules[0].for: bad duration "5 minutes" (use e.g. 500ms, 30s, 5m, 1h30m)',
      'r.yaml:9:19: groups[0].rules[0].severity: unknown severity "critcal" (expected critical, warning or info)',
      'r.yaml:10:9: unknown key "colour" in groups[0].rules[0]',
      'r.yaml:15:34: groups[0].rules[1].annotations.summary: annotation "summary": unknown template variable "$valu" (known: $value, $labels.NAME, $entity, $level, $threshold, $eta, $score, $rule)',
      'r.yaml:13:62: groups[0].rules[1].select.match[0]: bad regex in matcher "cpu=~\\"(\\"": missing closing ): `(`',
    ]);
  });

  it('reports duplicate names across files, with the first definition', () => {
    const rule = (name: string) =>
      `groups:\n  - name: g\n    rules:\n      - alert: ${name}\n        level: host\n        absent: { after: 1m }\n`;
    const { errors, rules } = compileRuleSources([
      { file: 'a.yaml', text: rule('HostDown') },
      { file: 'b.yaml', text: rule('HostDown') },
    ]);
    expect(errors.map(formatRuleError)).toEqual([
      'b.yaml:4:16: duplicate alert name "HostDown" (first defined at a.yaml:4:9)',
    ]);
    expect(rules.rules).toHaveLength(1);
  });

  it('checks group rule references, kinds and missing keys', () => {
    const text = [
      'groups:',
      '  - name: g',
      '    rules:',
      '      - alert: G',
      '        level: app',
      '        group: { rule: Nope, percentAbove: 30 }',
      '      - alert: H',
      '        level: container',
      '        group: { rule: G, percentAbove: 30 }',
      '      - alert: T',
      '        level: host',
      '        select: { measurement: mem }',
      '        trend: { limit: 100 }',
      '      - alert: Both',
      '        level: host',
      '        absent: { after: 1m }',
      "        condition: { op: '>', threshold: 1 }",
      '  - rules: []',
    ].join('\n');
    expect(errorsOf(text)).toEqual([
      'r.yaml:8:16: groups[0].rules[1].level: group rules count children: level must be app, host, rack or idc, not container',
      'r.yaml:12:17: missing key "field" in groups[0].rules[2].select',
      'r.yaml:14:16: groups[0].rules[3].alert: rule "Both" has condition and absent; give exactly one',
      'r.yaml:18:5: missing key "name" in groups[1]',
      'r.yaml:6:24: group rule "G" counts unknown rule "Nope"',
    ]);
  });

  it('reports YAML syntax errors with their position', () => {
    expect(errorsOf('groups:\n  - name: "g\n')).toEqual(['r.yaml:3:1: Missing closing "quote']);
    expect(errorsOf('groups:\n  - name: a\n    name: b\n    rules: []\n')[0]).toMatch(
      /^r\.yaml:3:5: Map keys must be unique/,
    );
  });

  it('accepts an empty file as no rules and rejects a file that is not a map of groups', () => {
    expect(compileRuleSources([{ file: 'e.yaml', text: '# nothing yet\n' }])).toEqual({
      rules: { rules: [], files: ['e.yaml'] },
      errors: [],
    });
    expect(errorsOf('- alert: A\n')).toEqual(['r.yaml:1:1: expected object, received array']);
  });

  it('checkRules reads a directory (yaml and yml, sorted) and names a missing one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rules-'));
    writeFileSync(
      join(dir, 'b.yml'),
      'groups:\n  - name: g\n    rules:\n      - alert: X\n        level: rack\n',
    );
    writeFileSync(join(dir, 'a.yaml'), 'groups: []\n');
    writeFileSync(join(dir, 'notes.txt'), 'not a rule file');
    mkdirSync(join(dir, 'sub.yaml'));
    const errors = checkRules(dir).map(formatRuleError);
    expect(errors).toEqual([
      `${join(dir, 'sub.yaml')}:1:1: cannot read file: EISDIR: illegal operation on a directory, read`,
      `${join(dir, 'b.yml')}:4:16: groups[0].rules[0].alert: rule "X" needs one of: condition, absent, group, trend, seasonal`,
    ]);
    expect(checkRules(join(dir, 'missing')).map(formatRuleError)).toEqual([
      expect.stringMatching(/missing:1:1: cannot read directory: ENOENT/),
    ]);
  });
});

describe('hostile rule files are refused with a position, never thrown', () => {
  it('a legitimate file using one anchor 150 times loads (yaml toJS() threw past 100 aliases)', () => {
    const { rules, errors } = compileRuleSources([{ file: 'a.yaml', text: aliasedRules(150) }]);
    expect(errors).toEqual([]);
    expect(rules.rules).toHaveLength(150);
    expect(rules.rules[149]).toMatchObject({
      name: 'Aliased149',
      labels: { team: 'infra', source: 'aliased' },
    });
    expect(rules.rules[149]!.annotations.summary!.source).toBe('memory {{ $value }}% on {{ $entity }}');
  });

  it('a billion laughs is one error at the alias that crosses the bound', () => {
    expect(errorsOf(billionLaughs())).toEqual([
      'r.yaml:6:14: aliases expand the document beyond 250000 nodes (at *e)',
    ]);
  });

  it('a problem inside an aliased map points at its anchor; nesting and size are bounded', () => {
    const text = aliasedRules(3).replace("summary: '", 'summary: \'{{ $value | printf "%.200f" }} ');
    expect(errorsOf(text)).toEqual(
      [0, 1, 2].map(
        (i) =>
          `r.yaml:9:47: groups[0].rules[${i}].annotations.summary: annotation "summary": {{ $value | printf "%.200f" }} fails when rendered: toFixed() digits argument must be between 0 and 100`,
      ),
    );
    expect(errorsOf('groups: ' + '['.repeat(200_000) + ']'.repeat(200_000))).toEqual([
      'r.yaml:1:135: nested more than 64 levels deep',
    ]);
    expect(errorsOf('# ' + 'x'.repeat(2 << 20))).toEqual([
      'r.yaml:1:1: file is 2097154 bytes; at most 1048576 are read',
    ]);
  });
});
