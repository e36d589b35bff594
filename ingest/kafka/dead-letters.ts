import { type IHeaders, type Kafka, type Message, Partitioners, type Producer } from 'kafkajs';
import type { DecodeError, InputFormat } from '../../core/types.js';
import type { RefusedLine } from '../sink.js';
import { ensureTopics } from './client.js';
import type { DeadLetter, DeadLetterSink, SourceMessage } from './source.js';

/**
 * Header names of a dead letter in Kafka. The value is the offending line's exact bytes.
 * `dlq-error` carries the reason ("line 3: invalid field value ... at column 17", or for a point
 * the TSDB refused "line 3: refused by the TSDB: HTTP 400: ..."); `dlq-stage` says which:
 * `decode` or `tsdb`.
 */
export const DLQ_HEADERS = {
  error: 'dlq-error',
  stage: 'dlq-stage',
  sourceTopic: 'dlq-source-topic',
  sourcePartition: 'dlq-source-partition',
  sourceOffset: 'dlq-source-offset',
  sourceLine: 'dlq-source-line',
  sourceTimestamp: 'dlq-source-timestamp',
  /** Present when the value was cut to fit the broker: the full value's size in bytes. */
  truncated: 'dlq-truncated',
  contentType: 'content-type',
} as const;

const CONTENT_TYPES: Record<InputFormat, string> = {
  lp: 'text/plain; charset=utf-8',
  json: 'application/json',
};

/**
 * One dead letter per decode error, whose value is the exact bytes of the failed line (not the
 * decoder's shortened copy). Errors come in line order, so one forward scan finds every line.
 * JSON errors in a single (batch) document carry the metric's index rather than a line: the
 * value is then that metric's JSON (`dlq-source-line` holds the index), or the whole document
 * when the metric cannot be told apart (a document that is not one).
 */
export function deadLettersFor(
  message: SourceMessage,
  errors: readonly DecodeError[],
  format: InputFormat,
): DeadLetter[] {
  const value = message.value ?? Buffer.alloc(0);
  // JSON: a message that parses as one document (possibly pretty-printed over many lines) has
  // errors numbered by metric, not by line; JSON Lines have line numbers.
  const doc = format === 'json' ? parseJson(value) : NOT_JSON;
  const wholeDocument = format === 'json' && (value.indexOf(10) < 0 || doc !== NOT_JSON);
  const metrics = doc === NOT_JSON ? undefined : documentMetrics(doc);
  const out: DeadLetter[] = [];
  let lineNo = 1;
  let lineStart = 0;
  for (const err of errors) {
    let bytes: Buffer;
    if (wholeDocument) {
      bytes = metricJson(metrics, err.line) ?? value;
    } else {
      if (err.line < lineNo) {
        lineNo = 1;
        lineStart = 0;
      }
      while (lineNo < err.line && lineStart <= value.length) {
        const nl = value.indexOf(10, lineStart);
        lineStart = nl < 0 ? value.length + 1 : nl + 1;
        lineNo++;
      }
      if (lineStart > value.length) {
        bytes = Buffer.from(err.text, 'utf8');
      } else {
        const nl = value.indexOf(10, lineStart);
        let end = nl < 0 ? value.length : nl;
        if (end > lineStart && value[end - 1] === 13) end--;
        bytes = value.subarray(lineStart, end);
      }
    }
    out.push({
      value: bytes,
      key: message.key,
      reason: err.reason,
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
      line: err.line,
      contentType: CONTENT_TYPES[format],
      timestamp: message.timestamp,
    });
  }
  return out;
}

const NOT_JSON = Symbol('not JSON');

function parseJson(value: Buffer): unknown {
  try {
    return JSON.parse(value.toString('utf8'));
  } catch {
    return NOT_JSON;
  }
}

/** The metrics of a Telegraf JSON document, as json.ts reads it. */
function documentMetrics(doc: unknown): unknown[] {
  if (Array.isArray(doc)) return doc;
  if (typeof doc === 'object' && doc !== null) {
    const d = doc as Record<string, unknown>;
    if (Array.isArray(d.metrics) && !('fields' in d)) return d.metrics;
  }
  return [doc];
}

/** The JSON text of metric `index` (1-based), if there is one to tell apart. */
function metricJson(metrics: unknown[] | undefined, index: number): Buffer | undefined {
  if (metrics === undefined || metrics.length < 2 || index < 1 || index > metrics.length) return undefined;
  try {
    return Buffer.from(JSON.stringify(metrics[index - 1]) ?? 'null', 'utf8');
  } catch {
    return undefined; // nested past what the stack allows: the document it came in
  }
}

/**
 * The dead letter of a point the TSDB refused for good: the value is its input line (`line`, 1-based
 * in the message) when known, else the line as it was sent to the TSDB (line 0).
 */
