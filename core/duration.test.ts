import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it('reads Prometheus-style durations', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('2d')).toBe(172_800_000);
  });
  it('rejects anything else', () => {
    for (const bad of ['', '5', 'm', '5x', ' s', '-5s', '5m3', 'abc', '1e3s'])
      expect(parseDuration(bad)).toBeUndefined();
  });
  it('round-trips through formatDuration', () => {
    for (const ms of [1000, 90_000, 5_400_000, 250, 61_250])
      expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});
