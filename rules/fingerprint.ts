/**
 * Fast non-cryptographic hashes. Fingerprints only need to be stable and well spread; they are
 * computed when an alert fires, not per point.
 */

export { alertFingerprint, hash64 } from '../core/fingerprint.js';

/** 32-bit FNV-1a, continuing from `h` (start with FNV_OFFSET). */
export const FNV_OFFSET = 0x811c9dc5;

export function fnv1a(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h;
}
