// masking.ts — double masking of a vector mod t and its removal from a sum (Bonawitz et al., "Practical Secure
// Aggregation for Privacy-Preserving Machine Learning", CCS 2017): y_u = x_u + PRG(b_u) + Σ_v Δ_{u,v}·PRG(s_{u,v}) mod t,
// Δ_{u,v} = +1 when u < v and −1 when u > v (site ids in canonical order, site-order.ts), so every pair's masks cancel in a sum.
import { SecaggError } from './errors.ts';
import { expandMask, expandMaskFloat, FLOAT_PATH_MAX_MODULUS } from './prg.ts';
import { centeredRepresentatives, checkModulus, residue } from './residues.ts';

/** PRG `info` of a site's self mask PRG(b_u). */
export const SELF_MASK_INFO = 'self-mask';
/** PRG `info` of a pairwise mask PRG(s_{u,v}); s_{u,v} comes from agreeSecret with purpose 'pairwise-mask'. */
export const PAIRWISE_MASK_INFO = 'pairwise-mask';

/** One pairwise mask a site adds: the secret it agreed with `peerId` and its sign, {@link pairwiseSign}(self, peerId). */
export interface PairwiseMask {
  peerId: string;
  secret: Uint8Array;
  sign: 1 | -1;
}

/** Everything a site masks its vector with. */
export interface MaskSeeds {
  /** b_u: 32 fresh random bytes per round, Shamir-shared among the sites. */
  selfSeed: Uint8Array;
  /** One entry per other site that completed the key exchange. */
  pairwise: readonly PairwiseMask[];
}

/** A pairwise mask a surviving site added and that must be removed because its peer dropped. */
export interface DroppedPairMask {
  /** s_{u,v}, recomputed from the dropped site's reconstructed agreement key and the survivor's public key. */
  secret: Uint8Array;
  /** The sign the surviving site used: pairwiseSign(survivor, dropped). */
  sign: 1 | -1;
}

/** What the unmasking party has recovered: b_u of every masked (surviving) site, and the pair secrets of survivors with dropped sites. */
export interface UnmaskSeeds {
  selfSeeds: readonly Uint8Array[];
  droppedPairs: readonly DroppedPairMask[];
}

function checkSign(sign: unknown): 1 | -1 {
  if (sign !== 1 && sign !== -1) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'a mask sign must be 1 or -1');
  return sign;
}

/** A vector of residues mod t: float64 integers when t ≤ 2^52 (no BigInt in the inner loops), BigInt otherwise. */
type Accumulator =
  | { kind: 'float'; values: Float64Array; t: number; modulus: bigint }
  | { kind: 'big'; values: BigUint64Array; t: bigint; modulus: bigint };

function accumulator(values: ArrayLike<number | bigint> | number, t: bigint): Accumulator {
  if (typeof values !== 'number' && (values === null || typeof values !== 'object' || !Number.isSafeInteger(values.length) || values.length < 0)) {
    throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'a vector must be an array or typed array of integers');
  }
  const length = typeof values === 'number' ? values : values.length;
  if (t <= BigInt(FLOAT_PATH_MAX_MODULUS)) {
    const acc = new Float64Array(length);
    if (typeof values !== 'number') {
      const tf = Number(t);
      for (let i = 0; i < length; i++) {
        const v = values[i] as number | bigint;
        if (typeof v === 'number' && Number.isSafeInteger(v)) {
          const r = v % tf;
          acc[i] = r < 0 ? r + tf : r + 0; // + 0 turns −0 into 0
        } else {
          acc[i] = Number(residue(v, t));
        }
      }
    }
    return { kind: 'float', values: acc, t: Number(t), modulus: t };
  }
  const acc = new BigUint64Array(length);
  if (typeof values !== 'number') for (let i = 0; i < length; i++) acc[i] = residue(values[i] as number | bigint, t);
  return { kind: 'big', values: acc, t, modulus: t };
}

/** acc += sign·PRG(seed, info) mod t, in place. */
function addMask(acc: Accumulator, seed: Uint8Array, info: string, sign: 1 | -1): void {
  if (acc.kind === 'float') {
    const { values, t } = acc;
    const mask = expandMaskFloat(seed, info, values.length, acc.modulus);
    for (let i = 0; i < values.length; i++) {
      const s = sign === 1 ? (values[i] as number) + (mask[i] as number) : (values[i] as number) - (mask[i] as number);
      values[i] = s >= t ? s - t : s < 0 ? s + t : s;
    }
    return;
  }
  const { values, t } = acc;
  const mask = expandMask(seed, info, values.length, t);
  for (let i = 0; i < values.length; i++) {
    const a = values[i] as bigint;
    const m = mask[i] as bigint;
    if (sign === 1) {
      const s = a + m;
      values[i] = s >= t ? s - t : s;
    } else {
      values[i] = a >= m ? a - m : a + t - m;
    }
  }
}

