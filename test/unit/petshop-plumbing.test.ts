import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { caseFrameCsv, writeCase } from '../../bench/petshop/convert.js';
import { type PetshopCase, PetshopDataset, parseMetrics } from '../../bench/petshop/dataset.js';
import { convergeAnswer, faultRow, maxZBaseline } from '../../bench/petshop/score.js';
import { decode } from '../../ingest/decode.js';
import { TopologyGraph } from '../../topology/graph.js';
import { parseTopologyLines } from '../../topology/records.js';

// The PetShop evaluation's plumbing (bench/petshop.ts) on one train case of the third-party
// dataset, read in place: it converts, `converge replay` takes every line, and the topology is
// the dataset's call graph. Accuracy is the bench's business, not asserted here.
const dir = mkdtempSync(join(tmpdir(), 'converge-petshop-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const data = new PetshopDataset();
const ref = data.cases(['train']).find((r) => r.id === 'low_traffic/train/issue_0')!;
const c: PetshopCase = data.load(ref);
const files = writeCase(c, dir);

describe('PetShop case low_traffic/train/issue_0', () => {
  it('is the noissue history shifted to end one step before the issue window', () => {
    expect(c.historyRows).toBe(589);
    expect(c.table.rows).toHaveLength(589 + 5);
    expect(c.windowStart).toBe(1681855320);
    expect(c.table.times[588]).toBe(1681855320 - 300);
    // Every step is 300 s: the shifted history and the window form one gapless stream.
    for (let i = 1; i < c.table.times.length; i++)
      expect(c.table.times[i]! - c.table.times[i - 1]!).toBe(300);
    expect(c.rootCause).toBe('PetSearch_AWS::ECS::Fargate');
    expect(c.target).toEqual({ node: 'PetSite', metric: 'latency', agg: 'Average', time: 1681855803 });
    expect(c.table.times[faultRow(c)]).toBe(1681855620);
  });

  it('converts to line protocol the product decodes, in its units', () => {
    const text = readFileSync(files.lp, 'utf8');
    const { points, errors } = decode(text, 'lp', { precision: 's' });
    expect(errors).toEqual([]);
    expect(points).toHaveLength(files.points);
    expect(files.points).toBe(24_359);
    const search = points.filter(
      (p) => p.tags.app === 'PetSearch_AWS::ECS::Fargate' && p.time >= 1681855920_000,
    );
    // p99 1.02690668338 s in metrics.csv -> ms; requests 843 per 5 min -> 2.81 req/s.
    expect(search[0]!.fields.latency_p99).toBeCloseTo(1026.90668338, 6);
    expect(search[0]!.fields.rate).toBeCloseTo(2.81, 9);
    expect(search[0]!.fields.errors).toBe(0);
    // A tag value with a space survives the escaping.
    expect(points.some((p) => p.tags.app === 'PGSQL Query_remote')).toBe(true);
  });

  it('replays through `converge replay` with no rejected line, as 42 apps linked by the call graph', () => {
    const incidents = join(dir, 'incidents.jsonl');
    const rejected = join(dir, 'rejected.jsonl');
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'bin/cli.ts',
        'replay',
        files.lp,
        '--format',
        'lp',
        '--precision',
        's',
        '--topology',
        files.topology,
        '--incidents-out',
        incidents,
        '--errors-out',
        rejected,
        '--summary-json',
        '--quiet',
      ],
      { encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const summary = JSON.parse(r.stdout.trimEnd().split('\n').pop()!);
    expect(summary.points).toBe(24_359);
    expect(summary.malformed).toBe(0);
    expect(readFileSync(rejected, 'utf8')).toBe('');
    expect(summary.series).toBe(42);
    expect(summary.entities).toEqual({ idc: 0, rack: 0, host: 0, container: 0, app: 42 });

    const { records, errors } = parseTopologyLines(readFileSync(files.topology, 'utf8'), files.topology);
    expect(errors).toEqual([]);
    expect(records).toHaveLength(42);
    const topology = new TopologyGraph({ ttlMs: 3_600_000 });
    for (const rec of records) expect(topology.apply(rec, 0)).toBeUndefined();
    const callees = (app: string) => topology.calls(app).sort();
    expect(records.reduce((n, rec) => n + (rec.calls?.length ?? 0), 0)).toBe(44);
    expect(callees('PetSearch_client')).toEqual(['PetSearch_AWS::ECS::Fargate']);
    expect(callees('PetSearch_AWS::ECS::Fargate')).toEqual([
      '169.254.170.2_remote',
      'AWSSimpleSystemsManagement_AWS::AWSSimpleSystemsManagement',
      'S3_AWS::S3',
      'petInfo_AWS::DynamoDB::Table',
    ]);
    expect(callees('PetSite')).toHaveLength(12);

    // The scorer reads what the product wrote; its figures are the bench's.
    const outcome = convergeAnswer(readFileSync(incidents, 'utf8'), c.windowStart, c.rootCause);
    expect(outcome.openedInHistory + outcome.openedInWindow).toBeGreaterThanOrEqual(0);
    if (outcome.openedInWindow > 0) expect(outcome.answer.length).toBeGreaterThan(0);
  }, 120_000);

  it('writes the same rows for the peers and ranks them with the max-|z| baseline', () => {
    const frame = readFileSync(files.frame, 'utf8').split('\n');
    expect(frame[0]!.split(',')).toHaveLength(1 + c.table.columns.length);
    expect(frame.filter((l) => l !== '')).toHaveLength(1 + 594);
    expect(caseFrameCsv(c)).toBe(readFileSync(files.frame, 'utf8'));
    const facts = JSON.parse(readFileSync(files.facts, 'utf8'));
    expect(facts).toMatchObject({
      id: ref.id,
      rootCause: c.rootCause,
      faultTime: 1681855803,
      historyRows: 589,
    });
    expect(maxZBaseline(c).length).toBeGreaterThan(1);
  });
});

describe('parseMetrics', () => {
  it('names the file and line of a bad cell', () => {
    const text = 'microservice,a\nmetric,latency\nstatistic,Average\nunix_timestamp,\n1,0.5\n301,oops\n';
    expect(() => parseMetrics(text, 'm.csv')).toThrow('m.csv:6: column 2: bad value "oops"');
    const ok = parseMetrics(text.replace('oops', ''), 'm.csv');
    expect(ok.times).toEqual([1, 301]);
    expect(Number.isNaN(ok.rows[1]![0]!)).toBe(true);
  });
});
