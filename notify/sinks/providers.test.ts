// Provider payloads checked against recorded examples (recorded/*.json, made from the fixed
// notification in fixture.ts) and against each provider's documented format, signatures
// recomputed here step by step as the providers' docs describe them.

import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { HttpAnswer, HttpRequest } from '../http.js';
import { alertmanagerAlert, alertmanagerRequest } from './alertmanager.js';
import { alertmanagerWebhookRequest } from './alertmanager-webhook.js';
import { dingtalkRequest, readDingTalkAnswer } from './dingtalk.js';
import { feishuRequest, readFeishuAnswer } from './feishu.js';
import { FIXED_NOW, FIXED_SECRET, fixedNotification } from './fixture.js';
import { PAGERDUTY_EVENTS_URL, pagerdutyRequest } from './pagerduty.js';
import { readSlackAnswer, slackRequest, slackSink } from './slack.js';
import { verifyWebhookSignature, webhookBody, webhookSignature } from './webhook.js';
import { readWeComAnswer, wecomRequest } from './wecom.js';

interface Recorded {
  url: string;
  headers: Record<string, string>;
  body: Record<string, unknown> & unknown[];
}

function recorded(name: string): Recorded {
  return JSON.parse(readFileSync(new URL(`./recorded/${name}.json`, import.meta.url), 'utf8')) as Recorded;
}

function asRecorded(r: HttpRequest) {
  return { url: r.url, headers: r.headers, body: JSON.parse(r.body) };
}

const answer = (status: number, text: string, headers: Record<string, string> = {}): HttpAnswer => ({
  status,
  text,
  headers: new Headers(headers),
});

