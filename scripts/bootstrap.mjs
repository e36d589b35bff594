#!/usr/bin/env node
// Makes `npm start` and `npm test` work on a fresh clone: installs node modules when they are
// missing or older than package-lock.json, then compiles the TypeScript (incremental).
// Plain Node, no dependencies: it runs before node_modules exists.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const marker = join(root, 'node_modules', '.package-lock.json');
const lock = join(root, 'package-lock.json');

function run(cmd, args, what) {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`bootstrap: ${what} failed (${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
  console.error(`bootstrap: ${what} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

const stale = !existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs;
// `npm ci`: exactly the versions of the committed lock file (it records the optional platform
// packages of biome and msgpackr-extract, so npm ci accepts it on any platform).
if (stale) run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], 'npm ci (node modules)');
if (process.env.CONVERGE_SKIP_BUILD !== '1')
  run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json'], 'build');
