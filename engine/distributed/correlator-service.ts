import type { Kafka } from 'kafkajs';
import type { Logger } from '../../core/log.js';
import type { IncidentEvent, TopologyView } from '../../core/types.js';
import { Correlator, type CorrelatorOptions } from '../../correlate/index.js';
import {
  type LogBatch,
  type LogRecord,
  SinglePartitionConsumer,
} from '../../ingest/kafka/alerts-consumer.js';
import { decodeAlertsRecord } from '../../ingest/kafka/alerts-records.js';
import { AlertGate, type AlertGateOptions } from './alert-gate.js';
import type { CorrelatorCheckpoint, RedisCheckpointStore } from './checkpoint.js';

export type CorrelatorRole = 'standby' | 'activating' | 'active';

export interface CorrelatorServiceOptions {
  kafka: Kafka;
  /** The one-partition `alerts` topic. */
  topic: string;
  groupId: string;
  sessionTimeoutMs?: number;
  store: RedisCheckpointStore;
  topology: TopologyView;
  correlator: CorrelatorOptions;
  gate: AlertGateOptions;
  /**
   * Longest wall time between checkpoints while records flow. Default 1000 ms. Stretched to
   * 20 times the last checkpoint's cost, so that checkpoints of a big state (a 5,000-alert
   * incident serializes in tens of ms) take at most ~5% of the time; incident events are
   * checkpointed at once whatever the interval.
   */
  checkpointIntervalMs?: number;
  /**
   * Hands incident events on, in order (the notifier, the incidents topic). Must be idempotent
   * per (id, version): after a takeover the successor hands on again what its predecessor's
   * last checkpoint held undelivered. A rejection is retried with backoff.
   */
  deliver(events: readonly IncidentEvent[], correlator: Correlator): Promise<void>;
  onRoleChange?(role: CorrelatorRole): void;
  onFatal?(error: Error): void;
  logger?: Logger;
  now?: () => number;
}

export interface CorrelatorServiceStats {
  role: CorrelatorRole;
  epoch: number;
  activations: number;
  records: number;
  invalidRecords: number;
  /** Records skipped because the restored checkpoint already held them. */
  skippedRecords: number;
  checkpoints: number;
  fencedCheckpoints: number;
  lastCheckpoint?: {
    jsonBytes: number;
    storedBytes: number;
    serializeMs: number;
    writeMs: number;
    snapshotMs: number;
  };
  maxCheckpointMs: number;
  /** Last activation: time to load and restore the checkpoint, and how old it was. */
  lastActivation?: {
    loadMs: number;
    restoreMs: number;
    checkpointAgeMs: number | null;
    nextOffset: string | null;
  };
  delivered: number;
  outbox: number;
  gate?: ReturnType<AlertGate['stats']>;
}

interface ActiveState {
  epoch: number;
  correlator: Correlator;
  gate: AlertGate;
  /** First offset not applied yet; undefined until the first record (no checkpoint). */
  nextOffset: bigint | undefined;
  /** Produced since the last checkpoint: not to be delivered before a checkpoint holds them. */
  pending: IncidentEvent[];
  /** In a stored checkpoint, not yet delivered. */
  outbox: IncidentEvent[];
  dirty: boolean;
  lastCheckpointAt: number;
  delivering: boolean;
  closed: boolean;
  lastAdvanced: number;
}

/**
 * The correlator of a distributed deployment. Every instance runs one; the consumer group on
 * the one-partition `alerts` topic makes exactly one of them active:
 *
 * - On assignment it takes a new epoch (Redis INCR: fences its predecessor), loads the
 *   checkpoint, restores the correlator and the gate, re-delivers the checkpoint's outbox, and
 *   reads the log from the checkpoint's offset.
 * - Each record goes through the gate (event time, ownership, handovers) into the correlator;
 *   each time event time moves, the correlator advances and its events become pending.
 * - After a batch, when events are pending or `checkpointIntervalMs` has passed, the state is
 *   checkpointed (fenced) with the pending events in its outbox; then they are delivered and
 *   the Kafka offset is committed. Nothing is delivered that a successor would not find in a
 *   checkpoint, and nothing in a checkpoint is lost: no notification lost or repeated.
 * - On revocation (a rebalance gave the partition away, or shutdown) it checkpoints once more
 *   and becomes standby.
 */
