import { describe, expect, it } from 'vitest';
import type { AlertEvent } from '../../core/types.js';
import {
  ALERT_HEADERS,
  alertRecord,
  closeRecord,
  decodeAlertsRecord,
  watermarkRecord,
} from '../../ingest/kafka/alerts-records.js';

const alert: AlertEvent = {
  id: 'fp1@lt8hgt1l',
  fingerprint: 'fp1',
  rule: 'ContainerCpuHigh',
  severity: 'warning',
  state: 'firing',
  entity: { level: 'container', id: 'c-1' },
  predicted: false,
  at: Date.UTC(2024, 2, 1, 10, 5),
  startsAt: Date.UTC(2024, 2, 1, 10, 0),
  labels: { host: 'h1', container_name: 'c-1' },
  annotations: { summary: 'container c-1 CPU 95.0%' },
  score: 0.4,
};

const decode = (r: { value: string; headers: Record<string, string> }) =>
  decodeAlertsRecord(Buffer.from(r.value), r.headers);

describe('alerts topic records', () => {
  it('carry an alert as its --alerts-out line, keyed by fingerprint, with instance and partition', () => {
    const r = alertRecord(alert, 'node-a', 7);
    expect(r.key).toBe('fp1');
    expect(JSON.parse(r.value)).toMatchObject({ id: 'fp1@lt8hgt1l', at: '2024-03-01T10:05:00.000Z' });
    expect(decode(r)).toEqual({ kind: 'alert', alert, instance: 'node-a', partition: 7 });
    expect(decode(alertRecord(alert, 'node-a', -1))).toMatchObject({ partition: -1 });
  });

  it('read a plain alert line without headers as an alert from outside', () => {
    const line =
      '{"entity":{"level":"host","id":"h9"},"rule":"HostDown","state":"firing","at":"2024-03-01T10:00:00Z"}';
    const d = decodeAlertsRecord(Buffer.from(line), {});
    expect(d).toMatchObject({ kind: 'alert', instance: undefined, partition: -1 });
    if (d.kind === 'alert') expect(d.alert.fingerprint).toMatch(/^[0-9a-f]+$/);
  });

  it('carry watermarks and operator closes', () => {
    const w = watermarkRecord({ instance: 'a', watermark: 123, partitions: [0, 2], idle: false });
    expect(w.key).toBe('watermark:a');
    expect(decode(w)).toEqual({
      kind: 'watermark',
      watermark: { instance: 'a', watermark: 123, partitions: [0, 2], idle: false, leaving: false },
    });
    const before = watermarkRecord({
      instance: 'a',
      watermark: Number.NEGATIVE_INFINITY,
      partitions: [],
      idle: true,
      leaving: true,
    });
    expect(decode(before)).toMatchObject({ watermark: { watermark: null, idle: true, leaving: true } });
    const c = closeRecord({ id: 'inc-1', at: 5, reason: 'by hand' }, 'a');
    expect(decode(c)).toEqual({ kind: 'close', close: { id: 'inc-1', at: 5, reason: 'by hand' } });
  });

  it('name what is wrong with a bad record instead of throwing', () => {
    expect(decodeAlertsRecord(null, {})).toEqual({ kind: 'invalid', reason: 'empty value' });
    expect(decodeAlertsRecord(Buffer.from('{nope'), {})).toMatchObject({
      kind: 'invalid',
      reason: /invalid JSON/,
    });
    expect(decodeAlertsRecord(Buffer.from('{"rule":"x"}'), {})).toMatchObject({ reason: /entity/ });
    const wm = { [ALERT_HEADERS.record]: 'watermark' };
    expect(
      decodeAlertsRecord(Buffer.from('{"instance":"a","watermark":"x","partitions":[]}'), wm),
    ).toMatchObject({
      reason: /watermark must be ms/,
    });
    expect(
      decodeAlertsRecord(Buffer.from('{"instance":"a","watermark":1,"partitions":[-1]}'), wm),
    ).toMatchObject({
      reason: /partitions/,
    });
    expect(decodeAlertsRecord(Buffer.from('{}'), { [ALERT_HEADERS.record]: 'close' })).toMatchObject({
      reason: /incident id/,
    });
    expect(decodeAlertsRecord(Buffer.from('{}'), { [ALERT_HEADERS.record]: 'gossip' })).toMatchObject({
      reason: 'unknown record kind "gossip"',
    });
  });
});
