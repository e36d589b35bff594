import { accessSync, constants, createWriteStream, readFileSync, statSync, type WriteStream } from 'node:fs';
import type { Config } from '../core/config.js';
import type { DecodeError, Level } from '../core/types.js';
import { parseAlertLines } from '../correlate/alerts.js';
import { renderIncidentEvent } from '../correlate/render.js';
import { buildEngine, decodeSettings, influxSinkFromConfig } from '../engine/build.js';
import type { Pipeline } from '../engine/pipeline.js';
import { type ReplayProgress, type ReplaySummary, replay } from '../engine/replay.js';
import { escapeForTerminal } from '../ingest/limits.js';
import type { PointSink } from '../ingest/sink.js';
import { alertJsonLine } from '../rules/alert-json.js';
import type { TopologyGraph } from '../topology/graph.js';
import { loadTopologyFile } from '../topology/records.js';
import type { ReplayCliOptions } from './cli.js';
import { UsageError } from './errors.js';

/**
 * `converge replay [FILE|-]`: a recorded metric stream (or, with `--alerts`, a recorded alert
 * stream) through the same engine as production, in event time, as fast as the CPU allows.
 */
export async function runReplay(
  file: string | undefined,
  opts: ReplayCliOptions,
  config: Config,
): Promise<number> {
  if (file !== undefined && opts.alerts !== undefined) {
    throw new UsageError('give either a metrics FILE or --alerts FILE, not both');
  }
  if (file === undefined && opts.alerts === undefined) {
    throw new UsageError('nothing to replay: give a metrics FILE (or - for stdin) or --alerts FILE');
  }
  for (const input of [file, opts.alerts]) {
    if (input === undefined || input === '-') continue;
    try {
      if (!statSync(input).isFile()) throw new Error('not a file');
      accessSync(input, constants.R_OK);
    } catch (e) {
      throw new UsageError(`cannot read ${input}: ${(e as Error).message}`);
    }
  }
  const alertsOut = opts.alertsOut ? createWriteStream(opts.alertsOut) : undefined;
  const incidentsOut = opts.incidentsOut ? createWriteStream(opts.incidentsOut) : undefined;
  const engine = buildEngine(config, {
    rulesDir: opts.rules,
    listeners: {
      onAlert: alertsOut ? (a) => alertsOut.write(alertJsonLine(a) + '\n') : undefined,
      onIncident: incidentsOut ? (e) => incidentsOut.write(renderIncidentEvent(e) + '\n') : undefined,
    },
  });
  const topologyFiles = [...config.topology.files, ...(opts.topology ?? [])];
  const rejectedRecords = await loadTopology(engine.topology, topologyFiles, opts.quiet === true);

  let summary: ReplaySummary;
  if (opts.alerts !== undefined) {
    const errors = new ErrorReporter(opts.alerts, opts.quiet ? 0 : 20, opts.errorsOut);
    summary = replayAlerts(opts.alerts, engine.pipeline, errors);
    await errors.close();
  } else {
    const source = file === '-' ? 'stdin' : file!;
    const errors = new ErrorReporter(source, opts.quiet ? 0 : 20, opts.errorsOut);
    const sink: PointSink | undefined = config.tsdb ? influxSinkFromConfig(config.tsdb) : undefined;
    const format = opts.format ?? config.input.format;
    summary = await replay(file === '-' ? process.stdin : file!, engine.pipeline, {
      format,
      precision: opts.precision ?? config.input.precision,
      ...decodeSettings(config),
      sink,
      onError: errors.report,
      onProgress: opts.quiet ? undefined : progressLine,
    });
    await sink?.shutdown();
    await errors.close();
  }
  await Promise.all([close(alertsOut), close(incidentsOut)]);

  const cap = engine.topology.capacityStats();
  if (opts.summaryJson) {
    process.stdout.write(JSON.stringify({ ...summary, capacity: { entities: cap } }) + '\n');
  } else {
    const e = summary.entities;
    process.stdout.write(
      `${summary.points} points, ${summary.malformed} malformed lines, ` +
        (summary.refused > 0 ? `${summary.refused} refused by the TSDB, ` : '') +
        `${summary.series} series; ` +
        `entities: ${e.idc} idc, ${e.rack} racks, ${e.host} hosts, ${e.container} containers, ${e.app} apps; ` +
        `${summary.alerts} alert state changes, ${summary.incidents} incidents; ${summary.wallMs} ms` +
        (rejectedRecords > 0 ? `; ${rejectedRecords} topology records rejected` : '') +
        (cap.evicted + cap.refused > 0
          ? `; topology at its cap of ${cap.limit} entities: ${cap.evicted} evicted, ${cap.refused} refused`
          : '') +
        '\n',
    );
  }
  return 0;
}

