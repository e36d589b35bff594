import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { EntityRef } from '../core/types.js';
import { TopologyGraph } from './graph.js';
import { loadTopologyFile } from './records.js';

const MIN = 60_000;
/** 2014-01-01: event time, far from the wall clock. */
const T0 = Date.UTC(2014, 0, 1);

const c = (id: string): EntityRef => ({ level: 'container', id });
const h = (id: string): EntityRef => ({ level: 'host', id });
const r = (id: string): EntityRef => ({ level: 'rack', id });
const d = (id: string): EntityRef => ({ level: 'idc', id });
const a = (id: string): EntityRef => ({ level: 'app', id });

function dockerTags(container: string, host: string, app = 'pay'): Record<string, string> {
  return { container_name: container, host, dc: 'gz0', rack: 'gz0-r1', app, engine_host: 'x' };
}

const ids = (refs: EntityRef[]) => refs.map((e) => `${e.level}:${e.id}`).sort();

describe('observe', () => {
  it('creates the full chain from a Telegraf docker point', () => {
    const g = new TopologyGraph();
    expect(g.observe(dockerTags('c1', 'h1'), T0)).toBe(true);
    expect(g.counts()).toEqual({ idc: 1, rack: 1, host: 1, container: 1, app: 1 });
    expect(g.parent(c('c1'))).toEqual(h('h1'));
    expect(g.parent(h('h1'))).toEqual(r('gz0-r1'));
    expect(g.parent(r('gz0-r1'))).toEqual(d('gz0'));
    expect(g.parent(d('gz0'))).toBeUndefined();
    expect(g.appOf('c1')).toBe('pay');
    expect(g.children(a('pay'))).toEqual([c('c1')]);
    expect(g.children(h('h1'))).toEqual([c('c1')]);
    for (const e of [c('c1'), h('h1'), r('gz0-r1'), d('gz0'), a('pay')]) expect(g.lastSeen(e)).toBe(T0);
    // Tags are not attributes unless configured.
    expect(g.attributes(c('c1'))).toEqual({});
  });

  it('refreshes last-seen of the whole chain, never moving it backwards', () => {
    const g = new TopologyGraph();
    g.observe(dockerTags('c1', 'h1'), T0);
    g.observe(dockerTags('c1', 'h1'), T0 + 5000);
    g.observe(dockerTags('c1', 'h1'), T0 + 2000); // late point
    for (const e of [c('c1'), h('h1'), r('gz0-r1'), d('gz0'), a('pay')])
      expect(g.lastSeen(e)).toBe(T0 + 5000);
    expect(g.counts().container).toBe(1);
  });

  it('keeps host points and container points of one host together', () => {
    const g = new TopologyGraph();
    g.observe({ host: 'h1', dc: 'gz0', rack: 'gz0-r1', cpu: 'cpu-total' }, T0);
    for (let i = 0; i < 100; i++) g.observe(dockerTags(`c${i}`, 'h1', `app${i % 3}`), T0 + 1000);
    expect(g.childCount(h('h1'))).toBe(100);
    expect(g.childCount(a('app0'))).toBe(34);
    expect(g.counts()).toEqual({ idc: 1, rack: 1, host: 1, container: 100, app: 3 });
    expect(g.lastSeen(h('h1'))).toBe(T0 + 1000);
  });

  it('ignores points that name no host or container', () => {
    const g = new TopologyGraph();
    expect(g.observe({ dc: 'gz0', rack: 'r1' }, T0)).toBe(false);
    expect(g.counts()).toEqual({ idc: 0, rack: 0, host: 0, container: 0, app: 0 });
  });

  it('links a host straight under its idc when the rack is not named', () => {
    const g = new TopologyGraph();
    g.observe({ host: 'h1', dc: 'gz0' }, T0);
    expect(g.parent(h('h1'))).toEqual(d('gz0'));
    // A later point naming the rack puts the rack in between.
    g.observe({ host: 'h1', dc: 'gz0', rack: 'r9' }, T0 + 1);
    expect(g.parent(h('h1'))).toEqual(r('r9'));
    expect(g.parent(r('r9'))).toEqual(d('gz0'));
    // Points without the rack tag leave it alone: the idc is already an ancestor.
    g.observe({ host: 'h1', dc: 'gz0' }, T0 + 2);
    expect(g.parent(h('h1'))).toEqual(r('r9'));
  });

  it('follows a container that moved to another host, and an app change', () => {
    const g = new TopologyGraph();
    g.observe(dockerTags('c1', 'h1'), T0);
    g.observe(dockerTags('c1', 'h2', 'cart'), T0 + 1000);
    expect(g.parent(c('c1'))).toEqual(h('h2'));
    expect(g.childCount(h('h1'))).toBe(0);
    expect(g.children(h('h2'))).toEqual([c('c1')]);
    expect(g.appOf('c1')).toBe('cart');
    expect(g.childCount(a('pay'))).toBe(0);
  });

  it('copies configured attribute tags onto hosts; CMDB values win', () => {
    const g = new TopologyGraph({ attributeTags: ['kernel', 'os'] });
    g.observe({ host: 'h1', kernel: '5.10', os: 'alinux-3', model: 'r740' }, T0);
    g.observe({ host: 'h2', kernel: '5.10' }, T0);
    expect(g.attributes(h('h1'))).toEqual({ kernel: '5.10', os: 'alinux-3' });
    expect(g.attributeValues('host', 'kernel')).toEqual(new Map([['5.10', 2]]));
    g.apply({ level: 'host', id: 'h2', attributes: { kernel: '6.1', model: 'X' } }, T0);
    g.observe({ host: 'h2', kernel: '5.10', os: 'debian' }, T0 + 1);
    expect(g.attributes(h('h2'))).toEqual({ kernel: '6.1', model: 'X', os: 'debian' });
    expect(g.attributeValues('host', 'kernel')).toEqual(
      new Map([
        ['5.10', 1],
        ['6.1', 1],
      ]),
    );
    // A kernel upgrade seen in tags moves the host between groups.
    g.observe({ host: 'h1', kernel: '6.1' }, T0 + 2);
    expect(g.attributeValues('host', 'kernel')).toEqual(new Map([['6.1', 2]]));
    expect(ids(g.membersWithAttribute('host', 'kernel', '6.1'))).toEqual(['host:h1', 'host:h2']);
  });
});

