import { describe, expect, it } from 'vitest';
import type { AlertEvent, FieldValue, Point } from '../core/types.js';
import { EPOCH, point } from '../fixtures/series/generators.js';
import { Random } from '../fixtures/series/random.js';
import { replay } from '../fixtures/series/replay.js';
import { alertJsonLine } from './alert-json.js';
import { DetectionEngine } from './engine.js';
import { compileRuleSources, formatRuleError } from './load.js';
import type { RuleSet } from './model.js';

function rulesOf(yaml: string): RuleSet {
  const { rules, errors } = compileRuleSources([{ file: 'test.yaml', text: yaml }]);
  if (errors.length) throw new Error(errors.map(formatRuleError).join('\n'));
  return rules;
}

/** One rule group from rule bodies (YAML list items without the leading "- "). */
function group(...rules: string[]): RuleSet {
  const body = rules.map((r) => '      - ' + r.trim().split('\n').join('\n        ')).join('\n');
  return rulesOf(`groups:\n  - name: test\n    rules:\n${body}\n`);
}

const S = 1000;
const at = (seconds: number) => EPOCH + seconds * S;
const hostTags = (host: string) => Object.freeze({ dc: 'dc1', host, rack: 'r1' });
const containerTags = (c: string, host: string, app: string) =>
  Object.freeze({ app, container_name: c, dc: 'dc1', host, rack: 'r1' });

function memPoints(host: string, from: number, to: number, value: (s: number) => number, step = 10): Point[] {
  const tags = hostTags(host);
  const out: Point[] = [];
  for (let s = from; s < to; s += step) out.push(point('mem', tags, { used_percent: value(s) }, at(s)));
  return out;
}

const sec = (e: AlertEvent) => (e.at - EPOCH) / S;
const summary = (events: AlertEvent[]) => events.map((e) => `${e.rule} ${e.state} ${e.entity.id} @${sec(e)}`);

const MEM_HIGH = `
alert: MemHigh
level: host
select: { measurement: mem, field: used_percent }
condition: { op: '>', threshold: 90 }
for: 30s
severity: critical
annotations: { summary: 'mem {{ $value }} on {{ $entity }}' }`;

