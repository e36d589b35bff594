import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decodeTopologyMessage,
  loadTopologyFile,
  parseTopologyLines,
  parseTopologyRecord,
} from './records.js';

const EXAMPLE = '/work/shared/examples/jd-topology.jsonl';

describe('parseTopologyRecord', () => {
  it('accepts the documented shapes', () => {
    expect(
      parseTopologyRecord(
        '{"level":"host","id":"h1","parent":{"level":"rack","id":"r1"},"attributes":{"kernel":"5.10","model":"X"}}',
        'x:1',
      ).record,
    ).toEqual({
      level: 'host',
      id: 'h1',
      parent: { level: 'rack', id: 'r1' },
      attributes: { kernel: '5.10', model: 'X' },
    });
    expect(
      parseTopologyRecord(
        '{"level":"container","id":"c1","parent":{"level":"host","id":"h1"},"app":"web"}',
        'x:2',
      ).record,
    ).toEqual({ level: 'container', id: 'c1', parent: { level: 'host', id: 'h1' }, app: 'web' });
    expect(parseTopologyRecord('{"level":"app","id":"web","calls":["cart","user"]}', 'x:3').record).toEqual({
      level: 'app',
      id: 'web',
      calls: ['cart', 'user'],
    });
    expect(parseTopologyRecord('{"level":"container","id":"c1","deleted":true}', 'x:4').record).toEqual({
      level: 'container',
      id: 'c1',
      deleted: true,
    });
  });

  it('stringifies numeric attributes and ignores fields it does not know', () => {
    expect(
      parseTopologyRecord('{"level":"host","id":"h1","attributes":{"cores":32},"owner":"ops"}', 'x:1').record,
    ).toEqual({
      level: 'host',
      id: 'h1',
      attributes: { cores: '32' },
    });
  });

  it.each([
    ['{"level":"host"', 'invalid JSON'],
    ['[1,2]', 'a topology record must be a JSON object'],
    ['{"id":"h1"}', 'level is required'],
    ['{"level":"pod","id":"p"}', 'level must be one of idc, rack, host, container, app (got "pod")'],
    ['{"level":"host","id":""}', 'id must be a non-empty string'],
    ['{"level":"host","id":7}', 'id must be a non-empty string'],
    [
      '{"level":"host","id":"h","parent":{"level":"container","id":"c"}}',
      'parent.level must be one of idc, rack for a host',
    ],
    [
      '{"level":"rack","id":"r","parent":{"level":"rack","id":"r2"}}',
      'parent.level must be one of idc for a rack',
    ],
    ['{"level":"host","id":"h","parent":{"level":"rack"}}', 'parent.id must be a non-empty string'],
    ['{"level":"host","id":"h","parent":"r1"}', 'parent must be an object'],
    ['{"level":"idc","id":"d","parent":{"level":"idc","id":"e"}}', 'an idc has no parent'],
    ['{"level":"app","id":"a","parent":{"level":"host","id":"h"}}', 'an app has no parent'],
    ['{"level":"host","id":"h","app":"web"}', 'app is only allowed on containers (this record is a host)'],
    ['{"level":"host","id":"h","attributes":{"k":{"x":1}}}', 'attributes.k must be a string'],
    ['{"level":"host","id":"h","attributes":[1]}', 'attributes must be an object of strings'],
    ['{"level":"host","id":"h","calls":["a"]}', 'calls is only allowed on apps'],
    ['{"level":"app","id":"a","calls":"b"}', 'calls must be an array of app ids'],
    ['{"level":"app","id":"a","calls":["b",""]}', 'calls[1] must be a non-empty string'],
    ['{"level":"app","id":"a","calls":["a"]}', 'calls[0] names the app itself'],
    ['{"level":"host","id":"h","deleted":"yes"}', 'deleted must be true or false'],
  ])('rejects %s', (json, reason) => {
    const parsed = parseTopologyRecord(json, 'cmdb.jsonl:17');
    expect(parsed.record).toBeUndefined();
    expect(parsed.error).toContain(`cmdb.jsonl:17: ${reason}`);
  });
});

