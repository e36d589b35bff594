/**
 * Root cause on third-party data: the PetShop dataset (Amazon Science, CC-BY-4.0; 68 injected
 * performance issues in an AWS microservice application, bench/petshop/README.md), Converge
 * beside peers on the same cases in the same run.
 *
 * Every case (the scenario's normal-operation history, then the issue window) is converted by
 * bench/petshop/convert.ts and
 * - replayed through the built product, `node dist/bin/cli.js replay` with the default config
 *   and rule pack, not told the fault time; its answer is the first incident opened from the
 *   window start on (bench/petshop/score.ts, convergeAnswer);
 * - ranked by the max-|z| baseline (score.ts, maxZBaseline), given the true fault time;
 * - ranked by published methods from PyPI (bench/petshop/peers.py in the venv that
 *   bench/petshop/setup-peers.sh creates: BARO from rcaeval; epsilon-diagnosis, random walk
 *   and RCD from sfr-pyrca), given the true fault time.
 * Scored by top-1 / top-3 recall of the root-cause node per scenario and overall.
 *
 *   npm run bench -- petshop                          test issues (the reported table)
 *   npx tsx bench/petshop.ts [--split train|test|all] [--data DIR] [--keep DIR] [--no-peers]
 *                            [--cases-out FILE] [--only ID,...]
 *
 * Environment: PETSHOP_SPLIT (same as --split), PETSHOP_DATA (dataset directory), PETSHOP_VENV
 * (the peers' venv, default bench/petshop/.cache/venv, created
 * from PyPI by bench/petshop/setup-peers.sh on the first run).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CaseFiles, splitsOf, writeCase } from './petshop/convert.js';
import { type PetshopCase, PetshopDataset, SCENARIOS } from './petshop/dataset.js';
import {
  type Answer,
  type CaseTruth,
  type ConvergeOutcome,
  convergeAnswer,
  formatTable,
  type MethodRow,
  maxZBaseline,
  ranked,
  topK,
} from './petshop/score.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const arg = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const flag = (name: string) => argv.includes(`--${name}`);

const PEERS: Array<{ method: string; name: string; given: string }> = [
  { method: 'baro', name: 'BARO (rcaeval)', given: 'true fault time; normal = every row before it' },
  {
    method: 'epsilon_diagnosis',
    name: 'ε-diagnosis (sfr-pyrca)',
    given: 'fault window (±12 min), normal history, target metric',
  },
  {
    method: 'random_walk',
    name: 'random walk (sfr-pyrca)',
    given: 'fault window (±12 min), normal history, target metric, call graph',
  },
  { method: 'rcd', name: 'RCD (sfr-pyrca)', given: 'fault window (±12 min), normal history, target metric' },
];

interface ReplayResult {
  summary: { points: number; malformed: number; series: number; alerts: number; incidents: number };
  outcome: ConvergeOutcome;
}

function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string } = {},
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, out, err }));
  });
}

async function replayCase(c: PetshopCase, files: CaseFiles, cli: string): Promise<ReplayResult> {
  const incidents = join(files.dir, 'incidents.jsonl');
  const r = await run(process.execPath, [
    cli,
    'replay',
    files.lp,
    '--format',
    'lp',
    '--precision',
    's',
    '--topology',
    files.topology,
    '--incidents-out',
    incidents,
    '--alerts-out',
    join(files.dir, 'alerts.jsonl'),
    '--errors-out',
    join(files.dir, 'rejected.jsonl'),
    '--summary-json',
    '--quiet',
  ]);
  if (r.code !== 0) throw new Error(`${c.ref.id}: converge replay exited ${r.code}: ${r.err.trim()}`);
  const lines = r.out.trimEnd().split('\n');
  const summary = JSON.parse(lines[lines.length - 1]!) as ReplayResult['summary'];
  if (summary.malformed > 0)
    throw new Error(`${c.ref.id}: converge replay rejected ${summary.malformed} lines`);
  if (summary.points !== files.points) {
    throw new Error(
      `${c.ref.id}: converge replay counted ${summary.points} points, the converter wrote ${files.points}`,
    );
  }
  const outcome = convergeAnswer(readFileSync(incidents, 'utf8'), c.windowStart, c.rootCause);
  return { summary, outcome };
}

/** Runs `f` over `items`, `width` at a time, results in input order. */
async function pool<T, R>(
  items: readonly T[],
  width: number,
  f: (x: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}

interface PeerLine {
  case: string;
  method: string;
  ranks: string[];
  seconds: number;
  error: string | null;
  note: string | null;
}

/** The peers' venv (bench/petshop/.cache/venv unless PETSHOP_VENV), made by setup-peers.sh if missing. */
function peersPython(): string {
  const venv = process.env.PETSHOP_VENV ?? join(root, 'bench', 'petshop', '.cache', 'venv');
  const python = join(venv, 'bin', 'python');
  if (existsSync(python)) return python;
  console.log(
    `peers: no venv at ${venv}; creating it from PyPI (bench/petshop/setup-peers.sh, a few minutes)`,
  );
  const r = spawnSync('bash', [join(root, 'bench', 'petshop', 'setup-peers.sh')], {
    stdio: 'inherit',
    env: { ...process.env, PETSHOP_VENV: venv },
  });
  if (r.status !== 0 || !existsSync(python)) {
    throw new Error(
      `setup-peers.sh failed (${r.error?.message ?? `exit ${r.status}`}); pass --no-peers to run without the peers`,
    );
  }
  return python;
}

async function runPeers(python: string, casesDir: string, only: string[] | undefined): Promise<PeerLine[]> {
  const args = [join(root, 'bench', 'petshop', 'peers.py'), '--cases', casesDir];
  if (only) args.push('--only', only.join(','));
  const r = await run(python, args);
  if (r.code !== 0)
    throw new Error(`peers.py exited ${r.code}: ${r.err.trim().split('\n').slice(-5).join('\n')}`);
  return r.out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as PeerLine);
}