describe('alert lifecycle on event time', () => {
  it('`for: 30s` fires exactly once for a 5-minute breach and resolves once', () => {
    const rnd = new Random(7);
    const engine = new DetectionEngine({ rules: group(MEM_HIGH) });
    // Normal around 50, a breach between 600 s and 900 s (values 92..98), normal again.
    const points = memPoints('h1', 0, 1500, (s) =>
      s >= 600 && s < 900 ? 95 + rnd.uniform(-3, 3) : 50 + rnd.uniform(-5, 5),
    );
    const events = replay(engine, points);
    expect(summary(events)).toEqual(['MemHigh firing h1 @630', 'MemHigh resolved h1 @930']);
    const [firing, resolved] = events as [AlertEvent, AlertEvent];
    expect(firing.startsAt).toBe(at(630));
    expect(resolved.startsAt).toBe(at(630));
    expect(resolved.id).toBe(firing.id);
    expect(firing.annotations.summary).toMatch(/^mem 9\d\.\d+ on h1$/);
    expect(firing.predicted).toBe(false);
    expect(firing.labels).toEqual({ dc: 'dc1', host: 'h1', rack: 'r1' });
  });

  it('does not fire while the condition keeps breaking off before `for` elapses', () => {
    const engine = new DetectionEngine({ rules: group(MEM_HIGH) });
    // 95, 85, 95, 85 ... every 10 s for 20 minutes.
    const events = replay(
      engine,
      memPoints('h1', 0, 1200, (s) => (s % 20 === 0 ? 95 : 85)),
    );
    expect(events).toEqual([]);
    expect(engine.stats().pendingAlerts).toBe(0);
  });

  it('does not flap while a firing metric oscillates around the threshold (hysteresis)', () => {
    const engine = new DetectionEngine({ rules: group(MEM_HIGH) });
    // Breach, then 93/87 across the threshold (inside the 4.5 margin), then 95/80 swings whose
    // low phases are shorter than the resolve period, then really normal.
    const value = (s: number) => {
      if (s < 300) return 50;
      if (s < 600) return 95;
      if (s < 1200) return s % 20 === 0 ? 93 : 87;
      if (s < 1800) return s % 20 === 0 ? 95 : 80;
      return 50;
    };
    const events = replay(engine, memPoints('h1', 0, 2400, value));
    expect(summary(events)).toEqual(['MemHigh firing h1 @330', 'MemHigh resolved h1 @1820']);
  });

  it('keeps firing alerts of the same rule and entity on one fingerprint, with a new id per episode', () => {
    const engine = new DetectionEngine({ rules: group(MEM_HIGH) });
    const value = (s: number) => ((s >= 100 && s < 300) || (s >= 600 && s < 800) ? 96 : 50);
    const events = replay(engine, memPoints('h1', 0, 1000, value));
    expect(summary(events)).toEqual([
      'MemHigh firing h1 @130',
      'MemHigh resolved h1 @330',
      'MemHigh firing h1 @630',
      'MemHigh resolved h1 @830',
    ]);
    expect(new Set(events.map((e) => e.fingerprint)).size).toBe(1);
    expect(new Set(events.map((e) => e.id)).size).toBe(2);
    expect(events[0]!.fingerprint).toMatch(/^[0-9a-f]{16}$/);
  });

  it('fires `for` on the watermark even when the next sample is late, and not when samples go stale', () => {
    const engine = new DetectionEngine({ rules: group(MEM_HIGH), staleAfterMs: 60_000 });
    engine.process(point('mem', hostTags('h1'), { used_percent: 97 }, at(0)));
    expect(engine.advance(at(29))).toEqual([]);
    expect(summary(engine.advance(at(31)))).toEqual(['MemHigh firing h1 @30']);
    // Silent for longer than staleAfter: the alert resolves when the series goes stale.
    expect(summary(engine.advance(at(61)))).toEqual(['MemHigh resolved h1 @60']);
  });

  it('works on coarse data (5-minute steps) without resolving between samples', () => {
    const engine = new DetectionEngine({ rules: group(MEM_HIGH) });
    const value = (s: number) => (s >= 600 && s < 1500 ? 95 : 50);
    const events = replay(engine, memPoints('h1', 0, 3000, value, 300));
    expect(summary(events)).toEqual(['MemHigh firing h1 @630', 'MemHigh resolved h1 @1530']);
  });

  it('computes per-second rates of counters across resets, and ratios of fields', () => {
    const engine = new DetectionEngine({
      rules: group(
        `alert: NetErrors
level: host
select: { measurement: net, field: err_in, match: ['interface!~"lo"'] }
condition: { op: '>', threshold: 1, fn: rate }
for: 1m`,
        `alert: Load
level: host
select: { measurement: system, field: load1 }
condition: { op: '>', threshold: 2, divideBy: n_cpus }
for: 1m`,
      ),
    });
    const eth = Object.freeze({ host: 'h1', interface: 'eth0' });
    const lo = Object.freeze({ host: 'h1', interface: 'lo' });
    const sys = hostTags('h1');
    const points: Point[] = [];
    let counter = 1_000_000;
    for (let s = 0; s < 900; s += 10) {
      // 5 errors/s between 100 s and 400 s, with a counter reset (agent restart) at 250 s.
      if (s >= 100 && s < 400) counter += 50;
      if (s === 250) counter = 20;
      points.push(point('net', eth, { err_in: counter, err_out: 0 }, at(s)));
      points.push(point('net', lo, { err_in: s * 100, err_out: 0 }, at(s)));
      points.push(point('system', sys, { load1: s >= 500 && s < 700 ? 70 : 10, n_cpus: 32 }, at(s)));
    }
    const events = replay(engine, points);
    expect(summary(events)).toEqual([
      'NetErrors firing h1 @160',
      'NetErrors resolved h1 @460',
      'Load firing h1 @560',
      'Load resolved h1 @760',
    ]);
    expect(events[0]!.labels.interface).toBe('eth0');
  });

  it('ignores late samples of a series and bad field values without failing', () => {
    const engine = new DetectionEngine({ rules: group(MEM_HIGH) });
    const tags = hostTags('h1');
    const fields: Array<Record<string, FieldValue>> = [
      { used_percent: 50 },
      { used_percent: 'high' },
      { used_percent: Number.NaN },
      {},
      { used_percent: 10n ** 30n },
      { used_percent: 95 },
      { used_percent: 96 },
      { used_percent: 97 },
      { used_percent: true },
    ];
    fields.forEach((f, i) => {
      engine.process(point('mem', tags, f, at(i * 10)));
    });
    // Late: older than the series' latest sample.
    engine.process(point('mem', tags, { used_percent: 1 }, at(75)));
    engine.process(point('weird', Object.freeze({}), { x: 1 }, at(90)));
    expect(engine.stats()).toMatchObject({ points: 11, late: 1 });
    // Pending from the bigint at 40 s, firing at 70 s, the boolean true (= 1) clears at 80 s.
    expect(summary(engine.advance(at(120)))).toEqual(['MemHigh firing h1 @70', 'MemHigh resolved h1 @110']);
  });
});

