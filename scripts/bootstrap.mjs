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
// `npm install`, not `npm ci`: the lock file records only the platform packages the registry
// served (optional native builds of biome and msgpackr for other platforms are absent from the
// registry mirror), and `npm ci` refuses such a lock as "out of sync" while `npm install`
// installs exactly the locked versions and skips the unavailable optional ones.
if (stale)
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], 'npm install (node modules)');
if (process.env.CONVERGE_SKIP_BUILD !== '1')
  run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json'], 'build');
