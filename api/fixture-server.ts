import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { buildScenario, jdScenario, type ScenarioKind } from '../fixtures/scenario.js';
import { createApiServer } from './server.js';
import { ScenarioEngine } from './testing.js';

/**
 * A live API over a fixture scenario, for the fuzzer (scripts/fuzz-api.sh) and manual poking:
 *
 *   npx tsx api/fixture-server.ts [--port 0] [--token T] [--scenario jd|host-down|...] [--until 5m]
 *
 * Prints one JSON line on stdout once listening: {"url":"http://127.0.0.1:PORT","token":"..."}
 * (the write token; generated unless given), then serves until SIGINT/SIGTERM.
 */
const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    token: { type: 'string' },
    'read-token': { type: 'string' },
    scenario: { type: 'string', default: 'jd' },
    /** Minutes of the scenario fed after the fault's onset (the storm is in full after 2). */
    minutes: { type: 'string', default: '5' },
  },
});

const kind = values.scenario!;
const scenario = kind === 'jd' ? jdScenario() : buildScenario(kind as ScenarioKind, { seed: 3 });
const engine = new ScenarioEngine({ scenario });
await engine.start();
const minutes = Number(values.minutes);
if (!Number.isFinite(minutes)) throw new Error(`--minutes must be a number (got ${values.minutes})`);
await engine.feed(engine.faultStart + minutes * 60_000);

const token = values.token ?? randomBytes(24).toString('hex');
const tokens = [{ token, scopes: ['read', 'write'] as ('read' | 'write')[], name: 'fixture-writer' }];
if (values['read-token'])
  tokens.push({ token: values['read-token'], scopes: ['read'], name: 'fixture-reader' });
const api = await createApiServer(engine.backend, {
  host: values.host!,
  port: Number(values.port),
  tokens,
  rateLimit: false,
});
const url = await api.listen();
process.stdout.write(
  JSON.stringify({ url, token, scenario: scenario.name, incidents: engine.correlator.incidents().length }) +
    '\n',
);

const stop = async () => {
  await api.close();
  await engine.shutdown();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