describe('absence rules', () => {
  const rules = group(
    `alert: HostDown
level: host
absent: { after: 2m }
severity: critical`,
    `alert: ContainerGone
level: container
absent: { after: 5m, whileHostUp: true }
severity: info`,
  );

  function fleet(until: number, silent: (who: string, s: number) => boolean): Point[] {
    const points: Point[] = [];
    for (let s = 0; s < until; s += 10) {
      for (const h of ['h1', 'h2']) {
        if (!silent(h, s)) points.push(point('cpu', hostTags(h), { usage_idle: 80 }, at(s)));
        for (const c of [`${h}-c1`, `${h}-c2`]) {
          if (!silent(c, s))
            points.push(
              point('docker_container_cpu', containerTags(c, h, 'app'), { usage_percent: 5 }, at(s)),
            );
        }
      }
    }
    return points;
  }

  it('HostDown fires on event time after the host goes silent and resolves when it reports again', () => {
    const engine = new DetectionEngine({ rules });
    // h2 and its containers are silent between 300 s and 900 s; h1-c2 disappears at 400 s for good.
    const silent = (who: string, s: number) =>
      (who.startsWith('h2') && s >= 300 && s < 900) || (who === 'h1-c2' && s >= 400);
    const events = replay(engine, fleet(1200, silent));
    expect(summary(events)).toEqual([
      // last h2 point at 290 s + 2 min
      'HostDown firing h2 @410',
      // last h1-c2 point at 390 s + 5 min; h2's containers stay quiet: their host is down
      'ContainerGone firing h1-c2 @690',
      'HostDown resolved h2 @900',
    ]);
    expect(events[0]!.labels).toEqual({ rack: 'r1', idc: 'dc1' });
    expect(events[1]!.labels).toEqual({ host: 'h1', app: 'app', rack: 'r1', idc: 'dc1' });
    expect(engine.health({ level: 'host', id: 'h2' })).toMatchObject({ status: 'healthy' });
  });

  it('forgets silent entities after their TTL and resolves what they still had firing', () => {
    const engine = new DetectionEngine({
      rules,
      entityTtlMs: { container: 3_600_000, host: 3_600_000, app: 3_600_000, rack: 3_600_000, idc: 3_600_000 },
    });
    const events = replay(
      engine,
      fleet(600, (who) => who === 'h2-c1'),
    );
    expect(engine.stats().entities.container).toBe(3);
    events.push(...engine.advance(at(599) + 3_600_000));
    // Everything went silent after 590 s: hosts down at +2 min (their containers stay quiet, the
    // hosts are down too), everything forgotten after the 1 h TTL, which resolves HostDown.
    expect(summary(events)).toEqual([
      'HostDown firing h1 @710',
      'HostDown firing h2 @710',
      'HostDown resolved h1 @4190',
      'HostDown resolved h2 @4190',
    ]);
    const stats = engine.stats();
    expect(stats.entities).toMatchObject({ host: 0, container: 0, app: 0, rack: 0, idc: 0 });
    expect(stats.series).toBe(0);
    expect(stats.firingAlerts).toBe(0);
  });
});

describe('group rules', () => {
  it("fire when more than X% of an app's containers fire the counted rule, and resolve with them", () => {
    const engine = new DetectionEngine({
      rules: group(
        `alert: ContainerCpuHigh
level: container
select: { measurement: docker_container_cpu, field: usage_percent }
condition: { op: '>', threshold: 90 }
for: 30s`,
        `alert: AppCpuHigh
level: app
group: { rule: ContainerCpuHigh, percentAbove: 30, minFiring: 3 }
severity: critical
annotations: { summary: '{{ $value }}% of {{ $entity }}' }`,
      ),
    });
    const points: Point[] = [];
    for (let s = 0; s < 1200; s += 10) {
      for (let i = 0; i < 10; i++) {
        // Containers 0..4 go hot one after the other (100 s apart) from 200 s, all cool at 900 s.
        const hot = i < 5 && s >= 200 + i * 100 && s < 900;
        const tags = containerTags(`c${i}`, `h${i}`, 'pay');
        points.push(point('docker_container_cpu', tags, { usage_percent: hot ? 99 : 20 }, at(s)));
      }
    }
    const events = replay(engine, points).filter((e) => e.rule === 'AppCpuHigh');
    // The 4th container (40% > 30%) fires at 500 + 30 s; the group resolves when the count
    // drops back to 3 of 10, as the containers cool down at 900 + 30 s.
    expect(summary(events)).toEqual(['AppCpuHigh firing pay @530', 'AppCpuHigh resolved pay @930']);
    expect(events[0]!.annotations.summary).toBe('40% of pay');
    expect(events[0]!.entity).toEqual({ level: 'app', id: 'pay' });
  });
});

