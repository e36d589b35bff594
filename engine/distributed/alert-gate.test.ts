import { describe, expect, it } from 'vitest';
import type { AlertEvent } from '../../core/types.js';
import { AlertGate } from './alert-gate.js';

const T0 = Date.UTC(2024, 2, 1, 10, 0, 0);

function alert(fp: string, state: 'firing' | 'resolved', at: number, startsAt = at): AlertEvent {
  return {
    id: `${fp}@${startsAt}`,
    fingerprint: fp,
    rule: 'ContainerCpuHigh',
    severity: 'warning',
    state,
    entity: { level: 'container', id: fp },
    predicted: false,
    at,
    startsAt,
    labels: { host: 'h1' },
    annotations: {},
  };
}

const wm = (
  instance: string,
  watermark: number | null,
  partitions: number[],
  extra: { idle?: boolean; leaving?: boolean } = {},
) => ({
  instance,
  watermark,
  partitions,
  idle: extra.idle ?? false,
  leaving: extra.leaving,
});

describe('AlertGate event time', () => {
  it('moves to the least watermark of the live, non-idle instances and never back', () => {
    const g = new AlertGate({ instanceTimeoutMs: 10_000 });
    g.instanceWatermark(wm('a', T0 + 60_000, [0]), 1000);
    g.instanceWatermark(wm('b', T0 + 30_000, [1]), 1000);
    g.advance();
    expect(g.watermark).toBe(T0 + 30_000);
    // b goes idle (no data): a alone decides.
    g.instanceWatermark(wm('b', T0 + 30_000, [1], { idle: true }), 2000);
    g.advance();
    expect(g.watermark).toBe(T0 + 60_000);
    // b is back with older data: the watermark stays where it was.
    g.instanceWatermark(wm('b', T0 + 40_000, [1]), 3000);
    g.advance();
    expect(g.watermark).toBe(T0 + 60_000);
    g.instanceWatermark(wm('b', T0 + 90_000, [1]), 4000);
    g.instanceWatermark(wm('a', T0 + 80_000, [0]), 4000);
    g.advance();
    expect(g.watermark).toBe(T0 + 80_000);
  });

  it('stops waiting for a gone instance once its partitions have a new owner, or after the hold', () => {
    const g = new AlertGate({ instanceTimeoutMs: 10_000, partitionHoldMs: 20_000 });
    g.instanceWatermark(wm('a', T0 + 10_000, [0]), 1000);
    g.instanceWatermark(wm('b', T0 + 50_000, [1]), 1000);
    g.advance();
    expect(g.watermark).toBe(T0 + 10_000);
    // a goes silent; b keeps reporting: 10 s of record time later a is gone, but partition 0's
    // data is still to come from whoever gets it: event time holds.
    g.instanceWatermark(wm('b', T0 + 60_000, [1]), 10_999);
    g.advance();
    expect(g.liveInstances()).toEqual(['a', 'b']);
    g.instanceWatermark(wm('b', T0 + 70_000, [1]), 11_001);
    g.advance();
    expect(g.liveInstances()).toEqual(['b']);
    expect(g.watermark).toBe(T0 + 10_000);
    // The rebalance gives partition 0 to b.
    g.instanceWatermark(wm('b', T0 + 80_000, [0, 1]), 12_000);
    g.advance();
    expect(g.watermark).toBe(T0 + 80_000);

    // Nobody takes the partition of an instance that left: the hold ends.
    const h = new AlertGate({ instanceTimeoutMs: 10_000, partitionHoldMs: 20_000 });
    h.instanceWatermark(wm('a', T0 + 10_000, [0]), 1000);
    h.instanceWatermark(wm('b', T0 + 50_000, [1]), 1000);
    h.instanceWatermark(wm('a', T0 + 10_000, [], { leaving: true }), 1001);
    h.advance();
    expect(h.watermark).toBe(T0 + 10_000);
    h.instanceWatermark(wm('b', T0 + 60_000, [1]), 21_002);
    h.advance();
    expect(h.watermark).toBe(T0 + 60_000);
  });

  it('uses partition times when instances report them: the least partition with data, minus lateness', () => {
    const g = new AlertGate({ latenessMs: 5000 });
    const rec = (instance: string, partitions: number[], times: Array<number | null>) => ({
      ...wm(instance, T0 + 999_000, partitions),
      partitionTimes: times,
    });
    g.instanceWatermark(rec('a', [0, 1], [T0 + 60_000, T0 + 30_000]), 1000);
    g.instanceWatermark(rec('b', [2, 3], [T0 + 90_000, null]), 1000);
    g.advance();
    expect(g.watermark).toBe(T0 + 25_000);
    // a hands partition 1 to b (a rebalance): between the two reports it holds event time.
    g.instanceWatermark(rec('a', [0], [T0 + 70_000]), 2000);
    g.advance();
    expect(g.watermark).toBe(T0 + 25_000);
    // b owns it but has not read from it yet: still held.
    g.instanceWatermark({ ...rec('b', [1, 2, 3], [null, T0 + 95_000, null]), lagging: [1] }, 2001);
    g.advance();
    expect(g.watermark).toBe(T0 + 25_000);
    g.instanceWatermark(rec('b', [1, 2, 3], [T0 + 40_000, T0 + 95_000, null]), 2002);
    g.advance();
    expect(g.watermark).toBe(T0 + 35_000);
    // A partition handed on to an owner that finds nothing to read holds nothing.
    g.instanceWatermark(rec('a', [], []), 2003);
    g.instanceWatermark(
      { ...rec('b', [0, 1, 2, 3], [null, T0 + 60_000, T0 + 95_000, null]), lagging: [] },
      2004,
    );
    g.advance();
    expect(g.watermark).toBe(T0 + 55_000);
  });

  it('moves on alerts from outside (no instance) only while no instance reports', () => {
    const g = new AlertGate({ latenessMs: 5000 });
    g.alert(alert('x', 'firing', T0 + 20_000), undefined, -1, 1000);
    g.advance();
    expect(g.watermark).toBe(T0 + 15_000);
    g.instanceWatermark(wm('a', T0 + 16_000, [0]), 1001);
    g.alert(alert('y', 'firing', T0 + 90_000), undefined, -1, 1002);
    g.advance();
    expect(g.watermark).toBe(T0 + 16_000);
  });
});

