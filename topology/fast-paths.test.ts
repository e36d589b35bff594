import { describe, expect, it } from 'vitest';
import type { ContainerPlace, TopologyRecord } from '../core/types.js';
import { TopologyGraph } from './graph.js';

// The optional TopologyView fast paths the correlator uses on large topologies.
describe('fast paths of the topology view', () => {
  function graph(): TopologyGraph {
    const g = new TopologyGraph();
    const records: TopologyRecord[] = [
      { level: 'rack', id: 'r1' },
      { level: 'host', id: 'h1', parent: { level: 'rack', id: 'r1' } },
      { level: 'container', id: 'c1', parent: { level: 'host', id: 'h1' }, app: 'web' },
      { level: 'container', id: 'c2', parent: { level: 'host', id: 'h1' } },
      { level: 'container', id: 'c3', app: 'cart' },
      { level: 'app', id: 'web', calls: ['cart', 'auth'] },
      { level: 'app', id: 'cart', calls: ['db'] },
    ];
    for (const r of records) expect(g.apply(r, 0)).toBeUndefined();
    return g;
  }

  it('placeContainer: host and app in one lookup, nothing written for an unknown container', () => {
    const g = graph();
    const out: ContainerPlace = { host: 'x', app: 'y' };
    expect(g.placeContainer('c1', out)).toBe(true);
    expect(out).toEqual({ host: 'h1', app: 'web' });
    expect(g.placeContainer('c2', out)).toBe(true);
    expect(out).toEqual({ host: 'h1', app: undefined });
    expect(g.placeContainer('c3', out)).toBe(true);
    expect(out).toEqual({ host: undefined, app: 'cart' });
    out.host = 'kept';
    expect(g.placeContainer('nope', out)).toBe(false);
    expect(out.host).toBe('kept');
  });

  it('callList / callerList: the same answers as calls / callers, shared until the calls change', () => {
    const g = graph();
    expect([...g.callList('web')].sort()).toEqual(['auth', 'cart']);
    expect(g.callList('web')).toBe(g.callList('web'));
    expect(Object.isFrozen(g.callList('web'))).toBe(true);
    expect(g.callerList('cart')).toEqual(['web']);
    expect(g.callList('db')).toEqual([]);
    expect(g.callList('unknown')).toEqual([]);
    const before = g.callerList('cart');
    g.apply({ level: 'app', id: 'auth', calls: ['cart'] }, 1);
    expect([...g.callerList('cart')].sort()).toEqual(['auth', 'web']);
    expect(before).toEqual(['web']);
    g.apply({ level: 'app', id: 'web', calls: ['auth'] }, 2);
    expect(g.callList('web')).toEqual(['auth']);
    expect(g.callerList('cart')).toEqual(['auth']);
    g.apply({ level: 'app', id: 'auth', deleted: true }, 3);
    expect(g.callList('web')).toEqual([]);
    expect(g.callerList('cart')).toEqual([]);
  });
});
