// Injection into notifications, end to end (issue 10 item 10): a host whose id came from metric
// tags, alerted on through POST /api/v1/alerts (an Alertmanager webhook payload), becomes an
// incident whose notification reaches Slack, DingTalk and Feishu receivers (real HTTP on
// loopback) with the id escaped for each, so it neither mentions a channel nor hides a link.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, createApiServer } from '../../api/server.js';
import { ApiClient, ScenarioEngine } from '../../api/testing.js';
import { jdScenario } from '../../fixtures/scenario.js';
import { ProviderReceiver } from '../../notify/testing.js';

const WRITE = 'escaping-writer-4e7b1c9d2a6f8035';
const MIN = 60_000;
const HOSTILE =
  'db1 <!channel> <https://evil.example|reset password> [login](https://evil.example) <at id=all></at>\n*Severity*: none';

const receiver = new ProviderReceiver();
let engine: ScenarioEngine;
let server: ApiServer;

beforeAll(async () => {
  await receiver.start();
  const base = receiver.url;
  engine = new ScenarioEngine({
    scenario: jdScenario(5, {
      fleet: { idcs: 1, racksPerIdc: 1, hostsPerRack: 4, containersPerHost: 2, extraApps: [] },
      appReplicas: 2,
    }),
    sinks: [
      { name: 'slack', type: 'slack', url: `${base}/slack` },
      { name: 'dingtalk', type: 'dingtalk', url: `${base}/dingtalk?access_token=t` },
      { name: 'feishu', type: 'feishu', url: `${base}/feishu` },
    ],
  });
  await engine.start();
  server = await createApiServer(engine.backend, {
    port: 0,
    tokens: [{ token: WRITE, scopes: ['read', 'write'] }],
    rateLimit: false,
  });
  await server.listen();
}, 60_000);

afterAll(async () => {
  await server?.close();
  await engine?.shutdown();
  await receiver.close();
});

describe('hostile entity ids in notifications', () => {
  it('reach Slack, DingTalk and Feishu escaped for each', async () => {
    const writer = new ApiClient(server.url!, WRITE);
    const t0 = engine.scenario.window.start;
    const rack = engine.topology.parent({ level: 'host', id: engine.scenario.fleet.hosts[0]!.id })!;
    const idc = engine.topology.parent(rack)!;
    // The id arrives as a metric tag: the topology learns the host.
    expect(engine.topology.observe({ host: HOSTILE, rack: rack.id, dc: idc.id }, t0)).toBe(true);
    const payload = {
      version: '4',
      receiver: 'converge',
      status: 'firing',
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'HostDown', host: HOSTILE, severity: 'critical' },
          startsAt: new Date(t0 + MIN).toISOString(),
        },
      ],
    };
    const r = await writer.post('/api/v1/alerts', payload);
    expect(r.body).toMatchObject({ accepted: 1, rejected: 0 });
    // Event time moves past the group wait: the alert becomes its own incident.
    await writer.post('/api/v1/alerts', {
      entity: { level: 'host', id: engine.scenario.fleet.hosts[1]!.id },
      rule: 'Tick',
      severity: 'info',
      state: 'firing',
      at: t0 + 8 * MIN,
    });
    await engine.notifier.idle(10_000);
    const incident = engine.correlator.incidents().find((i) => i.rootCause.id === HOSTILE);
    expect(incident).toBeDefined();

    const about = (sink: string) =>
      receiver.received.filter((m) => m.provider === sink && JSON.stringify(m.body).includes(incident!.id));
    const slack = about('slack');
    expect(slack.length).toBeGreaterThan(0);
    for (const { body } of slack) {
      const section: string = body.blocks[1].text.text;
      expect(section).toContain('&lt;!channel&gt; &lt;https://evil.example|reset password&gt;');
      expect(section.replace(/<https?:\/\/[^|>]+\/incidents\/[^|>]+\|Incident [^>]+>/, '')).not.toMatch(
        /<[!@#h]/,
      );
      expect(section).not.toContain('\n*Severity*: none');
      expect(body.text).not.toContain('<!channel>');
    }
    const ding = about('dingtalk');
    expect(ding.length).toBeGreaterThan(0);
    for (const { body } of ding) {
      expect(body.markdown.text).not.toMatch(/\]\(https:\/\/evil/);
      expect(body.markdown.text).not.toMatch(/<[!@a-z]/i);
      expect(body.markdown.text).toContain('[login&#93;(https://evil.example)');
    }
    const feishu = about('feishu');
    expect(feishu.length).toBeGreaterThan(0);
    for (const { body } of feishu) {
      const md: string = body.card.elements[0].text.content;
      expect(md).not.toContain('<at id=all>');
      expect(md).toContain('&lt;at id=all&gt;');
      expect(md).not.toMatch(/\]\(https:\/\/evil/);
    }
  });
});
