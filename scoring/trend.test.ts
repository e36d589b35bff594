import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AlertEvent, Point } from '../core/types.js';
import {
  diskFill,
  GIB,
  HOUR,
  MIB,
  MINUTE,
  memorySawtooth,
  threadCount,
} from '../fixtures/series/generators.js';
import { replay } from '../fixtures/series/replay.js';
import { DetectionEngine } from '../rules/engine.js';
import { defaultRulesDir, loadRules } from '../rules/load.js';
import { medianInPlace, quantileInPlace } from './trend.js';

const pack = loadRules(defaultRulesDir()).rules;

function firstFiring(points: Point[], rule: string): AlertEvent | undefined {
  return replay(new DetectionEngine({ rules: pack }), points).find(
    (e) => e.rule === rule && e.state === 'firing',
  );
}

describe('order statistics without allocation', () => {
  it('median and quantiles match a sort', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 80 }),
        (xs) => {
          const sorted = [...xs].sort((a, b) => a - b);
          const n = xs.length;
          const median = n % 2 ? sorted[n >> 1]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
          expect(medianInPlace(Float64Array.from(xs), n)).toBeCloseTo(median, 6);
          expect(quantileInPlace(Float64Array.from(xs), n, 0.75)).toBe(
            sorted[Math.floor(0.75 * (n - 1) + 0.5)],
          );
        },
      ),
    );
  });
});

describe('memory leak (ContainerMemoryLeak, default pack)', () => {
  it.each([1, 2, 3, 4, 5])(
    'warns at least 20 minutes before a 2 MiB/min leak with GC sawtooth reaches a 2 GiB limit (seed %i)',
    (seed) => {
      const f = memorySawtooth({ seed, leakPerMinute: 2 * MIB, liveBytes: 1.2 * GIB, limitBytes: 2 * GIB });
      const crossAt = f.truth.crossAt!;
      expect(crossAt).toBeDefined();
      const alert = firstFiring(f.points, 'ContainerMemoryLeak')!;
      expect(alert).toMatchObject({
        predicted: true,
        severity: 'warning',
        entity: { level: 'container', id: 'c-leak' },
      });
      const leadMinutes = (crossAt - alert.at) / MINUTE;
      expect(leadMinutes).toBeGreaterThanOrEqual(20);
      // The ETA is an early estimate, under the 30 min horizon, not wildly early either.
      expect(alert.etaSeconds).toBeLessThan(1800);
      expect(alert.etaSeconds!).toBeGreaterThan(0);
      expect(leadMinutes).toBeLessThan(120);
      expect(alert.annotations.summary).toMatch(/^container c-leak leaks memory: limit reached in \d+m/);
    },
  );

  it.each([1, 2, 3, 4, 5])('stays quiet for a stable sawtooth peaking near the limit (seed %i)', (seed) => {
    // Live 1.5 GiB + up to ~300 MiB of garbage: peaks around 90% of the limit, for 12 hours.
    const f = memorySawtooth({ seed, leakPerMinute: 0, liveBytes: 1.5 * GIB, durationMs: 12 * HOUR });
    expect(f.truth.crossAt).toBeUndefined();
    expect(firstFiring(f.points, 'ContainerMemoryLeak')).toBeUndefined();
  });
});

describe('thread leak and disk fill', () => {
  it('ProcessThreadLeak fires before the thread limit is reached, a stable pool never', () => {
    const leak = threadCount({ seed: 5, initial: 600, perHour: 900, limit: 4096 });
    const alert = firstFiring(leak.points, 'ProcessThreadLeak')!;
    expect(alert).toMatchObject({ predicted: true, entity: { level: 'host', id: 'h1' } });
    expect(alert.labels.process_name).toBe('java');
    expect(leak.truth.crossAt! - alert.at).toBeGreaterThan(20 * MINUTE);
    expect(firstFiring(threadCount({ seed: 5, initial: 600 }).points, 'ProcessThreadLeak')).toBeUndefined();
  });

  it('DiskWillFill fires hours before a disk fills, not for a disk growing slowly', () => {
    const fill = diskFill({ seed: 6, initial: 55, perHour: 4 });
    const alert = firstFiring(fill.points, 'DiskWillFill')!;
    expect(alert).toMatchObject({
      predicted: true,
      entity: { level: 'host', id: 'h1' },
      labels: { path: '/data' },
    });
    expect(fill.truth.crossAt! - alert.at).toBeGreaterThan(2 * HOUR);
    expect(alert.etaSeconds).toBeLessThan(4 * 3600);
    // 0.2%/h from 55%: full in about 9 days.
    expect(
      firstFiring(diskFill({ seed: 6, initial: 55, perHour: 0.2 }).points, 'DiskWillFill'),
    ).toBeUndefined();
  });
});
