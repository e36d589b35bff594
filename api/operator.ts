import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Feedback, OperatorAction, OperatorPort, OperatorState, Verdict } from './ports.js';

/**
 * What operators did to incidents: acknowledgements, resolutions and root-cause verdicts.
 * In memory, bounded (`maxIncidents` states, `maxFeedback` verdicts, oldest dropped first);
 * `JsonlOperatorStore` also appends every action to a JSON Lines file and reads it back at
 * start, so verdicts survive restarts and can be fed to later learning as they are.
 */
export interface OperatorStoreOptions {
  maxIncidents?: number;
  maxFeedback?: number;
}

export class MemoryOperatorStore implements OperatorPort {
  private readonly states = new Map<string, OperatorState>();
  private readonly verdicts: Feedback[] = [];
  private readonly maxIncidents: number;
  private readonly maxFeedback: number;

  constructor(options: OperatorStoreOptions = {}) {
    this.maxIncidents = options.maxIncidents ?? 100_000;
    this.maxFeedback = options.maxFeedback ?? 100_000;
  }

  state(incidentId: string): OperatorState | undefined {
    return this.states.get(incidentId);
  }

  acknowledge(incidentId: string, action: OperatorAction): void {
    this.edit(incidentId).acknowledged = action;
  }

  resolve(incidentId: string, action: OperatorAction): void {
    this.edit(incidentId).resolved = action;
  }

  addFeedback(feedback: Feedback): void {
    this.verdicts.push(feedback);
    if (this.verdicts.length > this.maxFeedback)
      this.verdicts.splice(0, this.verdicts.length - this.maxFeedback);
  }

  feedback(filter: { incidentId?: string; verdict?: Verdict } = {}): Feedback[] {
    const out: Feedback[] = [];
    for (let i = this.verdicts.length - 1; i >= 0; i--) {
      const f = this.verdicts[i]!;
      if (filter.incidentId !== undefined && f.incidentId !== filter.incidentId) continue;
      if (filter.verdict !== undefined && f.verdict !== filter.verdict) continue;
      out.push(f);
    }
    return out;
  }

  private edit(incidentId: string): OperatorState {
    let s = this.states.get(incidentId);
    if (s === undefined) {
      s = {};
      this.states.set(incidentId, s);
      if (this.states.size > this.maxIncidents) {
        const oldest = this.states.keys().next().value;
        if (oldest !== undefined) this.states.delete(oldest);
      }
    }
    return s;
  }
}

type Line =
  | { type: 'ack'; incidentId: string; action: OperatorAction }
  | { type: 'resolve'; incidentId: string; action: OperatorAction }
  | { type: 'feedback'; feedback: Feedback };

export class JsonlOperatorStore extends MemoryOperatorStore {
  /** Lines of the file that could not be read back (reported, skipped). */
  readonly skipped: Array<{ line: number; reason: string }> = [];

  constructor(
    readonly path: string,
    options: OperatorStoreOptions = {},
  ) {
    super(options);
    mkdirSync(dirname(path), { recursive: true });
    if (!existsSync(path)) return;
    const lines = readFileSync(path, 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const text = lines[i]!.trim();
      if (text === '') continue;
      try {
        const l = JSON.parse(text) as Line;
        if (l.type === 'ack') super.acknowledge(l.incidentId, l.action);
        else if (l.type === 'resolve') super.resolve(l.incidentId, l.action);
        else if (l.type === 'feedback') super.addFeedback(l.feedback);
        else this.skipped.push({ line: i + 1, reason: 'unknown record type' });
      } catch (e) {
        this.skipped.push({ line: i + 1, reason: (e as Error).message });
      }
    }
  }

  override acknowledge(incidentId: string, action: OperatorAction): void {
    this.append({ type: 'ack', incidentId, action });
    super.acknowledge(incidentId, action);
  }

  override resolve(incidentId: string, action: OperatorAction): void {
    this.append({ type: 'resolve', incidentId, action });
    super.resolve(incidentId, action);
  }

  override addFeedback(feedback: Feedback): void {
    this.append({ type: 'feedback', feedback });
    super.addFeedback(feedback);
  }

  private append(line: Line): void {
    // Synchronous and small: an operator action is rare, and it must be on disk before the 200.
    appendFileSync(this.path, JSON.stringify(line) + '\n');
  }
}
