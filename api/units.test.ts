import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AlertEvent, EntityRef, Severity } from '../core/types.js';
import { TopologyGraph } from '../topology/graph.js';
import { AlertLog } from './alert-log.js';
import { isLoopback, TokenAuthenticator } from './auth.js';
import { decodeCursor, encodeCursor, page } from './cursor.js';
import { ApiError, validationField, validationMessage } from './errors.js';
import { AlertHealth } from './health.js';
import { JsonlOperatorStore } from './operator.js';
import { reasonField } from './routes/alerts.js';

let seq = 0;
function alert(
  entity: EntityRef,
  state: 'firing' | 'resolved',
  at: number,
  severity: Severity = 'critical',
): AlertEvent {
  const fingerprint = `fp-${entity.level}-${entity.id}-${severity}`;
  return {
    id: `${fingerprint}@${seq++}`,
    fingerprint,
    rule: 'R',
    severity,
    state,
    entity,
    predicted: false,
    at,
    startsAt: at,
    labels: {},
    annotations: {},
  };
}

describe('cursor pages', () => {
  const items = Array.from({ length: 7 }, (_, i) => ({ t: 1000 - Math.floor(i / 2), id: `i${i}` }));
  it('walks a newest-first list once, ties on time broken by id', () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const p = page(items, (x) => x, 3, cursor);
      seen.push(...p.items.map((x) => x.id));
      cursor = p.nextCursor;
    } while (cursor !== undefined);
    expect(seen).toEqual(items.map((x) => x.id));
  });
  it('refuses cursors it did not make, naming the field', () => {
    expect(decodeCursor(encodeCursor({ t: 5, id: 'x' }))).toEqual({ t: 5, id: 'x' });
    for (const bad of [
      'x',
      Buffer.from('[1]').toString('base64url'),
      Buffer.from('["a","b"]').toString('base64url'),
    ]) {
      expect(() => decodeCursor(bad)).toThrow(ApiError);
    }
  });
});

