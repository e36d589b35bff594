import { describe, expect, it } from 'vitest';
import { parseNotifyConfig } from './config.js';
import { RouteTree } from './route.js';

function tree(route: unknown) {
  const sinks = ['im', 'pager', 'dc1-team', 'db-team', 'audit'].map((name) => ({ name, type: 'memory' }));
  return new RouteTree(parseNotifyConfig({ sinks, route }).route);
}

describe('route tree', () => {
  const t = tree({
    sinks: ['im'],
    routes: [
      { matchers: ['severity="critical"'], sinks: ['pager'], continue: true },
      {
        matchers: ['idc="dc1"'],
        sinks: ['dc1-team'],
        routes: [{ matchers: ['kind=~"host|rack"'], sinks: ['db-team'] }],
      },
      { matchers: ['idc=~"dc.*"'], sinks: ['audit'] },
    ],
  });

  it('falls back to the root route when no child matches', () => {
    expect(t.sinksFor({ severity: 'warning', idc: 'x' }, 'opened')).toEqual(['im']);
  });

  it('continues past a matching child with continue: true and stops at the first without', () => {
    expect(t.sinksFor({ severity: 'critical', idc: 'dc1', kind: 'app' }, 'opened')).toEqual([
      'pager',
      'dc1-team',
    ]);
    expect(t.sinksFor({ severity: 'warning', idc: 'dc2' }, 'opened')).toEqual(['audit']);
  });

  it('uses the deepest matching route', () => {
    expect(t.sinksFor({ severity: 'warning', idc: 'dc1', kind: 'host' }, 'opened')).toEqual(['db-team']);
  });

  it('inherits sinks and filters event types', () => {
    const u = tree({
      sinks: ['im'],
      routes: [
        {
          matchers: ['severity="critical"'],
          sinks: ['pager'],
          events: ['opened', 'resolved'],
          continue: true,
        },
        { matchers: ['kind="app"'], routes: [{ matchers: ['idc="dc1"'] }] },
      ],
    });
    expect(u.sinksFor({ severity: 'critical', kind: 'app', idc: 'dc1' }, 'opened')).toEqual(['pager', 'im']);
    expect(u.sinksFor({ severity: 'critical', kind: 'app', idc: 'dc1' }, 'updated')).toEqual(['im']);
  });

  it('sends every event to every sink when no route is configured', () => {
    const c = parseNotifyConfig({
      sinks: [
        { name: 'a', type: 'memory' },
        { name: 'b', type: 'memory' },
      ],
    });
    expect(new RouteTree(c.route).sinksFor({}, 'resolved')).toEqual(['a', 'b']);
  });
});
