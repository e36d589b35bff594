import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AlertmanagerPayloadError, isAlertmanagerPayload, parseAlertmanagerWebhook } from './alertmanager.js';

const recorded = JSON.parse(
  readFileSync(new URL('../notify/sinks/recorded/alertmanager-webhook-firing.json', import.meta.url), 'utf8'),
).body;

function payload(alerts: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { version: '4', status: 'firing', receiver: 'converge', groupLabels: {}, alerts, ...extra };
}

describe('parseAlertmanagerWebhook', () => {
  it('reads the recorded webhook v4 payload: the app named by its labels, critical, firing', () => {
    expect(isAlertmanagerPayload(recorded)).toBe(true);
    const { alerts, errors } = parseAlertmanagerWebhook(recorded);
    expect(errors).toEqual([]);
    expect(alerts).toHaveLength(1);
    const a = alerts[0]!;
    expect(a.entity).toEqual({ level: 'app', id: 'pay-06da' });
    expect(a.rule).toBe('ConvergeIncident');
    expect(a.severity).toBe('critical');
    expect(a.state).toBe('firing');
    expect(a.at).toBe(Date.parse('2024-03-01T10:00:00.777Z'));
    expect(a.fingerprint).toBe('am:e74276cdf4999ae2');
  });

  it('prefers the most specific level, strips the port of instance, and keeps firing/resolved ids equal', () => {
    const firing = {
      status: 'firing',
      labels: { alertname: 'NodeLoad', instance: 'h-17:9100', severity: 'page', job: 'node' },
      annotations: { summary: 'load' },
      startsAt: '2024-03-01T10:00:00Z',
      endsAt: '0001-01-01T00:00:00Z',
      fingerprint: 'abc',
    };
    const resolved = { ...firing, status: 'resolved', endsAt: '2024-03-01T10:05:00Z' };
    const container = {
      ...firing,
      labels: { alertname: 'Oom', host: 'h-1', container_name: 'c-9' },
      fingerprint: undefined,
    };
    const { alerts, errors } = parseAlertmanagerWebhook(payload([firing, resolved, container]));
    expect(errors).toEqual([]);
    expect(alerts.map((a) => a.entity)).toEqual([
      { level: 'host', id: 'h-17' },
      { level: 'host', id: 'h-17' },
      { level: 'container', id: 'c-9' },
    ]);
    expect(alerts[0]!.severity).toBe('critical');
    expect(alerts[2]!.severity).toBe('warning');
    expect(alerts[1]!.state).toBe('resolved');
    expect(alerts[1]!.at).toBe(Date.parse('2024-03-01T10:05:00Z'));
    expect(alerts[1]!.startsAt).toBe(Date.parse('2024-03-01T10:00:00Z'));
    expect(alerts[1]!.id).toBe(alerts[0]!.id);
    expect(alerts[2]!.fingerprint).toMatch(/^[0-9a-f]+$/);
  });

  it('names the alert and the field of each bad alert and keeps the good ones', () => {
    const good = {
      status: 'firing',
      labels: { alertname: 'X', host: 'h' },
      startsAt: '2024-03-01T10:00:00Z',
    };
    const { alerts, errors } = parseAlertmanagerWebhook(
      payload([
        good,
        { ...good, labels: { host: 'h' } },
        { ...good, labels: { alertname: 'X', job: 'node' } },
        { ...good, startsAt: 'yesterday' },
        { ...good, status: 'resolved' },
        7,
      ]),
    );
    expect(alerts).toHaveLength(1);
    const reasons = errors.map((e) => e.reason);
    expect(reasons).toHaveLength(5);
    expect(reasons[0]).toMatch(/^alerts\.1: labels\.alertname: missing/);
    expect(reasons[1]).toMatch(/^alerts\.2: labels: no label names an entity/);
    expect(reasons[2]).toMatch(/^alerts\.3: startsAt: expected an RFC 3339 time \(got "yesterday"\)/);
    expect(reasons[3]).toMatch(/^alerts\.4: endsAt: a resolved alert needs/);
    expect(reasons[4]).toMatch(/^alerts\.5: expected an object/);
    expect(errors[0]!.line).toBe(2);
  });

  it('refuses payloads of other versions or shapes with the field', () => {
    expect(() => parseAlertmanagerWebhook(payload([], { version: '3' }))).toThrow(AlertmanagerPayloadError);
    expect(() => parseAlertmanagerWebhook({ version: '4', alerts: 'x' })).toThrow(
      /alerts: expected an array/,
    );
    expect(() => parseAlertmanagerWebhook([])).toThrow(/expected a JSON object/);
    expect(isAlertmanagerPayload({ entity: { level: 'host', id: 'h' } })).toBe(false);
  });
});
