// hkdf.ts — HKDF-SHA256 (RFC 5869) over node:crypto, returning plain Uint8Arrays.
import { hkdfSync } from 'node:crypto';

/** HKDF-SHA256(ikm, salt, info) → `length` bytes (RFC 5869 §2; length ≤ 255·32). */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, length));
}
