import { describe, expect, it } from 'vitest';
import { compileTemplate, humanizeDuration, renderTemplate, type TemplateContext } from './template.js';

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
