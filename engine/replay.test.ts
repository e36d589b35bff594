import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.js';
import type { DecodeError, Point } from '../core/types.js';
import type { PointSink } from '../ingest/sink.js';
import { buildEngine } from './build.js';
import { replay } from './replay.js';

/** Feeds `text` in chunks of `size` bytes, so that chunk edges fall anywhere, inside characters too. */
function chunked(text: string, size: number): Readable {
  const bytes = Buffer.from(text, 'utf8');
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return Readable.from(chunks);
}

describe('replay over byte chunks', () => {
  const lines = [
    'cpu,host=h1,note=caf\u00e9\u00e9\u00e9 usage_idle=5 1700000000000000000',
    'this is not line protocol',
    'mem,host=\u4e3b\u673a-1 used_percent=97.5 1700000001000000000',
    '',
    '# a comment',
    'disk,host=h1,path=/\u0434\u0430\u043d\u043d\u044b\u0435 used_percent=50i 1700000002000000000',
    'net,host=h1 err_in=',
  ];
  const text = lines.join('\n') + '\n';

  for (const size of [1, 2, 3, 7, 64, 1 << 20]) {
    it(`keeps multi-byte characters and line numbers whole with ${size}-byte chunks`, async () => {
      const { pipeline } = buildEngine(loadConfig());
      const written: Point[] = [];
      const errors: DecodeError[] = [];
      const sink: PointSink = {
        write: async (batch) => {
          written.push(...batch);
        },
        forceFlush: async () => {},
        shutdown: async () => {},
      };
      const summary = await replay(chunked(text, size), pipeline, {
        format: 'lp',
        sink,
        onError: (e) => errors.push(e),
      });
      expect(summary.points).toBe(3);
      expect(summary.malformed).toBe(2);
      expect(errors.map((e) => e.line)).toEqual([2, 7]);
      expect(written.map((p) => p.tags.host ?? '')).toEqual(['h1', '\u4e3b\u673a-1', 'h1']);
      expect(written[0]!.tags.note).toBe('caf\u00e9\u00e9\u00e9');
      expect(written[2]!.tags.path).toBe('/\u0434\u0430\u043d\u043d\u044b\u0435');
    });
  }
});

describe('replay of Telegraf JSON', () => {
  async function errorsOf(text: string): Promise<{ points: number; errors: DecodeError[] }> {
    const { pipeline } = buildEngine(loadConfig());
    const errors: DecodeError[] = [];
    const summary = await replay(Readable.from([Buffer.from(text)]), pipeline, {
      format: 'json',
      onError: (e) => errors.push(e),
    });
    return { points: summary.points, errors };
  }

  it('numbers the errors of a batch document by its line in the file, naming the metric', async () => {
    const single = await errorsOf(
      '{"metrics":[{"name":"m","fields":{"a":1},"timestamp":1700000000},5,null]}\n',
    );
    expect(single.points).toBe(1);
    expect(single.errors.map((e) => [e.line, e.reason])).toEqual([
      [1, 'metric 2: expected a metric object, got 5'],
      [1, 'metric 3: expected a metric object, got null'],
    ]);
    const pretty = await errorsOf(
      '{"metrics":[\n {"name":"m","fields":{"a":1},"timestamp":1700000000},\n 7\n]}\n',
    );
    expect(pretty.errors.map((e) => [e.line, e.reason])).toEqual([
      [1, 'metric 2: expected a metric object, got 7'],
    ]);
    const lines = await errorsOf(
      '{"name":"m","fields":{"a":1},"timestamp":1700000000}\n{"metrics":[{"name":"m","fields":{"a":2},"timestamp":1700000001},"x"]}\n',
    );
    expect(lines.points).toBe(2);
    expect(lines.errors.map((e) => [e.line, e.reason])).toEqual([
      [2, 'line 2 (metric 2 of the batch): expected a metric object, got "x"'],
    ]);
  });

  it('reports the points a TSDB refuses on their input line, counted apart from malformed lines', async () => {
    // Before: the writer logged them (replay gives it no logger: nothing) and they were gone.
    const { pipeline } = buildEngine(loadConfig());
    const errors: DecodeError[] = [];
    const sink: PointSink = {
      write: async (batch, onRefused) => {
        batch.forEach((p, index) => {
          if (p.measurement === 'poison') onRefused?.({ index, line: 'as sent', reason: 'HTTP 400: no' });
        });
      },
      forceFlush: async () => {},
      shutdown: async () => {},
    };
    const text = 'cpu,host=h1 v=1 1\nbad\n# note\npoison,host=h1 v=2 2\n\ncpu,host=h1 v=3 3\npoison v=4 4\n';
    const summary = await replay(chunked(text, 9), pipeline, {
      format: 'lp',
      sink,
      onError: (e) => errors.push(e),
    });
    expect(summary).toMatchObject({ points: 4, malformed: 1, refused: 2 });
    expect(errors.filter((e) => e.reason.includes('TSDB')).map((e) => [e.line, e.reason])).toEqual([
      [4, 'line 4: refused by the TSDB: HTTP 400: no'],
      [7, 'line 7: refused by the TSDB: HTTP 400: no'],
    ]);
  });
});