describe('observe edge cases', () => {
  it('refreshes an app named on host points without joining it, and ignores non-finite times', () => {
    const g = new TopologyGraph();
    g.observe({ host: 'h1', service: 'billing' }, T0);
    g.observe({ host: 'h1', service: 'billing' }, T0 + 5);
    expect(g.lastSeen(a('billing'))).toBe(T0 + 5);
    expect(g.childCount(a('billing'))).toBe(0);
    expect(g.observe({ host: 'h2' }, Number.NaN)).toBe(false);
    expect(g.has(h('h2'))).toBe(false);
    expect(g.apply({ level: 'host', id: 'h3' }, Number.POSITIVE_INFINITY)).toMatch(/finite/);
    expect(g.has(h('h3'))).toBe(false);
  });

  it('takes attribute tags per level', () => {
    const g = new TopologyGraph({ attributeTags: { container: ['image'], rack: ['row'] } });
    g.observe(
      { host: 'h1', rack: 'r1', row: 'B', container_name: 'c1', image: 'nginx:1.25', kernel: '5.10' },
      T0,
    );
    expect(g.attributes(c('c1'))).toEqual({ image: 'nginx:1.25' });
    expect(g.attributes(r('r1'))).toEqual({ row: 'B' });
    expect(g.attributes(h('h1'))).toEqual({});
    expect(g.attributeValues('container', 'image')).toEqual(new Map([['nginx:1.25', 1]]));
    g.apply({ level: 'container', id: 'c1', deleted: true }, T0);
    expect(g.attributeValues('container', 'image').size).toBe(0);
  });
});

