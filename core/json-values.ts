/**
 * Reading untrusted decoded JSON without recursion: a bounded preview of any value for error
 * messages, and string maps (labels, annotations) with limits on count and size. A value nested
 * 100,000 levels deep, or a 50 MB string, costs what the limit allows and never overflows the
 * stack (JSON.stringify of a deep value throws RangeError, which used to escape as HTTP 500).
 */

/**
 * At most `max` characters of JSON-like text for `x`, built without recursion and stopping as
 * soon as the budget is spent: `{"a":{"a":{"a":…`. Undefined reads as `nothing`.
 */
export function preview(x: unknown, max = 60): string {
  if (x === undefined) return 'nothing';
  let out = '';
  // Work list of what is still to be written: values, or literal text (closers, separators).
  const todo: Array<{ text: string } | { value: unknown }> = [{ value: x }];
  while (todo.length > 0 && out.length <= max) {
    const item = todo.pop()!;
    if ('text' in item) {
      out += item.text;
      continue;
    }
    const v = item.value;
    if (typeof v === 'string') out += JSON.stringify(v.length > max ? v.slice(0, max) : v);
    else if (v === null || typeof v !== 'object') out += String(v);
    else if (Array.isArray(v)) {
      out += '[';
      todo.push({ text: ']' });
      // Only as many items as could still show (each takes at least two characters).
      for (let i = Math.min(v.length, max) - 1; i >= 0; i--) {
        todo.push({ value: v[i] });
        if (i > 0) todo.push({ text: ',' });
      }
    } else {
      out += '{';
      todo.push({ text: '}' });
      const entries: Array<[string, unknown]> = [];
      for (const k in v) {
        if (!Object.hasOwn(v, k)) continue;
        entries.push([k, (v as Record<string, unknown>)[k]]);
        if (entries.length > max) break;
      }
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, value] = entries[i]!;
        todo.push({ value });
        todo.push({ text: JSON.stringify(k.length > max ? k.slice(0, max) : k) + ':' });
        if (i > 0) todo.push({ text: ',' });
      }
    }
  }
  return out.length > max || todo.length > 0 ? out.slice(0, max - 1) + '…' : out;
}

/** What a value is, in a few words: `an object`, `an array`, `null`, `a number`. */
export function kindOf(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'object') return 'an object';
  return `a ${typeof x}`;
}

export interface StringMapLimits {
  /** Most entries. */
  entries: number;
  /** Longest name (characters). */
  name: number;
  /** Longest value (characters). */
  value: number;
}

/**
 * A JSON object of strings (numbers and booleans are taken as their text) within limits, or what
 * is wrong, naming the entry: `labels.team must be a string (got an object: {"a":{"a":…)`.
 * Absent or null is an empty map. Own properties only.
 */
export function stringMap(
  x: unknown,
  field: string,
  limits: StringMapLimits,
): Record<string, string> | string {
  if (x === undefined || x === null) return {};
  if (typeof x !== 'object' || Array.isArray(x))
    return `${field} must be an object of strings (got ${kindOf(x)})`;
  const out: Record<string, string> = {};
  let n = 0;
  for (const k in x) {
    if (!Object.hasOwn(x, k)) continue;
    if (++n > limits.entries) return `${field} has more than ${limits.entries} entries`;
    const where = `${field}.${fieldName(k)}`;
    if (k.length > limits.name)
      return `${where}: a name is at most ${limits.name} characters (got ${k.length})`;
    const value = (x as Record<string, unknown>)[k];
    let text: string;
    if (typeof value === 'string') text = value;
    else if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean')
      text = String(value);
    else return `${where} must be a string (got ${kindOf(value)}: ${preview(value)})`;
    if (text.length > limits.value) {
      return `${where} is ${text.length} characters long (at most ${limits.value})`;
    }
    // `__proto__` from JSON.parse is an own property; plain assignment would not make one.
    if (k === '__proto__')
      Object.defineProperty(out, k, { value: text, enumerable: true, writable: true, configurable: true });
    else out[k] = text;
  }
  return out;
}

/** A property name for a message: as it is when plain, else quoted JSON (no raw control bytes). */
function fieldName(k: string): string {
  const short = k.length > 60 ? k.slice(0, 59) + '…' : k;
  return /^[\w.:/@-]*$/.test(short) ? short : JSON.stringify(short);
}
