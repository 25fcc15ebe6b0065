// contribution-digest.ts — the size and SHA-256 of a contribution as sent: what the site audits and signs, the
// coordinator checks and records, and the key holder records before it decrypts an aggregate.
import { createHash } from 'node:crypto';
import type { Contribution } from './messages.ts';

/** Payload bytes and their SHA-256 (hex) of a contribution. */
export interface ContributionDigest {
  /** Payload bytes: the plaintext vector's bytes, or the sum of the ciphertexts' bytes. */
  readonly bytes: number;
  /** SHA-256 of those bytes in order (the vector's little-endian float64s, or the ciphertexts one after another). */
  readonly sha256: string;
}

/** The digest of a contribution's payload bytes: the one definition every party uses to name what was sent. */
export function contributionDigest(contribution: Contribution): ContributionDigest {
  const hash = createHash('sha256');
  let bytes = 0;
  if (contribution.kind === 'plaintext') {
    const vector = contribution.vector;
    hash.update(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength));
    bytes = vector.byteLength;
  } else {
    for (const ciphertext of contribution.ciphertexts) {
      hash.update(ciphertext);
      bytes += ciphertext.byteLength;
    }
  }
  return { bytes, sha256: hash.digest('hex') };
}
