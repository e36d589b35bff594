import { describe, expect, it } from 'vitest';
import type { EntityRef } from '../core/types.js';
import { TopologyGraph } from './graph.js';

const MIN = 60_000;
const T0 = Date.UTC(2014, 0, 1);
const c = (id: string): EntityRef => ({ level: 'container', id });
const h = (id: string): EntityRef => ({ level: 'host', id });

/** A point of container `id` on host `host` (rack r1 in dc1). */
const point = (id: string, host: string) => ({ container_name: id, host, rack: 'r1', dc: 'dc1' });

describe('the entity cap', () => {
  it('holds at most maxEntities under a flood of new entities, evicting the unseen-longest first', () => {
    const g = new TopologyGraph({ maxEntities: 1000 });
    // A real fleet: 10 hosts with 20 containers each (212 entities with rack and idc).
    for (let k = 0; k < 200; k++) g.observe(point(`real-${k}`, `h${k % 10}`), T0);
    expect(g.size).toBe(212);
    // A flood: 50,000 new containers on one host, each seen once, later than the fleet.
    for (let i = 0; i < 50_000; i++) {
      g.observe(point(`flood-${i}`, 'h-flood'), T0 + MIN + i);
      // The real fleet keeps reporting: refreshed entities are not the oldest.
      if (i % 500 === 0)
        for (let k = 0; k < 200; k++) g.observe(point(`real-${k}`, `h${k % 10}`), T0 + MIN + i);
      expect(g.size).toBeLessThanOrEqual(1000);
    }
    const stats = g.capacityStats();
    expect(stats).toMatchObject({ held: 1000, limit: 1000, refused: 0 });
    // 50,001 new entities (the flood's host too) came; 212 + 50,001 - 1000 had to go.
    expect(stats.evicted).toBe(49_213);
    // Every real container survived, and the flood's host (it holds containers); of the flood,
    // the 787 seen last are there, the older ones are gone.
    for (let k = 0; k < 200; k++) expect(g.has(c(`real-${k}`)), `real-${k}`).toBe(true);
    expect(g.has(h('h-flood'))).toBe(true);
    expect(g.has(c('flood-49999'))).toBe(true);
    expect(g.has(c(`flood-${50_000 - 787}`))).toBe(true);
    expect(g.has(c(`flood-${50_000 - 788}`))).toBe(false);
    expect(g.has(c('flood-0'))).toBe(false);
    expect(g.stats()).toMatchObject({ evicted: stats.evicted, refused: 0 });
  });

  it('never evicts declared entities or ones that hold children; refuses when nothing can go', () => {
    const g = new TopologyGraph({ maxEntities: 6 });
    expect(
      g.apply({ level: 'host', id: 'cmdb-h1', parent: { level: 'rack', id: 'r1' } }, T0),
    ).toBeUndefined();
    expect(g.apply({ level: 'rack', id: 'r1', parent: { level: 'idc', id: 'dc1' } }, T0)).toBeUndefined();
    expect(g.apply({ level: 'idc', id: 'dc1' }, T0)).toBeUndefined();
    // Three declared; a metrics host with two containers fills the cap (6).
    expect(g.observe(point('c1', 'm-h1'), T0)).toBe(true);
    expect(g.observe(point('c2', 'm-h1'), T0 + 1)).toBe(true);
    expect(g.size).toBe(6);
    // A new container on the declared host: c1 (oldest, unheld) makes room; m-h1 holds c2.
    expect(g.observe(point('c3', 'cmdb-h1'), T0 + 2)).toBe(true);
    expect(g.has(c('c1'))).toBe(false);
    expect(g.has(h('m-h1'))).toBe(true);
    // c2 goes next, then its host (released, unseen longest), never the declared ones.
    expect(g.observe(point('c4', 'cmdb-h1'), T0 + 3)).toBe(true);
    expect(g.has(c('c2'))).toBe(false);
    expect(g.observe(point('c5', 'cmdb-h1'), T0 + 4)).toBe(true);
    expect(g.has(h('m-h1'))).toBe(false);
    expect(g.capacityStats()).toMatchObject({ held: 6, evicted: 3, refused: 0 });
    // Now: 3 declared + c3, c4, c5 on the declared host. Only the containers can go.
    expect(g.observe(point('c6', 'cmdb-h1'), T0 + 5)).toBe(true);
    expect(g.has(c('c3'))).toBe(false);
    // A record declaring a host and its new rack: c4 and c5 make room.
    expect(
      g.apply({ level: 'host', id: 'cmdb-h2', parent: { level: 'rack', id: 'r2' } }, T0 + 6),
    ).toBeUndefined();
    expect(g.counts()).toEqual({ idc: 1, rack: 2, host: 2, container: 1, app: 0 });
    // A point naming two new entities: c6 goes, then nothing else can; the point is refused.
    expect(g.observe(point('c7', 'm-h9'), T0 + 7)).toBe(false);
    expect(g.has(c('c7'))).toBe(false);
    expect(g.has(h('m-h9'))).toBe(false);
    expect(g.counts()).toEqual({ idc: 1, rack: 2, host: 2, container: 0, app: 0 });
    // One entity fits again; the one after does not: all is declared or holds children.
    expect(g.apply({ level: 'host', id: 'cmdb-h3' }, T0 + 7)).toBeUndefined();
    expect(g.apply({ level: 'host', id: 'cmdb-h4' }, T0 + 7)).toMatch(
      /^the topology is full \(6 entities, none of them evictable\): record of host cmdb-h4 refused$/,
    );
    expect(g.capacityStats()).toEqual({ held: 6, limit: 6, evicted: 7, refused: 2 });
    // What was declared is all still there.
    for (const e of [h('cmdb-h1'), h('cmdb-h2'), h('cmdb-h3')]) expect(g.has(e)).toBe(true);
  });

  it('does not evict what the point itself names, even when it is the oldest', () => {
    const g = new TopologyGraph({ maxEntities: 5 });
    g.observe({ host: 'h-old', rack: 'r1', dc: 'dc1' }, T0); // oldest, holds nothing
    g.observe({ host: 'h-2', rack: 'r1', dc: 'dc1' }, T0 + 1);
    g.observe({ host: 'h-3', rack: 'r1', dc: 'dc1' }, T0 + 2);
    expect(g.size).toBe(5);
    // A container on h-old: room comes from h-2, not from h-old.
    expect(g.observe(point('c-new', 'h-old'), T0 + 3)).toBe(true);
    expect(g.parent(c('c-new'))).toEqual(h('h-old'));
    expect(g.has(h('h-2'))).toBe(false);
    expect(g.has(h('h-3'))).toBe(true);
    expect(g.size).toBe(5);
  });

  it('keeps expiry exact after evictions', () => {
    const g = new TopologyGraph({ maxEntities: 100, ttlMs: 10 * MIN });
    for (let i = 0; i < 1000; i++) g.observe(point(`c${i}`, `h${i % 50}`), T0 + i * 1000);
    expect(g.size).toBeLessThanOrEqual(100);
    const left = g.size;
    // Nothing is due until 10 minutes after the newest point's predecessors.
    expect(g.expire(T0 + 999_000)).toEqual([]);
    const gone = g.expire(T0 + 999_000 + 10 * MIN);
    expect(gone.length).toBe(left);
    expect(g.size).toBe(0);
    expect(g.stats()).toMatchObject({ slots: 0, expiryEntries: 0 });
  });

  it('refuses a cap below 5', () => {
    expect(() => new TopologyGraph({ maxEntities: 4 })).toThrow(
      /maxEntities must be an integer of at least 5/,
    );
  });
});
