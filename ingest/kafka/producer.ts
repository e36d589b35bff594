import { CompressionTypes, type Kafka, type Message, Partitioners, type Producer } from 'kafkajs';
import { createKafka, ensureTopics, type KafkaClientOptions } from './client.js';

export interface MetricsProducerOptions extends Partial<KafkaClientOptions> {
  /** An existing client; otherwise one is created from `brokers`. */
  kafka?: Kafka;
  /** Default `metrics`. */
  topic?: string;
  /** Partitions when the topic has to be created. Default 12. */
  partitions?: number;
  /** Default -1 (all in-sync replicas). */
  acks?: -1 | 0 | 1;
  compression?: 'none' | 'gzip';
  /** Payload bytes per produce request. Default 4 MiB. */
  maxRequestBytes?: number;
  /** Produce requests in flight at once. Default 4. */
  concurrency?: number;
}

/** A message of metrics from one host: line protocol (one or many lines) or JSON. */
export interface HostMessage {
  host: string;
  value: string | Buffer;
  /** Message timestamp (ms); what lines without their own timestamp take. Default: now. */
  timestamp?: number;
}

/**
 * Producer side of the `metrics` topic. Messages are keyed by host, so with Kafka's default
 * (murmur2) partitioner a host's host-level and container-level metrics always land in the same
 * partition, and thus in the same consumer of the group.
 */
export class MetricsProducer {
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  readonly topic: string;
  private readonly maxRequestBytes: number;
  private readonly concurrency: number;
  private connected: Promise<void> | undefined;

  constructor(private readonly options: MetricsProducerOptions) {
    if (options.kafka) this.kafka = options.kafka;
    else if (options.brokers) this.kafka = createKafka({ ...options, brokers: options.brokers });
    else throw new Error('MetricsProducer: pass `kafka` or `brokers`');
    this.topic = options.topic ?? 'metrics';
    this.maxRequestBytes = options.maxRequestBytes ?? 4 * 1024 * 1024;
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.producer = this.kafka.producer({
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  connect(): Promise<void> {
    this.connected ??= (async () => {
      await ensureTopics(this.kafka, [{ topic: this.topic, numPartitions: this.options.partitions ?? 12 }]);
      await this.producer.connect();
    })();
    return this.connected;
  }

  /** Sends and resolves once every message is acknowledged (per `acks`). */
  async send(messages: Iterable<HostMessage>): Promise<void> {
    await this.connect();
    const inFlight = new Set<Promise<void>>();
    let failure: Error | undefined;
    let request: Message[] = [];
    let bytes = 0;
    const flush = async () => {
      if (request.length === 0) return;
      const p = this.sendRequest(request);
      request = [];
      bytes = 0;
      inFlight.add(p);
      p.then(
        () => inFlight.delete(p),
        (e: Error) => {
          inFlight.delete(p);
          failure ??= e;
        },
      );
      if (inFlight.size >= this.concurrency) await Promise.race(inFlight).catch(() => undefined);
      if (failure) throw failure;
    };
    for (const m of messages) {
      const value = typeof m.value === 'string' ? Buffer.from(m.value) : m.value;
      if (bytes > 0 && bytes + value.length > this.maxRequestBytes) await flush();
      request.push({ key: m.host, value, timestamp: String(m.timestamp ?? Date.now()) });
      bytes += value.length;
    }
    await flush();
    await Promise.allSettled([...inFlight]);
    if (failure) throw failure;
  }

  /** One message of many lines from one host. */
  sendLines(host: string, lines: readonly string[], timestamp?: number): Promise<void> {
    return this.send([{ host, value: lines.join('\n'), timestamp }]);
  }

  async shutdown(): Promise<void> {
    if (this.connected === undefined) return;
    await this.connected.catch(() => undefined);
    await this.producer.disconnect();
  }

  private async sendRequest(messages: Message[]): Promise<void> {
    await this.producer.send({
      topic: this.topic,
      acks: this.options.acks ?? -1,
      compression: this.options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
      messages,
    });
  }
}
