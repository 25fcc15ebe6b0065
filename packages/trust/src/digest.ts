// digest.ts — SHA-256 (FIPS 180-4) digests as lowercase hex, and checks of hex digests received from others.
import { createHash } from 'node:crypto';
import { TrustError } from './errors.ts';

const HEX_32_BYTES = /^[0-9a-f]{64}$/;

/** SHA-256 of `data` (a string is hashed as its UTF-8 bytes), as 64 lowercase hex digits. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** True when `value` is 64 lowercase hex digits: a SHA-256 digest or a 32-byte salt. */
export function isHex32(value: unknown): value is string {
  return typeof value === 'string' && HEX_32_BYTES.test(value);
}

/** Throws FEDVAL_ERR_TRUST_INVALID_DIGEST naming `what` unless `value` is 64 lowercase hex digits. */
export function assertHex32(value: unknown, what: string): asserts value is string {
  if (!isHex32(value)) throw new TrustError('FEDVAL_ERR_TRUST_INVALID_DIGEST', what);
}
