/**
 * Idempotency and ordering keys. A delivery is identified by (sink, incident id, version): the
 * same incident event routed to the same sink twice (a retry upstream, a restart, a duplicate
 * stage output) has the same key, and the queues deliver a key at most once while they remember
 * it. The incident id is URI-encoded so the key never contains ':' (BullMQ rejects it in job
 * ids) and '|' separates the parts unambiguously.
 */
export function laneId(sink: string, incidentId: string): string {
  return `${sink}|${encodeURIComponent(incidentId)}`;
}

export function deliveryKey(sink: string, incidentId: string, version: number): string {
  return `${laneId(sink, incidentId)}|v${version}`;
}

/** Inverse of deliveryKey, for ids given back by the API. */
export function parseDeliveryKey(
  key: string,
): { sink: string; incidentId: string; version: number } | undefined {
  const m = /^([A-Za-z0-9_-]+)\|([^|]+)\|v(\d+)$/.exec(key);
  if (!m) return undefined;
  try {
    return { sink: m[1]!, incidentId: decodeURIComponent(m[2]!), version: Number(m[3]) };
  } catch {
    return undefined;
  }
}