describe('health scores', () => {
  const rules = group(
    `alert: ContainerMemHigh
level: container
select: { measurement: docker_container_mem, field: usage_percent }
condition: { op: '>', threshold: 90 }
for: 1m
severity: warning`,
    `alert: ContainerCpuHigh
level: container
select: { measurement: docker_container_cpu, field: usage_percent }
condition: { op: '>', threshold: 90 }
for: 4m
severity: critical`,
  );

  it('score entities from their alerts, roll up to host, app, rack and IDC, and lower the bar for sick ones', () => {
    const engine = new DetectionEngine({ rules });
    const points: Point[] = [];
    for (let s = 0; s < 1200; s += 10) {
      for (let i = 0; i < 8; i++) {
        const tags = containerTags(`c${i}`, `h${i % 2}`, i < 4 ? 'a' : 'b');
        // c0: memory high from 60 s; c0 and c1: CPU high from 300 s.
        points.push(
          point('docker_container_mem', tags, { usage_percent: i === 0 && s >= 60 ? 95 : 40 }, at(s)),
        );
        points.push(
          point('docker_container_cpu', tags, { usage_percent: i < 2 && s >= 300 ? 97 : 20 }, at(s)),
        );
      }
    }
    const events = replay(engine, points);
    // c0 is in Warning (memory alert) when its CPU breach starts: half of `for` (2 min).
    expect(summary(events)).toEqual([
      'ContainerMemHigh firing c0 @120',
      'ContainerCpuHigh firing c0 @420',
      'ContainerCpuHigh firing c1 @540',
    ]);
    expect(engine.health({ level: 'container', id: 'c0' })).toMatchObject({
      score: 5,
      status: 'fatal',
      own: 5,
      alertPenalty: 95,
      firingAlerts: 2,
    });
    expect(engine.health({ level: 'container', id: 'c1' })).toMatchObject({ score: 35, status: 'fatal' });
    expect(engine.health({ level: 'container', id: 'c2' })).toMatchObject({ score: 100, status: 'healthy' });
    // h0 holds c0, c2, c4, c6: aggregate 0.5 * mean(5,100,100,100) + 0.5 * 5 = 40.6 ->
    // 0.6 * 100 + 0.4 * 40.6 = 76.3.
    expect(engine.health({ level: 'host', id: 'h0' })).toMatchObject({
      score: 76.3,
      status: 'healthy',
      children: { count: 4, aggregate: 40.6 },
    });
    // app a holds c0..c3: 0.5 * mean(5,35,100,100) + 0.5 * 5 = 32.5 -> Fatal.
    expect(engine.health({ level: 'app', id: 'a' })).toMatchObject({ score: 32.5, status: 'fatal' });
    expect(engine.health({ level: 'app', id: 'b' })).toMatchObject({ score: 100, status: 'healthy' });
    const racks = engine.healthAll('rack');
    expect(racks).toHaveLength(1);
    expect(racks[0]!.children!.count).toBe(2);
    expect(engine.healthAll('idc')[0]!.entity).toEqual({ level: 'idc', id: 'dc1' });
    expect(
      engine
        .healthAll('container')
        .map((h) => h.entity.id)
        .slice(0, 2),
    ).toEqual(['c0', 'c1']);
    expect(engine.health({ level: 'host', id: 'nope' })).toBeUndefined();
  });
});

