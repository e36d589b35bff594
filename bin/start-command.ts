import type { Config } from '../core/config.js';

export async function runStart(_config: Config): Promise<number> {
  process.stderr.write(
    'converge start: the Kafka consumer is being wired in; use `converge replay` meanwhile\n',
  );
  return 1;
}
