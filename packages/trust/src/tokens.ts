// tokens.ts — one-time enrollment tokens: generated at random, stored only as SHA-256, compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { assertHex32, sha256Hex } from './digest.ts';
import type { RandomBytes } from './encoding.ts';
import { drawBytes, systemRandomBytes } from './encoding.ts';

const TOKEN_BYTES = 32; // 256 bits of entropy

/** A new token: 32 random bytes, base64url without padding (43 characters). Show it once; store hashToken(token). */
export function generateToken(randomBytes: RandomBytes = systemRandomBytes): string {
  return Buffer.from(drawBytes(randomBytes, TOKEN_BYTES)).toString('base64url');
}

/** SHA-256 (hex) of the token's UTF-8 bytes: the only form a coordinator stores. */
export function hashToken(token: string): string {
  return sha256Hex(token);
}

/**
 * True when `presentedToken` hashes to `storedSha256Hex`. Compares the two 32-byte digests with timingSafeEqual, so the
 * time taken does not depend on how much of the token matches. Throws FEDVAL_ERR_TRUST_INVALID_DIGEST when the stored
 * value is not a SHA-256 hex digest (a configuration error); a presented non-string simply does not match.
 */
export function tokensEqual(presentedToken: string, storedSha256Hex: string): boolean {
  assertHex32(storedSha256Hex, 'stored token hash');
  if (typeof presentedToken !== 'string') return false;
  return timingSafeEqual(createHash('sha256').update(presentedToken).digest(), Buffer.from(storedSha256Hex, 'hex'));
}
