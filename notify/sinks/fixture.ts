import { incidentLabels } from '../labels.js';
import { SINK_TYPES } from '../registry.js';
import { buildContext, compileTemplate, DEFAULT_TEXT, DEFAULT_TITLE, renderMessage } from '../template.js';
import { incidentEvent } from '../testing.js';
import type { Notification } from '../types.js';

/**
 * The fixed notification the recorded provider examples (recorded/*.json) were made from:
 * the JD.com incident, at a fixed wall time, with fixed secrets.
 */
export const FIXED_NOW = Date.UTC(2024, 2, 1, 10, 0, 31, 250);
export const FIXED_SECRET = 'SECb6f5c0e1d2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9';

export function fixedNotification(sink: string, version = 1, text = DEFAULT_TEXT): Notification {
  const event =
    version === 1
      ? incidentEvent({ id: 'inc-pay-06da' })
      : incidentEvent({
          id: 'inc-pay-06da',
          version,
          event: 'resolved',
          endsAt: Date.UTC(2024, 2, 1, 10, 10, 30),
        });
  const labels = incidentLabels(event);
  const link = 'https://converge.example.com/api/v1/incidents/inc-pay-06da';
  const context = buildContext(event, labels, link, sink);
  return {
    key: `${sink}|inc-pay-06da|v${version}`,
    event,
    labels,
    message: renderMessage(
      { title: compileTemplate(DEFAULT_TITLE), text: compileTemplate(text) },
      context,
      SINK_TYPES.get(sink)?.format ?? 'plain',
    ),
    link,
    attempt: 1,
  };
}
