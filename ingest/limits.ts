import { z } from 'zod';

/**
 * What the decoders accept, aligned with what the TSDBs behind Converge store, so that a line
 * the TSDB would refuse or silently mangle is refused here instead, with a reason, and goes to
 * the dead-letter topic (config `input.limits`, README "Input limits").
 *
 * The defaults are the strictest of:
 * - victoria-metrics: `-influx.maxLineSize` 256 KiB (a longer line fails the whole request with
 *   HTTP 400); `-maxLabelsPerTimeseries` 30 labels, the metric name being one (older versions
 *   drop the extra labels, merging series; v1.108+ drop the series); `-maxLabelValueLen` 1 KiB
 *   since v1.102 (16 KiB before; longer values are truncated, or since v1.108 the series is
 *   dropped); `-maxLabelNameLen` 256. The metric name is `measurement_field`.
 * - InfluxDB 3 Core/Enterprise: at most 500 columns per table, the time column being one;
 *   InfluxDB 1.x/2.x: string field values up to 64 KiB, series keys up to 64 KiB, and a field
 *   keeps the type it was first written with (a point changing it is refused: "field type
 *   conflict").
 */
export interface DecodeLimits {
  /** Bytes of one line-protocol line (without its newline); JSON: of the line a metric encodes to. */
  maxLineBytes: number;
  /** Bytes of a measurement name, a tag key or a field key. */
  maxNameBytes: number;
  /** Bytes of one tag value. */
  maxTagValueBytes: number;
  /** Tags of one point. */
  maxTags: number;
  /** Fields of one point. */
  maxFields: number;
  /** Bytes of one string field value. */
  maxStringBytes: number;
  /** JSON nesting depth of one document (a Telegraf batch needs 4). */
  maxJsonDepth: number;
}

export const DEFAULT_LIMITS: Readonly<DecodeLimits> = Object.freeze({
  maxLineBytes: 262_144,
  maxNameBytes: 256,
  maxTagValueBytes: 1024,
  maxTags: 29,
  maxFields: 499,
  maxStringBytes: 65_535,
  maxJsonDepth: 32,
});

/** The config key naming a limit, for error messages. */
export function limitKey(name: keyof DecodeLimits): string {
  return `input.limits.${name}`;
}

/** Type codes of Point.types, by name for messages. */
const TYPE_NAMES: Record<number, string> = {
  102: 'float',
  105: 'integer',
  117: 'unsigned',
  115: 'string',
  98: 'boolean',
};

export function typeName(code: number): string {
  return TYPE_NAMES[code] ?? 'unknown';
}

let nextStamp = 1;

/**
 * The type each field of each measurement was first seen with, as InfluxDB keeps it (per
 * measurement, within a shard): a point giving a known field another type is refused. One per
 * stream (a consumer, a replay). Bounded: past `maxFields` remembered fields it starts over
 * (every field is then learned again from the next points).
 */
export class FieldTypeRegistry {
  private byMeasurement = new Map<string, Map<string, number>>();
  private entries = 0;
  /** Changes whenever what the registry knows is forgotten (decoders cache checks by it). */
  stamp = nextStamp++;

  constructor(private readonly maxFields = 200_000) {}

  /**
   * Checks the fields of one point (keys and their type codes, in the same order) and records
   * the new ones. Returns the index of the first field whose type differs from the one known,
   * or -1 (nothing recorded then).
   */
  check(measurement: string, keys: readonly string[], codes: string): number {
    let known = this.byMeasurement.get(measurement);
    if (known === undefined) {
      known = new Map();
      this.byMeasurement.set(measurement, known);
    }
    for (let i = 0; i < keys.length; i++) {
      const t = known.get(keys[i]!);
      if (t !== undefined && t !== codes.charCodeAt(i)) return i;
    }
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (!known.has(k)) {
        known.set(k, codes.charCodeAt(i));
        this.entries++;
      }
    }
    if (this.entries > this.maxFields) this.clear();
    return -1;
  }

  /** The type code recorded for a field, if any. */
  known(measurement: string, key: string): number | undefined {
    return this.byMeasurement.get(measurement)?.get(key);
  }

  clear(): void {
    this.byMeasurement = new Map();
    this.entries = 0;
    this.stamp = nextStamp++;
  }
}

/** True for C0 controls, DEL and C1 controls: never part of a name or a tag value. */
export function isControl(c: number): boolean {
  return c < 32 || c === 127 || (c >= 0x80 && c <= 0x9f);
}

/** UTF-8 length of a string, computed only when its UTF-16 length leaves a doubt against `limit`. */
export function exceedsBytes(s: string, limit: number): boolean {
  if (s.length > limit) return true;
  if (s.length * 3 <= limit) return false;
  return Buffer.byteLength(s, 'utf8') > limit;
}

/**
 * Input text made safe to print on a terminal or in a log line: control characters (C0, DEL,
 * C1), lone surrogates, line and paragraph separators and bidirectional overrides become
 * `\uXXXX` (tab, CR and LF as `\t`, `\r`, `\n`), so an error message can never move the
 * cursor, recolour the terminal or reorder what is shown.
 */
export function escapeForTerminal(s: string): string {
  return s.replace(
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]/gu,
    (c) => {
      if (c === '\t') return '\\t';
      if (c === '\n') return '\\n';
      if (c === '\r') return '\\r';
      return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    },
  );
}

/**
 * The `input.limits` section of the config file (mounted in core/config.ts). Every key is
 * optional; the defaults are DEFAULT_LIMITS.
 *
 * ```yaml
 * input:
 *   limits: { maxLineBytes: 262144, maxTagValueBytes: 16384, fieldTypeChanges: refuse }
 * ```
 */
export const LimitsConfigSchema = z.strictObject({
  maxLineBytes: z
    .number()
    .int()
    .min(1024)
    .max(1 << 30)
    .default(DEFAULT_LIMITS.maxLineBytes),
  maxNameBytes: z.number().int().min(1).max(65_535).default(DEFAULT_LIMITS.maxNameBytes),
  maxTagValueBytes: z
    .number()
    .int()
    .min(1)
    .max(1 << 20)
    .default(DEFAULT_LIMITS.maxTagValueBytes),
  maxTags: z.number().int().min(0).max(100_000).default(DEFAULT_LIMITS.maxTags),
  maxFields: z.number().int().min(1).max(10_000_000).default(DEFAULT_LIMITS.maxFields),
  maxStringBytes: z
    .number()
    .int()
    .min(1)
    .max(1 << 30)
    .default(DEFAULT_LIMITS.maxStringBytes),
  maxJsonDepth: z.number().int().min(4).max(10_000).default(DEFAULT_LIMITS.maxJsonDepth),
  /** `refuse`: a field changing type within its measurement is refused (InfluxDB's rule). */
  fieldTypeChanges: z.enum(['refuse', 'accept']).default('refuse'),
});

export type LimitsConfig = z.output<typeof LimitsConfigSchema>;

/** The decoder limits of a parsed `input.limits` section. */
export function limitsFromConfig(c: LimitsConfig): DecodeLimits {
  const { fieldTypeChanges: _, ...limits } = c;
  return limits;
}
