// prg.ts — mask expansion: a 32-byte seed to a vector uniform in [0, t)^length, with AES-256-CTR as the PRG
// (the PRG of Bonawitz et al., CCS 2017; NIST SP 800-38A §6.5 CTR mode) and rejection sampling.
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

/** Largest t taken on the float64 path: residues and the sum of two of them stay exact integers below 2^53. */
export const FLOAT_PATH_MAX_MODULUS = 2 ** 52;

function checkArguments(seed: Uint8Array, info: string, length: number): void {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'a mask seed must be 32 bytes');
  if (typeof info !== 'string' || info.length === 0) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'info must be a non-empty string');
  if (!Number.isSafeInteger(length) || length < 0 || length > MAX_MASK_LENGTH) {
    throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', `length must be an integer in [0, ${MAX_MASK_LENGTH}]`);
  }
}

/** Calls `visit(view, offset)` for each 8-byte candidate of the keystream until it has accepted `length` of them. */
function forEachCandidate(seed: Uint8Array, info: string, length: number, acceptRate: number, visit: (view: DataView, offset: number) => boolean): void {
  const key = hkdfSha256(seed, PRG_SALT, Buffer.from(info, 'utf8'), 32);
  const cipher = createCipheriv('aes-256-ctr', key, ZERO_IV);
  let filled = 0;
  while (filled < length) {
    // Draw a little more than the expectation, then top up; a block is always consumed whole before the next.
    const candidates = Math.max(64, Math.ceil(((length - filled) / acceptRate) * 1.05) + 16);
    const block = cipher.update(Buffer.alloc(candidates * 8));
    const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
    for (let j = 0; j < candidates && filled < length; j++) if (visit(view, 8 * j)) filled += 1;
  }
}

/** Lower bound of the acceptance rate t / 2^b (≥ 1/2). */
function acceptRate(t: bigint, bits: number): number {
  return Number((t * 1024n) >> BigInt(bits)) / 1024;
}

/** {@link expandMask} for t ≤ 2^52 as float64 integers (the same values, without BigInt). */
export function expandMaskFloat(seed: Uint8Array, info: string, length: number, plainModulus: bigint): Float64Array {
  checkArguments(seed, info, length);
  const t = checkModulus(plainModulus);
  if (t > BigInt(FLOAT_PATH_MAX_MODULUS)) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_MODULUS', 'the float64 path needs t ≤ 2^52');
  const bits = (t - 1n).toString(2).length;
  const tf = Number(t);
  const out = new Float64Array(length);
  if (length === 0) return out;
  const lowBits = Math.min(bits, 32);
  const lowMask = lowBits === 32 ? 0xffffffff : 2 ** lowBits - 1;
  const highMask = bits > 32 ? 2 ** (bits - 32) - 1 : 0;
  let filled = 0;
  forEachCandidate(seed, info, length, acceptRate(t, bits), (view, offset) => {
    const low = lowMask === 0xffffffff ? view.getUint32(offset, true) : view.getUint32(offset, true) & lowMask;
    const x = highMask === 0 ? low : (view.getUint32(offset + 4, true) & highMask) * 4294967296 + low;
    if (x >= tf) return false;
    out[filled++] = x;
    return true;
  });
  return out;
}

/** `length` values uniform in [0, t), expanded from `seed` (32 bytes) for the purpose named by `info`. See the module header for the byte rule. */
export function expandMask(seed: Uint8Array, info: string, length: number, plainModulus: bigint): BigUint64Array {
  checkArguments(seed, info, length);
  const t = checkModulus(plainModulus);
  if (t <= BigInt(FLOAT_PATH_MAX_MODULUS)) return BigUint64Array.from(expandMaskFloat(seed, info, length, t), BigInt);
  const bits = (t - 1n).toString(2).length;
  const lowMask = bits >= 64 ? (1n << 64n) - 1n : (1n << BigInt(bits)) - 1n;
  const out = new BigUint64Array(length);
  if (length === 0) return out;
  let filled = 0;
  forEachCandidate(seed, info, length, acceptRate(t, bits), (view, offset) => {
    const x = view.getBigUint64(offset, true) & lowMask;
    if (x >= t) return false;
    out[filled++] = x;
    return true;
  });
  return out;
}
