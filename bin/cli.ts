import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { type Config, ConfigError, loadConfig } from '../core/config.js';
import { UsageError } from './errors.js';

/**
 * The `converge` command line. Each subcommand loads only what it needs, so `check-rules` does
 * not pay for Kafka or the HTTP server. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad
 * input files (config, rules, topology).
 */

/** The version of the package this CLI belongs to (package.json two levels up from dist/bin or bin/). */
function packageVersion(): string {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'converge' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not there: try the next layout
    }
  }
  return 'unknown';
}

const program = new Command('converge')
  .description('Stream-processing alert convergence: metrics in, one incident naming the root cause out')
  .version(packageVersion())
  .showHelpAfterError('(run with --help for usage)')
  // Commander's own errors (unknown option, missing argument) throw instead of exiting 1, so that
  // every usage mistake exits 2 (subcommands inherit this setting).
  .exitOverride();

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new InvalidArgumentError('expected a port 0..65535');
  return n;
}

function positiveNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number > 0');
  return n;
}

function wholeNumber(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
}

function collect(v: string, previous: string[] = []): string[] {
  return [...previous, v];
}

export interface ReplayCliOptions {
  format?: 'lp' | 'json';
  precision?: 'ns' | 'us' | 'ms' | 's';
  config?: string;
  rules?: string;
  alerts?: string;
  topology?: string[];
  alertsOut?: string;
  incidentsOut?: string;
  summaryJson?: boolean;
  errorsOut?: string;
  quiet?: boolean;
}

program
  .command('replay')
  .description(
    'process a recorded stream in event time as fast as possible, then exit after the last window closes',
  )
  .argument('[file]', 'metrics: line protocol or Telegraf JSON file, or - for stdin')
  .addOption(new Option('--format <format>', 'metrics input format').choices(['lp', 'json']))
  .addOption(new Option('--precision <unit>', 'timestamp unit of the input').choices(['ns', 'us', 'ms', 's']))
  .option('--alerts <file>', 'replay alert records (JSON Lines) through the correlator instead of metrics')
  .option('--topology <file>', 'CMDB topology records (JSON Lines); repeatable', collect)
  .option('--rules <dir>', 'rule directory replacing the default pack')
  .option('--config <file>', 'config file (YAML/JSON); a tsdb section makes the replay write to that TSDB')
  .option('--alerts-out <file>', 'write every alert state change as JSON Lines')
  .option('--incidents-out <file>', 'write every incident event (opened, updated, resolved) as JSON Lines')
  .option('--summary-json', 'print the summary as one JSON object on the last line of stdout')
  .option('--errors-out <file>', 'write every rejected line as JSON Lines {line, reason, text}')
  .option('--quiet', 'no progress line and no per-line error messages on stderr')
  .action(async (file: string | undefined, opts: ReplayCliOptions) => {
    const { runReplay } = await import('./replay-command.js');
    process.exitCode = await runReplay(file, opts, readConfig(opts.config));
  });

program
  .command('check-rules')
  .description('validate the rule files of a directory; errors as file:line:column: message')
  .argument('<dir>', 'rule directory')
  .action(async (dir: string) => {
    const { runCheckRules } = await import('./check-rules-command.js');
    process.exitCode = runCheckRules(dir);
  });

program
  .command('demo')
  .description(
    'run the embedded engine on a live synthetic fleet with injected faults (what `npm start` runs)',
  )
  .option('--host <host>', 'API listen address', '127.0.0.1')
  .option('--port <port>', 'API listen port', port, 8080)
  .option('--rules <dir>', 'rule directory replacing the default pack')
  .option('--speed <n>', 'run event time N times faster than the wall clock', positiveNumber, 1)
  .option('--seed <n>', 'seed of the fleet and its fault schedule', wholeNumber, 1)
  .option(
    '--fleet <spec>',
    'IDCSxRACKSxHOSTSxCONTAINERS: racks per IDC, hosts per rack, containers per host',
    '2x4x25x15',
  )
  .action(
    async (opts: {
      host: string;
      port: number;
      rules?: string;
      speed: number;
      seed: number;
      fleet: string;
    }) => {
      const { runDemo } = await import('./demo-command.js');
      process.exitCode = await runDemo(opts);
    },
  );

program
  .command('start')
  .description('run in production from a config file naming Kafka and the TSDB')
  .requiredOption('--config <file>', 'config file (YAML/JSON)')
  .option('--rules <dir>', 'rule directory replacing the default pack (and the config rules.dir)')
  .option('--host <host>', 'API listen address (overrides api.host)')
  .option('--port <port>', 'API listen port (overrides api.port)', port)
  .action(async (opts: { config: string; rules?: string; host?: string; port?: number }) => {
    const { runStart } = await import('./start-command.js');
    process.exitCode = await runStart(readConfig(opts.config), opts);
  });

function readConfig(path: string | undefined): Config {
  try {
    return loadConfig(path);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
}

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof CommanderError) {
    // Already printed by commander; --help and --version end with code 0.
    process.exitCode = e.exitCode === 0 ? 0 : 2;
    return;
  }
  const usage = e instanceof UsageError || (e instanceof Error && e.name === 'RulesError');
  process.stderr.write(`converge: ${e instanceof Error ? e.message : String(e)}\n`);
  if (!usage && e instanceof Error && process.env.CONVERGE_DEBUG === '1')
    process.stderr.write(`${e.stack}\n`);
  process.exitCode = usage ? 2 : 1;
});
