import { describe, expect, it } from 'vitest';
import { alertFingerprint as detectionFingerprint } from '../rules/fingerprint.js';
import {
  alertFingerprint,
  parseAlertLine,
  parseAlertLines,
  renderAlertLine,
  toAlertEvent,
} from './alerts.js';

const LINE =
  '{"entity":{"level":"container","id":"c1"},"rule":"ContainerCpuHigh","severity":"warning","state":"firing","at":"2024-03-01T10:00:00.777Z"}';

describe('alert JSON Lines', () => {
  it('reads the short form and fills fingerprint, id and startsAt', () => {
    const a = parseAlertLine(LINE, 1);
    expect(a).toMatchObject({
      rule: 'ContainerCpuHigh',
      severity: 'warning',
      state: 'firing',
      entity: { level: 'container', id: 'c1' },
      at: Date.UTC(2024, 2, 1, 10, 0, 0, 777),
      startsAt: Date.UTC(2024, 2, 1, 10, 0, 0, 777),
      predicted: false,
      labels: {},
      annotations: {},
    });
    if ('reason' in a) throw new Error(a.reason);
    expect(a.fingerprint).toBe(alertFingerprint('ContainerCpuHigh', { level: 'container', id: 'c1' }, {}));
    expect(a.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    // The same rule on the same entity fired by the detection stage has the same fingerprint.
    expect(a.fingerprint).toBe(detectionFingerprint('ContainerCpuHigh', 'container', 'c1', {}));
    expect(a.id.startsWith(a.fingerprint + '@')).toBe(true);
  });

  it('keeps the fingerprint across episodes and label order, not across entities or labels', () => {
    const e = { level: 'host' as const, id: 'h1' };
    expect(alertFingerprint('R', e, { a: '1', b: '2' })).toBe(alertFingerprint('R', e, { b: '2', a: '1' }));
    expect(alertFingerprint('R', e, { a: '1' })).not.toBe(alertFingerprint('R', e, { a: '2' }));
    expect(alertFingerprint('R', e, {})).not.toBe(alertFingerprint('R', { level: 'host', id: 'h2' }, {}));
  });

  it('accepts epoch milliseconds, startsAt, labels and the optional fields', () => {
    const a = toAlertEvent({
      entity: { level: 'host', id: 'h1' },
      rule: 'MemoryLeak',
      state: 'firing',
      at: 1_709_287_200_000,
      startsAt: '2024-03-01T09:59:00Z',
      labels: { team: 'pay', cores: 32 },
      predicted: true,
      etaSeconds: 600,
      score: 0.2,
    });
    expect(a).toMatchObject({
      severity: 'warning',
      at: 1_709_287_200_000,
      startsAt: Date.UTC(2024, 2, 1, 9, 59),
      labels: { team: 'pay', cores: '32' },
      predicted: true,
      etaSeconds: 600,
      score: 0.2,
    });
  });

  it('reports bad lines with their line numbers and keeps the good ones', () => {
    const text = [
      LINE,
      '',
      '{"entity":{"level":"vm","id":"x"},"rule":"R","state":"firing","at":"2024-03-01T10:00:00Z"}',
      'not json',
      '{"entity":{"level":"host","id":"h"},"rule":"R","state":"open","at":"2024-03-01T10:00:00Z"}',
      '{"entity":{"level":"host","id":"h"},"rule":"R","state":"firing","at":"yesterday"}',
      '{"entity":{"level":"host","id":"h"},"rule":"R","state":"firing","at":"2024-03-01T10:00:00Z","severity":"high"}',
      '{"entity":{"level":"host","id":"h"},"state":"firing","at":"2024-03-01T10:00:00Z"}',
      '{"entity":{"level":"host","id":"h"},"rule":"R","state":"firing","at":"2024-03-01T10:00:00Z","startsAt":"2024-03-01T11:00:00Z"}',
      LINE + '\r',
    ].join('\n');
    const { alerts, errors } = parseAlertLines(text);
    expect(alerts).toHaveLength(2);
    expect(errors.map((e) => [e.line, e.reason])).toEqual([
      [3, 'entity.level must be one of idc, rack, host, container, app (got "vm")'],
      [4, expect.stringMatching(/^invalid JSON/)],
      [5, 'state must be firing or resolved (got "open")'],
      [6, 'at must be an ISO-8601 time (got "yesterday")'],
      [7, 'severity must be one of critical, warning, info (got "high")'],
      [8, 'rule must be a non-empty string (got nothing)'],
      [9, 'startsAt (2024-03-01T11:00:00.000Z) is after at (2024-03-01T10:00:00.000Z)'],
    ]);
    expect(errors[1]!.text).toBe('not json');
    expect(parseAlertLines(text, 100).errors[0]!.line).toBe(102);
  });

  it('renders back to the short form', () => {
    const a = parseAlertLine(LINE, 1);
    if ('reason' in a) throw new Error(a.reason);
    expect(renderAlertLine(a)).toBe(
      '{"entity":{"level":"container","id":"c1"},"rule":"ContainerCpuHigh","severity":"warning","state":"firing","at":"2024-03-01T10:00:00.777Z"}',
    );
  });
});