/** acc += other mod t, in place (both reduced). */
function addResidues(acc: Accumulator, other: Accumulator): void {
  if (acc.kind === 'float' && other.kind === 'float') {
    for (let i = 0; i < acc.values.length; i++) {
      const s = (acc.values[i] as number) + (other.values[i] as number);
      acc.values[i] = s >= acc.t ? s - acc.t : s;
    }
  } else if (acc.kind === 'big' && other.kind === 'big') {
    for (let i = 0; i < acc.values.length; i++) {
      const s = (acc.values[i] as bigint) + (other.values[i] as bigint);
      acc.values[i] = s >= acc.t ? s - acc.t : s;
    }
  }
}

function centred(acc: Accumulator): BigInt64Array {
  const out = new BigInt64Array(acc.values.length);
  if (acc.kind === 'float') {
    const half = (acc.t - 1) / 2;
    for (let i = 0; i < out.length; i++) {
      const r = acc.values[i] as number;
      out[i] = BigInt(r <= half ? r : r - acc.t);
    }
    return out;
  }
  return centeredRepresentatives(acc.values, acc.t);
}

function residueVector(acc: Accumulator): BigUint64Array {
  return acc.kind === 'float' ? BigUint64Array.from(acc.values, BigInt) : acc.values;
}

/**
 * y = x + PRG(b_u) + Σ sign·PRG(s_{u,v}) mod t, returned as centred representatives (the form @fedval/he's
 * packVector yields and its BFV encoder takes). `values` is the site's packed slot vector (any integer
 * representatives); mask every slot, used or not, so a single contribution decrypts to uniform noise.
 */
export function maskVector(values: ArrayLike<number | bigint>, seeds: MaskSeeds, plainModulus: bigint): BigInt64Array {
  const t = checkModulus(plainModulus);
  if (seeds === null || typeof seeds !== 'object' || !Array.isArray(seeds.pairwise)) {
    throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'seeds must be { selfSeed, pairwise: [] }');
  }
  const peers = new Set<string>();
  for (const pair of seeds.pairwise) {
    checkSign(pair.sign);
    if (peers.has(pair.peerId)) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', `two pairwise masks for peer ${JSON.stringify(pair.peerId)}`);
    peers.add(pair.peerId);
  }
  const acc = accumulator(values, t);
  addMask(acc, seeds.selfSeed, SELF_MASK_INFO, 1);
  for (const pair of seeds.pairwise) addMask(acc, pair.secret, PAIRWISE_MASK_INFO, pair.sign);
  return centred(acc);
}

/**
 * The residues to add to the sum of the survivors' masked vectors to remove their masks:
 * −Σ_u PRG(b_u) − Σ_(u,v) sign_{u,v}·PRG(s_{u,v}) mod t over survivors u and dropped sites v (Bonawitz et al. 2017, Round 4 Unmasking, server side).
 */
export function maskCorrection(length: number, seeds: UnmaskSeeds, plainModulus: bigint): BigUint64Array {
  const t = checkModulus(plainModulus);
  if (!Number.isSafeInteger(length) || length < 0) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'length must be a non-negative integer');
  return residueVector(correctionOf(length, seeds, t));
}

function correctionOf(length: number, seeds: UnmaskSeeds, t: bigint): Accumulator {
  if (seeds === null || typeof seeds !== 'object' || !Array.isArray(seeds.selfSeeds) || !Array.isArray(seeds.droppedPairs)) {
    throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'seeds must be { selfSeeds: [], droppedPairs: [] }');
  }
  for (const pair of seeds.droppedPairs) checkSign(pair.sign);
  const acc = accumulator(length, t);
  for (const seed of seeds.selfSeeds) addMask(acc, seed, SELF_MASK_INFO, -1);
  for (const pair of seeds.droppedPairs) addMask(acc, pair.secret, PAIRWISE_MASK_INFO, pair.sign === 1 ? -1 : 1);
  return acc;
}

/** The unmasked sum: (sum + maskCorrection) mod t as centred representatives, ready for @fedval/he's unpackSums. */
export function unmaskSum(sumModT: ArrayLike<number | bigint>, seeds: UnmaskSeeds, plainModulus: bigint): BigInt64Array {
  const t = checkModulus(plainModulus);
  const correction = correctionOf(sumModT.length, seeds, t);
  const acc = accumulator(sumModT, t);
  addResidues(acc, correction);
  return centred(acc);
}
