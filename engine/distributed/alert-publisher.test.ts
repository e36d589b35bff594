import { describe, expect, it } from 'vitest';
import type { AlertEvent } from '../../core/types.js';
import type { RecordLogProducer } from '../../ingest/kafka/alerts-producer.js';
import { decodeAlertsRecord, type OutgoingRecord } from '../../ingest/kafka/alerts-records.js';
import { AlertPublisher } from './alert-publisher.js';
import { MetricsOwnership } from './ownership.js';

class FakeProducer {
  readonly sent: OutgoingRecord[] = [];
  queue: OutgoingRecord[] = [];
  enqueue(r: OutgoingRecord): void {
    this.queue.push(r);
  }
  async flush(): Promise<void> {
    this.sent.push(...this.queue);
    this.queue = [];
  }
  async shutdown(): Promise<void> {
    await this.flush();
  }
}

function alert(host: string, state: 'firing' | 'resolved', at: number): AlertEvent {
  return {
    id: `fp-${host}@${at}`,
    fingerprint: `fp-${host}`,
    rule: 'HostCpuBusy',
    severity: 'warning',
    state,
    entity: { level: 'host', id: host },
    predicted: false,
    at,
    startsAt: at,
    labels: {},
    annotations: {},
  };
}

function setup() {
  const producer = new FakeProducer();
  const ownership = new MetricsOwnership('metrics', 12);
  let wm = 1000;
  const publisher = new AlertPublisher({
    producer: producer as unknown as RecordLogProducer,
    ownership,
    instance: 'node-a',
    watermark: () => wm,
    watermarkEveryMs: 0,
  });
  // Two hosts on different partitions.
  const hosts: string[] = [];
  for (let i = 0; hosts.length < 2; i++) {
    const h = `host-${i}`;
    if (hosts.length === 0 || ownership.partitionOfKey(h) !== ownership.partitionOfKey(hosts[0]!))
      hosts.push(h);
  }
  const [mine, theirs] = hosts as [string, string];
  ownership.setAssignment([ownership.partitionOfKey(mine)]);
  const decoded = () => producer.sent.map((r) => decodeAlertsRecord(Buffer.from(r.value), r.headers));
  return { producer, ownership, publisher, mine, theirs, decoded, setWm: (x: number) => (wm = x) };
}

describe('AlertPublisher', () => {
  it('publishes the state changes of hosts it owns, then its watermark, and keeps quiet about the others', async () => {
    const { publisher, mine, theirs, decoded, ownership } = setup();
    publisher.onAlert(alert(mine, 'firing', 500));
    publisher.onAlert(alert(theirs, 'firing', 500)); // HostDown-like noise from a partition it lost
    await publisher.afterBatch();
    const d = decoded();
    expect(d.map((x) => x.kind)).toEqual(['alert', 'watermark']);
    expect(d[0]).toMatchObject({ instance: 'node-a', partition: ownership.partitionOfKey(mine) });
    expect(d[1]).toMatchObject({
      watermark: { watermark: 1000, partitions: [ownership.partitionOfKey(mine)] },
    });
    expect(publisher.stats()).toMatchObject({ published: 1, notOwned: 1, firing: 1 });
  });

  it('drops resolutions of alerts it never published, and re-asserts firing ones when a partition comes back', async () => {
    const { publisher, producer, mine, theirs, ownership, decoded } = setup();
    publisher.onAlert(alert(mine, 'firing', 500));
    await publisher.flush();
    // Its partition goes away and comes back while the alert still fires in detection.
    ownership.setAssignment([ownership.partitionOfKey(theirs)]);
    publisher.onAlert(alert(theirs, 'resolved', 600)); // never published as firing
    ownership.setAssignment([ownership.partitionOfKey(theirs), ownership.partitionOfKey(mine)]);
    await publisher.flush();
    const d = decoded();
    expect(d.map((x) => (x.kind === 'alert' ? `${x.alert.entity.id}:${x.alert.state}` : x.kind))).toEqual([
      `${mine}:firing`,
      `${mine}:firing`,
    ]);
    expect(publisher.stats()).toMatchObject({ unpublishedResolved: 1, reasserted: 1 });
    expect(producer.queue).toEqual([]);
  });

  it('says when it leaves', async () => {
    const { publisher, decoded } = setup();
    await publisher.shutdown();
    expect(decoded()).toMatchObject([{ kind: 'watermark', watermark: { leaving: true, partitions: [] } }]);
  });
});
