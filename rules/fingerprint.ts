/**
 * Fast non-cryptographic hashes. Fingerprints only need to be stable and well spread; they are
 * computed when an alert fires, not per point.
 */

/** 64 bits as 16 hex characters: two independently seeded 32-bit lanes (cyrb53-style mixing). */
export function hash64(text: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}

/** Stable across runs and processes: rule, entity and labels in sorted key order. */
export function alertFingerprint(
  rule: string,
  level: string,
  entity: string,
  labels: Readonly<Record<string, string>>,
): string {
  let text = rule + '\u0000' + level + '\u0000' + entity;
  for (const k of Object.keys(labels).sort()) text += '\u0000' + k + '=' + labels[k];
  return hash64(text);
}

/** 32-bit FNV-1a, continuing from `h` (start with FNV_OFFSET). */
export const FNV_OFFSET = 0x811c9dc5;

export function fnv1a(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h;
}