async function main(): Promise<void> {
  const cli = join(root, 'dist', 'bin', 'cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
  const splits = splitsOf(arg('split') ?? process.env.PETSHOP_SPLIT);
  const only = arg('only')?.split(',');
  const data = new PetshopDataset(arg('data'));
  const keep = arg('keep');
  const outDir = keep ?? mkdtempSync(join(tmpdir(), 'converge-petshop-'));
  const t0 = Date.now();

  const refs = data.cases(splits).filter((r) => !only || only.includes(r.id));
  const cases = refs.map((r) => data.load(r));
  const files = cases.map((c) => writeCase(c, outDir));
  const points = files.reduce((s, f) => s + f.points, 0);
  console.log(
    `PetShop (${data.dir}), ${splits.join('+')} issues: ${cases.length} cases, ${points.toLocaleString('en')} points ` +
      `converted in ${((Date.now() - t0) / 1000).toFixed(1)} s -> ${outDir}`,
  );

  const peersPromise = flag('no-peers') ? Promise.resolve(undefined) : runPeers(peersPython(), outDir, only);
  // The peers' Python runs beside the replays (one at a time): two processes on 2 cores.
  const t1 = Date.now();
  const replays = await pool(cases, 1, (c, i) => replayCase(c, files[i]!, cli));
  const replayS = (Date.now() - t1) / 1000;
  const peerLines = await peersPromise;
  const peersS = (Date.now() - t1) / 1000;

  const truths: CaseTruth[] = cases.map((c) => ({
    id: c.ref.id,
    scenario: c.ref.scenario,
    rootCause: c.rootCause,
  }));
  const rows: MethodRow[] = [
    {
      name: 'Converge (default config and rules)',
      given: '**not** the fault time: the stream, call graph as CMDB',
      answers: new Map(cases.map((c, i) => [c.ref.id, replays[i]!.outcome.answer])),
    },
    {
      name: 'max-\\|z\\| baseline',
      given: 'true fault time; the hour before it',
      answers: new Map(cases.map((c) => [c.ref.id, ranked(maxZBaseline(c))])),
    },
  ];
  const peerErrors: string[] = [];
  if (peerLines) {
    for (const p of PEERS) {
      const answers = new Map<string, Answer>();
      for (const l of peerLines.filter((x) => x.method === p.method)) {
        answers.set(l.case, ranked(l.ranks));
        if (l.error) peerErrors.push(`${p.method} ${l.case}: ${l.error}`);
      }
      rows.push({ name: p.name, given: p.given, answers });
    }
  }

  const present = SCENARIOS.filter((s) => truths.some((t) => t.scenario === s));
  console.log(
    `\nTop-1 / top-3 recall of the root-cause node, ${splits.join('+')} issues ` +
      `(ties broken at random: expected credit); "no answer": cases with an empty answer\n`,
  );
  console.log(formatTable(rows, truths, present));

  const sum = (f: (r: ReplayResult) => number) => replays.reduce((s, r) => s + f(r), 0);
  const silent = replays.filter((r) => r.outcome.openedInWindow === 0).length;
  const named = replays.filter((r) => r.outcome.namedAnywhere).length;
  console.log(
    `\nConverge: ${sum((r) => r.summary.points).toLocaleString('en')} points replayed, 0 rejected, in ` +
      `${replayS.toFixed(1)} s; ${sum((r) => r.summary.alerts)} alert state changes; incidents opened during ` +
      `the normal history: ${sum((r) => r.outcome.openedInHistory)} (${(sum((r) => r.outcome.openedInHistory) / cases.length).toFixed(1)} per case); ` +
      `no incident in the window: ${silent} of ${cases.length} cases; the truth named by any window incident: ${named}.`,
  );
  if (peerLines) {
    const secs = (m: string) => peerLines.filter((l) => l.method === m).reduce((s, l) => s + l.seconds, 0);
    console.log(
      `Peers (Python, ${peersS.toFixed(1)} s wall): ` +
        PEERS.map((p) => `${p.method} ${secs(p.method).toFixed(1)} s CPU`).join(', ') +
        `; failures: ${peerErrors.length}` +
        (peerErrors.length > 0 ? `\n  ${peerErrors.slice(0, 10).join('\n  ')}` : ''),
    );
  } else console.log('Peers: not run (--no-peers).');

  const perCase = arg('cases-out');
  if (perCase) {
    const lines = cases.map((c, i) => {
      const o = replays[i]!.outcome;
      const hits: Record<string, [number, number]> = {};
      for (const row of rows) {
        const a = row.answers.get(c.ref.id) ?? [];
        hits[row.name] = [topK(a, c.rootCause, 1), topK(a, c.rootCause, 3)];
      }
      return JSON.stringify({
        case: c.ref.id,
        rootCause: c.rootCause,
        faultTime: c.target.time,
        converge: {
          first: o.first ? { at: o.first.at / 1000, rootCauses: o.first.rootCauses } : null,
          openedInHistory: o.openedInHistory,
          openedInWindow: o.openedInWindow,
          alerts: replays[i]!.summary.alerts,
        },
        hits,
      });
    });
    writeFileSync(perCase, lines.join('\n') + '\n');
    console.log(`per-case results: ${perCase}`);
  }
  if (!keep) rmSync(outDir, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  console.error(`bench/petshop: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