describe('AlertGate ownership and handover', () => {
  it("drops a former owner's late resolve once the new owner confirmed the alert", () => {
    const g = new AlertGate();
    g.instanceWatermark(wm('a', T0, [3]), 1000);
    expect(g.alert(alert('c1', 'firing', T0), 'a', 3, 1000)?.state).toBe('firing');
    // Partition 3 moves to b, which sees the condition again (new episode start, same fingerprint).
    g.instanceWatermark(wm('a', T0 + 1000, []), 2000);
    g.instanceWatermark(wm('b', T0 + 1000, [3]), 2000);
    expect(g.alert(alert('c1', 'firing', T0 + 40_000), 'b', 3, 3000)?.state).toBe('firing');
    expect(g.alert(alert('c1', 'resolved', T0 + 41_000, T0), 'a', 3, 3001)).toBeUndefined();
    expect(g.stats()).toMatchObject({ staleResolved: 1, handedOver: 1, firing: 1 });
    expect(g.alert(alert('c1', 'resolved', T0 + 90_000, T0 + 40_000), 'b', 3, 4000)?.state).toBe('resolved');
    expect(g.stats().firing).toBe(0);
  });

  it('resolves an inherited alert nobody confirmed within the grace, at the time it was last vouched for', () => {
    const g = new AlertGate({ handoverGraceMs: 60_000 });
    g.instanceWatermark(wm('a', T0, [3, 4]), 1000);
    g.instanceWatermark(wm('b', T0, [5]), 1000);
    g.alert(alert('c1', 'firing', T0 - 5000), 'a', 3, 1000);
    g.alert(alert('c2', 'firing', T0 - 5000), 'a', 4, 1000);
    g.instanceWatermark(wm('a', T0 + 10_000, [3, 4]), 1500);
    g.instanceWatermark(wm('b', T0 + 10_000, [5]), 1500);
    g.advance();
    // a loses partition 3 at T0 + 10 s; b takes it but never re-fires c1 (its fault ended).
    g.instanceWatermark(wm('a', T0 + 10_000, [4]), 2000);
    g.instanceWatermark(wm('b', T0 + 10_000, [3, 5]), 2000);
    expect(g.advance()).toEqual([]);
    g.instanceWatermark(wm('a', T0 + 69_000, [4]), 3000);
    g.instanceWatermark(wm('b', T0 + 69_000, [3, 5]), 3000);
    expect(g.advance()).toEqual([]);
    g.instanceWatermark(wm('a', T0 + 71_000, [4]), 4000);
    g.instanceWatermark(wm('b', T0 + 71_000, [3, 5]), 4000);
    const ended = g.advance();
    expect(ended.map((a) => [a.fingerprint, a.state, a.at])).toEqual([['c1', 'resolved', T0 + 10_000]]);
    // c2 stays with a, which still owns partition 4.
    expect(g.stats()).toMatchObject({ expired: 1, firing: 1 });
  });

  it('keeps an inherited alert the new owner confirms, and ends a dead owner’s alerts after the grace', () => {
    const g = new AlertGate({ handoverGraceMs: 60_000, instanceTimeoutMs: 5000 });
    g.instanceWatermark(wm('a', T0, [1]), 1000);
    g.instanceWatermark(wm('b', T0, [2]), 1000);
    g.alert(alert('c1', 'firing', T0), 'a', 1, 1000);
    g.alert(alert('c2', 'firing', T0), 'a', 1, 1000);
    g.advance();
    // a dies (no more records); b reports on, takes partition 1 and re-fires c1 only.
    g.instanceWatermark(wm('b', T0 + 5000, [1, 2]), 7000);
    g.advance();
    expect(g.liveInstances()).toEqual(['b']);
    g.alert(alert('c1', 'firing', T0 + 30_000), 'b', 1, 7100);
    g.instanceWatermark(wm('b', T0 + 100_000, [1, 2]), 8000);
    const ended = g.advance();
    expect(ended.map((a) => a.fingerprint)).toEqual(['c2']);
    expect(ended[0]!.at).toBe(T0);
    expect(g.stats()).toMatchObject({ firing: 1, expired: 1, handedOver: 1 });
    // The dead instance owns nothing and is forgotten.
    expect(g.stats().instances).toBe(1);
  });

  it("counts the grace in the inherited partition's own event time, not the new owner's clock", () => {
    const g = new AlertGate({ handoverGraceMs: 60_000, instanceTimeoutMs: 5000 });
    const rec = (instance: string, w: number, partitions: number[], times: number[]) => ({
      ...wm(instance, w, partitions),
      partitionTimes: times,
    });
    g.instanceWatermark(rec('a', T0, [1], [T0 + 5000]), 1000);
    g.instanceWatermark(rec('b', T0, [2], [T0 + 5000]), 1000);
    g.alert(alert('c1', 'firing', T0), 'a', 1, 1000);
    g.advance();
    // a dies. b's own partition runs minutes ahead before the rebalance gives it partition 1,
    // whose backlog it then works through from where a stopped.
    g.instanceWatermark(rec('b', T0 + 300_000, [2], [T0 + 305_000]), 7000);
    expect(g.advance()).toEqual([]);
    // b owns partition 1 now but has not read from it yet.
    g.instanceWatermark(
      {
        ...rec('b', T0 + 300_000, [1, 2], [T0 + 305_000, T0 + 305_000]),
        partitionTimes: [null, T0 + 305_000],
        lagging: [1],
      },
      7500,
    );
    expect(g.advance()).toEqual([]);
    g.instanceWatermark(rec('b', T0 + 300_000, [1, 2], [T0 + 30_000, T0 + 310_000]), 8000);
    expect(g.advance()).toEqual([]);
    g.alert(alert('c1', 'firing', T0 + 40_000), 'b', 1, 8100); // confirmed within the grace
    g.instanceWatermark(rec('b', T0 + 320_000, [1, 2], [T0 + 200_000, T0 + 320_000]), 9000);
    expect(g.advance()).toEqual([]);
    expect(g.stats()).toMatchObject({ handedOver: 1, expired: 0, firing: 1 });
  });

  it('does not hand over alerts that name no partition (POST /alerts) or no instance', () => {
    const g = new AlertGate({ handoverGraceMs: 1000, instanceTimeoutMs: 1000 });
    g.instanceWatermark(wm('a', T0, [1]), 1000);
    g.instanceWatermark(wm('b', T0, [2]), 1000);
    g.alert(alert('ext', 'firing', T0), 'a', -1, 1000);
    g.alert(alert('tp', 'firing', T0), undefined, -1, 1000);
    g.instanceWatermark(wm('b', T0 + 100_000, [1, 2]), 10_000);
    expect(g.advance()).toEqual([]);
    expect(g.stats().firing).toBe(2);
  });

  it('continues identically from its state (checkpoint/restore)', () => {
    const opts = { handoverGraceMs: 60_000, instanceTimeoutMs: 5000 };
    const steps = (g: AlertGate): Array<() => unknown> => [
      () => g.instanceWatermark(wm('a', T0, [1]), 1000),
      () => g.instanceWatermark(wm('b', T0, [2]), 1000),
      () => g.alert(alert('c1', 'firing', T0), 'a', 1, 1000)?.id,
      () => g.alert(alert('c2', 'firing', T0), 'a', 1, 1000)?.id,
      () => g.instanceWatermark(wm('b', T0 + 5000, [1, 2]), 7000),
      () => g.alert(alert('c1', 'firing', T0 + 30_000), 'b', 1, 7100)?.id,
      () => g.instanceWatermark(wm('b', T0 + 100_000, [1, 2]), 8000),
    ];
    const run = (g: AlertGate, from: number, to: number) => {
      const out: unknown[] = [];
      const list = steps(g);
      for (let i = from; i < to; i++) {
        out.push(list[i]!());
        out.push(
          g.advance().map((a) => [a.fingerprint, a.at]),
          g.watermark,
        );
      }
      return out;
    };
    const whole = new AlertGate(opts);
    const expected = run(whole, 0, 7);
    const first = new AlertGate(opts);
    const head = run(first, 0, 4);
    const second = AlertGate.restore(JSON.parse(JSON.stringify(first.state())), opts);
    const tail = run(second, 4, 7);
    expect([...head, ...tail]).toEqual(expected);
    expect(second.state()).toEqual(whole.state());
    expect(tail.flat(2)).toContain('c2');
  });
});