export class CorrelatorService {
  private readonly consumer: SinglePartitionConsumer;
  private readonly checkpointIntervalMs: number;
  private readonly now: () => number;
  private state: ActiveState | undefined;
  private role: CorrelatorRole = 'standby';
  private activation: Promise<ActiveState> | undefined;
  private checkpointChain: Promise<void> = Promise.resolve();
  private lastCheckpointCostMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  /** Set when a checkpoint was refused: only a new assignment makes this instance active again. */
  private fenced = false;
  private invalidLogged = 0;
  private readonly s: Omit<CorrelatorServiceStats, 'role' | 'epoch' | 'outbox' | 'gate'> = {
    activations: 0,
    records: 0,
    invalidRecords: 0,
    skippedRecords: 0,
    checkpoints: 0,
    fencedCheckpoints: 0,
    maxCheckpointMs: 0,
    delivered: 0,
  };

  constructor(private readonly options: CorrelatorServiceOptions) {
    this.checkpointIntervalMs = options.checkpointIntervalMs ?? 1000;
    this.now = options.now ?? Date.now;
    this.consumer = new SinglePartitionConsumer(
      {
        kafka: options.kafka,
        topic: options.topic,
        groupId: options.groupId,
        sessionTimeoutMs: options.sessionTimeoutMs,
        onFatal: options.onFatal,
        logger: options.logger,
      },
      {
        onAssigned: () => {
          this.fenced = false;
          this.startActivation().catch(() => undefined);
        },
        onRevoked: () => this.deactivate('revoked'),
        // The partition may move: store what we have so that a successor replays little.
        onRebalancing: () => {
          if (this.state !== undefined) void this.checkpoint(this.state, 'rebalance');
        },
      },
    );
  }

  /** The live correlator while this instance is the active one. */
  get correlator(): Correlator | undefined {
    return this.role === 'active' ? this.state?.correlator : undefined;
  }

  get currentRole(): CorrelatorRole {
    return this.role;
  }

  async start(): Promise<void> {
    this.timer = setInterval(
      () => {
        const st = this.state;
        if (st?.dirty && this.checkpointDue(st)) void this.checkpoint(st, 'interval');
      },
      Math.max(50, Math.floor(this.checkpointIntervalMs / 2)),
    );
    this.timer.unref();
    await this.consumer.run((batch) => this.handle(batch));
  }

