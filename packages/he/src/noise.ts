// noise.ts — closed-form bound on the decryption noise of a sum of fresh, independently made BFV encryptions.
//
// A site encrypts with SEAL's public-key BFV encryption: a zero encryption at the key level
// (c0, c1) = (pk0·u + e1, pk1·u + e2), divided and rounded by the special prime p, plus
// round(q'·m/t) (SEAL 4.1, Encryptor::encrypt_zero_internal and multiply_add_plain_with_scaling_variant).
// With r1 the centred residue of c1 modulo p, the noise that remains at modulus q' is exactly
//   round((E_key − r1·s) / p),   E_key = −e·u + e1 + e2·s,
// then the site rounds c0 to a multiple of 2^d before sending (Spiral's component-wise
// modulus switching: Menon & Wu, IEEE S&P 2022, §3.3). Decryption of the sum of K such
// ciphertexts is exact while |noise| < q'/(2t) (Fan & Vercauteren, ePrint 2012/144, Lemma 2);
// the planner demands |noise| ≤ q'/(4t), one bit spare for SEAL's RNS decryption
// (Bajard, Eynard, Hasan & Zucca, SAC 2016).
//
// Per site and per coefficient:
//   deterministic part ≤ 21·(2N+1)/p + 1/2 (division rounding) + 1/2 (plaintext scaling)
//                        + the mean of the c0 rounding (≤ 1; 2^(d−1) in the worst case),
//   random part = Σ_j (r1_j/p)·(±s) over the nonzero coefficients of s (≤ N terms, each in an
//                 interval of width < 1, mean 0) + the centred c0 rounding (width 2^d − 1).
// 'worst-case' adds the largest value of every term: K·(deterministic + N/2).
// 'probabilistic' bounds the random part with Hoeffding's inequality (Hoeffding, JASA 58, 1963,
// Thm 2): P(|X| ≥ x) ≤ 2·exp(−2x² / Σ width²), with a union bound over all N·C coefficients.
// The terms are independent because c1 at the key level is indistinguishable from uniform
// under RLWE even to the holder of s (its secret is the site's fresh u), which makes r1 and
// c0 at modulus q' independent and uniform; see the package README for the argument.

export type NoiseBoundModel = 'probabilistic' | 'worst-case';

/** Largest |coefficient| of SEAL's error sampler: a centred binomial on 21 + 21 bits (SEAL util/rlwe.cpp, sample_poly_cbd). */
export const SEAL_ERROR_MAX = 21;

export interface NoiseInputs {
  /** Polynomial degree N. */
  degree: number;
  /** Number of summed contributions K. */
  contributions: number;
  /** The special prime p, dropped when SEAL encrypts. */
  specialPrime: bigint;
  /** Low bits of c0 each site rounds away, d. */
  c0DroppedBits: number;
  /** Ciphertexts per vector C (for the union bound). */
  ciphertextCount: number;
  model: NoiseBoundModel;
  /** log2 of the allowed probability that any coefficient of the aggregate exceeds the bound. */
  failureLog2: number;
}

/** Bound on |noise| of any coefficient of the aggregate, in integer units modulo q'. */
export function aggregateNoiseBound(x: NoiseInputs): number {
  const n = x.degree;
  const k = x.contributions;
  const keyNoise = (SEAL_ERROR_MAX * (2 * n + 1)) / Number(x.specialPrime);
  const roundingWidth = x.c0DroppedBits > 0 ? 2 ** x.c0DroppedBits - 1 : 0;
  if (x.model === 'worst-case') {
    const c0Rounding = x.c0DroppedBits > 0 ? 2 ** (x.c0DroppedBits - 1) : 0;
    return k * (keyNoise + 1 + c0Rounding + n / 2);
  }
  const c0Mean = x.c0DroppedBits > 0 ? 1 : 0;
  const widthSquares = k * (n + roundingWidth * roundingWidth);
  const logTerm = Math.log(2 * n * x.ciphertextCount) - x.failureLog2 * Math.LN2;
  return k * (keyNoise + 1 + c0Mean) + Math.sqrt((widthSquares * logTerm) / 2);
}

/** Whether q' leaves a factor 4 between t·bound and q' (|invariant noise| ≤ 1/4). */
export function noiseFits(ciphertextModulus: bigint, plainModulus: bigint, bound: number): boolean {
  return log2(ciphertextModulus) - log2(plainModulus) - Math.log2(bound) >= 2;
}

/**
 * Smallest invariant noise budget SEAL's Decryptor::invariant_noise_budget can report for an
 * aggregate within the bound: bits(q') − bits(t·bound) − 1.
 */
export function noiseBudgetLowerBound(ciphertextModulus: bigint, plainModulus: bigint, bound: number): number {
  const norm = plainModulus * BigInt(Math.ceil(bound));
  return Math.max(0, ciphertextModulus.toString(2).length - norm.toString(2).length - 1);
}

/** log2 of a positive bigint, accurate to ~1e-15 relative. */
export function log2(n: bigint): number {
  const bits = n.toString(2).length;
  if (bits <= 1000) return Math.log2(Number(n));
  return Math.log2(Number(n >> BigInt(bits - 64))) + (bits - 64);
}
