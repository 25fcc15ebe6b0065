// dataset-commitment.ts — the fingerprint of the exact data a site evaluated, and a salted commitment to it that reveals nothing.
import { createReadStream } from 'node:fs';
import { createHash, timingSafeEqual } from 'node:crypto';
import { assertHex32, sha256Hex } from './digest.ts';
import type { RandomBytes } from './encoding.ts';
import { drawBytes, systemRandomBytes } from './encoding.ts';
import { TrustError } from './errors.ts';

/** What a site keeps (`salt`, with the fingerprint) and what it sends (`commitment` only). */
export interface DatasetCommitment {
  /** SHA-256 (hex) of salt ‖ fingerprint, both as raw 32 bytes. */
  readonly commitment: string;
  /** 32 random bytes, hex. Stays at the site: with it and the fingerprint anyone can check the commitment. */
  readonly salt: string;
}

const SALT_BYTES = 32;

/** SHA-256 (hex) of the file's bytes, read as a stream (constant memory). Throws FEDVAL_ERR_TRUST_FILE_UNREADABLE. */
export async function fingerprintFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (cause) {
    throw new TrustError('FEDVAL_ERR_TRUST_FILE_UNREADABLE', path, { cause });
  }
  return hash.digest('hex');
}

function commitmentOf(salt: Uint8Array, fingerprint: string): string {
  return sha256Hex(Buffer.concat([salt, Buffer.from(fingerprint, 'hex')]));
}

/**
 * Commits to `fingerprint` with a fresh 32-byte salt: SHA-256(salt ‖ fingerprint). Binding, because finding a second
 * (salt, fingerprint) with the same digest means a SHA-256 collision; hiding, because without the 256-bit salt the
 * digest says nothing about the fingerprint, SHA-256 modelled as a random oracle (Bellare & Rogaway 1993). The salt
 * is what makes it hiding: an unsalted hash of a dataset fingerprint could be confirmed by anyone holding a copy.
 */
export function commitToFingerprint(fingerprint: string, randomBytes: RandomBytes = systemRandomBytes): DatasetCommitment {
  assertHex32(fingerprint, 'fingerprint');
  const salt = drawBytes(randomBytes, SALT_BYTES);
  return Object.freeze({ commitment: commitmentOf(salt, fingerprint), salt: Buffer.from(salt).toString('hex') });
}

/**
 * True when `commitment` is SHA-256(salt ‖ fingerprint): the check an inspector makes with the salt and fingerprint
 * the site discloses. Throws FEDVAL_ERR_TRUST_INVALID_DIGEST when an argument is not 64 lowercase hex digits.
 */
export function verifyCommitment(commitment: string, salt: string, fingerprint: string): boolean {
  assertHex32(commitment, 'commitment');
  assertHex32(salt, 'salt');
  assertHex32(fingerprint, 'fingerprint');
  return timingSafeEqual(Buffer.from(commitmentOf(Buffer.from(salt, 'hex'), fingerprint), 'hex'), Buffer.from(commitment, 'hex'));
}
