import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, sleep } from './distributed-cluster.js';
import { serviceUrls } from './services.js';

// The package as an operator installs it: `npm pack` of this checkout, installed offline (from
// the npm cache the checkout's own install filled) into an empty directory, then its `converge`
// command run for real: --version, demo, start on the real broker. Also the systemd unit.

const root = join(import.meta.dirname, '..', '..');
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
const dir = mkdtempSync(join(tmpdir(), 'converge-package-'));
const app = join(dir, 'app');
const bin = join(app, 'node_modules', '.bin', 'converge');

function run(cmd: string, args: string[], cwd: string, timeout = 240_000) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A long-running `converge` command, its output kept, stopped with a signal. */
class Running {
  output = '';
  readonly exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-65_536);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }
  async waitFor(url: string, timeoutMs: number): Promise<Response> {
    const t0 = Date.now();
    for (;;) {
      if (this.child.exitCode !== null)
        throw new Error(`exited ${this.child.exitCode} before ${url}:\n${this.output}`);
      const r = await fetch(url).catch(() => undefined);
      if (r?.ok) return r;
      if (Date.now() - t0 > timeoutMs)
        throw new Error(`${url} not ready in ${timeoutMs} ms:\n${this.output}`);
      await sleep(250);
    }
  }
}

beforeAll(() => {
  // dist/ is current: the test command builds before the suite. --ignore-scripts: no second build.
  const packed = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], root);
  const [{ filename }] = JSON.parse(packed) as [{ filename: string }];
  writeFileSync(join(dir, 'package.json'), '{}');
  run('mkdir', ['-p', app], dir);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'ops', private: true }));
  run(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', join(dir, filename)],
    app,
  );
}, 300_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the packed tarball, installed offline into an empty directory', () => {
  it('holds the compiled CLI, the default rules and the deployment files, and no tests', () => {
    const pkg = join(app, 'node_modules', 'converge');
    for (const f of [
      'dist/bin/cli.js',
      'rules/default/host.yaml',
      'deploy/converge.service',
      'deploy/converge.yaml',
    ])
      expect(existsSync(join(pkg, f)), f).toBe(true);
    expect(existsSync(join(pkg, 'dist', 'bench'))).toBe(false);
    expect(existsSync(join(pkg, 'test'))).toBe(false);
    expect(existsSync(join(pkg, 'node_modules', 'vitest'))).toBe(false);
  });

  it('converge --version prints the package version', () => {
    expect(run(bin, ['--version'], app).trim()).toBe(version);
  });

  it('converge with a bad invocation exits 2', () => {
    const r = spawnSync(bin, ['start'], { cwd: app, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--config');
  });

  it('converge demo serves its API and stops cleanly on SIGINT', async () => {
    const port = await freePort();
    const demo = new Running(
      spawn(bin, ['demo', '--port', String(port), '--fleet', '1x1x4x3'], { cwd: app }),
    );
    const r = await demo.waitFor(`http://127.0.0.1:${port}/healthz`, 120_000);
    expect(r.status).toBe(200);
    demo.child.kill('SIGINT');
    expect(await demo.exited).toBe(0);
  }, 180_000);

  it('converge start runs against the real broker with the example config and stops cleanly on SIGTERM', async () => {
    const { kafkaBrokers, tsdbUrl } = serviceUrls();
    const suffix = randomBytes(4).toString('hex');
    const port = await freePort();
    // The shipped example, pointed at the test services (what an operator edits).
    const example = readFileSync(join(app, 'node_modules', 'converge', 'deploy', 'converge.yaml'), 'utf8');
    const config = example
      .replace(/brokers: \[.*\]/, `brokers: ${JSON.stringify(kafkaBrokers)}`)
      .replace(
        /groupId: converge-ingest/,
        `groupId: cnv-pkg-${suffix}\n  topics: { metrics: metrics-${suffix}, dlq: metrics.dlq-${suffix}, topology: topology-${suffix}, alerts: alerts-${suffix}, incidents: incidents-${suffix}, observed: topology.observed-${suffix} }`,
      )
      .replace(/partitions: 24/, 'partitions: 2')
      .replace(/url: http:\/\/victoria-metrics\.example\.internal:8428/, `url: ${tsdbUrl}`)
      .replace(/^redis:\n {2}url: .*$/m, '')
      .replace(/mode: auto/, 'mode: embedded')
      .replace(/^notify:[\s\S]*$/m, '');
    const file = join(dir, 'converge.yaml');
    writeFileSync(file, config);
    const start = new Running(
      spawn(bin, ['start', '--config', file, '--port', String(port)], {
        cwd: app,
        env: { ...process.env, CONVERGE_API_TOKEN: `pkg-test-token-${suffix}` },
      }),
    );
    await start.waitFor(`http://127.0.0.1:${port}/readyz`, 90_000);
    const health = await fetch(`http://127.0.0.1:${port}/api/v1/health`, {
      headers: { authorization: `Bearer pkg-test-token-${suffix}` },
    });
    expect(health.status).toBe(200);
    start.child.kill('SIGTERM');
    expect(await start.exited).toBe(0);
  }, 180_000);
});

describe('the systemd unit', () => {
  it('passes systemd-analyze verify (Debian package systemd) with no warning', () => {
    const r = spawnSync('systemd-analyze', ['verify', join(root, 'deploy', 'converge.service')], {
      encoding: 'utf8',
    });
    expect(r.error, 'systemd-analyze is needed (Debian package systemd)').toBeUndefined();
    expect(r.stderr.trim()).toBe('');
    expect(r.status).toBe(0);
  });
});
