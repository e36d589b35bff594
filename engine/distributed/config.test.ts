import { describe, expect, it } from 'vitest';
import { correlationMode, parseConfig } from '../../core/config.js';

const kafka = { brokers: ['127.0.0.1:9092'] };
const redis = { url: 'redis://127.0.0.1:6379' };

describe('correlate.mode', () => {
  it('is distributed by default only with both kafka and redis', () => {
    expect(correlationMode(parseConfig({}))).toBe('embedded');
    expect(correlationMode(parseConfig({ kafka }))).toBe('embedded');
    expect(correlationMode(parseConfig({ kafka, redis }))).toBe('distributed');
    expect(correlationMode(parseConfig({ kafka, redis, correlate: { mode: 'embedded' } }))).toBe('embedded');
  });

  it('refuses distributed without the services it needs', () => {
    expect(() => parseConfig({ kafka, correlate: { mode: 'distributed' } }, 'c.yaml')).toThrow(
      /c\.yaml: invalid configuration:\n {2}correlate\.mode: distributed needs a `kafka` section .* and a `redis` section/,
    );
  });

  it('parses the distributed settings with their defaults', () => {
    const c = parseConfig({
      kafka: { ...kafka, sessionTimeout: '10s' },
      redis,
      correlate: { groupWait: '10s', distributed: { checkpointInterval: '500ms', handoverGrace: '2m' } },
    });
    expect(c.kafka?.sessionTimeout).toBe(10_000);
    expect(c.kafka?.topics.observed).toBe('topology.observed');
    expect(c.correlate).toMatchObject({ groupWait: 10_000, holdDown: 300_000, mode: 'auto' });
    expect(c.correlate.distributed).toEqual({
      group: 'converge-correlator',
      redisPrefix: 'converge-correlator',
      checkpointInterval: 500,
      sessionTimeout: 10_000,
      instanceTimeout: 30_000,
      handoverGrace: 120_000,
      idleAfter: 10_000,
      heartbeat: 1000,
    });
    expect(parseConfig({}).kafka).toBeUndefined();
    expect(() => parseConfig({ correlate: { mode: 'sideways' } })).toThrow(/correlate\.mode/);
    expect(() => parseConfig({ correlate: { distributed: { redisPrefix: 'a b' } } })).toThrow(
      /correlate\.distributed\.redisPrefix/,
    );
  });
});
