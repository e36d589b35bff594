import { type ChildProcess, spawn } from 'node:child_process';
import type { Json } from '../../api/testing.js';
import { freePort, sleep } from './distributed-cluster.js';

/** `converge start` (bin/cli.ts) as a child process, watched through its own API. */
export class ConvergeStart {
  private log = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly port: number,
  ) {
    const keep = (d: Buffer) => {
      this.log = (this.log + d.toString()).slice(-65_536);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Starts it and waits for /readyz (its consumer joined, its stores answer). */
  static async launch(configPath: string): Promise<ConvergeStart> {
    const port = await freePort();
    // node --import tsx runs the CLI in this very process: a SIGKILL hits converge itself.
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'bin/cli.ts', 'start', '--config', configPath, '--port', String(port)],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } },
    );
    const c = new ConvergeStart(child, port);
    const t0 = Date.now();
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`converge start exited before ready:\n${c.log}`);
      if (await c.ready()) return c;
      if (Date.now() - t0 > 60_000) throw new Error(`converge start not ready in 60 s:\n${c.log}`);
      await sleep(250);
    }
  }

  /** What it wrote to stdout and stderr since the start or the last clearOutput() (at most 64 KiB). */
  get output(): string {
    return this.log;
  }

  clearOutput(): void {
    this.log = '';
  }

  /** Waits until its output (since the last clearOutput()) matches `pattern`. */
  async waitForOutput(pattern: RegExp, timeoutMs = 15_000): Promise<string> {
    const t0 = Date.now();
    for (;;) {
      const m = pattern.exec(this.log);
      if (m !== null) return m[0];
      if (Date.now() - t0 > timeoutMs)
        throw new Error(`no ${pattern} in converge start's output:\n${this.log}`);
      await sleep(50);
    }
  }

  /** GET a path of its API (read routes need no token on loopback): status and JSON body. */
  async get(path: string): Promise<{ status: number; body: Json }> {
    const r = await fetch(`http://127.0.0.1:${this.port}${path}`);
    return { status: r.status, body: await r.json() };
  }

  async ready(): Promise<boolean> {
    return fetch(`http://127.0.0.1:${this.port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
  }

  /** Its /metrics samples: `name` or `name{labels}` -> value. */
  async metrics(): Promise<Map<string, number>> {
    const text = await (await fetch(`http://127.0.0.1:${this.port}/metrics`)).text();
    const out = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const cut = line.lastIndexOf(' ');
      out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
    }
    return out;
  }

  /** Points acknowledged by the TSDB and accepted by the pipeline (converge_points_total). */
  async points(): Promise<number> {
    const m = await this.metrics();
    const p = m.get('converge_points_total');
    if (p === undefined) throw new Error(`no converge_points_total in /metrics: ${[...m.keys()].join(', ')}`);
    return p;
  }

  /** Consumer lag per partition as /metrics shows it. */
  async lag(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [k, v] of await this.metrics()) {
      const m = /^converge_consumer_lag_messages\{partition="(\d+)"\}$/.exec(k);
      if (m !== null) out[m[1]!] = v;
    }
    return out;
  }

  /** Waits until `n` points are stored and more are decoded but not yet acknowledged. */
  async waitForPointsInFlight(n: number, timeoutMs = 60_000): Promise<{ points: number; inFlight: number }> {
    const t0 = Date.now();
    for (;;) {
      const m = await this.metrics();
      const points = m.get('converge_points_total') ?? 0;
      const inFlight = m.get('converge_points_in_flight') ?? 0;
      if (points >= n && inFlight > 0) return { points, inFlight };
      if (Date.now() - t0 > timeoutMs)
        throw new Error(
          `converge start: ${points} points stored, ${inFlight} in flight; wanted ${n} and some:\n${this.log}`,
        );
      await sleep(20);
    }
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}
