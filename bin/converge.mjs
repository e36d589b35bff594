#!/usr/bin/env node
// The `converge` command. Runs the compiled CLI (npm run build); see bin/cli.ts.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const compiled = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bin', 'cli.js');
if (!existsSync(compiled)) {
  console.error('converge: not built yet; run `npm run build` (or `npm start`, which builds) first');
  process.exit(2);
}
await import(pathToFileURL(compiled).href);
