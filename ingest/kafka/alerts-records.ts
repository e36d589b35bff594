import type { AlertEvent } from '../../core/types.js';
import { toAlertEvent } from '../../correlate/index.js';
import { alertJsonLine } from '../../rules/alert-json.js';

/**
 * The records of the `alerts` topic when Converge runs distributed. Detection instances write
 * them; the one active correlator reads them in log order (the topic has one partition).
 *
 * - alert: key = fingerprint, value = the `--alerts-out` JSON line. A record without the
 *   `converge-record` header is an alert too, so any producer can write plain alert lines.
 *   `converge-instance` names the detection instance that published it, `converge-partition`
 *   the `metrics` partition its host hashes to (absent: not tied to one, e.g. POST /alerts).
 * - watermark: key = `watermark:<instance>`, value
 *   `{"instance","watermark":ms|null,"partitions":[..],"idle":bool,"leaving"?:true}`: how far the
 *   instance's event time has got, which `metrics` partitions it owns, and whether it is idle.
 *   The correlator's event time is the least watermark of the live, non-idle instances.
 * - close: key = incident id, value `{"id","at":ms,"reason"?}`: an operator's resolve from any
 *   instance's API, carried to the active correlator in order with the alerts.
 */

export const ALERT_HEADERS = {
  record: 'converge-record',
  instance: 'converge-instance',
  partition: 'converge-partition',
} as const;

export type AlertsRecordKind = 'alert' | 'watermark' | 'close';

export interface WatermarkRecord {
  instance: string;
  /** Event time (ms) up to which the instance has published its alerts; null before any data. */
  watermark: number | null;
  /** `metrics` partitions the instance owns. */
  partitions: number[];
  /**
   * Newest event time seen per owned partition (same order as `partitions`; null: no data
   * yet): how far a new owner has got through an inherited partition.
   */
  partitionTimes?: Array<number | null>;
  /** Owned partitions with messages the instance has not read yet (sent with `partitionTimes`). */
  lagging?: number[];
  /** No metrics batch for a while: its watermark must not hold the others back. */
  idle: boolean;
  /** Sent on a clean shutdown: the instance is gone now, not after the timeout. */
  leaving?: boolean;
}

export interface CloseRecord {
  id: string;
  at: number;
  reason?: string;
}

/** What a producer hands to kafkajs (kept free of kafkajs types for the tests). */
export interface OutgoingRecord {
  key: string;
  value: string;
  headers: Record<string, string>;
}

export type DecodedAlertsRecord =
  | { kind: 'alert'; alert: AlertEvent; instance: string | undefined; partition: number }
  | { kind: 'watermark'; watermark: WatermarkRecord }
  | { kind: 'close'; close: CloseRecord }
  | { kind: 'invalid'; reason: string };

export function alertRecord(alert: AlertEvent, instance: string, partition: number): OutgoingRecord {
  const headers: Record<string, string> = {
    [ALERT_HEADERS.record]: 'alert',
    [ALERT_HEADERS.instance]: instance,
  };
  if (partition >= 0) headers[ALERT_HEADERS.partition] = String(partition);
  return { key: alert.fingerprint, value: alertJsonLine(alert), headers };
}

export function watermarkRecord(w: WatermarkRecord): OutgoingRecord {
  const value: WatermarkRecord = {
    instance: w.instance,
    watermark: w.watermark !== null && Number.isFinite(w.watermark) ? w.watermark : null,
    partitions: w.partitions,
    idle: w.idle,
  };
  if (w.partitionTimes !== undefined)
    value.partitionTimes = w.partitionTimes.map((t) => (t !== null && Number.isFinite(t) ? t : null));
  if (w.lagging !== undefined) value.lagging = w.lagging;
  if (w.leaving) value.leaving = true;
  return {
    key: `watermark:${w.instance}`,
    value: JSON.stringify(value),
    headers: { [ALERT_HEADERS.record]: 'watermark', [ALERT_HEADERS.instance]: w.instance },
  };
}

export function closeRecord(c: CloseRecord, instance: string): OutgoingRecord {
  return {
    key: c.id,
    value: JSON.stringify(c),
    headers: { [ALERT_HEADERS.record]: 'close', [ALERT_HEADERS.instance]: instance },
  };
}

/**
 * Decodes one record of the topic. Never throws: what cannot be used comes back as `invalid`
 * with the reason (the caller logs it with the offset and goes on).
 */
export function decodeAlertsRecord(
  value: Buffer | null,
  headers: Readonly<Record<string, string | undefined>>,
): DecodedAlertsRecord {
  if (value === null || value.length === 0) return { kind: 'invalid', reason: 'empty value' };
  const kind = headers[ALERT_HEADERS.record] ?? 'alert';
  let json: unknown;
  try {
    json = JSON.parse(value.toString('utf8'));
  } catch (e) {
    return { kind: 'invalid', reason: `invalid JSON: ${(e as Error).message}` };
  }
  switch (kind) {
    case 'alert': {
      const alert = toAlertEvent(json);
      if (typeof alert === 'string') return { kind: 'invalid', reason: alert };
      const p = headers[ALERT_HEADERS.partition];
      const partition = p === undefined ? -1 : Number(p);
      return {
        kind: 'alert',
        alert,
        instance: headers[ALERT_HEADERS.instance],
        partition: Number.isInteger(partition) && partition >= 0 ? partition : -1,
      };
    }
    case 'watermark': {
      const w = json as Partial<WatermarkRecord>;
      if (typeof w !== 'object' || w === null || typeof w.instance !== 'string' || w.instance === '')
        return { kind: 'invalid', reason: 'watermark record without an instance' };
      if (w.watermark !== null && !Number.isFinite(w.watermark))
        return { kind: 'invalid', reason: `watermark must be ms or null (got ${String(w.watermark)})` };
      if (!Array.isArray(w.partitions) || !w.partitions.every((p) => Number.isInteger(p) && p >= 0))
        return {
          kind: 'invalid',
          reason: 'watermark record: partitions must be a list of partition numbers',
        };
      const times = w.partitionTimes;
      if (
        times !== undefined &&
        (!Array.isArray(times) ||
          times.length !== w.partitions.length ||
          !times.every((t) => t === null || Number.isFinite(t)))
      )
        return {
          kind: 'invalid',
          reason: 'watermark record: partitionTimes must be ms or null per partition',
        };
      const lagging = w.lagging;
      if (
        lagging !== undefined &&
        (!Array.isArray(lagging) || !lagging.every((p) => Number.isInteger(p) && p >= 0))
      )
        return { kind: 'invalid', reason: 'watermark record: lagging must be a list of partition numbers' };
      const watermark: WatermarkRecord = {
        instance: w.instance,
        watermark: w.watermark ?? null,
        partitions: w.partitions,
        idle: w.idle === true,
        leaving: w.leaving === true,
      };
      if (times !== undefined) watermark.partitionTimes = times;
      if (lagging !== undefined) watermark.lagging = lagging;
      return { kind: 'watermark', watermark };
    }
    case 'close': {
      const c = json as Partial<CloseRecord>;
      if (typeof c !== 'object' || c === null || typeof c.id !== 'string' || c.id === '')
        return { kind: 'invalid', reason: 'close record without an incident id' };
      if (!Number.isFinite(c.at)) return { kind: 'invalid', reason: 'close record: at must be ms' };
      const close: CloseRecord = { id: c.id, at: c.at as number };
      if (typeof c.reason === 'string') close.reason = c.reason;
      return { kind: 'close', close };
    }
    default:
      return { kind: 'invalid', reason: `unknown record kind ${JSON.stringify(kind)}` };
  }
}
