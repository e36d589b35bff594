/**
 * The notification stage's public surface: what the lead wires (createNotifier, the config
 * schema to mount under `notify:`) and what the API calls (silences, dead letters).
 */
export {
  type NotifyConfig,
  NotifyConfigError,
  type NotifyConfigInput,
  NotifyConfigSchema,
  parseNotifyConfig,
  type RouteConfig,
  type SinkConfig,
} from './config.js';
export { incidentLabels } from './labels.js';
export {
  createNotifier,
  IncidentEventError,
  Notifier,
  type NotifierOptions,
  type NotifyResult,
} from './notifier.js';
export { deliveryKey, laneId, parseDeliveryKey } from './queue/keys.js';
export { SINK_TYPES } from './registry.js';
export { type Silence, SilenceError, type SilenceInput, type SilenceStore } from './silences.js';
export { InMemorySink } from './sinks/memory.js';
export { verifyWebhookSignature, webhookSignature } from './sinks/webhook.js';
export type {
  DeadLetter,
  Delivery,
  DeliveryQueue,
  EnqueueOutcome,
  Notification,
  QueueCounts,
  RetryDeadLetterResult,
  SendResult,
  Sink,
} from './types.js';
