import { describe, expect, it } from 'vitest';
import {
  compileTemplate,
  humanizeDuration,
  renderTemplate,
  type TemplateContext,
  templateRenderErrors,
} from './template.js';

const ctx: TemplateContext = {
  value: 93.456,
  labels: { path: '/data', host: 'h1' },
  entity: 'h1',
  level: 'host',
  threshold: 90,
  etaSeconds: 1500,
  score: 41.5,
  rule: 'HostDiskFull',
};

function render(source: string, over: Partial<TemplateContext> = {}): string {
  const t = compileTemplate(source);
  if (!t.ok) throw new Error(t.error);
  return renderTemplate(t.template, { ...ctx, ...over });
}

describe('annotation templates', () => {
  it('renders variables, labels and functions the way Prometheus rule authors write them', () => {
    expect(render('disk {{ $labels.path }} on {{$entity}} ({{ $level }}) at {{ $value }}')).toBe(
      'disk /data on h1 (host) at 93.456',
    );
    expect(render('{{ $value | printf "%.1f" }}% > {{ $threshold }}')).toBe('93.5% > 90');
    expect(render('{{ printf "%.0f" $value }}')).toBe('93');
    expect(render('{{ $value | humanize }}', { value: 1_234_567 })).toBe('1.235M');
    expect(render('{{ $value | humanize1024 }}', { value: 2 * 1024 ** 3 })).toBe('2Gi');
    expect(render('{{ $value | humanizePercentage }}', { value: 0.0725 })).toBe('7.25%');
    expect(render('in {{ $eta }}; {{ $value | humanizeDuration }}', { value: 90061 })).toBe(
      'in 25m; 1d 1h 1m 1s',
    );
    expect(render('{{ $labels.missing }}|{{ $eta }}|{{ $score }}', { etaSeconds: undefined })).toBe('||41.5');
    expect(render('no actions')).toBe('no actions');
  });

  it('rejects unknown variables and functions and unclosed actions, with the offset', () => {
    expect(compileTemplate('x {{ $valeu }}')).toMatchObject({ ok: false, offset: 2 });
    expect(compileTemplate('{{ $value | shout }}')).toMatchObject({
      ok: false,
      error: expect.stringContaining('unknown template function "shout"'),
    });
    expect(compileTemplate('a {{ $value')).toMatchObject({
      ok: false,
      error: 'unclosed "{{" in template',
      offset: 2,
    });
    expect(compileTemplate('{{ $value | printf "%d }}')).toMatchObject({ ok: false });
  });

  it('humanizes durations', () => {
    expect(humanizeDuration(0)).toBe('0s');
    expect(humanizeDuration(1.5)).toBe('1.5s');
    expect(humanizeDuration(3600)).toBe('1h');
    expect(humanizeDuration(-61)).toBe('-1m 1s');
  });
});

describe('templates that validate are templates that render', () => {
  it('refuses at compile time what would throw when an alert fires, naming the action', () => {
    const t = compileTemplate('CPU at {{ $value | printf "%.200f" }} on {{ $entity }}');
    expect(t).toEqual({
      ok: false,
      offset: 7,
      error:
        '{{ $value | printf "%.200f" }} fails when rendered: toFixed() digits argument must be between 0 and 100',
    });
    expect(compileTemplate('{{ printf "%.101f" $threshold }}')).toMatchObject({ ok: false, offset: 0 });
    // The largest precision that works is fine, for every value an alert can carry.
    expect(compileTemplate('{{ $value | printf "%.100f" }}').ok).toBe(true);
    expect(render('{{ $value | printf "%.3f" }}', { value: Number.NaN })).toBe('NaN');
  });

  it('never throws while rendering: a failing action shows in the annotation and is counted', () => {
    const t = compileTemplate('a {{ $value | printf "%.1f" }} b {{ $entity }}');
    if (!t.ok) throw new Error(t.error);
    // A format that slipped past validation (as if a value no sample covered broke it).
    (t.template.parts[1] as unknown as { pipes: Array<{ format: string }> }).pipes[0]!.format = '%.500f';
    const before = templateRenderErrors();
    expect(renderTemplate(t.template, ctx)).toBe(
      'a <template error: toFixed() digits argument must be between 0 and 100> b h1',
    );
    expect(templateRenderErrors()).toBe(before + 1);
  });

  it('reads own labels only', () => {
    expect(render('[{{ $labels.constructor }}][{{ $labels.__proto__ }}][{{ $labels.toString }}]')).toBe(
      '[][][]',
    );
    expect(
      render('{{ $labels.constructor }}', { labels: { constructor: 'c' } as Record<string, string> }),
    ).toBe('c');
  });
});
