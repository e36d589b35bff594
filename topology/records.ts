import { readFile } from 'node:fs/promises';
import { HIERARCHY, isLevel, LEVELS, type Level, type TopologyRecord } from '../core/types.js';

/**
 * CMDB topology records: one JSON object per line, from a file or the Kafka topic `topology`:
 * `{"level":"host","id":"h1","parent":{"level":"rack","id":"r1"},"attributes":{"kernel":"5.10"}}`.
 * Bad records are reported with where they were and what is wrong; good ones are kept.
 * Fields this format does not know are ignored, so a CMDB export may carry more.
 */

export interface TopologyRecordError {
  /** File path or message label. */
  source: string;
  /** 1-based line within the file or message. */
  line: number;
  reason: string;
  /** `source:line: reason`. */
  message: string;
}

export interface TopologyRecords {
  records: TopologyRecord[];
  errors: TopologyRecordError[];
}

export type ParsedTopologyRecord =
  | { record: TopologyRecord; error?: undefined }
  | { record?: undefined; error: string };

/** Parses one JSON record; `where` (e.g. `file.jsonl:17`) prefixes the error. */
export function parseTopologyRecord(json: string, where: string): ParsedTopologyRecord {
  const checked = parseRecord(json);
  return typeof checked === 'string' ? { error: `${where}: ${checked}` } : { record: checked };
}

function parseRecord(json: string): TopologyRecord | string {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    return `invalid JSON: ${(e as Error).message}`;
  }
  return toTopologyRecord(value);
}

/** Parses JSON Lines text; blank lines are skipped. */
export function parseTopologyLines(text: string, source: string): TopologyRecords {
  const records: TopologyRecord[] = [];
  const errors: TopologyRecordError[] = [];
  let line = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    line++;
    let json = text.slice(start, end);
    if (json.endsWith('\r')) json = json.slice(0, -1);
    start = end + 1;
    if (json.trim() === '') continue;
    const checked = parseRecord(json);
    if (typeof checked !== 'string') records.push(checked);
    else errors.push({ source, line, reason: checked, message: `${source}:${line}: ${checked}` });
  }
  return { records, errors };
}

/** Loads a JSON Lines topology file. A file that cannot be read is one error at line 0. */
export async function loadTopologyFile(path: string): Promise<TopologyRecords> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const reason = `cannot read topology file: ${(e as Error).message}`;
    return { records: [], errors: [{ source: path, line: 0, reason, message: `${path}: ${reason}` }] };
  }
  return parseTopologyLines(text, path);
}

/**
 * Decodes the value of one message of the Kafka topic `topology` (one or more JSON lines).
 * `source` labels errors, e.g. `topology[2]@1834`. A null value (a tombstone) holds nothing.
 */
export function decodeTopologyMessage(
  value: Uint8Array | string | null | undefined,
  source = 'topology',
): TopologyRecords {
  if (value === null || value === undefined) return { records: [], errors: [] };
  const text =
    typeof value === 'string'
      ? value
      : Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8');
  return parseTopologyLines(text, source);
}

/**
 * What is wrong with a record built by code (typed, but possibly inconsistent: a host under a
 * container, an app on a rack), or undefined. Allocates nothing for a good record.
 */
export function topologyRecordProblem(record: TopologyRecord): string | undefined {
  return recordProblem(record as unknown as Record<string, unknown>, true);
}

const LEVEL_LIST = LEVELS.join(', ');
const PARENT_LEVELS: Readonly<Record<Level, readonly Level[]>> = {
  idc: [],
  rack: parentLevels('rack'),
  host: parentLevels('host'),
  container: parentLevels('container'),
  app: [],
};

/** Checks an untrusted value; returns the record (normalised) or the problem. */
export function toTopologyRecord(value: unknown): TopologyRecord | string {
  if (!isObject(value)) return 'a topology record must be a JSON object';
  const problem = recordProblem(value, false);
  if (problem !== undefined) return problem;
  const record: TopologyRecord = { level: value.level as Level, id: value.id as string };
  if (value.deleted === true) record.deleted = true;
  if (isObject(value.parent))
    record.parent = { level: value.parent.level as Level, id: value.parent.id as string };
  if (typeof value.app === 'string') record.app = value.app;
  if (isObject(value.attributes)) {
    const attributes: Record<string, string> = {};
    // CMDB exports often write numbers (cores: 32); they group the same as strings.
    for (const [key, v] of Object.entries(value.attributes)) attributes[key] = String(v);
    record.attributes = attributes;
  }
  if (Array.isArray(value.calls)) record.calls = [...(value.calls as string[])];
  return record;
}

/** The checks, shared by untrusted JSON and typed records (`typed`: attributes must be strings). */
function recordProblem(value: Record<string, unknown>, typed: boolean): string | undefined {
  const { level, id } = value;
  if (level === undefined) return 'level is required';
  if (!isLevel(level)) return `level must be one of ${LEVEL_LIST} (got ${show(level)})`;
  if (typeof id !== 'string' || id === '') return 'id must be a non-empty string';

  const deleted = value.deleted;
  if (deleted !== undefined && typeof deleted !== 'boolean')
    return `deleted must be true or false (got ${show(deleted)})`;

  const parent = value.parent;
  if (parent !== undefined && parent !== null) {
    const allowed = PARENT_LEVELS[level];
    if (allowed.length === 0) {
      return level === 'app'
        ? 'an app has no parent (name the app on its containers instead)'
        : 'an idc has no parent';
    }
    if (!isObject(parent)) return 'parent must be an object {"level":...,"id":...}';
    if (!isLevel(parent.level) || !allowed.includes(parent.level)) {
      return `parent.level must be one of ${allowed.join(', ')} for a ${level} (got ${show(parent.level)})`;
    }
    if (typeof parent.id !== 'string' || parent.id === '') return 'parent.id must be a non-empty string';
  }

  const app = value.app;
  if (app !== undefined && app !== null) {
    if (level !== 'container') return `app is only allowed on containers (this record is a ${level})`;
    if (typeof app !== 'string' || app === '') return 'app must be a non-empty string';
  }

  const attributes = value.attributes;
  if (attributes !== undefined && attributes !== null) {
    if (!isObject(attributes)) return 'attributes must be an object of strings';
    for (const key in attributes) {
      const v = attributes[key];
      if (typeof v === 'string') continue;
      if (!typed && (typeof v === 'number' || typeof v === 'boolean')) continue;
      return `attributes.${key} must be a string (got ${show(v)})`;
    }
  }

  const calls = value.calls;
  if (calls !== undefined && calls !== null) {
    if (level !== 'app') return `calls is only allowed on apps (this record is a ${level})`;
    if (!Array.isArray(calls)) return 'calls must be an array of app ids';
    for (let i = 0; i < calls.length; i++) {
      const callee: unknown = calls[i];
      if (typeof callee !== 'string' || callee === '') return `calls[${i}] must be a non-empty string`;
      if (callee === id) return `calls[${i}] names the app itself`;
    }
  }
  return undefined;
}

function parentLevels(level: Level): Level[] {
  const depth = HIERARCHY.indexOf(level);
  return depth <= 0 ? [] : HIERARCHY.slice(0, depth);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function show(x: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(x) ?? String(x);
  } catch {
    // Nested deeper than the stack allows (JSON.parse builds such values without recursion).
    text = Array.isArray(x) ? 'a deeply nested array' : 'a deeply nested object';
  }
  return text.length > 60 ? text.slice(0, 57) + '...' : text;
}
