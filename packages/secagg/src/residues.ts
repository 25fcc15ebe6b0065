// residues.ts — integers mod the BFV plaintext modulus t: lifting signed values to [0, t) and back to centred representatives.
import { SecaggError } from './errors.ts';

const TWO_64 = 1n << 64n;

/** Checks t is a bigint in [2, 2^64) (the BFV plaintext modulus; @fedval/he keeps it below 2^60). */
export function checkModulus(plainModulus: unknown): bigint {
  if (typeof plainModulus !== 'bigint' || plainModulus < 2n || plainModulus >= TWO_64) {
    throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_MODULUS', `got ${typeof plainModulus === 'bigint' ? plainModulus : typeof plainModulus}`);
  }
  return plainModulus;
}

/** One integer (a safe-integer number or a bigint) reduced to its residue in [0, t). */
export function residue(value: number | bigint, plainModulus: bigint): bigint {
  let v: bigint;
  if (typeof value === 'bigint') v = value;
  else if (Number.isSafeInteger(value)) v = BigInt(value);
  else throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'vector entries must be safe integers or bigints');
  const r = v % plainModulus;
  return r < 0n ? r + plainModulus : r;
}

/** Every entry v as v mod t in [0, t) (the representative BFV adds in). */
export function liftToResidues(values: ArrayLike<number | bigint>, plainModulus: bigint): BigUint64Array {
  const t = checkModulus(plainModulus);
  const out = new BigUint64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = residue(values[i] as number | bigint, t);
  return out;
}

/**
 * The centred representative of every residue r ∈ [0, t): r when r ≤ ⌊(t−1)/2⌋, otherwise r − t; for odd t
 * (every BFV batching modulus is an odd prime) the range is [−(t−1)/2, (t−1)/2], the range @fedval/he packs into
 * and unpacks from. Entries are first reduced mod t, so any integer representative is accepted.
 */
export function centeredRepresentatives(residues: ArrayLike<number | bigint>, plainModulus: bigint): BigInt64Array {
  const t = checkModulus(plainModulus);
  const half = (t - 1n) / 2n;
  const out = new BigInt64Array(residues.length);
  for (let i = 0; i < residues.length; i++) {
    const r = residue(residues[i] as number | bigint, t);
    out[i] = r <= half ? r : r - t;
  }
  return out;
}
