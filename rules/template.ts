/**
 * Annotation templates in the small subset of Go templates that Prometheus rule authors use:
 *
 *   {{ $value }}  {{ $labels.path }}  {{ $entity }}  {{ $level }}  {{ $threshold }}
 *   {{ $eta }} (humanized time to a predicted breach)  {{ $score }}  {{ $rule }}
 *   {{ $value | humanize }}  humanize1024  humanizePercentage  humanizeDuration
 *   {{ printf "%.1f" $value }}  or  {{ $value | printf "%.1f" }}
 *
 * Templates are compiled when rules load (so mistakes are reported with their position), and
 * compiling renders every action with sample values (numbers large and small, NaN, infinities,
 * absent $eta/$threshold/$score and labels): a template that `converge check-rules` accepts does
 * not fail when an alert fires. Rendering never throws all the same: an action that fails
 * anyway renders as `<template error: ...>` in its annotation and counts in
 * `templateRenderErrors()` (/metrics: converge_template_errors_total). Rendering happens only on
 * alert state changes, and reads only own properties of $labels.
 */

export interface TemplateContext {
  value: number;
  labels: Readonly<Record<string, string>>;
  entity: string;
  level: string;
  threshold: number | undefined;
  etaSeconds: number | undefined;
  score: number | undefined;
  rule: string;
}

type Variable =
  | { kind: 'value' | 'entity' | 'level' | 'threshold' | 'eta' | 'score' | 'rule' }
  | { kind: 'label'; name: string };

type Pipe =
  | { fn: 'humanize' | 'humanize1024' | 'humanizePercentage' | 'humanizeDuration' }
  | { fn: 'printf'; format: string };

interface Action {
  variable: Variable;
  pipes: Pipe[];
  /** Where the action (its "{{") starts in the source. */
  offset: number;
}

export interface Template {
  source: string;
  parts: ReadonlyArray<string | Action>;
}

export type TemplateParse = { ok: true; template: Template } | { ok: false; error: string; offset: number };

const PIPE_FNS = new Set(['humanize', 'humanize1024', 'humanizePercentage', 'humanizeDuration']);
const SIMPLE_VARS = new Set(['value', 'entity', 'level', 'threshold', 'eta', 'score', 'rule']);

export function compileTemplate(source: string): TemplateParse {
  const parts: Array<string | Action> = [];
  let pos = 0;
  while (pos < source.length) {
    const open = source.indexOf('{{', pos);
    if (open < 0) {
      parts.push(source.slice(pos));
      break;
    }
    if (open > pos) parts.push(source.slice(pos, open));
    const close = source.indexOf('}}', open + 2);
    if (close < 0) return { ok: false, error: 'unclosed "{{" in template', offset: open };
    const parsed = parseAction(source.slice(open + 2, close), open);
    if (!parsed.ok) return { ok: false, error: parsed.error, offset: open };
    const failure = trySamples(parsed.action);
    if (failure !== undefined) {
      return {
        ok: false,
        error: `${source.slice(open, close + 2)} fails when rendered: ${failure}`,
        offset: open,
      };
    }
    parts.push(parsed.action);
    pos = close + 2;
  }
  return { ok: true, template: { source, parts } };
}

/** What an alert may carry: each action must render all of these without an exception. */
const SAMPLES: readonly TemplateContext[] = (() => {
  const out: TemplateContext[] = [];
  const values = [0, 1, -1.5, 93.456789, 123_456_789.123, 1e21, -1e-7, Number.NaN, Infinity, -Infinity];
  for (const value of values) {
    for (const present of [true, false]) {
      out.push({
        value,
        labels: present ? { host: 'web-01', path: '/data' } : {},
        entity: present ? 'web-01' : '',
        level: 'host',
        threshold: present ? value : undefined,
        etaSeconds: present ? Math.abs(value) : undefined,
        score: present ? value : undefined,
        rule: 'Sample',
      });
    }
  }
  return out;
})();

function trySamples(action: Action): string | undefined {
  for (const ctx of SAMPLES) {
    try {
      renderAction(action, ctx);
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  }
  return undefined;
}

function parseAction(
  body: string,
  offset: number,
): { ok: true; action: Action } | { ok: false; error: string } {
  const segments = splitPipes(body);
  if (segments === undefined) return { ok: false, error: `unterminated string in {{${body}}}` };
  const head = segments[0]!.trim();
  const pipes: Pipe[] = [];
  let variableText = head;
  // Prometheus style: printf "%.1f" $value
  const printf = /^printf\s+("(?:[^"\\]|\\.)*")\s+(\S+)$/.exec(head);
  if (printf) {
    variableText = printf[2]!;
    pipes.push({ fn: 'printf', format: JSON.parse(printf[1]!) as string });
  }
  const variable = parseVariable(variableText);
  if (typeof variable === 'string') return { ok: false, error: variable };
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i]!.trim();
    const pf = /^printf\s+("(?:[^"\\]|\\.)*")$/.exec(seg);
    if (pf) {
      pipes.push({ fn: 'printf', format: JSON.parse(pf[1]!) as string });
    } else if (PIPE_FNS.has(seg)) {
      pipes.push({ fn: seg as 'humanize' });
    } else {
      return {
        ok: false,
        error: `unknown template function "${seg}" (known: ${[...PIPE_FNS].join(', ')}, printf "FORMAT")`,
      };
    }
  }
  return { ok: true, action: { variable, pipes, offset } };
}