/** Alert records (JSON Lines) in event-time order through the correlator. */
function replayAlerts(path: string, pipeline: Pipeline, errors: ErrorReporter): ReplaySummary {
  const started = performance.now();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read alerts file: ${(e as Error).message}`);
  }
  const parsed = parseAlertLines(text);
  for (const e of parsed.errors) errors.report(e);
  // Recorded alert files are mostly in time order; a stable sort makes them exactly so.
  const alerts = parsed.alerts.slice().sort((a, b) => a.at - b.at);
  for (let i = 0; i < alerts.length; i++) {
    pipeline.acceptAlert(alerts[i]!);
    if ((i & 255) === 255) pipeline.advance();
  }
  pipeline.finish();
  const stats = pipeline.stats();
  return {
    points: 0,
    malformed: parsed.errors.length,
    refused: 0,
    series: 0,
    entities: pipeline.topology.counts() as Record<Level, number>,
    alerts: stats.alerts,
    incidents: stats.incidents,
    wallMs: Math.round(performance.now() - started),
  };
}

async function loadTopology(
  topology: TopologyGraph,
  files: readonly string[],
  quiet: boolean,
): Promise<number> {
  let rejected = 0;
  for (const file of files) {
    const { records, errors } = await loadTopologyFile(file);
    if (errors.length === 1 && errors[0]!.line === 0) throw new UsageError(errors[0]!.message);
    const problems = errors.map((e) => e.message);
    for (const r of records) {
      // CMDB-declared entities never expire, so their stamp does not matter for event time.
      const problem = topology.apply(r, 0);
      if (problem !== undefined) problems.push(`${file}: ${r.level} ${r.id}: ${problem}`);
    }
    rejected += problems.length;
    if (!quiet) {
      for (const p of problems.slice(0, 20)) process.stderr.write(escapeForTerminal(p) + '\n');
      if (problems.length > 20)
        process.stderr.write(`${escapeForTerminal(file)}: ${problems.length - 20} more rejected records\n`);
    }
  }
  return rejected;
}

function close(out: WriteStream | undefined): Promise<void> {
  return out
    ? new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())))
    : Promise.resolve();
}

function progressLine(p: ReplayProgress): void {
  const rate = Math.round(p.lines / (p.wallMs / 1000));
  const at = Number.isFinite(p.eventTime) ? new Date(p.eventTime).toISOString() : '-';
  process.stderr.write(
    `replay: ${p.lines.toLocaleString('en')} lines (${rate.toLocaleString('en')} lines/s, ` +
      `${(p.bytes / 1048576).toFixed(0)} MiB), ${p.malformed} malformed, event time ${at}\n`,
  );
}

/**
 * Prints rejected lines on stderr, the first `limit` of them, then a count. What comes from the
 * input (reasons quote it) is escaped: no control character reaches the terminal.
 */
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
      process.stderr.write(escapeForTerminal(`${this.source}:${e.line}: ${reason}`) + '\n');
    }
  };

  async close(): Promise<void> {
    if (this.total > this.shown && this.limit > 0) {
      process.stderr.write(
        `${escapeForTerminal(this.source)}: ${this.total - this.shown} more rejected line(s) not shown` +
          (this.out ? '' : ' (--errors-out FILE writes them all)') +
          '\n',
      );
    }
    await close(this.out);
  }
}