describe('CMDB records', () => {
  it('merges with metrics-derived entities on (level, id)', () => {
    const g = new TopologyGraph();
    g.observe(dockerTags('c1', 'h1'), T0);
    expect(
      g.apply({ level: 'host', id: 'h1', attributes: { kernel: '5.10', model: 'X' } }, T0 + 10),
    ).toBeUndefined();
    expect(g.counts().host).toBe(1);
    expect(g.attributes(h('h1'))).toEqual({ kernel: '5.10', model: 'X' });
    expect(g.parent(h('h1'))).toEqual(r('gz0-r1')); // the record named no parent: kept
    expect(g.children(h('h1'))).toEqual([c('c1')]);
    expect(g.isDeclared(h('h1'))).toBe(true);
    expect(g.isDeclared(c('c1'))).toBe(false);
  });

  it('accepts records before metrics and creates parents named only as refs', () => {
    const g = new TopologyGraph();
    g.apply({ level: 'container', id: 'c1', parent: { level: 'host', id: 'h1' }, app: 'web' }, T0);
    expect(g.counts()).toEqual({ idc: 0, rack: 0, host: 1, container: 1, app: 1 });
    expect(g.isDeclared(h('h1'))).toBe(false);
    g.observe(dockerTags('c1', 'h1', 'web'), T0 + 1000);
    expect(g.counts()).toEqual({ idc: 1, rack: 1, host: 1, container: 1, app: 1 });
    expect(g.parent(h('h1'))).toEqual(r('gz0-r1'));
    expect(g.lastSeen(c('c1'))).toBe(T0 + 1000);
  });

  it('lets a later parent replace an earlier one (a move)', () => {
    const g = new TopologyGraph();
    g.apply({ level: 'host', id: 'h1', parent: { level: 'rack', id: 'r1' } }, T0);
    g.apply({ level: 'host', id: 'h1', parent: { level: 'rack', id: 'r2' } }, T0 + 1);
    expect(g.parent(h('h1'))).toEqual(r('r2'));
    expect(g.childCount(r('r1'))).toBe(0);
    expect(g.children(r('r2'))).toEqual([h('h1')]);
    expect(g.graph.hasDirectedEdge('rack:r2', 'host:h1')).toBe(true);
    expect(g.graph.hasDirectedEdge('rack:r1', 'host:h1')).toBe(false);
  });

  it('keeps calls and callers, replacing the list on a later record', () => {
    const g = new TopologyGraph();
    g.apply({ level: 'app', id: 'web', calls: ['cart', 'user'] }, T0);
    g.apply({ level: 'app', id: 'cart', calls: ['user'] }, T0);
    expect(g.calls('web').sort()).toEqual(['cart', 'user']);
    expect(g.callers('user').sort()).toEqual(['cart', 'web']);
    g.apply({ level: 'app', id: 'web', calls: ['search'] }, T0 + 1);
    expect(g.calls('web')).toEqual(['search']);
    expect(g.callers('user')).toEqual(['cart']);
    expect(g.callers('cart')).toEqual([]);
    expect(g.calls('nope')).toEqual([]);
  });

  it('removes a deleted entity with its edges; its children stay, detached', () => {
    const g = new TopologyGraph();
    g.apply({ level: 'container', id: 'c1', parent: { level: 'host', id: 'h1' }, app: 'web' }, T0);
    g.apply({ level: 'container', id: 'c2', parent: { level: 'host', id: 'h1' }, app: 'web' }, T0);
    g.apply({ level: 'app', id: 'web', calls: ['cart'] }, T0);
    g.apply({ level: 'container', id: 'c1', deleted: true }, T0 + 1);
    expect(g.has(c('c1'))).toBe(false);
    expect(g.children(a('web'))).toEqual([c('c2')]);
    expect(g.children(h('h1'))).toEqual([c('c2')]);
    g.apply({ level: 'app', id: 'web', deleted: true }, T0 + 2);
    expect(g.appOf('c2')).toBeUndefined();
    expect(g.callers('cart')).toEqual([]);
    g.apply({ level: 'host', id: 'h1', deleted: true }, T0 + 3);
    expect(g.has(c('c2'))).toBe(true);
    expect(g.parent(c('c2'))).toBeUndefined();
    expect(g.counts()).toEqual({ idc: 0, rack: 0, host: 0, container: 1, app: 1 });
    // Deleting what is not there is not an error.
    expect(g.apply({ level: 'rack', id: 'nope', deleted: true }, T0)).toBeUndefined();
  });

  it('refuses an inconsistent record without changing anything', () => {
    const g = new TopologyGraph();
    expect(g.apply({ level: 'host', id: 'h1', parent: { level: 'container', id: 'c1' } }, T0)).toMatch(
      /parent.level must be one of idc, rack/,
    );
    expect(g.counts()).toEqual({ idc: 0, rack: 0, host: 0, container: 0, app: 0 });
  });

  it('loads the JD example', async () => {
    const { records, errors } = await loadTopologyFile('/work/shared/examples/jd-topology.jsonl');
    expect(errors).toEqual([]);
    const g = new TopologyGraph();
    for (const record of records) expect(g.apply(record, T0)).toBeUndefined();
    expect(g.counts()).toEqual({ idc: 1, rack: 6, host: 120, container: 12050, app: 150 });
    const payContainers = g.children(a('pay-06da'));
    expect(payContainers).toHaveLength(50);
    const payHosts = new Set(payContainers.map((e) => g.parent(e)!.id));
    expect(payHosts.size).toBe(50);
    for (const host of payHosts) expect(g.childCount(h(host))).toBe(101);
    expect(g.calls('pay-06da').sort()).toEqual(['search-cc7f', 'ship-f785']);
    const kernels = g.attributeValues('host', 'kernel');
    expect([...kernels.values()].reduce((x, y) => x + y, 0)).toBe(120);
    expect(g.membersWithAttribute('host', 'kernel', '5.10.134-16')).toHaveLength(kernels.get('5.10.134-16')!);
    expect(g.attributeKeys('host').sort()).toEqual(['kernel', 'model', 'os']);
    // Everything is CMDB-declared: nothing expires however far event time moves.
    expect(g.expire(T0 + 365 * 24 * 60 * MIN)).toEqual([]);
    expect(g.counts().container).toBe(12050);
  });
});

