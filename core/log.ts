import { type Logger, pino } from 'pino';

/**
 * One logger for the process, JSON lines on stderr (stdout belongs to command output such as
 * `--summary-json`). Secrets never reach it: config objects are logged through `redact`.
 */
export function createLogger(level = process.env.CONVERGE_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      level,
      base: { svc: 'converge' },
      redact: {
        paths: ['*.token', '*.secret', '*.password', '*.*.token', '*.*.secret', 'headers.authorization'],
        censor: '[redacted]',
      },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}

export type { Logger };
