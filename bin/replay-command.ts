import { createWriteStream, type WriteStream } from 'node:fs';
import type { Config } from '../core/config.js';
import type { DecodeError } from '../core/types.js';
import { Pipeline } from '../engine/pipeline.js';
import { type ReplayProgress, replay } from '../engine/replay.js';
import type { PointSink } from '../ingest/sink.js';
import { TopologyGraph } from '../topology/graph.js';
import type { ReplayCliOptions } from './cli.js';

export async function runReplay(file: string, opts: ReplayCliOptions, config: Config): Promise<number> {
  const source = file === '-' ? 'stdin' : file;
  const errors = new ErrorReporter(source, opts.quiet ? 0 : 20, opts.errorsOut);
  const topology = new TopologyGraph({
    ttlMs: config.topology.ttl,
    mapping: config.topology.mapping,
    attributeTags: config.topology.attributeTags,
  });
  const pipeline = new Pipeline(topology, { latenessMs: config.detect.lateness });
  let sink: PointSink | undefined;
  if (config.tsdb) {
    const { InfluxPointSink } = await import('../ingest/tsdb/influx-writer.js');
    sink = new InfluxPointSink({ ...config.tsdb, flushIntervalMs: config.tsdb.flushInterval });
  }
  const format = opts.format ?? config.input.format;
  const summary = await replay(file === '-' ? process.stdin : file, pipeline, {
    format,
    precision: opts.precision ?? (format === 'lp' ? config.input.precision : undefined),
    sink,
    onError: errors.report,
    onProgress: opts.quiet ? undefined : progressLine,
  });
  await sink?.shutdown();
  await errors.close();
  if (opts.summaryJson) {
    process.stdout.write(JSON.stringify(summary) + '\n');
  } else {
    const e = summary.entities;
    process.stdout.write(
      `${summary.points} points, ${summary.malformed} malformed lines, ${summary.series} series; ` +
        `entities: ${e.idc} idc, ${e.rack} racks, ${e.host} hosts, ${e.container} containers, ${e.app} apps; ` +
        `${summary.alerts} alerts, ${summary.incidents} incidents; ${summary.wallMs} ms\n`,
    );
  }
  return 0;
}

function progressLine(p: ReplayProgress): void {
  const rate = Math.round(p.lines / (p.wallMs / 1000));
  const at = Number.isFinite(p.eventTime) ? new Date(p.eventTime).toISOString() : '-';
  process.stderr.write(
    `replay: ${p.lines.toLocaleString('en')} lines (${rate.toLocaleString('en')} lines/s, ` +
      `${(p.bytes / 1048576).toFixed(0)} MiB), ${p.malformed} malformed, event time ${at}\n`,
  );
}

/** Prints rejected lines on stderr, the first `limit` of them, then a count. */
export class ErrorReporter {
  private shown = 0;
  private total = 0;
  private readonly out: WriteStream | undefined;

  constructor(
    private readonly source: string,
    private readonly limit: number,
    outFile?: string,
  ) {
    this.out = outFile ? createWriteStream(outFile) : undefined;
  }

  report = (e: DecodeError): void => {
    this.total++;
    this.out?.write(JSON.stringify(e) + '\n');
    if (this.shown < this.limit) {
      this.shown++;
      const prefix = `line ${e.line}: `;
      const reason = e.reason.startsWith(prefix) ? e.reason.slice(prefix.length) : e.reason;
      process.stderr.write(`${this.source}:${e.line}: ${reason}\n`);
    }
  };

  async close(): Promise<void> {
    if (this.total > this.shown && this.limit > 0) {
      process.stderr.write(
        `${this.source}: ${this.total - this.shown} more rejected line(s) not shown` +
          (this.out ? '' : ' (--errors-out FILE writes them all)') +
          '\n',
      );
    }
    if (this.out) await new Promise<void>((resolve) => this.out!.end(resolve));
  }
}
