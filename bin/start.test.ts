import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// `converge start` refusing a configuration it cannot run with, before it connects to anything
// (the broker named here does not exist): exit code 2 and a message naming the mistake.
const dir = mkdtempSync(join(tmpdir(), 'converge-start-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function start(config: object, timeout = 30_000) {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(config));
  return spawnSync(process.execPath, ['--import', 'tsx', 'bin/cli.ts', 'start', '--config', file], {
    encoding: 'utf8',
    timeout,
  });
}

const kafka = { brokers: ['127.0.0.1:1'] };

describe('converge start refuses what it cannot run with', () => {
  it('without a kafka section', () => {
    const r = start({});
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('the config has no `kafka` section');
  });

  it('with a topology file it cannot read', () => {
    const missing = join(dir, 'no-such-cmdb.jsonl');
    const r = start({ kafka, topology: { files: [missing] } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`topology.files: ${missing}: cannot read topology file`);
  });

  it('with an invalid rule directory, naming file, line and column', () => {
    const rules = join(dir, 'rules');
    mkdirSync(rules, { recursive: true });
    writeFileSync(
      join(rules, 'bad.yaml'),
      "groups:\n  - name: g\n    rules:\n      - alert: MemHigh\n        level: host\n        select: { measurement: mem, field: used_percent }\n        condition: { op: '>', threshold: high }\n",
    );
    const r = start({ kafka, rules: { dir: rules } });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/bad\.yaml:7:\d+: groups\[0\]\.rules\[0\]\.condition\.threshold/);
  });

  it('exits 1 (not idles) when the brokers stay unreachable through the client retries', () => {
    // kafkajs retries for ~10 s; then the API and notifier already running are shut down.
    const r = start({ kafka, log: { level: 'error' } }, 60_000);
    expect(r.signal).toBe(null); // exited by itself, not killed by the timeout
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('cannot start consuming from Kafka; exiting so that a supervisor restarts it');
  }, 70_000);
});
