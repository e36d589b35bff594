// scripts/fuzz-api.sh: schemathesis generates requests from the API's own OpenAPI document
// (valid and invalid ones) against a live server over the JD.com storm, and fails on any 5xx, any
// undocumented status code or content type, and any response that breaks its own schema.
// FUZZ_MAX_EXAMPLES (default 15 here) bounds the run to about a minute.

import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('schema-driven fuzzing (schemathesis)', () => {
  it('finds no 5xx and no response breaking its own schema', async () => {
    const output: string[] = [];
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('bash', ['scripts/fuzz-api.sh'], {
        env: { ...process.env, FUZZ_MAX_EXAMPLES: process.env.FUZZ_MAX_EXAMPLES ?? '15' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.on('data', (d) => output.push(String(d)));
      child.stderr.on('data', (d) => output.push(String(d)));
      child.on('error', reject);
      child.on('close', resolve);
    });
    const text = output.join('');
    if (code !== 0) console.error(text.slice(-8000));
    expect(code).toBe(0);
    expect(text).toMatch(/Operations:\s+19 selected \/ 19 total/);
    expect(text).toMatch(/Test cases:\s+\d+ generated/);
    expect(text).not.toMatch(/\d+ failures?/);
  }, 600_000);
});
