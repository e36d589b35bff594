import type { IncidentEvent } from '../core/types.js';
import { ESCAPE, escapePlain, type TextFormat } from './escape.js';
import type { RenderedMessage } from './types.js';

/**
 * A deliberately small template language: `{{ path.to.value }}` and `{{ path | filter }}`, with
 * filters `upper`, `lower`, `json` and `truncate:N`. No expressions, no calls, no loops: a
 * template can only read fields of the context below, so a config file cannot run code.
 * Templates are compiled (and every path and filter checked) at start-up.
 *
 * What a template inserts is escaped for the markup the sink reads (escape.ts: Slack mrkdwn,
 * markdown, lark_md, plain), after the filters; the template's own text is left as written.
 * `link` is not escaped: it is the configured externalUrl and a percent-encoded incident id.
 *
 * Context (all strings unless said otherwise):
 *   id, version (number), event, status, severity,
 *   rootCause.level / .id / .kind,
 *   absorbed.total (number), absorbed.byLevel.<level> (number),
 *   startsAt, endsAt, at            ISO-8601 event times ("" when absent),
 *   timeRange                       "since <startsAt>" or "<startsAt> to <endsAt> (<duration>)",
 *   summary                         the default first line (root cause, kind, severity, status),
 *   absorbedSummary                 "5100 alerts (container 5050, host 50)",
 *   evidenceSummary                 top candidate's evidence, a few key=value pairs,
 *   candidates.<n>.entity.id / .kind / .score / .evidence.<key>,
 *   labels.<name>, link, sink
 */

export interface TemplateContext {
  id: string;
  version: number;
  event: string;
  status: string;
  severity: string;
  rootCause: { level: string; id: string; kind: string };
  absorbed: { total: number; byLevel: Record<string, number> };
  startsAt: string;
  endsAt: string;
  at: string;
  timeRange: string;
  summary: string;
  absorbedSummary: string;
  evidenceSummary: string;
  candidates: unknown[];
  labels: Record<string, string>;
  link: string;
  sink: string;
}

/** Paths below these roots are checked field by field; others are free-form maps or lists. */
const KNOWN_FIELDS: Record<string, readonly string[] | 'leaf' | 'any'> = {
  id: 'leaf',
  version: 'leaf',
  event: 'leaf',
  status: 'leaf',
  severity: 'leaf',
  rootCause: ['level', 'id', 'kind'],
  absorbed: ['total', 'byLevel'],
  startsAt: 'leaf',
  endsAt: 'leaf',
  at: 'leaf',
  timeRange: 'leaf',
  summary: 'leaf',
  absorbedSummary: 'leaf',
  evidenceSummary: 'leaf',
  candidates: 'any',
  labels: 'any',
  link: 'leaf',
  sink: 'leaf',
};

type Filter = (value: string) => string;
const FILTERS: Record<string, (arg: string | undefined) => Filter | string> = {
  upper: () => (v) => v.toUpperCase(),
  lower: () => (v) => v.toLowerCase(),
  json: () => (v) => JSON.stringify(v),
  truncate: (arg) => {
    const n = Number(arg);
    if (!Number.isInteger(n) || n < 1) return `truncate needs a positive integer, e.g. truncate:80`;
    return (v) => (v.length > n ? v.slice(0, Math.max(0, n - 1)) + '…' : v);
  },
};

type Part = string | { path: string[]; filters: Filter[]; raw: boolean };

export class TemplateError extends Error {
  override name = 'TemplateError';
}

export interface CompiledTemplate {
  readonly source: string;
  /** `inert` makes each inserted value inert for the sink's markup (default: plain text). */
  render(context: TemplateContext, inert?: (value: string) => string): string;
}

/** Compiles a template; throws TemplateError naming the first problem and where it is. */
export function compileTemplate(source: string): CompiledTemplate {
  const parts: Part[] = [];
  let at = 0;
  while (at < source.length) {
    const open = source.indexOf('{{', at);
    const close = source.indexOf('}}', at);
    if (close !== -1 && (open === -1 || close < open)) {
      throw new TemplateError(`unexpected "}}" at offset ${close}`);
    }
    if (open === -1) {
      parts.push(source.slice(at));
      break;
    }
    if (open > at) parts.push(source.slice(at, open));
    const end = source.indexOf('}}', open + 2);
    if (end === -1) throw new TemplateError(`"{{" at offset ${open} is never closed`);
    const inner = source.slice(open + 2, end);
    if (inner.includes('{{')) throw new TemplateError(`"{{" at offset ${open} is never closed`);
    parts.push(compileExpression(inner.trim(), open));
    at = end + 2;
  }
  return {
    source,
    render(context, inert = escapePlain) {
      let out = '';
      for (const p of parts) {
        if (typeof p === 'string') {
          out += p;
          continue;
        }
        let v = stringify(lookup(context, p.path));
        for (const f of p.filters) v = f(v);
        out += p.raw ? v : inert(v);
      }
      return out;
    },
  };
}

