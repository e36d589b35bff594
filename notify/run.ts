/**
 * A notifier process on its own: `npx tsx notify/run.ts --config notify.yaml --redis redis://...`
 * delivers what any producer queued in Redis, until SIGTERM/SIGINT (graceful: sends in flight
 * finish). With `--stdin`, it also reads incident events as JSON Lines from standard input and
 * notifies them (times as epoch milliseconds or ISO strings). The config file holds a
 * `notify:` section or the section's content at the top level. Prints "ready" when started.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createLogger } from '../core/log.js';
import type { IncidentEvent } from '../core/types.js';
import { parseYaml } from '../core/yaml.js';
import { parseNotifyConfig } from './config.js';
import { createNotifier } from './notifier.js';

function toMs(v: unknown): unknown {
  return typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? Date.parse(v) : v;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      redis: { type: 'string' },
      stdin: { type: 'boolean', default: false },
    },
  });
  if (!values.config) throw new Error('--config FILE is required');
  const yaml = parseYaml(readFileSync(values.config, 'utf8'));
  if (!yaml.ok)
    throw new Error(
      yaml.problems.map((p) => `${values.config}:${p.line}:${p.column}: ${p.message}`).join('\n'),
    );
  const raw = yaml.data as Record<string, unknown> | null;
  const section = raw && typeof raw === 'object' && 'notify' in raw ? raw.notify : raw;
  const config = parseNotifyConfig(section);
  const redisUrl = values.redis ?? process.env.REDIS_URL;
  const logger = createLogger();
  const notifier = createNotifier({ config, logger, ...(redisUrl ? { redisUrl } : {}) });
  await notifier.start();
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await notifier.shutdown();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  process.stdout.write('ready\n');
  if (values.stdin) {
    let line = 0;
    for await (const text of createInterface({ input: process.stdin })) {
      line++;
      if (text.trim() === '') continue;
      try {
        const e = JSON.parse(text) as Record<string, unknown>;
        for (const k of ['startsAt', 'endsAt', 'at']) if (k in e) e[k] = toMs(e[k]);
        await notifier.notify(e as unknown as IncidentEvent);
      } catch (error) {
        logger.error({ line, err: (error as Error).message }, 'incident event rejected');
      }
    }
  }
}

main().catch((error) => {
  process.stderr.write(`notify: ${(error as Error).message}\n`);
  process.exit(1);
});
