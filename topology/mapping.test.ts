import { describe, expect, it } from 'vitest';
import { DEFAULT_TAG_MAPPING, entityOf, type ResolvedEntities, resolve, TagResolver } from './mapping.js';

describe('default tag mapping (Telegraf)', () => {
  it('reads host, dc, rack, container_name and app from a docker point', () => {
    const out: ResolvedEntities = {};
    const named = resolve(
      { host: 'node-1', dc: 'gz0', rack: 'gz0-r1', container_name: 'c-9', app: 'pay', cpu: 'cpu-total' },
      out,
    );
    expect(named).toBe(true);
    expect(out).toEqual({ idc: 'gz0', rack: 'gz0-r1', host: 'node-1', container: 'c-9', app: 'pay' });
  });

  it('takes the first present tag of each level in mapping order', () => {
    const out: ResolvedEntities = {};
    resolve({ host: 'h', zone: 'z', idc: 'i', container: 'c', pod_name: 'p', service: 's', appid: 'a' }, out);
    expect(out.idc).toBe('i');
    expect(out.container).toBe('c');
    expect(out.app).toBe('a');
    expect(DEFAULT_TAG_MAPPING.idc).toEqual(['dc', 'idc', 'zone']);
  });

  it('treats empty values as absent and overwrites every field of a reused output', () => {
    const out: ResolvedEntities = {};
    resolve({ host: 'h1', container_name: 'c1', app: 'x', dc: 'd', rack: 'r' }, out);
    expect(resolve({ host: 'h2', container_name: '', pod_name: 'p2' }, out)).toBe(true);
    expect(out).toEqual({ idc: undefined, rack: undefined, host: 'h2', container: 'p2', app: undefined });
  });

  it('returns false when neither a host nor a container is named', () => {
    const out: ResolvedEntities = {};
    expect(resolve({ dc: 'd1', rack: 'r1', app: 'web' }, out)).toBe(false);
    expect(out.idc).toBe('d1');
    expect(resolve({}, out)).toBe(false);
  });

  it('names the most specific entity: container, else host', () => {
    expect(entityOf({ host: 'h1', container_name: 'c1' })).toEqual({ level: 'container', id: 'c1' });
    expect(entityOf({ host: 'h1', dc: 'd' })).toEqual({ level: 'host', id: 'h1' });
    expect(entityOf({ dc: 'd' })).toBeUndefined();
  });
});

describe('custom tag mapping', () => {
  it('uses the given tags for the given levels and the defaults elsewhere', () => {
    const k8s = new TagResolver({
      host: ['node', 'kubernetes_node'],
      container: ['pod'],
      app: ['deployment'],
    });
    const out: ResolvedEntities = {};
    expect(k8s.resolve({ kubernetes_node: 'n7', pod: 'web-5d9f', deployment: 'web', dc: 'sh1' }, out)).toBe(
      true,
    );
    expect(out).toEqual({ idc: 'sh1', rack: undefined, host: 'n7', container: 'web-5d9f', app: 'web' });
    // The default container tags are no longer read.
    expect(k8s.entityOf({ node: 'n1', container_name: 'c1' })).toEqual({ level: 'host', id: 'n1' });
    expect(k8s.mapping.rack).toEqual(['rack']);
  });
});
