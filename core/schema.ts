import { z } from 'zod';
import { parseDuration } from './duration.js';

/**
 * Zod pieces shared by every config section (core, api, notify), so that a duration reads and
 * fails the same way everywhere: milliseconds as a number, or "500ms", "30s", "5m", "1h30m".
 */
export const durationSchema = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `invalid duration "${v}" (use e.g. 500ms, 30s, 5m, 1h)` });
    return z.NEVER;
  }
  return ms;
});

/** A duration that must be longer than zero (timeouts, windows). */
export const positiveDurationSchema = durationSchema.refine((ms) => ms > 0, 'must be longer than 0');

/** A secret: a non-empty string, or `env:NAME` to read it from the environment at start-up. */
export const secretString = z
  .string({
    error: (issue) => (issue.input === undefined ? 'missing secret' : 'expected the secret as a string'),
  })
  .min(1, 'missing secret (empty string)')
  .transform((v, ctx) => {
    if (!v.startsWith('env:')) return v;
    const name = v.slice(4);
    const value = process.env[name];
    if (!value) {
      ctx.addIssue({
        code: 'custom',
        message: `environment variable ${name} (named by env:${name}) is not set`,
      });
      return z.NEVER;
    }
    return value;
  });
