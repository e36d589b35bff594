import { alertmanagerSink } from './sinks/alertmanager.js';
import { alertmanagerWebhookSink } from './sinks/alertmanager-webhook.js';
import type { SinkDefinition } from './sinks/definition.js';
import { dingtalkSink } from './sinks/dingtalk.js';
import { feishuSink } from './sinks/feishu.js';
import { memorySink } from './sinks/memory.js';
import { pagerdutySink } from './sinks/pagerduty.js';
import { slackSink } from './sinks/slack.js';
import { webhookSink } from './sinks/webhook.js';
import { wecomSink } from './sinks/wecom.js';

/** Every sink type a config may name, by `type`. A new sink is one file plus one line here. */
export const SINK_TYPES: ReadonlyMap<string, SinkDefinition> = new Map(
  (
    [
      webhookSink,
      slackSink,
      dingtalkSink,
      feishuSink,
      wecomSink,
      pagerdutySink,
      alertmanagerSink,
      alertmanagerWebhookSink,
      memorySink,
    ] as unknown as SinkDefinition[]
  ).map((d) => [d.type, d]),
);
