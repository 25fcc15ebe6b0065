// prg.ts — mask expansion: a 32-byte seed to a vector uniform in [0, t)^length, with AES-256-CTR as the PRG
// (Bonawitz et al., CCS 2017, §3 "pseudorandom generator"; NIST SP 800-38A §6.5 CTR mode) and rejection sampling.
//
// The byte rule, exactly (packages/secagg/references/make_references.py reproduces it):
//   key       = HKDF-SHA256(ikm = seed, salt = UTF-8 "fedval/secagg/v1/prg", info = UTF-8 info, L = 32)   (RFC 5869)
//   keystream = AES-256-CTR(key, initial counter block = 16 zero bytes, the whole block incremented as one
//               128-bit big-endian integer) applied to zero bytes, i.e. AES_key(0) ‖ AES_key(1) ‖ …
//   b         = bit length of t − 1;   candidate j = keystream bytes [8j, 8j + 8) read as an unsigned 64-bit
//               little-endian integer, keeping its low b bits (x mod 2^b)
//   output    = the candidates that are < t, in order, until `length` values (a rejected candidate is skipped).
// Every candidate is uniform on [0, 2^b) and 2^b < 2t, so each output is uniform on [0, t) and fewer than half of
// the candidates are rejected.
import { createCipheriv } from 'node:crypto';
import { SECAGG_LABEL } from './context.ts';
import { SecaggError } from './errors.ts';
import { hkdfSha256 } from './hkdf.ts';
import { checkModulus } from './residues.ts';

const PRG_SALT = Buffer.from(`${SECAGG_LABEL}/prg`, 'utf8');
const ZERO_IV = Buffer.alloc(16);
/** Longest mask one call expands, in entries: 2^27, the most slots a BFV contribution of @fedval/he can have (4096 ciphertexts × 32768 slots). */
export const MAX_MASK_LENGTH = 2 ** 27;

/** `length` values uniform in [0, t), expanded from `seed` (32 bytes) for the purpose named by `info`. See the module header for the byte rule. */
export function expandMask(seed: Uint8Array, info: string, length: number, plainModulus: bigint): BigUint64Array {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'a mask seed must be 32 bytes');
  if (typeof info !== 'string' || info.length === 0) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'info must be a non-empty string');
  if (!Number.isSafeInteger(length) || length < 0 || length > MAX_MASK_LENGTH) {
    throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', `length must be an integer in [0, ${MAX_MASK_LENGTH}]`);
  }
  const t = checkModulus(plainModulus);
  const key = hkdfSha256(seed, PRG_SALT, Buffer.from(info, 'utf8'), 32);
  const cipher = createCipheriv('aes-256-ctr', key, ZERO_IV);
  const bits = (t - 1n).toString(2).length;
  const out = new BigUint64Array(length);
  if (length === 0) return out;
  // 2^b < 2t: rejection probability below 1/2. Draw a little more than the expectation, then top up.
  const lowMask = bits >= 64 ? (1n << 64n) - 1n : (1n << BigInt(bits)) - 1n;
  const accept = Number((t * 1024n) >> BigInt(bits)) / 1024; // ≥ 1/2, lower bound of the acceptance rate
  let filled = 0;
  while (filled < length) {
    const candidates = Math.max(64, Math.ceil(((length - filled) / accept) * 1.05) + 16);
    const block = cipher.update(Buffer.alloc(candidates * 8));
    const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
    for (let j = 0; j < candidates && filled < length; j++) {
      const x = view.getBigUint64(8 * j, true) & lowMask;
      if (x < t) out[filled++] = x;
    }
  }
  return out;
}
