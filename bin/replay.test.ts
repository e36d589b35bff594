import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FleetGenerator } from '../scripts/produce-metrics.js';

// `converge replay` as a user runs it: the CLI in its own process, on a file, printing counts.
const dir = mkdtempSync(join(tmpdir(), 'converge-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeLines(name: string, lines: readonly string[]): string {
  const file = join(dir, name);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function converge(args: string[], input?: string) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bin/cli.ts', ...args], {
    encoding: 'utf8',
    input,
    maxBuffer: 64 << 20,
  });
  const lines = r.stdout.trimEnd().split('\n');
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, last: lines[lines.length - 1] ?? '' };
}

describe('converge replay', () => {
  it('counts a 1,000,000-line Telegraf-style file exactly', () => {
    // 50 hosts x 20 containers, 45 points per host-second, 445 s: 1,001,250 points, plus 0.5%
    // malformed lines of five kinds (bad values, missing fields, unescaped spaces, bad
    // timestamps, garbage bytes) mixed in.
    const gen = new FleetGenerator({
      hosts: 50,
      containersPerHost: 20,
      seconds: 445,
      malformedFraction: 0.005,
      seed: 7,
    });
    // A Kafka message holds whole lines without a final newline: one per message in the file.
    const parts: Buffer[] = [];
    const newline = Buffer.from('\n');
    for (const m of gen.messages()) parts.push(m.value, newline);
    const file = join(dir, 'fleet.lp');
    writeFileSync(file, Buffer.concat(parts));
    const truth = gen.truth;
    expect(truth.lines).toBeGreaterThanOrEqual(1_000_000);

    const r = converge(['replay', file, '--format', 'lp', '--summary-json', '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.last);
    expect(summary.points).toBe(truth.goodPoints);
    expect(summary.points).toBe(1_001_250);
    expect(summary.malformed).toBe(truth.malformed.length);
    expect(summary.series).toBe(truth.series);
    expect(summary.entities).toEqual({ idc: 2, rack: 8, host: 50, container: 1000, app: 20 });
    expect(summary.alerts).toBe(0);
    expect(summary.incidents).toBe(0);
    expect(summary.wallMs).toBeGreaterThan(0);
  }, 120_000);

  it('matches the shared example and names each bad line on stderr', () => {
    const r = converge(['replay', 'fixtures/streams/fleet-sample.lp', '--format', 'lp', '--summary-json']);
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.last);
    expect(summary).toMatchObject({
      points: 1560,
      malformed: 94,
      entities: { idc: 2, rack: 2, host: 40, container: 200, app: 6 },
    });
    const shown = r.stderr.split('\n').filter((l) => /^fixtures\/streams\/fleet-sample\.lp:\d+: /.test(l));
    expect(shown).toHaveLength(20);
    expect(r.stderr).toContain('74 more rejected line(s) not shown');
  });

  it('reads stdin and JSON', () => {
    const json =
      '{"metrics":[{"name":"cpu","tags":{"host":"h1","dc":"d1","rack":"r1"},"fields":{"usage_idle":91.5},"timestamp":1704067200},' +
      '{"name":"mem","tags":{"host":"h1"},"fields":{"used_percent":"high"},"timestamp":"nope"}]}\n' +
      '{"name":"docker_container_mem","tags":{"host":"h1","container_name":"c1","app":"web"},"fields":{"usage":1024},"timestamp":1704067201}\n';
    const r = converge(['replay', '-', '--format', 'json', '--summary-json', '--quiet'], json);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.last)).toMatchObject({
      points: 2,
      malformed: 1,
      series: 2,
      entities: { idc: 1, rack: 1, host: 1, container: 1, app: 1 },
    });
  });

  it('--alerts reports deep, oversized and mistyped records by line and replays the others', () => {
    const good = readFileSync('fixtures/streams/jd-alerts.jsonl', 'utf8').trimEnd().split('\n').slice(0, 400);
    const deep = `{"a":`.repeat(200_000) + '"x"' + '}'.repeat(200_000);
    const first = JSON.parse(good[0]!);
    const bad = [
      JSON.stringify({ ...first, labels: { team: 'pay' } }).replace('{"team":"pay"}', `{"team":${deep}}`),
      JSON.stringify({ ...first, labels: { note: 'n'.repeat(5000) } }),
      JSON.stringify({ ...first, labels: { list: ['a', 'b'] } }),
      JSON.stringify({ ...first, entity: { level: 'host', id: 'h'.repeat(600) } }),
      `[${deep}]`,
      JSON.stringify({ ...first, at: 1e20 }),
    ];
    // Bad lines at 3, 101, 202, 303, 404 and 405 (1-based), the good ones around them.
    const lines = [...good];
    const at = [2, 100, 201, 302, 403, 404];
    at.forEach((i, k) => {
      lines.splice(i, 0, bad[k]!);
    });
    const file = join(dir, 'hostile-alerts.jsonl');
    writeFileSync(file, lines.join('\n') + '\n');
    const r = converge(['replay', '--alerts', file, '--summary-json']);
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.last);
    expect(summary.malformed).toBe(6);
    const reference = converge([
      'replay',
      '--alerts',
      writeLines('good-alerts.jsonl', good),
      '--summary-json',
    ]);
    expect(summary.alerts).toBe(JSON.parse(reference.last).alerts);
    expect(summary.incidents).toBe(JSON.parse(reference.last).incidents);
    const shown = r.stderr.split('\n').filter((l) => l.startsWith(file));
    expect(shown).toHaveLength(6);
    expect(shown[0]).toMatch(/:3: labels\.team must be a string \(got an object: \{"a":\{"a":/);
    expect(shown[0]!.length).toBeLessThan(file.length + 200);
    expect(shown[1]).toContain(':101: labels.note is 5000 characters long (at most 4096)');
    expect(shown[2]).toContain(':202: labels.list must be a string (got an array: ["a","b"])');
    expect(shown[3]).toContain(':303: entity.id is 600 characters long (at most 512)');
    expect(shown[4]).toContain(':404: expected a JSON object');
    // A time no Date can print used to end the replay ("Invalid time value", exit 1).
    expect(shown[5]).toContain(
      ':405: at must be between 1970 and the end of year 9998 (got 100000000000000000000)',
    );
  });

  it('bounds the topology under a flood of new entities (topology.maxEntities) and keeps every point', () => {
    const cfg = join(dir, 'capped.yaml');
    writeFileSync(cfg, 'topology:\n  maxEntities: 500\n');
    const t0 = 1_704_067_200;
    const lines: string[] = [];
    // A real host with 10 containers reporting every second, and 20,000 containers never seen before.
    for (let s = 0; s < 200; s++) {
      for (let k = 0; k < 10; k++)
        lines.push(`cpu,host=real,rack=r1,dc=d1,container_name=real-${k} usage=1 ${(t0 + s) * 1e9}`);
      for (let k = 0; k < 100; k++) {
        lines.push(
          `cpu,host=flood-${s % 7},rack=r1,dc=d1,container_name=flood-${s}-${k} usage=1 ${(t0 + s) * 1e9}`,
        );
      }
    }
    const file = writeLines('flood.lp', lines);
    const r = converge(['replay', file, '--format', 'lp', '--config', cfg, '--summary-json', '--quiet']);
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.last);
    expect(summary.points).toBe(22_000);
    expect(summary.malformed).toBe(0);
    const held = Object.values(summary.entities as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(held).toBeLessThanOrEqual(500);
    expect(summary.capacity.entities).toMatchObject({ held, limit: 500, refused: 0 });
    // 10 real containers, 8 hosts, rack, idc and 20,000 flood containers came; 500 are held (a
    // flood host whose containers all went goes too, and comes back with the next one).
    expect(summary.capacity.entities.evicted).toBeGreaterThanOrEqual(20_020 - 500);
  });

  it('refuses a bad config with the offending key and exit code 2', () => {
    const cfg = join(dir, 'bad.yaml');
    writeFileSync(cfg, 'tsdb:\n  url: not-a-url\ninput:\n  fromat: lp\n');
    const r = converge(['replay', 'fixtures/streams/fleet-sample.lp', '--config', cfg]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('tsdb.url');
    expect(r.stderr).toContain('input: unknown key fromat');
  });
});

describe('converge replay on hostile input (issue 10)', () => {
  const HOST = 'cpu,host=h1,dc=d1,rack=r1';
  /** Good Telegraf-style lines at seconds 1..n (event time 2024-01-01). */
  const good = (n: number, from = 1) =>
    Array.from({ length: n }, (_, i) => `${HOST} usage_idle=${50 + i} ${1704067200 + from + i}000000000`);
  const write = (name: string, data: string | Buffer) => {
    const file = join(dir, name);
    writeFileSync(file, data);
    return file;
  };
  const wide = (n: number, numericKeys: boolean) =>
    `wide,host=h1 ${Array.from({ length: n }, (_, i) => `${numericKeys ? '' : 'f'}${i}=${i}.5`).join(',')} 1704067200000000000`;
  /** No control character but the line ends reaches the terminal. */
  const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

  it('decodes lines of 100,000 fields in linear time when the limits allow them', () => {
    // Before: 42 s for the first line and 105 s for the second (a linear scan per field).
    const file = write(
      'wide.lp',
      [...good(2), wide(100_000, false), wide(100_000, true), ...good(2, 3)].join('\n'),
    );
    const cfg = write('wide.yaml', 'input:\n  limits: { maxFields: 100000, maxLineBytes: 4194304 }\n');
    const t0 = Date.now();
    const r = converge(['replay', file, '--config', cfg, '--summary-json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.last)).toMatchObject({ points: 6, malformed: 0, series: 2 });
    expect(Date.now() - t0).toBeLessThan(30_000);
  });

  it('refuses what a TSDB would refuse or mangle, naming the limit, and keeps every good line', () => {
    const long = `${HOST} s="${'x'.repeat(300_000)}" 1704067203000000000`;
    const file = write(
      'limits.lp',
      [
        ...good(2),
        long, // line 3: over 256 KiB (victoria-metrics' limit)
        `cpu,host=h1,cmdline=${'a'.repeat(2000)} usage_idle=1 1704067204000000000`, // line 4: tag value over 1 KiB
        `${HOST},${Array.from({ length: 30 }, (_, i) => `t${i}=v`).join(',')} usage_idle=1 1704067205000000000`,
        wide(600, false), // line 6: more fields than InfluxDB 3 has columns
        `${HOST} usage_idle="high" 1704067206000000000`, // line 7: a float field turned string
        ...good(2, 8),
      ].join('\n'),
    );
    const r = converge(['replay', file, '--summary-json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.last)).toMatchObject({ points: 4, malformed: 5 });
    const at = (line: number) => r.stderr.split('\n').find((l) => l.startsWith(`${file}:${line}: `)) ?? '';
    expect(at(3)).toContain(`line of ${long.length} bytes, longer than input.limits.maxLineBytes (262144)`);
    expect(at(4)).toContain("value of tag 'cmdline' longer than input.limits.maxTagValueBytes (1024 bytes)");
    expect(at(5)).toContain('more than 29 tags (input.limits.maxTags)');
    expect(at(6)).toContain('more than 499 fields (input.limits.maxFields)');
    expect(at(7)).toContain("field 'usage_idle' is string here but was float in earlier points of 'cpu'");
    // The limits are the config's.
    const cfg = write(
      'loose.yaml',
      'input:\n  limits: { maxTagValueBytes: 4096, maxTags: 40, fieldTypeChanges: accept }\n',
    );
    const loose = converge(['replay', file, '--config', cfg, '--summary-json', '--quiet']);
    expect(JSON.parse(loose.last)).toMatchObject({ points: 7, malformed: 2 });
  });

  it('a deeply nested JSON line is refused on its own line; its neighbours are kept', () => {
    // Before: describing it overflowed the stack; the whole chunk was lost, reported on line 1.
    const metric = (t: number) =>
      JSON.stringify({
        name: 'cpu',
        tags: { host: 'h1' },
        fields: { usage_idle: t },
        timestamp: 1704067200 + t,
      });
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    const file = write('deep.jsonl', [metric(1), metric(2), deep, metric(4)].join('\n'));
    const r = converge(['replay', file, '--format', 'json', '--summary-json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.last)).toMatchObject({ points: 3, malformed: 1 });
    expect(r.stderr).toContain(
      `${file}:3: JSON nested deeper than input.limits.maxJsonDepth (32 levels) at column 33`,
    );
  });

  it('refuses invalid UTF-8 and control characters in names, drops a leading BOM', () => {
    const file = write(
      'bytes.lp',
      Buffer.concat([
        Buffer.from([0xef, 0xbb, 0xbf]), // the BOM of an editor, before line 1
        Buffer.from(`${good(1)[0]}\n`),
        Buffer.from('cpu,host=h'),
        Buffer.from([0xc3, 0x28]), // line 2: not UTF-8
        Buffer.from(' usage_idle=1 1704067202000000000\n'),
        Buffer.from('cpu\u0000,host=h1 usage_idle=1 1704067203000000000\n'), // line 3: NUL
        Buffer.from(`${good(1, 4)[0]}\n`),
      ]),
    );
    const r = converge(['replay', file, '--summary-json']);
    expect(r.status).toBe(0);
    // One series: before, the BOM made line 1 a series of its own ("\uFEFFcpu").
    expect(JSON.parse(r.last)).toMatchObject({ points: 2, malformed: 2, series: 1 });
    expect(r.stderr).toContain(`${file}:2: invalid UTF-8 (byte 0xC3) at column 11`);
    expect(r.stderr).toContain(`${file}:3: control character U+0000 in the measurement at column 4`);
  });

  it('never prints control characters from the input to the terminal', () => {
    const file = write(
      'escapes.jsonl',
      [
        '\u001b[2J\u001b[31mgotcha', // invalid JSON: the parser's message quotes it
        '{"name":"m\u009b31m","fields":{"v":1}}', // a C1 control (CSI) in a name
        '{"name":"\u202eevil","fields":{"v":"\u0007"}}', // a raw BEL: invalid JSON, quoted with the RLO
      ].join('\n'),
    );
    const r = converge(['replay', file, '--format', 'json']);
    expect(r.status).toBe(0);
    const shown = r.stderr.split('\n').filter((l) => l.startsWith(`${file}:`));
    expect(shown).toHaveLength(3);
    for (const l of shown) expect(l).not.toMatch(RAW_CONTROL);
    expect(r.stderr).not.toMatch(RAW_CONTROL);
    expect(shown[0]).toContain('\\u001b');
    expect(r.stderr).not.toContain('\u202e');
  });
});