function splitPipes(body: string): string[] | undefined {
  const out: string[] = [];
  let cur = '';
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (inString) {
      cur += c;
      if (c === '\\' && i + 1 < body.length) cur += body[++i];
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      cur += c;
    } else if (c === '|') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (inString) return undefined;
  out.push(cur);
  return out;
}

function parseVariable(text: string): Variable | string {
  if (text.startsWith('$labels.')) {
    const name = text.slice(8);
    if (/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) return { kind: 'label', name };
    return `bad label reference "${text}"`;
  }
  if (text.startsWith('$') && SIMPLE_VARS.has(text.slice(1))) return { kind: text.slice(1) as 'value' };
  return `unknown template variable "${text}" (known: $value, $labels.NAME, $entity, $level, $threshold, $eta, $score, $rule)`;
}

let renderErrors = 0;

/** Actions that failed to render since the process started (each shows in its annotation). */
export function templateRenderErrors(): number {
  return renderErrors;
}

/** Renders an annotation; never throws (a failing action renders as `<template error: ...>`). */
export function renderTemplate(t: Template, ctx: TemplateContext): string {
  let out = '';
  for (const part of t.parts) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    try {
      out += renderAction(part, ctx);
    } catch (e) {
      renderErrors++;
      out += `<template error: ${e instanceof Error ? e.message : String(e)}>`;
    }
  }
  return out;
}

function renderAction(action: Action, ctx: TemplateContext): string {
  let v: number | string | undefined = variableValue(action.variable, ctx);
  for (const pipe of action.pipes) v = applyPipe(pipe, v);
  return v === undefined ? '' : typeof v === 'number' ? formatNumber(v) : v;
}

function variableValue(v: Variable, ctx: TemplateContext): number | string | undefined {
  switch (v.kind) {
    case 'value':
      return ctx.value;
    case 'entity':
      return ctx.entity;
    case 'level':
      return ctx.level;
    case 'threshold':
      return ctx.threshold;
    case 'eta':
      return ctx.etaSeconds === undefined ? undefined : humanizeDuration(ctx.etaSeconds);
    case 'score':
      return ctx.score;
    case 'rule':
      return ctx.rule;
    case 'label':
      // Own labels only: `$labels.constructor` is an absent label, not Object's constructor.
      return Object.hasOwn(ctx.labels, v.name) ? String(ctx.labels[v.name]) : '';
  }
}

function applyPipe(pipe: Pipe, v: number | string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  switch (pipe.fn) {
    case 'humanize':
      return Number.isFinite(n) ? humanize(n, 1000, ['', 'k', 'M', 'G', 'T', 'P']) : String(v);
    case 'humanize1024':
      return Number.isFinite(n) ? humanize(n, 1024, ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi']) : String(v);
    case 'humanizePercentage':
      return Number.isFinite(n) ? formatNumber(n * 100) + '%' : String(v);
    case 'humanizeDuration':
      return Number.isFinite(n) ? humanizeDuration(n) : String(v);
    case 'printf':
      return sprintf(pipe.format, v);
  }
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return String(n);
  return String(Number(n.toPrecision(6)));
}

function humanize(n: number, base: number, units: string[]): string {
  let i = 0;
  let x = n;
  while (Math.abs(x) >= base && i < units.length - 1) {
    x /= base;
    i++;
  }
  return String(Number(x.toPrecision(4))) + units[i];
}

/** Seconds as Prometheus shows them: "1h 2m 3s", "45s", "1.5s". */
export function humanizeDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return String(seconds);
  if (seconds < 0) return '-' + humanizeDuration(-seconds);
  if (seconds < 60) return String(Number(seconds.toPrecision(4))) + 's';
  let rest = Math.round(seconds);
  const d = Math.floor(rest / 86400);
  rest %= 86400;
  const h = Math.floor(rest / 3600);
  rest %= 3600;
  const m = Math.floor(rest / 60);
  const s = rest % 60;
  const out: string[] = [];
  if (d) out.push(d + 'd');
  if (h) out.push(h + 'h');
  if (m) out.push(m + 'm');
  if (s) out.push(s + 's');
  return out.join(' ');
}

/** The printf verbs rule authors use: %d, %f, %.Nf, %s, %g, %%. */
function sprintf(format: string, v: number | string): string {
  return format.replace(/%(\.\d+)?([dfsg%])/g, (_all, precision: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    const n = typeof v === 'number' ? v : Number(v);
    switch (verb) {
      case 'd':
        return Number.isFinite(n) ? String(Math.trunc(n)) : String(v);
      case 'f':
        return Number.isFinite(n) ? n.toFixed(precision ? Number(precision.slice(1)) : 6) : String(v);
      case 'g':
        return Number.isFinite(n) ? formatNumber(n) : String(v);
      default:
        return typeof v === 'number' ? formatNumber(v) : v;
    }
  });
}
