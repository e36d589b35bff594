import { type EntityRef, type IncidentEvent, isLevel, type TopologyView } from '../core/types.js';

/**
 * The label set routes and silences match on, and that the Alertmanager sinks send:
 *
 * | label        | from                                                              |
 * |--------------|-------------------------------------------------------------------|
 * | `incident`   | event.id                                                          |
 * | `event`      | opened / updated / resolved                                       |
 * | `status`     | open / resolved                                                   |
 * | `severity`   | critical / warning / info                                         |
 * | `level`      | rootCause.level (idc, rack, host, container, app, attribute)      |
 * | `kind`       | rootCause.kind (app, host, noisy-neighbour, attribute, ...)       |
 * | `root_cause` | rootCause.id                                                      |
 * | `idc`, `rack`, `host`, `container`, `app` | the root cause itself at its level, its ancestors from the topology, or string evidence of the top candidate |
 * | other        | the root-cause entity's topology attributes (kernel, model, ...)  |
 */
export const RESERVED_LABELS = ['incident', 'event', 'status', 'severity', 'level', 'kind', 'root_cause'];
const PLACE_LABELS = ['idc', 'rack', 'host', 'container', 'app'] as const;

export function incidentLabels(event: IncidentEvent, topology?: TopologyView): Record<string, string> {
  const labels: Record<string, string> = {
    incident: event.id,
    event: event.event,
    status: event.status,
    severity: event.severity,
    level: event.rootCause.level,
    kind: event.rootCause.kind,
    root_cause: event.rootCause.id,
  };
  const level = event.rootCause.level;
  if (isLevel(level)) {
    labels[level] = event.rootCause.id;
    if (topology) {
      const self: EntityRef = { level, id: event.rootCause.id };
      if (topology.has(self)) {
        for (const [k, v] of Object.entries(topology.attributes(self))) {
          if (!RESERVED_LABELS.includes(k) && !Object.hasOwn(labels, k)) labels[k] = v;
        }
      }
      let at = topology.parent(self);
      for (let hops = 0; at && hops < 8; hops++) {
        labels[at.level] ??= at.id;
        at = topology.parent(at);
      }
    }
  }
  const evidence = event.candidates[0]?.evidence;
  if (evidence) {
    for (const place of PLACE_LABELS) {
      const v = evidence[place];
      if (typeof v === 'string' && labels[place] === undefined) labels[place] = v;
    }
  }
  return labels;
}
