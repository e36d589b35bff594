/**
 * Values that come from outside (entity ids from metric tags or posted alerts, label values,
 * rule names, evidence) made inert for the markup a sink's text is read as, so that an id like
 * `<!channel> <https://evil|click>` shows as those characters instead of paging a channel and
 * hiding a link. A template's own text is the operator's markup and is left as written; only
 * what `{{ ... }}` inserts is escaped (notify/template.ts), and a sink that puts the title into
 * markup escapes it as a whole.
 *
 * Every format first turns control characters (newlines included) into spaces: a value never
 * starts a line of its own, so it cannot forge a heading, a quote or another field.
 */
export type TextFormat = 'plain' | 'slack' | 'markdown' | 'lark';

export const TEXT_FORMATS: readonly TextFormat[] = ['plain', 'slack', 'markdown', 'lark'];

// C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** Plain text (PagerDuty summaries, Alertmanager annotations, card titles): control characters only. */
export function escapePlain(value: string): string {
  return value.replace(CONTROL, ' ');
}

/**
 * Slack mrkdwn: `&`, `<` and `>` as the entities Slack documents (no links, user or channel
 * mentions, `<!here>`), and a word joiner after the `@` of @channel, @here and @everyone so that
 * no client's mention parsing fires. Slack has no escape for `*`, `_`, `~` and backquotes; they
 * can only restyle the value itself.
 */
export function escapeSlack(value: string): string {
  return escapePlain(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/@(channel|here|everyone)\b/gi, '@\u2060$1');
}

/**
 * CommonMark-style markdown (DingTalk, WeCom, the generic webhook's text): HTML-significant
 * characters as entities (no `<font>`, `<@user>`, autolinks or raw HTML), the `]` of `](` as an
 * entity (no `[text](url)` or image, even in renderers without backslash escapes), emphasis
 * characters behind backslashes; `_` only where it could start or end emphasis, so `node_17`
 * stays readable where a renderer ignores backslashes, and a lone `[OPEN]` stays as it is.
 */
export function escapeMarkdown(value: string): string {
  return escapePlain(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\](?=\()/g, '&#93;')
    .replace(/[\\`*~]/g, '\\$&')
    .replace(/_/g, (m, at: number, s: string) =>
      isWordChar(s, at - 1) && isWordChar(s, at + 1) ? m : '\\_',
    );
}

/**
 * Feishu / Lark `lark_md`: significant characters as HTML entities (lark_md reads entities, not
 * backslash escapes): no `<at id=all>`, `<font>`, `<a>`, `[text](url)` or emphasis.
 */
export function escapeLark(value: string): string {
  return escapePlain(value).replace(/[&<>\\`*~_]|\](?=\()/g, (c, at: number, s: string) =>
    c === '_' && isWordChar(s, at - 1) && isWordChar(s, at + 1) ? c : LARK_ENTITY[c]!,
  );
}

const LARK_ENTITY: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '\\': '&#92;',
  '`': '&#96;',
  '*': '&#42;',
  ']': '&#93;',
  '~': '&#126;',
  _: '&#95;',
};

function isWordChar(s: string, at: number): boolean {
  if (at < 0 || at >= s.length) return false;
  const c = s.charCodeAt(at);
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c > 127;
}

export const ESCAPE: Readonly<Record<TextFormat, (value: string) => string>> = {
  plain: escapePlain,
  slack: escapeSlack,
  markdown: escapeMarkdown,
  lark: escapeLark,
};
