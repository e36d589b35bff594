import { fileURLToPath } from 'node:url';
import { loadConfig } from '../core/config.js';
import { buildEngine } from '../engine/build.js';
import { replay } from '../engine/replay.js';

/**
 * `converge demo` (what `npm start` runs). For now it replays the bundled fixture fleet through
 * the embedded pipeline (no services) and prints what the engine saw; the live fleet with
 * injected faults and the API arrive with the detection, correlation and API stages.
 */
export async function runDemo(opts: { host: string; port: number; rules?: string }): Promise<number> {
  const file = fileURLToPath(new URL('../../fixtures/streams/fleet-sample.lp', import.meta.url));
  const { pipeline } = buildEngine(loadConfig(), { rulesDir: opts.rules });
  let malformed = 0;
  const summary = await replay(file, pipeline, {
    format: 'lp',
    onError: (e) => {
      if (++malformed <= 5) process.stderr.write(`fleet-sample.lp:${e.line}: ${e.reason}\n`);
    },
  });
  const e = summary.entities;
  process.stdout.write(
    `converge demo: replayed ${file}\n` +
      `  ${summary.points} points accepted, ${summary.malformed} malformed lines rejected (first 5 shown above), ` +
      `${summary.series} series\n` +
      `  topology: ${e.idc} IDCs, ${e.rack} racks, ${e.host} hosts, ${e.container} containers, ${e.app} apps\n` +
      `  ${summary.wallMs} ms\n`,
  );
  return 0;
}
