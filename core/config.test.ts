import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './config.js';

describe('config', () => {
  it('defaults to the embedded stand-ins', () => {
    const c = parseConfig({});
    expect(c.kafka).toBeUndefined();
    expect(c.tsdb).toBeUndefined();
    expect(c.input).toEqual({
      format: 'lp', // precision by format: ns for lp, s for json
      limits: {
        maxLineBytes: 262_144,
        maxNameBytes: 256,
        maxTagValueBytes: 1024,
        maxTags: 29,
        maxFields: 499,
        maxStringBytes: 65_535,
        maxJsonDepth: 32,
        fieldTypeChanges: 'refuse',
      },
    });
    expect(c.topology.ttl).toBe(900_000);
    expect(c.api).toMatchObject({ host: '127.0.0.1', port: 8080, tokens: [] });
    expect(c.notify).toBeUndefined();
  });
  it('fills section defaults and parses durations', () => {
    const c = parseConfig({
      kafka: { brokers: ['127.0.0.1:9092'] },
      tsdb: { url: 'http://127.0.0.1:8428', flushInterval: '250ms' },
      topology: { ttl: '2m' },
    });
    expect(c.kafka?.topics.dlq).toBe('metrics.dlq');
    expect(c.kafka?.groupId).toBe('converge-ingest');
    expect(c.tsdb?.flushInterval).toBe(250);
    expect(c.tsdb?.bucket).toBe('metrics');
    expect(c.topology.ttl).toBe(120_000);
  });
  it('names every offending key', () => {
    try {
      parseConfig(
        { kafka: { brokers: ['nohost'] }, tsdb: { url: 'x', flushInterval: '5 minutes' }, typo: 1 },
        'my.yaml',
      );
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const msg = (e as Error).message;
      expect(msg).toContain('my.yaml');
      expect(msg).toContain('kafka.brokers.0: expected host:port');
      expect(msg).toContain('tsdb.url');
      expect(msg).toContain('tsdb.flushInterval: invalid duration "5 minutes"');
      expect(msg).toContain('(top level): unknown key typo');
    }
  });
});

describe('config sections owned by other stages', () => {
  it('mounts api and notify with their own validation', () => {
    expect(() => parseConfig({ api: { tokens: [{ token: 'short' }] } }, 'c.yaml')).toThrow(
      /api\.tokens\.0\.token: a token needs at least 16 characters/,
    );
    expect(() => parseConfig({ notify: { sinks: [{ name: 'x', type: 'teams' }] } }, 'c.yaml')).toThrow(
      /notify\.sinks\.0\.type/,
    );
  });
});