describe('JSON Lines', () => {
  it('keeps good records and names the line of every bad one', () => {
    const text = [
      '{"level":"idc","id":"d1"}',
      '',
      '{"level":"rack","id":"r1","parent":{"level":"idc","id":"d1"}}',
      '{"level":"host","id":"h1","parent":{"level":"host","id":"h0"}}',
      'not json',
      '{"level":"host","id":"h2","parent":{"level":"rack","id":"r1"}}\r',
    ].join('\n');
    const { records, errors } = parseTopologyLines(text, 'jd-topology.jsonl');
    expect(records.map((r) => r.id)).toEqual(['d1', 'r1', 'h2']);
    expect(errors.map((e) => [e.line, e.message])).toEqual([
      [4, 'jd-topology.jsonl:4: parent.level must be one of idc, rack for a host (got "host")'],
      [5, expect.stringMatching(/^jd-topology\.jsonl:5: invalid JSON: /)],
    ]);
  });

  it('loads a file and reports an unreadable one as an error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'topology-'));
    const path = join(dir, 'cmdb.jsonl');
    await writeFile(path, '{"level":"idc","id":"d1"}\n{"level":"nope","id":"x"}\n');
    const loaded = await loadTopologyFile(path);
    expect(loaded.records).toHaveLength(1);
    expect(loaded.errors[0]!.message).toBe(
      `${path}:2: level must be one of idc, rack, host, container, app (got "nope")`,
    );
    const missing = await loadTopologyFile(join(dir, 'missing.jsonl'));
    expect(missing.records).toEqual([]);
    expect(missing.errors[0]!.message).toMatch(/missing\.jsonl: cannot read topology file: ENOENT/);
  });

  it('loads the JD example cleanly', async () => {
    const { records, errors } = await loadTopologyFile(EXAMPLE);
    expect(errors).toEqual([]);
    const byLevel: Record<string, number> = {};
    for (const r of records) byLevel[r.level] = (byLevel[r.level] ?? 0) + 1;
    expect(byLevel).toEqual({ idc: 1, rack: 6, host: 120, container: 12050, app: 150 });
  });
});

describe('Kafka topology messages', () => {
  it('decodes one or more lines per message value, bytes or string', () => {
    const value = Buffer.from(
      '{"level":"app","id":"web","calls":["cart"]}\n{"level":"app","id":"web","calls":"cart"}\n',
    );
    const decoded = decodeTopologyMessage(value, 'topology[0]@42');
    expect(decoded.records).toEqual([{ level: 'app', id: 'web', calls: ['cart'] }]);
    expect(decoded.errors.map((e) => e.message)).toEqual([
      'topology[0]@42:2: calls must be an array of app ids',
    ]);
    expect(decodeTopologyMessage('{"level":"idc","id":"d"}').records).toHaveLength(1);
  });

  it('treats a tombstone as empty and never throws on arbitrary bytes', () => {
    expect(decodeTopologyMessage(null)).toEqual({ records: [], errors: [] });
    const garbage = Uint8Array.from([0xff, 0x00, 0x7b, 0x22, 0x0a, 0xc3, 0x28, 0x7d]);
    const decoded = decodeTopologyMessage(garbage, 'topology[1]@7');
    expect(decoded.records).toEqual([]);
    expect(decoded.errors.map((e) => e.line)).toEqual([1, 2]);
  });

  it('a record with a deeply nested value is refused on its own line, never by a stack overflow', () => {
    // Before: describing the value for the error overflowed the stack, and the whole message
    // (or file) threw.
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const text = [
      '{"level":"host","id":"h1"}',
      `{"level":"host","id":"h2","attributes":{"kernel":${deep}}}`,
      `{"level":${deep},"id":"h3"}`,
      '{"level":"host","id":"h4"}',
    ].join('\n');
    const decoded = decodeTopologyMessage(text, 'topology[0]@1');
    expect(decoded.records.map((r) => r.id)).toEqual(['h1', 'h4']);
    expect(decoded.errors.map((e) => e.message)).toEqual([
      'topology[0]@1:2: attributes.kernel must be a string (got a deeply nested array)',
      'topology[0]@1:3: level must be one of idc, rack, host, container, app (got a deeply nested array)',
    ]);
  });
});