describe('expiry in event time', () => {
  it('expires metrics-only entities unseen for the TTL, children first', () => {
    const g = new TopologyGraph({ ttlMs: 15 * MIN });
    g.observe(dockerTags('c1', 'h1'), T0);
    g.observe(dockerTags('c2', 'h1'), T0);
    g.observe(dockerTags('c2', 'h1'), T0 + 5 * MIN);
    expect(g.expire(T0 + 15 * MIN - 1)).toEqual([]);
    expect(g.expire(T0 + 15 * MIN)).toEqual([c('c1')]);
    expect(g.childCount(h('h1'))).toBe(1);
    expect(g.childCount(a('pay'))).toBe(1);
    expect(g.expire(T0 + 20 * MIN - 1)).toEqual([]);
    const last = g.expire(T0 + 20 * MIN).map((e) => `${e.level}:${e.id}`);
    expect([...last].sort()).toEqual(['app:pay', 'container:c2', 'host:h1', 'idc:gz0', 'rack:gz0-r1']);
    const at = (key: string) => last.indexOf(key);
    expect(at('container:c2')).toBeLessThan(at('host:h1'));
    expect(at('container:c2')).toBeLessThan(at('app:pay'));
    expect(at('host:h1')).toBeLessThan(at('rack:gz0-r1'));
    expect(at('rack:gz0-r1')).toBeLessThan(at('idc:gz0'));
    expect(g.counts()).toEqual({ idc: 0, rack: 0, host: 0, container: 0, app: 0 });
    expect(g.graph.order).toBe(0);
  });

  it('does not look at the wall clock', () => {
    const g = new TopologyGraph({ ttlMs: MIN });
    // Points from 2014 do not expire when the watermark says it is still 2014.
    g.observe(dockerTags('c1', 'h1'), T0);
    expect(g.expire(T0 + 30_000)).toEqual([]);
    expect(g.has(c('c1'))).toBe(true);
    // And points stamped in the future do not expire before the watermark reaches them.
    const future = Date.now() + 365 * 24 * 60 * MIN;
    g.observe(dockerTags('c9', 'h9'), future);
    // (the app, rack and idc were named again by the future point)
    expect(ids(g.expire(future - 1))).toEqual(['container:c1', 'host:h1']);
    expect(g.has(c('c9'))).toBe(true);
  });

  it('keeps an entity while something holds it: children, members, callers, CMDB children', () => {
    const g = new TopologyGraph({ ttlMs: MIN });
    g.observe({ host: 'h1', rack: 'r1' }, T0);
    g.apply({ level: 'container', id: 'c1', parent: { level: 'host', id: 'h1' }, app: 'web' }, T0);
    g.apply({ level: 'app', id: 'web', calls: ['cart'] }, T0);
    expect(g.expire(T0 + 10 * MIN)).toEqual([]);
    expect(g.counts()).toEqual({ idc: 0, rack: 1, host: 1, container: 1, app: 2 });
    // Once the CMDB container goes, its metrics-only host and rack go at the next pass.
    g.apply({ level: 'container', id: 'c1', deleted: true }, T0 + 10 * MIN);
    expect(g.expire(T0 + 10 * MIN)).toEqual([h('h1'), r('r1')]); // (a chain: one order only)
    // cart is named only as a callee: it stays while web calls it.
    expect(g.has(a('cart'))).toBe(true);
    g.apply({ level: 'app', id: 'web', calls: [] }, T0 + 11 * MIN);
    expect(g.expire(T0 + 11 * MIN)).toEqual([a('cart')]);
    expect(g.has(a('web'))).toBe(true);
  });

  it('a re-observed entity survives and an expired one comes back when seen again', () => {
    const g = new TopologyGraph({ ttlMs: MIN });
    g.observe(dockerTags('c1', 'h1'), T0);
    for (let t = T0; t <= T0 + 10 * MIN; t += 10_000) {
      g.observe(dockerTags('c1', 'h1'), t);
      expect(g.expire(t)).toEqual([]);
    }
    expect(ids(g.expire(T0 + 11 * MIN))).toHaveLength(5);
    g.observe(dockerTags('c1', 'h2'), T0 + 12 * MIN);
    expect(g.parent(c('c1'))).toEqual(h('h2'));
    expect(g.lastSeen(c('c1'))).toBe(T0 + 12 * MIN);
  });

  it('reuses slots and keeps state bounded under churn', () => {
    const g = new TopologyGraph({ ttlMs: MIN, initialCapacity: 16 });
    let expired = 0;
    for (let minute = 0; minute < 60; minute++) {
      const t = T0 + minute * MIN;
      // 100 short-lived containers per minute on 10 hosts (fresh names: pods come and go).
      for (let i = 0; i < 100; i++) g.observe(dockerTags(`m${minute}-c${i}`, `h${i % 10}`, `app${i % 4}`), t);
      expired += g.expire(t).length;
    }
    // Each pass removes the previous minute's containers.
    expect(g.counts().container).toBe(100);
    expect(expired).toBe(59 * 100);
    const stats = g.stats();
    expect(stats.slots).toBe(100 + 10 + 4 + 2);
    expect(stats.capacity).toBeLessThan(1000);
    expect(stats.expiryEntries).toBeLessThan(600);
  });

  it('costs what expires, not a scan of everything', () => {
    const g = new TopologyGraph({ ttlMs: 10 * MIN });
    for (let i = 0; i < 20_000; i++) g.observe(dockerTags(`c${i}`, `h${i % 200}`), T0);
    g.observe(dockerTags('late', 'h-late'), T0 + 9 * MIN);
    // Refresh all but 10 containers; the first pass after they come due re-files the rest once.
    for (let i = 10; i < 20_000; i++) g.observe(dockerTags(`c${i}`, `h${i % 200}`), T0 + 5 * MIN);
    expect(ids(g.expire(T0 + 10 * MIN)).map((k) => k.slice(10))).toEqual([
      'c0',
      'c1',
      'c2',
      'c3',
      'c4',
      'c5',
      'c6',
      'c7',
      'c8',
      'c9',
    ]);
    expect(g.stats().expiryEntries).toBeGreaterThan(20_000 - 11);
    const visitedFirst = g.stats().expiryVisited;
    // The first bucket: containers, hosts, app, rack, idc, each looked at once.
    expect(visitedFirst).toBe(20_000 + 200 + 3);
    // Passes before the re-filed entities come due look at nothing.
    for (let s = 1; s <= 240; s++) expect(g.expire(T0 + 10 * MIN + s * 1000)).toEqual([]);
    expect(g.stats().expiryVisited).toBe(visitedFirst);
    // When they come due, each is looked at once more and expires, then its host (the app, rack and idc stay with the late container).
    expect(g.expire(T0 + 15 * MIN)).toHaveLength(20_000 - 10 + 200);
    expect(g.stats().expiryVisited - visitedFirst).toBeLessThan(20_000 + 2 * 200 + 10);
    expect(g.counts()).toEqual({ idc: 1, rack: 1, host: 1, container: 1, app: 1 });
  });
});