describe('determinism and output', () => {
  const rules = group(
    MEM_HIGH,
    `alert: HostDown
level: host
absent: { after: 1m }
severity: critical`,
  );

  function scenario(): Point[] {
    const rnd = new Random(3);
    const points: Point[] = [];
    for (let s = 0; s < 3600; s += 10) {
      for (let h = 0; h < 20; h++) {
        if (h === 7 && s > 1000 && s < 1500) continue;
        points.push(
          point(
            'mem',
            hostTags(`h${h}`),
            { used_percent: rnd.next() < 0.02 ? 99 : 60 + rnd.uniform(0, 35) },
            at(s),
          ),
        );
      }
    }
    return points;
  }

  it('replays the same points to the same alert lines, whatever the advance cadence', () => {
    const points = scenario();
    const a = replay(new DetectionEngine({ rules }), points, 5000, 1).map(alertJsonLine);
    const b = replay(new DetectionEngine({ rules }), points, 5000, 997).map(alertJsonLine);
    const c = replay(new DetectionEngine({ rules }), points, 30_000, 50).map(alertJsonLine);
    expect(a.length).toBeGreaterThan(10);
    expect(b).toEqual(a);
    expect(c.sort()).toEqual([...a].sort());
  });

  it('renders --alerts-out lines with the documented keys, in order, and ISO event times', () => {
    const events = replay(new DetectionEngine({ rules }), scenario());
    const line = alertJsonLine(events.find((e) => e.rule === 'HostDown')!);
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual([
      'id',
      'fingerprint',
      'rule',
      'severity',
      'state',
      'entity',
      'predicted',
      'score',
      'at',
      'startsAt',
      'labels',
      'annotations',
    ]);
    expect(parsed).toMatchObject({
      rule: 'HostDown',
      severity: 'critical',
      state: 'firing',
      entity: { level: 'host', id: 'h7' },
      predicted: false,
      at: '2024-01-01T00:17:40.000Z',
      labels: { rack: 'r1', idc: 'dc1' },
    });
  });

  it('calls onAlert with the same events advance returns', () => {
    const seen: AlertEvent[] = [];
    const engine = new DetectionEngine({ rules, onAlert: (e) => seen.push(e) });
    const returned = replay(engine, scenario());
    expect(seen).toEqual(returned);
    expect(engine.stats().events).toBe(returned.length);
  });
});

describe('hot reload (setRules)', () => {
  const CPU = `
alert: CpuBusy
level: host
select: { measurement: cpu, field: usage_idle }
condition: { op: '<', threshold: 10 }
for: 30s`;

  it('keeps unchanged alerts firing, resolves alerts of removed or changed rules, and starts new ones', () => {
    const engine = new DetectionEngine({ rules: group(MEM_HIGH, CPU) });
    const tags = hostTags('h1');
    const feed = (from: number, to: number) => {
      const out: AlertEvent[] = [];
      for (let s = from; s < to; s += 10) {
        engine.process(point('mem', tags, { used_percent: 96 }, at(s)));
        engine.process(point('cpu', tags, { usage_idle: 5 }, at(s)));
        out.push(...engine.advance(at(s)));
      }
      return out;
    };
    expect(summary(feed(0, 120))).toEqual(['MemHigh firing h1 @30', 'CpuBusy firing h1 @30']);
    // CpuBusy changes (now < 3: no longer breached), MemHigh is untouched, DiskFull is new.
    engine.setRules(
      group(
        MEM_HIGH,
        CPU.replace('threshold: 10', 'threshold: 3'),
        `alert: MemAbove50
level: host
select: { measurement: mem, field: used_percent }
condition: { op: '>', threshold: 50 }`,
      ),
    );
    const after = summary([...engine.advance(at(115)), ...feed(120, 240)]);
    expect(after).toEqual(['CpuBusy resolved h1 @110', 'MemAbove50 firing h1 @120']);
    expect(engine.stats().firingAlerts).toBe(2);
  });
});

describe('hot reload keeps learned state', () => {
  it('a reload in the middle of a memory leak does not delay its prediction', async () => {
    const { memorySawtooth, MIB, GIB } = await import('../fixtures/series/generators.js');
    const { defaultRulesDir, loadRules } = await import('./load.js');
    const pack = loadRules(defaultRulesDir()).rules;
    const leak = memorySawtooth({ seed: 3, leakPerMinute: 2 * MIB, liveBytes: 1.2 * GIB });
    const firstLeak = (events: AlertEvent[]) => events.find((e) => e.rule === 'ContainerMemoryLeak')!.at;
    const straight = firstLeak(replay(new DetectionEngine({ rules: pack }), leak.points));
    const engine = new DetectionEngine({ rules: pack });
    // Reload 10 minutes before the prediction: with its state lost, the detector would need
    // another 6 windows (30 min) of minima before predicting anything.
    const half = leak.points.findIndex((p) => p.time >= straight - 10 * 60_000);
    const events = replay(engine, leak.points.slice(0, half));
    const extra = group(`alert: Extra
level: container
select: { measurement: docker_container_mem, field: usage_percent }
condition: { op: '>', threshold: 99.9 }`);
    engine.setRules({ rules: [...pack.rules, ...extra.rules], files: [] });
    events.push(...replay(engine, leak.points.slice(half)));
    expect(firstLeak(events)).toBe(straight);
  });
});