export function refusedLetter(
  message: SourceMessage,
  format: InputFormat,
  line: number,
  refused: RefusedLine,
): DeadLetter {
  const input = line > 0 ? lineAt(message.value ?? Buffer.alloc(0), line) : undefined;
  return {
    value: input ?? Buffer.from(refused.line, 'utf8'),
    key: message.key,
    reason: `line ${line}: refused by the TSDB: ${refused.reason}`,
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    line,
    contentType: CONTENT_TYPES[input === undefined ? 'lp' : format],
    timestamp: message.timestamp,
    stage: 'tsdb',
  };
}

/** The bytes of line `lineNo` (1-based) of `value`, without its line end; undefined past the end. */
function lineAt(value: Buffer, lineNo: number): Buffer | undefined {
  let start = 0;
  for (let n = 1; n < lineNo; n++) {
    const nl = value.indexOf(10, start);
    if (nl < 0) return undefined;
    start = nl + 1;
  }
  const nl = value.indexOf(10, start);
  let end = nl < 0 ? value.length : nl;
  if (end > start && value[end - 1] === 13) end--;
  return value.subarray(start, end);
}

export function deadLetterHeaders(d: DeadLetter): IHeaders {
  return {
    [DLQ_HEADERS.error]: d.reason,
    [DLQ_HEADERS.stage]: d.stage ?? 'decode',
    [DLQ_HEADERS.sourceTopic]: d.topic,
    [DLQ_HEADERS.sourcePartition]: String(d.partition),
    [DLQ_HEADERS.sourceOffset]: d.offset,
    [DLQ_HEADERS.sourceLine]: String(d.line),
    [DLQ_HEADERS.sourceTimestamp]: String(d.timestamp),
    [DLQ_HEADERS.contentType]: d.contentType,
  };
}

export interface KafkaDeadLetterSinkOptions {
  kafka: Kafka;
  /** Default `metrics.dlq`. */
  topic?: string;
  /** Partitions when the topic has to be created. Default 1. */
  partitions?: number;
  /**
   * Bytes of letters (values and headers) sent in one request, and the most a letter's value may
   * hold (a longer one is cut, header `dlq-truncated` giving its full size): below the broker's
   * `message.max.bytes` (1 MiB by default), which bounds a partition's record batch, so that no
   * letter or set of letters is ever refused by the broker (which would leave the batch
   * uncommitted, redelivered and refused again). Default 900 KiB.
   */
  maxRequestBytes?: number;
}

/** Dead letters produced to a Kafka topic with acks=all, keyed like their source message. */
export class KafkaDeadLetterSink implements DeadLetterSink {
  private readonly producer: Producer;
  private readonly topic: string;
  private ready: Promise<void> | undefined;

  constructor(private readonly options: KafkaDeadLetterSinkOptions) {
    this.topic = options.topic ?? 'metrics.dlq';
    this.producer = options.kafka.producer({
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  async publish(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    this.ready ??= this.connect();
    await this.ready;
    const max = this.options.maxRequestBytes ?? 900 * 1024;
    let group: Message[] = [];
    let bytes = 0;
    for (const d of letters) {
      const headers = deadLetterHeaders(d);
      let size = (d.key?.length ?? 0) + 64;
      for (const k in headers) size += k.length + String(headers[k]).length + 8;
      let value = d.value;
      if (size + value.length > max) {
        headers[DLQ_HEADERS.truncated] = String(value.length);
        value = value.subarray(0, Math.max(0, max - size - 32));
      }
      size += value.length;
      if (bytes + size > max && group.length > 0) {
        await this.send(group);
        group = [];
        bytes = 0;
      }
      group.push({ key: d.key, value, timestamp: String(d.timestamp), headers });
      bytes += size;
    }
    await this.send(group);
  }

  private async send(messages: Message[]): Promise<void> {
    await this.producer.send({ topic: this.topic, acks: -1, messages });
  }

  async shutdown(): Promise<void> {
    if (this.ready === undefined) return;
    await this.ready.catch(() => undefined);
    await this.producer.disconnect();
  }

  private async connect(): Promise<void> {
    try {
      await ensureTopics(this.options.kafka, [
        { topic: this.topic, numPartitions: this.options.partitions ?? 1 },
      ]);
      await this.producer.connect();
    } catch (e) {
      this.ready = undefined; // try again with the next batch
      throw e;
    }
  }
}

/** The embedded stand-in: keeps the most recent dead letters in memory and counts all. */
export class MemoryDeadLetterSink implements DeadLetterSink {
  private readonly kept: DeadLetter[] = [];
  total = 0;

  constructor(private readonly capacity = 10_000) {}

  publish(letters: readonly DeadLetter[]): Promise<void> {
    for (const d of letters) {
      this.kept.push(d);
      this.total++;
    }
    if (this.kept.length > this.capacity) this.kept.splice(0, this.kept.length - this.capacity);
    return Promise.resolve();
  }

  /** The most recent letters, oldest first. */
  letters(): readonly DeadLetter[] {
    return this.kept;
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
