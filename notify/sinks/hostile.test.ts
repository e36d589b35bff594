// Hostile entity ids and label values through the real Notifier and every HTTP sink, to a real
// loopback receiver: what arrives is escaped for the format each provider reads, so an id such
// as `<!channel> <https://evil|click>` can neither mention anyone, hide a link, inject markup nor
// start a line of its own.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncidentEvent } from '../../core/types.js';
import { parseNotifyConfig } from '../config.js';
import { escapeLark, escapeMarkdown, escapePlain, escapeSlack } from '../escape.js';
import { createNotifier } from '../notifier.js';
import { incidentEvent, ProviderReceiver } from '../testing.js';

/** Everything a chat renderer could act on, and a newline to forge a line. */
const HOSTILE =
  'h1 <!channel> <https://evil.example|click here> [login](https://evil.example/x) ' +
  '![p](https://evil.example/p.png) <at id=all></at> <font color="warning">URGENT</font> ' +
  '<@U123> @here **bold** `code` ~strike~ _it_ &amp;\n*Severity*: fake\r\n### forged';

const receiver = new ProviderReceiver();

beforeAll(async () => {
  await receiver.start();
  const base = receiver.url;

  const notifier = createNotifier({
    config: parseNotifyConfig({
      externalUrl: 'https://converge.example.com',
      retry: { attempts: 1, initialDelay: 10, maxDelay: 10, jitter: 0 },
      sinks: [
        { name: 'slack', type: 'slack', url: `${base}/slack` },
        { name: 'dingtalk', type: 'dingtalk', url: `${base}/dingtalk?access_token=t` },
        { name: 'feishu', type: 'feishu', url: `${base}/feishu` },
        { name: 'wecom', type: 'wecom', url: `${base}/wecom?key=k` },
        { name: 'pagerduty', type: 'pagerduty', url: `${base}/pagerduty`, routingKey: 'rk' },
        { name: 'alertmanager', type: 'alertmanager', url: `${base}/alertmanager` },
        { name: 'amwebhook', type: 'alertmanager-webhook', url: `${base}/amwebhook` },
        { name: 'webhook', type: 'webhook', url: `${base}/webhook`, secret: 's3cret' },
      ],
    }),
  });
  await notifier.start();
  const event: IncidentEvent = incidentEvent({
    id: 'inc-hostile',
    rootCause: { level: 'host', id: HOSTILE, kind: 'host' },
    candidates: [
      {
        entity: { level: 'host', id: HOSTILE, kind: 'host' },
        kind: 'host',
        score: 0.9,
        evidence: { firstAlert: `host ${HOSTILE}`, idc: '<!everyone>' },
      },
    ],
  });
  await notifier.notify(event);
  await notifier.idle(10_000);
  await notifier.shutdown();
}, 30_000);

afterAll(() => receiver.close());

// biome-ignore lint/suspicious/noExplicitAny: provider payloads, checked field by field below
type Json = any;

function body(sink: string): Json {
  const b = receiver.last(sink);
  expect(b, `${sink} received nothing`).toBeDefined();
  return b;
}

