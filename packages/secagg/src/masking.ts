// masking.ts — double masking of a vector mod t and its removal from a sum (Bonawitz et al., "Practical Secure
// Aggregation for Privacy-Preserving Machine Learning", CCS 2017, §4): y_u = x_u + PRG(b_u) + Σ_v Δ_{u,v}·PRG(s_{u,v}) mod t,
// Δ_{u,v} = +1 when u < v and −1 when u > v (site ids in canonical order, site-order.ts), so every pair's masks cancel in a sum.
import { SecaggError } from './errors.ts';
import { expandMask } from './prg.ts';
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

/** acc += sign·PRG(seed, info) mod t, in place. */
function addMask(acc: BigUint64Array, seed: Uint8Array, info: string, sign: 1 | -1, t: bigint): void {
  const mask = expandMask(seed, info, acc.length, t);
  for (let i = 0; i < acc.length; i++) {
    const a = acc[i] as bigint;
    const m = mask[i] as bigint;
    if (sign === 1) {
      const s = a + m;
      acc[i] = s >= t ? s - t : s;
    } else {
      acc[i] = a >= m ? a - m : a + t - m;
    }
  }
}

function residues(values: ArrayLike<number | bigint>, t: bigint): BigUint64Array {
  const out = new BigUint64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = residue(values[i] as number | bigint, t);
  return out;
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
  const acc = residues(values, t);
  addMask(acc, seeds.selfSeed, SELF_MASK_INFO, 1, t);
  for (const pair of seeds.pairwise) addMask(acc, pair.secret, PAIRWISE_MASK_INFO, pair.sign, t);
  return centeredRepresentatives(acc, t);
}

/**
 * The residues to add to the sum of the survivors' masked vectors to remove their masks:
 * −Σ_u PRG(b_u) − Σ_(u,v) sign_{u,v}·PRG(s_{u,v}) mod t over survivors u and dropped sites v (Bonawitz et al. 2017, §4, Round 4, server side).
 */
export function maskCorrection(length: number, seeds: UnmaskSeeds, plainModulus: bigint): BigUint64Array {
  const t = checkModulus(plainModulus);
  if (!Number.isSafeInteger(length) || length < 0) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'length must be a non-negative integer');
  if (seeds === null || typeof seeds !== 'object' || !Array.isArray(seeds.selfSeeds) || !Array.isArray(seeds.droppedPairs)) {
    throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'seeds must be { selfSeeds: [], droppedPairs: [] }');
  }
  const acc = new BigUint64Array(length);
  for (const seed of seeds.selfSeeds) addMask(acc, seed, SELF_MASK_INFO, -1, t);
  for (const pair of seeds.droppedPairs) addMask(acc, pair.secret, PAIRWISE_MASK_INFO, checkSign(pair.sign) === 1 ? -1 : 1, t);
  return acc;
}

/** The unmasked sum: (sum + maskCorrection) mod t as centred representatives, ready for @fedval/he's unpackSums. */
export function unmaskSum(sumModT: ArrayLike<number | bigint>, seeds: UnmaskSeeds, plainModulus: bigint): BigInt64Array {
  const t = checkModulus(plainModulus);
  const acc = residues(sumModT, t);
  const correction = maskCorrection(acc.length, seeds, t);
  for (let i = 0; i < acc.length; i++) {
    const s = (acc[i] as bigint) + (correction[i] as bigint);
    acc[i] = s >= t ? s - t : s;
  }
  return centeredRepresentatives(acc, t);
}
