import { describe, expect, it } from 'vitest';
import { NotifyConfigError, NotifyConfigSchema, parseNotifyConfig } from './config.js';

function problems(raw: unknown): string[] {
  try {
    parseNotifyConfig(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(NotifyConfigError);
    return (e as NotifyConfigError).problems;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('NotifyConfigSchema', () => {
  it('fills defaults and parses durations, rate limits and per-sink options', () => {
    const c = parseNotifyConfig({
      externalUrl: 'https://converge.example.com/',
      retry: { attempts: 5, initialDelay: '500ms', maxDelay: '1m' },
      sinks: [
        {
          name: 'hook',
          type: 'webhook',
          url: 'https://h.example.com/x',
          secret: 's3cret',
          timeout: '3s',
          rateLimit: { max: 10, per: '1s' },
        },
        { name: 'pd', type: 'pagerduty', routingKey: 'R0UT1NG' },
        { name: 'am', type: 'alertmanager', url: 'http://127.0.0.1:9093', alertTtl: '2h' },
      ],
      maintenanceWindows: [
        {
          name: 'dc1',
          matchers: ['idc="dc1"'],
          startsAt: '2024-06-01T00:00:00Z',
          endsAt: '2024-06-01T04:00:00Z',
        },
      ],
    });
    expect(c.retry).toEqual({ attempts: 5, initialDelay: 500, maxDelay: 60_000, jitter: 0.2 });
    expect(c.queue.concurrency).toBe(4);
    expect(c.sinks[0]).toMatchObject({ name: 'hook', timeoutMs: 3000, rateLimit: { max: 10, perMs: 1000 } });
    expect(c.sinks[0]!.options).toEqual({ url: 'https://h.example.com/x', secret: 's3cret', headers: {} });
    expect(c.sinks[1]!.options).toEqual({
      url: 'https://events.pagerduty.com/v2/enqueue',
      routingKey: 'R0UT1NG',
    });
    expect(c.sinks[2]!.options).toMatchObject({ alertTtl: 7_200_000, alertname: 'ConvergeIncident' });
    expect(c.route.sinks).toEqual(['hook', 'pd', 'am']);
    expect(c.maintenanceWindows[0]).toMatchObject({
      startsAt: Date.UTC(2024, 5, 1),
      endsAt: Date.UTC(2024, 5, 1, 4),
    });
  });

  it('names the offending key: unknown sink type, missing URL or secret, invalid template', () => {
    expect(
      problems({
        sinks: [
          { name: 'teams', type: 'msteams', url: 'https://x' },
          { name: 'hook', type: 'webhook' },
          { name: 'pd', type: 'pagerduty' },
          { name: 'sl', type: 'slack', url: 'ftp://x', template: { text: 'hi {{ rootCause.owner }}' } },
          {
            name: 'ding',
            type: 'dingtalk',
            url: 'https://oapi.dingtalk.com/robot/send?access_token=t',
            sekret: 'x',
          },
        ],
      }),
    ).toEqual([
      'notify.sinks.0.type: unknown sink type "msteams" (known: webhook, slack, dingtalk, feishu, wecom, pagerduty, alertmanager, alertmanager-webhook, memory)',
      'notify.sinks.1.url: missing URL',
      'notify.sinks.1.secret: missing secret',
      'notify.sinks.2.routingKey: missing secret',
      'notify.sinks.3.template.text: invalid template: "{{ rootCause.owner }}" at offset 3: "rootCause" has no field "owner" (known: level, id, kind)',
      'notify.sinks.3.url: expected an http(s) URL, got "ftp://x"',
      'notify.sinks.4: unknown key sekret',
    ]);
  });

  it('rejects unknown route sinks, duplicate names, root matchers, bad matchers and windows', () => {
    expect(
      problems({
        sinks: [
          { name: 'a', type: 'memory' },
          { name: 'a', type: 'memory' },
        ],
        route: { matchers: ['severity="critical"'], sinks: ['a'], routes: [{ sinks: ['b'] }] },
        maintenanceWindows: [
          {
            name: 'w',
            matchers: ['idc="dc1"'],
            startsAt: '2024-06-02T00:00:00Z',
            endsAt: '2024-06-01T00:00:00Z',
          },
        ],
      }),
    ).toEqual([
      'notify.sinks.1.name: duplicate sink name "a"',
      'notify.route.matchers: the root route matches everything: no matchers',
      'notify.route.routes.0.sinks.0: unknown sink "b" (defined: a)',
      'notify.maintenanceWindows.0.endsAt: must be after startsAt',
    ]);
    expect(problems({ route: { routes: [{ matchers: ['kind=~"(app"'] }] } })[0]).toMatch(
      /^notify\.route\.routes\.0\.matchers\.0: bad regex in matcher .*: missing closing \): `\(app` \(at offset 7\)$/,
    );
    expect(problems({ queue: { concurrency: 0 } })[0]).toMatch(/^notify\.queue\.concurrency: /);
    expect(problems({ retry: { initialDelay: 'soon' } })).toEqual([
      'notify.retry.initialDelay: invalid duration "soon" (use e.g. 500ms, 30s, 5m, 1h)',
    ]);
    expect(
      problems({
        sinks: [{ name: 'x', type: 'webhook', url: 'http://h', secret: 'env:CONVERGE_TEST_NOPE' }],
      }),
    ).toEqual([
      'notify.sinks.0.secret: environment variable CONVERGE_TEST_NOPE (named by env:CONVERGE_TEST_NOPE) is not set',
    ]);
    expect(problems({ bogus: 1 })).toEqual(['notify: unknown key bogus']);
  });

  it('reads secrets from the environment with env:NAME', () => {
    process.env.CONVERGE_TEST_HOOK_SECRET = 'from-env';
    const c = NotifyConfigSchema.parse({
      sinks: [{ name: 'x', type: 'webhook', url: 'http://h', secret: 'env:CONVERGE_TEST_HOOK_SECRET' }],
    });
    expect(c.sinks[0]!.options.secret).toBe('from-env');
    delete process.env.CONVERGE_TEST_HOOK_SECRET;
  });
});
