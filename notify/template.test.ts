import { describe, expect, it } from 'vitest';
import { TopologyGraph } from '../topology/graph.js';
import { incidentLabels } from './labels.js';
import {
  absorbedSummary,
  buildContext,
  compileTemplate,
  DEFAULT_TEXT,
  DEFAULT_TITLE,
  TemplateError,
} from './template.js';
import { incidentEvent } from './testing.js';

const link = 'http://converge.test/api/v1/incidents/inc-pay-06da';

function context(overrides = {}) {
  const e = incidentEvent(overrides);
  return buildContext(e, incidentLabels(e), link, 'ops');
}

describe('templates', () => {
  it('renders the default title with the root cause first', () => {
    expect(compileTemplate(DEFAULT_TITLE).render(context())).toBe(
      '[OPEN] root cause app pay-06da (app), critical',
    );
    expect(compileTemplate(DEFAULT_TITLE).render(context({ version: 3, event: 'resolved' }))).toBe(
      '[RESOLVED] root cause app pay-06da (app), critical',
    );
  });

  it('renders the default text: kind, severity, absorbed by level, evidence, start time, link', () => {
    const text = compileTemplate(DEFAULT_TEXT).render(context());
    expect(text.split('\n')).toEqual([
      '**Root cause**: app pay-06da (kind app)',
      '**Severity**: critical · **status** open · version 1',
      '**Absorbed**: 5100 alerts (container 5050, host 50)',
      '**Evidence**: coverage=0.98, hosts=50, containers=50, firstAlert=container c-4ad659cdd55f',
      '**Time**: since 2024-03-01T10:00:00.777Z',
      link,
    ]);
    const resolved = compileTemplate('{{ timeRange }}').render(
      context({ version: 2, event: 'resolved', endsAt: Date.UTC(2024, 2, 1, 10, 10, 30) }),
    );
    expect(resolved).toBe('2024-03-01T10:00:00.777Z to 2024-03-01T10:10:30.000Z (10m29s)');
  });

  it('reads nested paths, list indexes, labels and filters', () => {
    const t = compileTemplate(
      '{{rootCause.kind|upper}} {{ candidates.1.entity.id }} {{ labels.idc }} {{ absorbed.byLevel.host }} {{ summary | truncate:10 }} {{ rootCause.id | json }}',
    );
    expect(t.render(context())).toBe('APP h-017 dc1 50 [OPEN] ro… "pay-06da"');
  });

  it('renders missing values as empty and never walks prototypes', () => {
    expect(
      compileTemplate('[{{ labels.nope }}][{{ candidates.9.kind }}][{{ labels.constructor }}]').render(
        context(),
      ),
    ).toBe('[][][]');
  });

  it('rejects unknown fields, filters, code and unbalanced braces with the offset', () => {
    const bad: Array<[string, RegExp]> = [
      ['{{ process.env.SECRET }}', /unknown field "process"/],
      ['{{ rootCause.owner }}', /"rootCause" has no field "owner" \(known: level, id, kind\)/],
      ['{{ id.length }}', /"id" has no field "length"/],
      ['x {{ id | shout }}', /offset 2: unknown filter "shout"/],
      ['{{ id | truncate:0 }}', /truncate needs a positive integer/],
      ['{{ id + 1 }}', /expected a field path/],
      ['{{ a() }}', /expected a field path/],
      ['hello {{ id', /"\{\{" at offset 6 is never closed/],
      ['hello }}', /unexpected "\}\}" at offset 6/],
    ];
    for (const [source, message] of bad) {
      expect(() => compileTemplate(source), source).toThrow(TemplateError);
      expect(() => compileTemplate(source), source).toThrow(message);
    }
  });

  it('summarises absorbed counts, largest level first', () => {
    expect(absorbedSummary({ total: 1, byLevel: {} })).toBe('1 alert');
    expect(absorbedSummary({ total: 7, byLevel: { host: 2, container: 5, idc: 0 } })).toBe(
      '7 alerts (container 5, host 2)',
    );
  });

  it('routing labels take attributes named like Object properties as plain labels', () => {
    const topology = new TopologyGraph({ ttlMs: 60_000 });
    topology.apply({ level: 'app', id: 'pay-06da', attributes: { constructor: 'x', owner: 'pay' } }, 0);
    const labels = incidentLabels(incidentEvent(), topology);
    expect(labels.constructor).toBe('x');
    expect(labels.owner).toBe('pay');
  });
});