describe('tokens', () => {
  const auth = new TokenAuthenticator([
    { token: 'a'.repeat(32), scopes: ['read', 'write'], name: 'w' },
    { token: 'b'.repeat(32), scopes: ['read'] },
  ]);
  it('finds the principal of a configured token only', () => {
    expect(auth.find('a'.repeat(32))?.name).toBe('w');
    expect([...(auth.find('b'.repeat(32))?.scopes ?? [])]).toEqual(['read']);
    expect(auth.find('b'.repeat(31))).toBeUndefined();
    expect(auth.find('')).toBeUndefined();
    expect(auth.find('a'.repeat(33))).toBeUndefined();
  });
  it('knows loopback addresses', () => {
    expect(['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1'].map(isLoopback)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(['10.0.0.1', '::ffff:10.0.0.1', '1270.0.0.1', undefined].map(isLoopback)).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });
});

describe('error fields', () => {
  it('names the field of ajv errors', () => {
    expect(validationField({ keyword: 'maximum', instancePath: '/limit' }, 'querystring')).toBe('limit');
    expect(validationField({ keyword: 'enum', instancePath: '/entity/level' }, 'body')).toBe('entity.level');
    expect(
      validationField(
        { keyword: 'required', instancePath: '', params: { missingProperty: 'verdict' } },
        'body',
      ),
    ).toBe('verdict');
    expect(validationField({ keyword: 'type', instancePath: '' }, 'body')).toBe('body');
    expect(
      validationMessage(
        { keyword: 'maximum', instancePath: '/limit', message: 'must be <= 1000' },
        'querystring',
      ),
    ).toBe('querystring/limit must be <= 1000');
  });
  it('names the field of alert parse errors', () => {
    expect(reasonField('entity.level must be one of idc, rack')).toBe('entity.level');
    expect(reasonField('[3].rule must be a non-empty string')).toBe('3.rule');
    expect(reasonField('alerts.2: labels.alertname: missing')).toBe('alerts.2.labels.alertname');
    expect(reasonField('at: out of range')).toBe('at');
  });
});

describe('AlertLog', () => {
  it('keeps firing alerts by entity and a bounded ring of resolutions, newest first', () => {
    const log = new AlertLog({ recentLimit: 2 });
    const h1 = { level: 'host', id: 'h1' } as const;
    const h2 = { level: 'host', id: 'h2' } as const;
    log.record(alert(h1, 'firing', 1));
    log.record(alert(h2, 'firing', 2));
    log.record(alert(h2, 'firing', 3, 'warning'));
    expect(log.firingOf(h2)).toHaveLength(2);
    log.record(alert(h1, 'resolved', 4));
    log.record(alert(h2, 'resolved', 5));
    log.record(alert(h2, 'resolved', 6, 'warning'));
    expect(log.counts()).toEqual({ firing: 0, recent: 2, received: 6 });
    expect(log.list({ state: 'resolved' }).map((a) => a.at)).toEqual([6, 5]);
    expect(log.firingByEntity().size).toBe(0);
  });
});

describe('AlertHealth', () => {
  it('scores from firing alerts and rolls up, following alert changes at once', () => {
    const t = new TopologyGraph();
    t.apply({ level: 'rack', id: 'r' }, 0);
    t.apply({ level: 'host', id: 'h', parent: { level: 'rack', id: 'r' } }, 0);
    for (const c of ['c1', 'c2', 'c3', 'c4'])
      t.apply({ level: 'container', id: c, parent: { level: 'host', id: 'h' } }, 0);
    const log = new AlertLog();
    const health = new AlertHealth(t, log, { maxAgeMs: 60_000 });
    expect(health.health({ level: 'host', id: 'h' })?.score).toBe(100);
    log.record(alert({ level: 'container', id: 'c1' }, 'firing', 1));
    // c1 critical: 35. Children aggregate: 0.5 * mean(35,100,100,100) + 0.5 * 35 = 0.5*83.75 + 17.5 = 59.375.
    // Host (no own alert): min(100, 0.6*100 + 0.4*59.375) = 83.75.
    expect(health.health({ level: 'container', id: 'c1' })).toMatchObject({ score: 35, status: 'fatal' });
    expect(health.health({ level: 'host', id: 'h' })).toMatchObject({ score: 83.8, status: 'healthy' });
    expect(health.health({ level: 'rack', id: 'r' })?.score).toBe(83.8);
    log.record(alert({ level: 'host', id: 'h' }, 'firing', 2, 'warning'));
    // Own 70 (a warning): min(70, 0.6*70 + 0.4*59.375) = 65.75.
    expect(health.health({ level: 'host', id: 'h' })).toMatchObject({
      score: 65.8,
      own: 70,
      status: 'warning',
      firingAlerts: 1,
    });
    expect(health.healthAll('container').map((h) => h.entity.id)).toEqual(['c1', 'c2', 'c3', 'c4']);
    expect(health.health({ level: 'host', id: 'nope' })).toBeUndefined();
  });
});

describe('JsonlOperatorStore', () => {
  it('keeps acknowledgements, resolutions and verdicts across a restart, skipping damaged lines', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'converge-op-')), 'operator.jsonl');
    const a = new JsonlOperatorStore(path);
    a.acknowledge('inc-1', { by: 'alice', comment: '', at: 1, version: 1 });
    a.resolve('inc-1', { by: 'bob', comment: 'done', at: 2, version: 1 });
    a.addFeedback({
      id: 'f1',
      incidentId: 'inc-1',
      incidentVersion: 1,
      verdict: 'incorrect',
      rootCause: { level: 'app', id: 'pay', kind: 'app' },
      candidates: [],
      actualCause: { level: 'host', id: 'h1' },
      comment: '',
      by: 'alice',
      at: 3,
    });
    writeFileSync(path, readFileSync(path, 'utf8') + '{broken\n');
    const b = new JsonlOperatorStore(path);
    expect(b.state('inc-1')?.acknowledged?.by).toBe('alice');
    expect(b.state('inc-1')?.resolved?.comment).toBe('done');
    expect(b.feedback({ verdict: 'incorrect' }).map((f) => f.actualCause)).toEqual([
      { level: 'host', id: 'h1' },
    ]);
    expect(b.skipped).toHaveLength(1);
    expect(b.skipped[0]!.line).toBe(4);
  });
});
