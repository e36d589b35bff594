import { describe, expect, it } from 'vitest';
import { alertWeight, childrenAggregate, healthStatus, ownScore, rollUp } from './health.js';

describe('health score arithmetic', () => {
  it('maps scores to Healthy / Warning / Fatal at 75 and 40', () => {
    expect([100, 75, 74.9, 40, 39.9, 0].map(healthStatus)).toEqual([
      'healthy',
      'healthy',
      'warning',
      'warning',
      'fatal',
      'fatal',
    ]);
  });

  it('takes alert weights and anomalies off 100', () => {
    expect(ownScore(0, 0, 0)).toBe(100);
    expect(ownScore(alertWeight('critical', false), 0, 0)).toBe(35);
    expect(ownScore(alertWeight('warning', false), 0, 0)).toBe(70);
    expect(ownScore(alertWeight('warning', true), 0, 0)).toBe(74);
    expect(ownScore(0, 1, 1)).toBe(60);
    expect(ownScore(0, 1, 0)).toBeCloseTo(72);
    expect(ownScore(200, 1, 1)).toBe(0);
  });

  it('rolls up children with weight on the worst quarter', () => {
    expect(childrenAggregate([])).toBeUndefined();
    expect(childrenAggregate([100, 100, 100, 0])).toBe(37.5);
    expect(childrenAggregate(Array.from({ length: 100 }, (_, i) => (i === 0 ? 0 : 100)))).toBe(97.5);
    expect(rollUp('host', 100, 50)).toBe(80);
    expect(rollUp('host', 35, 100)).toBe(35);
    expect(rollUp('app', 100, 30)).toBe(30);
    expect(rollUp('rack', 60, 90)).toBe(60);
    expect(rollUp('container', 50, 0)).toBe(50);
    expect(rollUp('idc', 100, undefined)).toBe(100);
  });
});
