import { Command, InvalidArgumentError, Option } from 'commander';
import { type Config, ConfigError, loadConfig } from '../core/config.js';

/**
 * The `converge` command line. Each subcommand loads only what it needs, so `check-rules` does
 * not pay for Kafka or the HTTP server. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad
 * input files (config, rules, topology).
 */

const program = new Command('converge')
  .description('Stream-processing alert convergence: metrics in, one incident naming the root cause out')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)');

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new InvalidArgumentError('expected a port 0..65535');
  return n;
}

program
  .command('replay')
  .description(
    'process a recorded metric stream (file or - for stdin) in event time as fast as possible, then exit',
  )
  .argument('<file>', 'line protocol or Telegraf JSON file, or - for stdin')
  .addOption(new Option('--format <format>', 'input format').choices(['lp', 'json']))
  .addOption(new Option('--precision <unit>', 'timestamp unit of the input').choices(['ns', 'us', 'ms', 's']))
  .option('--config <file>', 'config file (YAML/JSON); a tsdb section makes the replay write to that TSDB')
  .option('--summary-json', 'print the summary as one JSON object on the last line of stdout')
  .option('--errors-out <file>', 'write every rejected line as JSON Lines {line, reason, text}')
  .option('--quiet', 'no progress line and no per-line error messages on stderr')
  .action(async (file: string, opts: ReplayCliOptions) => {
    const { runReplay } = await import('./replay-command.js');
    const config = readConfig(opts.config);
    process.exitCode = await runReplay(file, opts, config);
  });

program
  .command('demo')
  .description('run the embedded engine on a bundled fixture fleet (what `npm start` runs)')
  .option('--host <host>', 'API listen address', '127.0.0.1')
  .option('--port <port>', 'API listen port', port, 8080)
  .action(async (opts: { host: string; port: number }) => {
    const { runDemo } = await import('./demo-command.js');
    process.exitCode = await runDemo(opts);
  });

program
  .command('start')
  .description('run in production from a config file naming Kafka and the TSDB')
  .requiredOption('--config <file>', 'config file (YAML/JSON)')
  .action(async (opts: { config: string }) => {
    const { runStart } = await import('./start-command.js');
    process.exitCode = await runStart(readConfig(opts.config));
  });

export interface ReplayCliOptions {
  format?: 'lp' | 'json';
  precision?: 'ns' | 'us' | 'ms' | 's';
  config?: string;
  summaryJson?: boolean;
  errorsOut?: string;
  quiet?: boolean;
}

function readConfig(path: string | undefined): Config {
  try {
    return loadConfig(path);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(e.message + '\n');
      process.exit(2);
    }
    throw e;
  }
}

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`converge: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
