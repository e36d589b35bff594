#!/usr/bin/env node
// Runs the benchmarks under bench/ one after another (`npm run bench [-- name ...]`), each in a
// process of its own, and prints their figures as they come. The ones on real services
// (ingest-e2e, notify, distributed) get KAFKA_BROKERS / REDIS_URL / TSDB_URL from
// scripts/services.mjs, which starts what is not running yet (and leaves it running: stop it
// with `npm run services:stop`).
//
//   npm run bench                      every benchmark (about 10 minutes on 2 cores)
//   npm run bench -- decode correlate  only these
//   npm run bench -- petshop           root cause on the PetShop dataset beside published peers
//                                      (bench/petshop/README.md)
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serviceEnvVars, start } from '../scripts/services.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** name -> services it needs; in the order they run (cheap and service-free first). */
const BENCHES = {
  decode: [],
  detect: [],
  rules: [],
  anomaly: [],
  topology: [],
  correlate: [],
  api: [],
  petshop: [],
  'ingest-e2e': ['kafka', 'tsdb'],
  notify: ['redis'],
  distributed: ['kafka', 'redis'],
};

const asked = process.argv.slice(2);
const unknown = asked.filter((n) => !(n in BENCHES));
if (unknown.length > 0) {
  console.error(`bench: unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}
const names = asked.length > 0 ? asked : Object.keys(BENCHES);

const env = { ...process.env };
const needed = [...new Set(names.flatMap((n) => BENCHES[n]))].filter((s) => !env[serviceEnvVars[s]]);
if (needed.length > 0) {
  console.error(`bench: starting ${needed.join(', ')} (scripts/services.mjs)`);
  for (const r of Object.values(await start(needed))) env[r.envVar] = r.url;
}

const failed = [];
for (const name of names) {
  console.log(`\n=== bench/${name}.ts ===`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join('bench', `${name}.ts`)], {
    cwd: root,
    env,
    stdio: 'inherit',
  });
  const status = r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit ${r.status}`;
  console.log(`=== ${name}: ${status} after ${((Date.now() - t0) / 1000).toFixed(0)} s ===`);
  if (r.status !== 0) failed.push(name);
}
if (failed.length > 0) {
  console.error(`bench: failed: ${failed.join(', ')}`);
  process.exit(1);
}