  /** Leaves the group (a standby takes over) after a last checkpoint and delivery. */
  async shutdown(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.timer);
    // Store the state before leaving the group: the successor starts from here, not from the
    // last periodic checkpoint (leaving makes it take over at once, fencing later saves).
    if (this.state !== undefined) await this.checkpoint(this.state, 'shutdown');
    await this.consumer.shutdown();
    await this.deactivate('shutdown');
  }

  stats(): CorrelatorServiceStats {
    const st = this.state;
    const out: CorrelatorServiceStats = {
      ...this.s,
      role: this.role,
      epoch: st?.epoch ?? 0,
      outbox: st === undefined ? 0 : st.outbox.length + st.pending.length,
    };
    if (st !== undefined) out.gate = st.gate.stats();
    return out;
  }

  private setRole(role: CorrelatorRole): void {
    if (role === this.role) return;
    this.role = role;
    this.options.logger?.info({ role }, 'correlator role');
    this.options.onRoleChange?.(role);
  }

  private startActivation(): Promise<ActiveState> {
    this.activation ??= this.activate().catch((e: Error) => {
      this.activation = undefined;
      this.setRole('standby');
      throw e;
    });
    this.activation.catch((e: Error) =>
      this.options.logger?.error(
        { err: e.message },
        'correlator activation failed; retrying with the next batch',
      ),
    );
    return this.activation;
  }

  private async activate(): Promise<ActiveState> {
    this.setRole('activating');
    const { store, topology } = this.options;
    const t0 = performance.now();
    const epoch = await store.acquire();
    const checkpoint = await store.load();
    const t1 = performance.now();
    let correlator: Correlator;
    let gate: AlertGate;
    if (checkpoint !== undefined) {
      correlator = Correlator.restore(topology, checkpoint.correlator, this.options.correlator);
      gate = AlertGate.restore(checkpoint.gate, this.options.gate);
    } else {
      correlator = new Correlator(topology, this.options.correlator);
      gate = new AlertGate(this.options.gate);
    }
    const t2 = performance.now();
    const st: ActiveState = {
      epoch,
      correlator,
      gate,
      nextOffset: checkpoint !== undefined ? BigInt(checkpoint.nextOffset) : undefined,
      pending: [],
      outbox: checkpoint?.outbox ?? [],
      dirty: false,
      lastCheckpointAt: this.now(),
      delivering: false,
      closed: false,
      lastAdvanced: gate.watermark,
    };
    this.s.activations++;
    this.s.lastActivation = {
      loadMs: round(t1 - t0),
      restoreMs: round(t2 - t1),
      checkpointAgeMs: checkpoint !== undefined ? this.now() - checkpoint.savedAt : null,
      nextOffset: checkpoint?.nextOffset ?? null,
    };
    this.state = st;
    this.setRole('active');
    this.options.logger?.info(
      { epoch, ...this.s.lastActivation, outbox: st.outbox.length, incidents: correlator.stats().live },
      'correlator active',
    );
    this.deliverOutbox(st);
    return st;
  }

  private async deactivate(reason: string): Promise<void> {
    const activation = this.activation;
    this.activation = undefined;
    const st = this.state ?? (await activation?.catch(() => undefined));
    if (st !== undefined && !st.closed) {
      // A last checkpoint; if it is stored (nobody has taken the epoch yet), deliver its outbox
      // too, briefly: whatever is left, the successor delivers.
      await this.checkpoint(st, reason);
      if (!st.closed) {
        this.deliverOutbox(st);
        const deadline = this.now() + 3000;
        while (st.outbox.length > 0 && st.delivering && this.now() < deadline)
          await new Promise((r) => setTimeout(r, 20));
      }
      st.closed = true;
    }
    if (this.state === st) this.state = undefined;
    this.setRole('standby');
  }

  private async handle(batch: LogBatch): Promise<boolean | undefined> {
    if (this.fenced) {
      // Another instance holds the epoch; Kafka has not told this one yet that the partition
      // moved. A heartbeat finds out (it rejects while the group rebalances).
      await batch.heartbeat();
      await new Promise((r) => setTimeout(r, 500));
      return false;
    }
    let st = this.state;
    if (st === undefined || st.closed) st = await this.startActivation();
    let records = batch.records;
    if (st.nextOffset !== undefined) {
      const first = BigInt(records[0]!.offset);
      if (first > st.nextOffset) {
        // Kafka's committed offset is past the checkpoint (the checkpoint is older than the
        // commit: Redis lost data). Go back to what the state has applied.
        this.options.logger?.warn(
          { from: records[0]!.offset, to: st.nextOffset.toString() },
          'alerts log position past the checkpoint; seeking back',
        );
        this.consumer.seek(st.nextOffset.toString());
        return undefined;
      }
      let skip = 0;
      while (skip < records.length && BigInt(records[skip]!.offset) < st.nextOffset) skip++;
      if (skip > 0) {
        this.s.skippedRecords += skip;
        records = records.slice(skip);
      }
    }
    for (let i = 0; i < records.length; i++) {
      if (st.closed) return false;
      this.apply(st, records[i]!);
      if ((i & 4095) === 4095) await batch.heartbeat();
    }
    if (records.length > 0 && (st.pending.length > 0 || this.checkpointDue(st)))
      await this.checkpoint(st, st.pending.length > 0 ? 'events' : 'interval');
    return undefined;
  }

  private apply(st: ActiveState, r: LogRecord): void {
    this.s.records++;
    st.nextOffset = BigInt(r.offset) + 1n;
    st.dirty = true;
    const d = decodeAlertsRecord(r.value, r.headers);
    switch (d.kind) {
      case 'alert': {
        const a = st.gate.alert(d.alert, d.instance, d.partition, r.timestamp);
        if (a !== undefined) st.correlator.ingest(a);
        if (d.instance === undefined) this.advance(st);
        return;
      }
      case 'watermark':
        st.gate.instanceWatermark(d.watermark, r.timestamp);
        this.advance(st);
        return;
      case 'close': {
        const e = st.correlator.resolveIncident(
          d.close.id,
          d.close.at,
          d.close.reason ?? 'resolved through the API',
        );
        if (e !== undefined) st.pending.push(e);
        return;
      }
      default:
        this.s.invalidRecords++;
        if (this.invalidLogged++ < 20)
          this.options.logger?.warn({ offset: r.offset, problem: d.reason }, 'alerts record rejected');
    }
  }

  private advance(st: ActiveState): void {
    const ended = st.gate.advance();
    for (const a of ended) st.correlator.ingest(a);
    const wm = st.gate.watermark;
    if (wm > st.lastAdvanced || ended.length > 0) {
      st.lastAdvanced = wm;
      const events = st.correlator.advance(wm);
      for (const e of events) st.pending.push(e);
    }
  }

  private checkpointDue(st: ActiveState): boolean {
    const interval = Math.max(this.checkpointIntervalMs, 20 * this.lastCheckpointCostMs);
    return this.now() - st.lastCheckpointAt >= interval;
  }

  /** Serialized: two saves in flight could land in Redis out of order. */
  private checkpoint(st: ActiveState, reason: string): Promise<void> {
    const run = this.checkpointChain.then(() => this.doCheckpoint(st, reason));
    this.checkpointChain = run.catch(() => undefined);
    return run.catch((e: Error) => {
      this.options.logger?.error({ err: e.message, reason }, 'checkpoint failed; will retry');
    });
  }

  private async doCheckpoint(st: ActiveState, reason: string): Promise<void> {
    if (st.closed || st.nextOffset === undefined || (!st.dirty && st.pending.length === 0)) return;
    const t0 = performance.now();
    const events = st.pending;
    st.pending = [];
    st.dirty = false;
    const nextOffset = st.nextOffset.toString();
    const checkpoint: CorrelatorCheckpoint = {
      format: 1,
      epoch: st.epoch,
      nextOffset,
      savedAt: this.now(),
      correlator: st.correlator.snapshot(),
      gate: st.gate.state(),
      outbox: st.outbox.concat(events),
    };
    const snapshotMs = performance.now() - t0;
    let result: Awaited<ReturnType<RedisCheckpointStore['save']>>;
    try {
      result = await this.options.store.save(checkpoint);
    } catch (e) {
      st.pending = events.concat(st.pending);
      st.dirty = true;
      throw e;
    }
    if (!result.stored) {
      this.s.fencedCheckpoints++;
      this.options.logger?.warn(
        { epoch: st.epoch, reason },
        'checkpoint refused: another instance took over',
      );
      st.closed = true;
      if (this.state === st) {
        this.fenced = true;
        this.state = undefined;
        this.activation = undefined;
        this.setRole('standby');
      }
      return;
    }
    st.lastCheckpointAt = this.now();
    const ms = performance.now() - t0;
    this.lastCheckpointCostMs = ms;
    this.s.checkpoints++;
    if (ms > this.s.maxCheckpointMs) this.s.maxCheckpointMs = round(ms);
    this.s.lastCheckpoint = {
      jsonBytes: result.jsonBytes,
      storedBytes: result.storedBytes,
      serializeMs: round(result.serializeMs),
      writeMs: round(result.writeMs),
      snapshotMs: round(snapshotMs),
    };
    for (const e of events) st.outbox.push(e);
    this.deliverOutbox(st);
    await this.consumer.commit(nextOffset).catch((e: Error) => {
      // A rebalance in progress: the checkpoint holds the position anyway.
      this.options.logger?.warn({ err: e.message }, 'alerts offset commit failed');
    });
  }

  /** Delivers the outbox in order, retrying, while `st` is this instance's state. */
  private deliverOutbox(st: ActiveState): void {
    if (st.delivering || st.outbox.length === 0) return;
    st.delivering = true;
    void (async () => {
      let attempt = 0;
      while (st.outbox.length > 0 && !st.closed) {
        const batch = st.outbox.slice();
        try {
          await this.options.deliver(batch, st.correlator);
          st.outbox.splice(0, batch.length);
          this.s.delivered += batch.length;
          attempt = 0;
        } catch (e) {
          const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt++, 6));
          this.options.logger?.error(
            { err: (e as Error).message, delay },
            'incident delivery failed; retrying',
          );
          await new Promise((r) => setTimeout(r, delay));
        }
      }
      st.delivering = false;
    })();
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