describe('expiry frontier', () => {
  it('expires entities of one bucket at their own times, each looked at about once', () => {
    const g = new TopologyGraph({ ttlMs: 10 * MIN }); // buckets of 9.375 s
    g.observe({ host: 'keeper', dc: 'd', rack: 'r' }, T0 + 20 * MIN);
    const visitedBefore = g.stats().expiryVisited;
    for (let i = 0; i < 5000; i++) g.observe({ host: 'keeper', container_name: `c${i}` }, T0 + i);
    let expired = 0;
    for (let step = 0; step <= 60; step++) {
      const watermark = T0 + 10 * MIN + step * 100;
      const now = g.expire(watermark);
      // Exactly those last seen at or before watermark - ttl, not a bucket's width later.
      expired += now.length;
      expect(expired).toBe(Math.min(5000, step * 100 + 1));
    }
    expect(g.stats().expiryVisited - visitedBefore).toBeLessThan(5000 * 2 + 100);
  });
});

describe('observe fast path', () => {
  it('does not mistake a reused slot for the previous point entity', () => {
    const g = new TopologyGraph({ ttlMs: MIN });
    g.observe({ host: 'h1', container_name: 'c1' }, T0);
    g.observe({ host: 'h2' }, T0 + 2 * MIN);
    expect(ids(g.expire(T0 + 2 * MIN))).toEqual(['container:c1', 'host:h1']);
    g.observe({ host: 'h2', container_name: 'c2' }, T0 + 2 * MIN); // takes a freed slot
    g.observe({ host: 'h2', container_name: 'c1' }, T0 + 2 * MIN);
    expect(g.counts().container).toBe(2);
    expect(ids(g.children(h('h2')))).toEqual(['container:c1', 'container:c2']);
  });

  it('entity ids do not keep the decoded messages they were cut from alive', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const g = new TopologyGraph();
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let m = 0; m < 50; m++) {
      // Like a Kafka message decoded into tag values that are slices of the message text.
      const message =
        'x'.repeat(1 << 20) +
        `,host=node-${String(m).padStart(10, '0')},container_name=c-${String(m).padStart(16, '0')}`;
      const host = message.indexOf('host=') + 5;
      const container = message.indexOf('container_name=') + 15;
      g.observe(
        { host: message.slice(host, message.indexOf(',', host)), container_name: message.slice(container) },
        T0,
      );
    }
    gc();
    expect(g.counts().container).toBe(50);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(8 << 20); // 50 MiB if retained
  });
});