describe('Slack incoming webhook (Block Kit)', () => {
  const request = slackRequest(
    { url: 'https://hooks.slack.com/services/T000/B000/XXXX' },
    fixedNotification('slack', 1, slackSink.templates!.text!),
  );
  const body = JSON.parse(request.body);

  it('matches the recorded example', () => {
    expect(asRecorded(request)).toEqual(recorded('slack-opened'));
  });

  it('follows the documented block format and limits', () => {
    expect(typeof body.text).toBe('string');
    expect(body.blocks.length).toBeLessThanOrEqual(50);
    const [header, section, context, actions] = body.blocks;
    expect(header).toEqual({
      type: 'header',
      text: { type: 'plain_text', text: expect.any(String), emoji: true },
    });
    expect(header.text.text.length).toBeLessThanOrEqual(150);
    expect(header.text.text).toMatch(/^\[OPEN\] root cause app pay-06da/);
    expect(section.type).toBe('section');
    expect(section.text.type).toBe('mrkdwn');
    expect(section.text.text.length).toBeLessThanOrEqual(3000);
    expect(section.text.text).toContain(
      '<https://converge.example.com/api/v1/incidents/inc-pay-06da|Incident inc-pay-06da>',
    );
    expect(context.type).toBe('context');
    expect(context.elements.length).toBeLessThanOrEqual(10);
    expect(actions.elements[0]).toMatchObject({ type: 'button', url: expect.stringMatching(/^https:\/\//) });
    expect(actions.elements[0].text.text.length).toBeLessThanOrEqual(75);
  });

  it('reads Slack answers: "ok" is success, any other 200 text is a permanent failure', () => {
    expect(readSlackAnswer(answer(200, 'ok'))).toEqual({ ok: true, status: 200 });
    expect(readSlackAnswer(answer(200, 'invalid_payload'))).toMatchObject({ ok: false, recoverable: false });
  });
});

describe('DingTalk custom robot (markdown, signed URL)', () => {
  const request = dingtalkRequest(
    { url: 'https://oapi.dingtalk.com/robot/send?access_token=abc123', secret: FIXED_SECRET },
    fixedNotification('dingtalk'),
    FIXED_NOW,
  );

  it('matches the recorded example', () => {
    expect(asRecorded(request)).toEqual(recorded('dingtalk-opened'));
  });

  it('signs the URL as documented: urlencode(base64(HmacSHA256(secret, timestamp + "\\n" + secret)))', () => {
    const url = new URL(request.url);
    expect(url.searchParams.get('access_token')).toBe('abc123');
    const timestamp = url.searchParams.get('timestamp')!;
    expect(timestamp).toBe(String(FIXED_NOW)); // milliseconds
    // The documented Python: hmac.new(secret_enc, string_to_sign_enc, sha256) then quote_plus(b64).
    const stringToSign = `${timestamp}\n${FIXED_SECRET}`;
    const b64 = createHmac('sha256', Buffer.from(FIXED_SECRET, 'utf8'))
      .update(Buffer.from(stringToSign, 'utf8'))
      .digest('base64');
    const quotePlus = b64.replace(/\+/g, '%2B').replace(/\//g, '%2F').replace(/=/g, '%3D');
    expect(request.url.endsWith(`&timestamp=${timestamp}&sign=${quotePlus}`)).toBe(true);
    expect(url.searchParams.get('sign')).toBe(b64);
  });

  it('sends msgtype markdown with title and text', () => {
    const body = JSON.parse(request.body);
    expect(Object.keys(body).sort()).toEqual(['markdown', 'msgtype']);
    expect(body.msgtype).toBe('markdown');
    expect(body.markdown.title).toBe('[OPEN] root cause app pay-06da (app), critical');
    expect(body.markdown.text.split('\n\n')[0]).toBe('### [OPEN] root cause app pay-06da (app), critical');
  });

  it('reads errcode answers: 0 ok, 130101 retried after a minute, 310000 not retried', () => {
    expect(readDingTalkAnswer(answer(200, '{"errcode":0,"errmsg":"ok"}'))).toEqual({ ok: true, status: 200 });
    expect(readDingTalkAnswer(answer(200, '{"errcode":130101,"errmsg":"send too fast"}'))).toMatchObject({
      ok: false,
      recoverable: true,
      retryAfterMs: 60_000,
    });
    expect(readDingTalkAnswer(answer(200, '{"errcode":310000,"errmsg":"sign not match"}'))).toMatchObject({
      ok: false,
      recoverable: false,
      reason: 'dingtalk errcode 310000: sign not match',
    });
  });
});

describe('Feishu / Lark custom bot (interactive card, signed)', () => {
  const request = feishuRequest(
    { url: 'https://open.feishu.cn/open-apis/bot/v2/hook/0f1e2d3c', secret: FIXED_SECRET },
    fixedNotification('feishu'),
    FIXED_NOW,
  );
  const body = JSON.parse(request.body);

  it('matches the recorded example', () => {
    expect(asRecorded(request)).toEqual(recorded('feishu-opened'));
  });

  it('signs as documented: base64(HmacSHA256(key = timestamp + "\\n" + secret, message = ""))', () => {
    expect(body.timestamp).toBe(String(Math.floor(FIXED_NOW / 1000))); // seconds, as a string
    const key = `${body.timestamp}\n${FIXED_SECRET}`;
    const sign = createHmac('sha256', Buffer.from(key, 'utf8'))
      .update(Buffer.from('', 'utf8'))
      .digest('base64');
    expect(body.sign).toBe(sign);
  });

  it('is an interactive card with a header, a lark_md div and a link button', () => {
    expect(body.msg_type).toBe('interactive');
    expect(body.card.header.title).toEqual({
      tag: 'plain_text',
      content: '[OPEN] root cause app pay-06da (app), critical',
    });
    expect(['red', 'orange', 'blue', 'green']).toContain(body.card.header.template);
    expect(body.card.elements[0]).toMatchObject({ tag: 'div', text: { tag: 'lark_md' } });
    expect(body.card.elements[1].actions[0]).toMatchObject({
      tag: 'button',
      url: expect.stringMatching(/^https:/),
    });
  });

  it('reads code answers: 0 ok (also the old StatusCode), 11232 retried, 19021 not', () => {
    expect(readFeishuAnswer(answer(200, '{"code":0,"msg":"success","data":{}}'))).toEqual({
      ok: true,
      status: 200,
    });
    expect(readFeishuAnswer(answer(200, '{"StatusCode":0,"StatusMessage":"success"}'))).toEqual({
      ok: true,
      status: 200,
    });
    expect(readFeishuAnswer(answer(200, '{"code":11232,"msg":"frequency limited"}'))).toMatchObject({
      recoverable: true,
    });
    expect(
      readFeishuAnswer(
        answer(
          200,
          '{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}',
        ),
      ),
    ).toMatchObject({
      ok: false,
      recoverable: false,
    });
  });
});

describe('WeCom group robot (markdown)', () => {
  const request = wecomRequest(
    { url: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6' },
    fixedNotification('wecom'),
  );

  it('matches the recorded example', () => {
    expect(asRecorded(request)).toEqual(recorded('wecom-opened'));
  });

  it('sends msgtype markdown with content within 4096 bytes, root cause on the first line', () => {
    const body = JSON.parse(request.body);
    expect(Object.keys(body).sort()).toEqual(['markdown', 'msgtype']);
    expect(body.msgtype).toBe('markdown');
    expect(Buffer.byteLength(body.markdown.content)).toBeLessThanOrEqual(4096);
    expect(body.markdown.content.split('\n')[0]).toBe(
      '## <font color="warning">[OPEN] root cause app pay-06da (app), critical</font>',
    );
    const long = fixedNotification('wecom', 1, '漢'.repeat(3000));
    const content = JSON.parse(wecomRequest({ url: 'https://x' }, long).body).markdown.content as string;
    expect(Buffer.byteLength(content)).toBeLessThanOrEqual(4096);
    expect(content.endsWith('…')).toBe(true);
  });

  it('reads errcode answers: 45009 retried after a minute, 93000 not', () => {
    expect(readWeComAnswer(answer(200, '{"errcode":0,"errmsg":"ok"}'))).toEqual({ ok: true, status: 200 });
    expect(readWeComAnswer(answer(200, '{"errcode":45009,"errmsg":"api freq out of limit"}'))).toMatchObject({
      recoverable: true,
      retryAfterMs: 60_000,
    });
    expect(readWeComAnswer(answer(200, '{"errcode":93000,"errmsg":"invalid webhook url"}'))).toMatchObject({
      recoverable: false,
    });
  });
});

describe('PagerDuty Events API v2', () => {
  const options = { url: PAGERDUTY_EVENTS_URL, routingKey: 'R0123456789ABCDEF0123456789ABCDE' };
  const trigger = pagerdutyRequest(options, fixedNotification('pagerduty'));
  const resolve = pagerdutyRequest(options, fixedNotification('pagerduty', 2));

  it('matches the recorded trigger and resolve examples', () => {
    expect(asRecorded(trigger)).toEqual(recorded('pagerduty-trigger'));
    expect(asRecorded(resolve)).toEqual(recorded('pagerduty-resolve'));
  });

  it('triggers with the documented required fields, then resolves with the same dedup_key', () => {
    const t = JSON.parse(trigger.body);
    expect(trigger.url).toBe('https://events.pagerduty.com/v2/enqueue');
    expect(t.event_action).toBe('trigger');
    expect(t.dedup_key).toBe('inc-pay-06da');
    expect(t.dedup_key.length).toBeLessThanOrEqual(255);
    expect(t.payload.summary.length).toBeLessThanOrEqual(1024);
    expect(t.payload.summary).toMatch(/^\[OPEN\] root cause app pay-06da/);
    expect(t.payload.source).toBe('app:pay-06da');
    expect(['critical', 'error', 'warning', 'info']).toContain(t.payload.severity);
    expect(Number.isNaN(Date.parse(t.payload.timestamp))).toBe(false);
    expect(t.links[0].href).toBe('https://converge.example.com/api/v1/incidents/inc-pay-06da');
    const r = JSON.parse(resolve.body);
    expect(r).toEqual({
      routing_key: options.routingKey,
      event_action: 'resolve',
      dedup_key: 'inc-pay-06da',
    });
  });
});

describe('Alertmanager API v2 and webhook payload v4', () => {
  const am = { url: 'http://127.0.0.1:9093', alertname: 'ConvergeIncident', alertTtlMs: 86_400_000 };

  it('posts firing and resolved alerts as recorded', () => {
    const firing = alertmanagerRequest(am.url, [alertmanagerAlert(am, fixedNotification('am'), FIXED_NOW)]);
    expect(asRecorded(firing)).toEqual(recorded('alertmanager-firing'));
    const resolved = alertmanagerRequest(am.url, [
      alertmanagerAlert(am, fixedNotification('am', 2), FIXED_NOW + 3_600_000),
    ]);
    expect(asRecorded(resolved)).toEqual(recorded('alertmanager-resolved'));
    const [f] = JSON.parse(firing.body);
    expect(firing.url).toBe('http://127.0.0.1:9093/api/v2/alerts');
    expect(f.labels).toEqual({
      alertname: 'ConvergeIncident',
      incident: 'inc-pay-06da',
      severity: 'critical',
      level: 'app',
      kind: 'app',
      root_cause: 'pay-06da',
      app: 'pay-06da',
      idc: 'dc1',
    });
    expect(Date.parse(f.endsAt) - FIXED_NOW).toBe(86_400_000);
    const [r] = JSON.parse(resolved.body);
    expect(r.labels).toEqual(f.labels);
    expect(r.endsAt).toBe('2024-03-01T10:10:30.000Z');
  });

  it('builds the webhook payload version "4" as recorded', () => {
    const request = alertmanagerWebhookRequest(
      { url: 'http://127.0.0.1:5001/hook', alertname: 'ConvergeIncident', headers: {} },
      'am-hook',
      fixedNotification('am-hook'),
    );
    expect(asRecorded(request)).toEqual(recorded('alertmanager-webhook-firing'));
    const body = JSON.parse(request.body);
    expect(Object.keys(body).sort()).toEqual(
      [
        'alerts',
        'commonAnnotations',
        'commonLabels',
        'externalURL',
        'groupKey',
        'groupLabels',
        'receiver',
        'status',
        'truncatedAlerts',
        'version',
      ].sort(),
    );
    expect(body.version).toBe('4');
    expect(body.status).toBe('firing');
    expect(body.alerts[0].endsAt).toBe('0001-01-01T00:00:00Z');
    expect(body.alerts[0].fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(body.externalURL).toBe('https://converge.example.com');
  });
});

describe('generic webhook signature', () => {
  it('matches the recorded example and verifies; tampering or an old timestamp fails', () => {
    const rec = recorded('webhook-opened');
    const body = JSON.stringify(webhookBody(fixedNotification('hook')));
    expect(JSON.parse(body)).toEqual(rec.body);
    const ts = Math.floor(FIXED_NOW / 1000);
    // The documented scheme: hex HMAC-SHA256(secret, "<timestamp>.<body>").
    const expected = 'v1=' + createHmac('sha256', FIXED_SECRET).update(`${ts}.${body}`).digest('hex');
    expect(webhookSignature(FIXED_SECRET, ts, body)).toBe(expected);
    expect(rec.headers['x-converge-signature']).toBe(expected);
    expect(verifyWebhookSignature(FIXED_SECRET, rec.headers, body, FIXED_NOW)).toEqual({ ok: true });
    expect(
      verifyWebhookSignature(FIXED_SECRET, rec.headers, body.replace('5100', '5101'), FIXED_NOW),
    ).toEqual({
      ok: false,
      reason: 'signature mismatch',
    });
    expect(verifyWebhookSignature('other', rec.headers, body, FIXED_NOW)).toMatchObject({ ok: false });
    expect(verifyWebhookSignature(FIXED_SECRET, rec.headers, body, FIXED_NOW + 10 * 60_000)).toEqual({
      ok: false,
      reason: 'timestamp outside tolerance',
    });
  });
});