function compileExpression(expr: string, offset: number): Part {
  const [pathText, ...filterTexts] = expr.split('|').map((s) => s.trim());
  if (!pathText || !/^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/.test(pathText)) {
    throw new TemplateError(
      `"{{ ${expr} }}" at offset ${offset}: expected a field path such as rootCause.id (no code)`,
    );
  }
  const path = pathText.split('.');
  const root = path[0]!;
  const known = KNOWN_FIELDS[root];
  if (known === undefined) {
    throw new TemplateError(
      `"{{ ${expr} }}" at offset ${offset}: unknown field "${root}" (known: ${Object.keys(KNOWN_FIELDS).join(', ')})`,
    );
  }
  if (known === 'leaf' && path.length > 1) {
    throw new TemplateError(`"{{ ${expr} }}" at offset ${offset}: "${root}" has no field "${path[1]}"`);
  }
  if (Array.isArray(known)) {
    if (path.length > 1 && !known.includes(path[1]!)) {
      throw new TemplateError(
        `"{{ ${expr} }}" at offset ${offset}: "${root}" has no field "${path[1]}" (known: ${known.join(', ')})`,
      );
    }
  }
  const filters: Filter[] = [];
  for (const ft of filterTexts) {
    const [name, arg] = ft.split(':', 2).map((s) => s.trim());
    const make = name ? FILTERS[name] : undefined;
    if (!make) {
      throw new TemplateError(
        `"{{ ${expr} }}" at offset ${offset}: unknown filter "${name}" (known: ${Object.keys(FILTERS).join(', ')})`,
      );
    }
    const f = make(arg);
    if (typeof f === 'string') throw new TemplateError(`"{{ ${expr} }}" at offset ${offset}: ${f}`);
    filters.push(f);
  }
  return { path, filters, raw: root === 'link' };
}

function lookup(context: TemplateContext, path: readonly string[]): unknown {
  let v: unknown = context;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    // Own properties only: no prototype walking (`constructor`, `__proto__`).
    if (!Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

function stringify(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

// ---------------------------------------------------------------------------------------------
// Context

function iso(ms: number | undefined): string {
  return ms === undefined || !Number.isFinite(ms) ? '' : new Date(ms).toISOString();
}

function humanDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
}

/** "5100 alerts (container 5050, host 50)", largest level first. */
export function absorbedSummary(absorbed: IncidentEvent['absorbed']): string {
  const parts = Object.entries(absorbed.byLevel)
    .filter((e): e is [string, number] => typeof e[1] === 'number' && e[1] > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([level, n]) => `${level} ${n}`);
  const total = `${absorbed.total} alert${absorbed.total === 1 ? '' : 's'}`;
  return parts.length ? `${total} (${parts.join(', ')})` : total;
}

/** The top candidate's evidence as up to `max` key=value pairs (lists shown by size). */
export function evidenceSummary(event: IncidentEvent, max = 4): string {
  const evidence = event.candidates[0]?.evidence;
  if (!evidence) return '';
  const out: string[] = [];
  for (const [k, v] of Object.entries(evidence)) {
    if (out.length >= max) break;
    let text: string;
    if (typeof v === 'number') text = Number.isInteger(v) ? String(v) : v.toFixed(3).replace(/0+$/, '');
    else if (typeof v === 'string') text = v.length > 60 ? v.slice(0, 59) + '…' : v;
    else if (typeof v === 'boolean') text = String(v);
    else if (Array.isArray(v)) text = `${v.length} item${v.length === 1 ? '' : 's'}`;
    else continue;
    out.push(`${k}=${text}`);
  }
  return out.join(', ');
}

const EVENT_WORD: Record<string, string> = { opened: 'OPEN', updated: 'UPDATED', resolved: 'RESOLVED' };

export function buildContext(
  event: IncidentEvent,
  labels: Record<string, string>,
  link: string,
  sink: string,
): TemplateContext {
  const startsAt = iso(event.startsAt);
  const endsAt = iso(event.endsAt);
  const rc = event.rootCause;
  return {
    id: event.id,
    version: event.version,
    event: event.event,
    status: event.status,
    severity: event.severity,
    rootCause: { level: rc.level, id: rc.id, kind: rc.kind },
    absorbed: {
      total: event.absorbed.total,
      byLevel: { ...event.absorbed.byLevel } as Record<string, number>,
    },
    startsAt,
    endsAt,
    at: iso(event.at),
    timeRange:
      event.endsAt !== undefined
        ? `${startsAt} to ${endsAt} (${humanDuration(event.endsAt - event.startsAt)})`
        : `since ${startsAt}`,
    summary: `[${EVENT_WORD[event.event] ?? event.event.toUpperCase()}] root cause ${rc.level} ${rc.id} (${rc.kind}), ${event.severity}`,
    absorbedSummary: absorbedSummary(event.absorbed),
    evidenceSummary: evidenceSummary(event),
    candidates: event.candidates,
    labels,
    link,
    sink,
  };
}

/** A sink's compiled title and text templates. */
export interface MessageTemplates {
  title: CompiledTemplate;
  text: CompiledTemplate;
}

/**
 * Title and text of one notification: the title is plain text (sinks that put it into markup
 * escape it whole), the text is the sink's markup with every inserted value escaped for it.
 */
export function renderMessage(
  templates: MessageTemplates,
  context: TemplateContext,
  format: TextFormat,
): RenderedMessage {
  return {
    title: templates.title.render(context, escapePlain),
    text: templates.text.render(context, ESCAPE[format]),
  };
}

/** Defaults every sink starts from; a sink's config may override title and/or text. */
export const DEFAULT_TITLE = '{{ summary }}';
export const DEFAULT_TEXT = [
  '**Root cause**: {{ rootCause.level }} {{ rootCause.id }} (kind {{ rootCause.kind }})',
  '**Severity**: {{ severity }} · **status** {{ status }} · version {{ version }}',
  '**Absorbed**: {{ absorbedSummary }}',
  '**Evidence**: {{ evidenceSummary }}',
  '**Time**: {{ timeRange }}',
  '{{ link }}',
].join('\n');