/** No markup from the hostile id survives in a text read as markdown/mrkdwn/lark_md. */
function expectInert(text: string, allowedTags: RegExp[] = [], markdownLinks = true) {
  let t = text;
  for (const a of allowedTags) t = t.replace(a, '');
  expect(t).not.toMatch(/<[!@#a-z/]/i); // mentions, links, tags
  if (markdownLinks) expect(t).not.toMatch(/\]\(/); // [text](url), ![img](url)
  expect(t).not.toContain('\n*Severity*: fake');
  expect(t).not.toContain('\n### forged');
}

describe('hostile ids reach every sink escaped for its format', () => {
  it('Slack: mrkdwn entities, no mention, no hidden link, no forged line; fallback text escaped too', () => {
    const b = body('slack');
    const section = b.blocks[1].text;
    expect(section.type).toBe('mrkdwn');
    expect(section.verbatim).toBe(true);
    // The template's own link is the only angle-bracket markup left (mrkdwn has no [text](url)).
    expectInert(
      section.text,
      [/<https:\/\/converge\.example\.com\/api\/v1\/incidents\/inc-hostile\|Incident inc-hostile>/],
      false,
    );
    expect(section.text).toContain('&lt;!channel&gt; &lt;https://evil.example|click here&gt;');
    expect(section.text).toContain('@\u2060here');
    // One line per template line: the newline in the id did not start a line.
    expect(section.text.split('\n')).toHaveLength(6);
    expectInert(b.text, [], false);
    expect(b.text).not.toMatch(/[\r\n]/);
    expect(b.blocks[0].text.type).toBe('plain_text');
    expect(b.blocks[0].text.text).not.toMatch(/[\r\n]/);
    expectInert(b.blocks[2].elements[0].text, [], false);
  });

  it('DingTalk and WeCom: markdown with HTML entities and backslash escapes, one heading', () => {
    const ding = body('dingtalk');
    expectInert(ding.markdown.text);
    expect(ding.markdown.text).toContain('&lt;font color="warning"&gt;');
    expect(ding.markdown.text).toContain('\\*\\*bold\\*\\*');
    expect(ding.markdown.text.match(/^###/gm)).toHaveLength(1);
    expect(ding.markdown.title).not.toMatch(/[\r\n]/);
    const wecom = body('wecom');
    // WeCom's own colour tag around the title is the one tag left.
    expectInert(wecom.markdown.content, [/<font color="(warning|comment|info)">/, /<\/font>\n/]);
    expect(wecom.markdown.content.match(/<font/g)).toHaveLength(1);
  });

  it('Feishu: lark_md entities, no <at id=all>, no link', () => {
    const card = body('feishu').card;
    const md = card.elements[0].text;
    expect(md.tag).toBe('lark_md');
    expectInert(md.content);
    expect(md.content).toContain('&lt;at id=all&gt;&lt;/at&gt;');
    expect(md.content).toContain('&#42;&#42;bold&#42;&#42;');
    expect(card.header.title.content).not.toMatch(/[\r\n]/);
  });

  it('PagerDuty, Alertmanager and the generic webhook: plain fields without control characters', () => {
    const pd = body('pagerduty');
    expect(pd.payload.summary).not.toMatch(/[\r\n]/);
    expect(pd.payload.summary).toContain('<!channel>'); // plain text: shown as written
    expect(pd.payload.custom_details.text).not.toContain('\n*Severity*: fake');
    const am = body('alertmanager');
    expect(am[0]!.annotations.summary).not.toMatch(/[\r\n]/);
    expect(am[0]!.annotations.description).not.toContain('\n### forged');
    // Labels are data for Alertmanager's matchers: the id as it is.
    expect(am[0]!.labels.root_cause).toBe(HOSTILE);
    const amw = body('amwebhook');
    expect(amw.commonAnnotations.summary).not.toMatch(/[\r\n]/);
    const hook = body('webhook');
    expectInert(hook.text);
    expect(hook.incident.rootCause.id).toBe(HOSTILE);
  });
});

describe('escapers', () => {
  it('turn control characters into spaces in every format', () => {
    for (const f of [escapePlain, escapeSlack, escapeMarkdown, escapeLark]) {
      expect(f('a\nb\r\tc\u0000d\u2028e\u001b[31m')).not.toMatch(/[\u0000-\u001f\u2028]/);
    }
  });

  it('leave ordinary ids alone', () => {
    for (const id of ['node-0017', 'node_0017', 'c-4ad659cdd55f', 'pay.api', '[OPEN] web (app)', '主机-01']) {
      expect(escapeMarkdown(id)).toBe(id);
      expect(escapeLark(id)).toBe(id);
      expect(escapeSlack(id)).toBe(id);
    }
  });

  it('escape each format its own way', () => {
    expect(escapeSlack('<!here> & <@U1>')).toBe('&lt;!here&gt; &amp; &lt;@U1&gt;');
    expect(escapeMarkdown('[a](http://x) _b_ *c* `d` <e> \\')).toBe(
      '[a&#93;(http://x) \\_b\\_ \\*c\\* \\`d\\` &lt;e&gt; \\\\',
    );
    expect(escapeLark('[a](http://x) *c* <at id=all>')).toBe(
      '[a&#93;(http://x) &#42;c&#42; &lt;at id=all&gt;',
    );
  });
});
