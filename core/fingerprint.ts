/**
 * Alert fingerprints, shared by every stage that names alerts (detection, and the correlator's
 * parsers of recorded and external alerts), so that one rule on one entity has one fingerprint
 * wherever it comes from. Fast and non-cryptographic: fingerprints only need to be stable across
 * runs and processes and well spread.
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
