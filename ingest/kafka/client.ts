import { type Admin, Kafka, type LogEntry, logLevel } from 'kafkajs';

/** What the Kafka classes log through (a pino logger fits). */
export interface KafkaLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * When the consumers of a process cannot start (kafkajs gave up: brokers unreachable through all
 * its retries, topics not creatable): logs why and returns the error, for the caller to stop what
 * already runs (API, notifier) so that the process exits for its supervisor instead of idling.
 */
export function kafkaStartFailure(e: unknown, brokers: readonly string[], log: KafkaLogger): Error {
  const err = e instanceof Error ? e : new Error(String(e));
  log.error(
    { err: err.message, brokers },
    'cannot start consuming from Kafka; exiting so that a supervisor restarts it',
  );
  return err;
}

export interface KafkaClientOptions {
  brokers: readonly string[];
  clientId?: string;
  logger?: KafkaLogger;
  /** kafkajs log level forwarded to `logger`; default warn. */
  logLevel?: 'error' | 'warn' | 'info';
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
}

const LEVELS = { error: logLevel.ERROR, warn: logLevel.WARN, info: logLevel.INFO } as const;

export function createKafka(options: KafkaClientOptions): Kafka {
  if (options.brokers.length === 0) throw new Error('Kafka: no brokers given (expected host:port)');
  const logger = options.logger;
  return new Kafka({
    clientId: options.clientId ?? 'converge',
    brokers: [...options.brokers],
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    logLevel: logger ? LEVELS[options.logLevel ?? 'warn'] : logLevel.NOTHING,
    logCreator: () => (entry: LogEntry) => {
      if (!logger) return;
      const { message, ...extra } = entry.log;
      const obj = { kafka: entry.namespace, ...extra };
      if (entry.level === logLevel.ERROR) logger.error(obj, message);
      else if (entry.level === logLevel.WARN) logger.warn(obj, message);
      else logger.info(obj, message);
    },
  });
}

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  /** Topic configs applied when Converge creates the topic (e.g. cleanup.policy, retention.ms). */
  configEntries?: Array<{ name: string; value: string }>;
}

/**
 * Creates the topics that do not exist yet and waits until every partition has a leader;
 * resolves to the partition count of each topic.
 * kafkajs cannot rely on broker auto-creation under KRaft (the first metadata request races
 * the controller), so every producer and consumer calls this before touching a topic.
 */
export async function ensureTopics(kafka: Kafka, topics: readonly TopicSpec[]): Promise<Map<string, number>> {
  const admin: Admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length > 0) {
      await admin
        .createTopics({
          waitForLeaders: true,
          topics: missing.map((t) => ({
            topic: t.topic,
            numPartitions: t.numPartitions,
            replicationFactor: -1,
            configEntries: t.configEntries,
          })),
        })
        .catch((e: Error) => {
          // Another instance created it meanwhile.
          if (!/exists/i.test(e.message)) throw e;
        });
    }
    // createTopics returns before metadata has propagated when another client created the
    // topic concurrently: poll until each partition reports a leader.
    const names = topics.map((t) => t.topic);
    for (let attempt = 0; ; attempt++) {
      const meta = await admin.fetchTopicMetadata({ topics: names });
      const ready = meta.topics.every(
        (t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0),
      );
      if (ready) return new Map(meta.topics.map((t) => [t.name, t.partitions.length]));
      if (attempt >= 50) throw new Error(`Kafka: topics ${names.join(', ')} have no leader after 10 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await admin.disconnect();
  }
}
