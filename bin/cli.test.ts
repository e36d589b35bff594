import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// Exit codes as documented (README, bin/cli.ts): 0 ok, 1 runtime failure, 2 bad usage or bad
// input files. Every command's bad invocation exits 2 with a message on stderr and no stack.
function converge(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'bin/cli.ts', ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });
}

describe('converge exit codes', () => {
  it.each([
    [['nosuch'], /unknown command 'nosuch'/],
    [['--bogus'], /unknown option '--bogus'/],
    [['replay', '--format', 'xml'], /--format/],
    [['replay', 'no-such-file.lp'], /no-such-file\.lp/],
    [['check-rules'], /missing required argument 'dir'/],
    [['check-rules', 'no-such-dir'], /no-such-dir/],
    [['demo', '--port', 'abc'], /expected a port/],
    [['demo', '--speed', '0'], /expected a number > 0/],
    [['start'], /--config/],
    [['start', '--config', 'no-such-config.yaml'], /no-such-config\.yaml/],
  ])('%j exits 2', (args, message) => {
    const r = converge(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it.each([[['--version']], [['--help']], [['help', 'replay']]])('%j exits 0', (args) => {
    expect(converge(...args).status).toBe(0);
  });
});