describe('TopologyView contract', () => {
  it('answers for unknown entities without throwing', () => {
    const g = new TopologyGraph();
    expect(g.has(h('x'))).toBe(false);
    expect(g.parent(h('x'))).toBeUndefined();
    expect(g.children(h('x'))).toEqual([]);
    expect(g.childCount(h('x'))).toBe(0);
    expect(g.appOf('x')).toBeUndefined();
    expect(g.attributes(h('x'))).toEqual({});
    expect(g.lastSeen(h('x'))).toBeUndefined();
    expect(g.membersWithAttribute('host', 'kernel', '1')).toEqual([]);
    expect(g.attributeValues('host', 'kernel').size).toBe(0);
  });

  it('exports the whole graph to graphology, containers included', () => {
    const g = new TopologyGraph();
    g.observe(dockerTags('c1', 'h1'), T0);
    g.apply({ level: 'app', id: 'pay', calls: ['cart'] }, T0);
    const full = g.toGraphology();
    expect(full.order).toBe(6);
    expect(full.getEdgeAttribute(full.edge('host:h1', 'container:c1')!, 'kind')).toBe('parent');
    expect(full.getEdgeAttribute(full.edge('app:pay', 'container:c1')!, 'kind')).toBe('member');
    expect(full.getEdgeAttribute(full.edge('app:pay', 'app:cart')!, 'kind')).toBe('calls');
    expect(full.getNodeAttributes('container:c1')).toMatchObject({
      level: 'container',
      id: 'c1',
      lastSeen: T0,
    });
    expect(g.toGraphology({ containers: false }).order).toBe(5);
  });
});
