// Global setup of the vitest "integration" project: makes sure a real Kafka, Redis,
// victoria-metrics and Alertmanager are there before any integration test runs.
//
// - A service whose env var is set (KAFKA_BROKERS=host:port[,host:port], REDIS_URL=redis://...,
//   TSDB_URL=http://..., ALERTMANAGER_URL=http://...) is used as it is and never stopped.
// - Every other one is started by scripts/services.mjs on loopback (ports and data dir: see that
//   script); if it cannot be, the run fails with the reason, the tail of the service's log, and the
//   env var that points the suite at an existing service instead.
// - Services are left running after the run, so the next run starts in a fraction of a second.
//   Set CONVERGE_SERVICES_STOP=1 to stop the harness-owned ones at teardown (or run
//   `node scripts/services.mjs stop`).
//
// Tests read the addresses with serviceUrls() from ./services.ts (vitest's provide/inject). The
// env vars are also set here: vitest builds the workers' environment from process.env after the
// global setup has run, so code under test that reads process.env sees them too.

import type { TestProject } from 'vitest/node';
import { type ServiceName, serviceEnvVars, serviceNames, start, stop } from '../../scripts/services.mjs';
import type { ProvidedServices } from './services.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = serviceNames.filter((name) => (process.env[serviceEnvVars[name]] ?? '').trim() !== '');
  const wanted = serviceNames.filter((name) => !external.includes(name));
  const log = (message: string) => console.log(`[services] ${message}`);
  for (const name of external)
    log(`${name}: using ${serviceEnvVars[name]}=${process.env[serviceEnvVars[name]]}`);

  let managed: ServiceName[] = [];
  if (wanted.length > 0) {
    const started = Date.now();
    try {
      const results = await start(wanted, { log });
      for (const result of Object.values(results)) {
        process.env[result.envVar] = result.url;
        if (result.managed) managed.push(result.name);
      }
    } catch (error) {
      throw new Error(
        'The integration tests need real services and some could not be started ' +
          '(scripts/services.mjs; `node scripts/services.mjs status` shows what runs).\n\n' +
          (error as Error).message,
      );
    }
    log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  managed = serviceNames.filter((name) => managed.includes(name));

  const env = Object.fromEntries(
    serviceNames.map((name) => [serviceEnvVars[name], process.env[serviceEnvVars[name]] ?? '']),
  ) as ProvidedServices['env'];
  project.provide('convergeServices', { env, managed });

  return async () => {
    if (process.env.CONVERGE_SERVICES_STOP === '1' && managed.length > 0) await stop(managed, { log });
  };
}
