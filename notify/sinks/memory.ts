import { z } from 'zod';
import type { Notification, SendResult, Sink } from '../types.js';
import { defineSink } from './definition.js';

/**
 * The test stand-in behind the Sink interface (like OpenTelemetry's InMemorySpanExporter): keeps
 * what it was sent, and answers from a script when one is set (`failNext`), else ok.
 */
export class InMemorySink implements Sink {
  readonly type = 'memory';
  readonly sent: Notification[] = [];
  /** Every attempt, answered or not, in order. */
  readonly attempts: Array<{ key: string; attempt: number; result: SendResult }> = [];
  private script: Array<SendResult | ((n: Notification) => SendResult)> = [];
  private stopped = false;

  constructor(readonly name: string) {}

  /** The next sends answer these results, in order; then sends succeed again. */
  failNext(...results: Array<SendResult | ((n: Notification) => SendResult)>): void {
    this.script.push(...results);
  }

  async send(notification: Notification): Promise<SendResult> {
    if (this.stopped) return { ok: false, recoverable: true, reason: 'sink shut down' };
    const next = this.script.shift();
    const result =
      next === undefined ? { ok: true as const } : typeof next === 'function' ? next(notification) : next;
    this.attempts.push({ key: notification.key, attempt: notification.attempt, result });
    if (result.ok) this.sent.push(notification);
    return result;
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
  }
}

/** Registered so that a config can name it (embedded demos, tests of the config path). */
export const memorySink = defineSink({
  type: 'memory',
  description: 'in-memory sink that keeps what it is sent (tests, demos)',
  options: z.object({}),
  create(_options, context) {
    return new InMemorySink(context.name);
  },
});
