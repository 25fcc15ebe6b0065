// discrete-gaussian.ts — exact samplers for Bernoulli(exp(−γ)), the discrete Laplace and the discrete Gaussian.
//
// Canonne, Kamath & Steinke (2020), "The Discrete Gaussian for Differential Privacy", NeurIPS 2020
// (arXiv:2004.00010), Algorithms 1–3. Every step is exact: parameters are BigInt rationals and each
// decision compares a uniform integer drawn by rejection sampling. JS numbers only ever hold integers
// below 2^32 (words, small loop counters), which they represent exactly; no floating-point value is
// computed anywhere in this file.
import { DpError } from './errors.ts';
import type { Rational } from './rational.ts';
import { isqrt } from './rational.ts';
import type { RandomSource } from './random-source.ts';
import { uniformBelow, uniformBelowSmall } from './random-source.ts';

const TWO_POW_32 = 0x1_0000_0000;
const TWO_POW_32_BIG = 0x1_0000_0000n;

/** Bernoulli(exp(−a/b)) for 0 ≤ a ≤ b (CKS20 Algorithm 1, first part): the parity of the first failure. */
function bernoulliExpMinusUnit(rng: RandomSource, a: bigint, b: bigint): boolean {
  const small = b <= TWO_POW_32_BIG;
  const aSmall = small ? Number(a) : 0;
  const bSmall = small ? Number(b) : 0;
  let k = 1;
  for (;;) {
    // A ~ Bernoulli(γ / k) = Bernoulli(a / (b·k)).
    const denominatorSmall = bSmall * k; // exact: both factors < 2^32, product checked below 2^32
    const success =
      small && denominatorSmall <= TWO_POW_32
        ? uniformBelowSmall(rng, denominatorSmall) < aSmall
        : uniformBelow(rng, b * BigInt(k)) < a;
    if (!success) return k % 2 === 1;
    k += 1;
  }
}

/** Bernoulli(exp(−1)) — the most frequent call, kept on the small-number path. */
function bernoulliExpMinusOne(rng: RandomSource): boolean {
  let k = 1;
  while (uniformBelowSmall(rng, k) === 0) k += 1; // Bernoulli(1/k) succeeds iff the draw is 0
  return k % 2 === 1;
}

/**
 * Draws Bernoulli(exp(−γ)) exactly for a rational γ = numerator/denominator ≥ 0
 * (CKS20 Algorithm 1: γ ≤ 1 directly; γ > 1 as ⌊γ⌋ draws of Bernoulli(exp(−1)) and one of exp(−(γ−⌊γ⌋))).
 */
export function sampleBernoulliExp(rng: RandomSource, numerator: bigint, denominator: bigint): boolean {
  if (numerator < 0n || denominator <= 0n) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'γ must be a non-negative rational');
  }
  if (numerator <= denominator) return bernoulliExpMinusUnit(rng, numerator, denominator);
  const whole = numerator / denominator;
  for (let i = 0n; i < whole; i += 1n) {
    if (!bernoulliExpMinusOne(rng)) return false;
  }
  return bernoulliExpMinusUnit(rng, numerator % denominator, denominator);
}

/**
 * Draws from the discrete Laplace distribution with integer scale t ≥ 1,
 * P[Y = y] ∝ exp(−|y|/t) on ℤ (CKS20 Algorithm 2 with s = 1).
 */
export function sampleDiscreteLaplace(rng: RandomSource, scale: bigint): bigint {
  if (scale < 1n) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'discrete Laplace scale must be a positive integer');
  const smallScale = scale <= TWO_POW_32_BIG ? Number(scale) : 0;
  for (;;) {
    const u = smallScale > 0 ? BigInt(uniformBelowSmall(rng, smallScale)) : uniformBelow(rng, scale);
    if (!sampleBernoulliExp(rng, u, scale)) continue;
    let v = 0n;
    while (bernoulliExpMinusOne(rng)) v += 1n;
    const magnitude = u + scale * v;
    const negative = (rng.nextUint32() & 1) === 1;
    if (negative && magnitude === 0n) continue;
    return negative ? -magnitude : magnitude;
  }
}

/** A prepared exact sampler of the discrete Gaussian N_ℤ(0, σ²), P[Y = y] ∝ exp(−y²/(2σ²)). */
export interface DiscreteGaussianSampler {
  /** σ² exactly, as given. */
  readonly sigma2: Rational;
  /** One draw. */
  sample(rng: RandomSource): bigint;
}

/**
 * Prepares an exact discrete Gaussian sampler for σ² = n/d > 0 (CKS20 Algorithm 3): propose
 * Y ~ discrete Laplace with scale t = ⌊σ⌋ + 1, accept with probability exp(−(|Y| − σ²/t)² / (2σ²)).
 * Written over integers, the acceptance exponent is (|Y|·d·t − n)² / (2·n·d·t²).
 */
export function discreteGaussianSampler(sigma2: Rational): DiscreteGaussianSampler {
  const n = sigma2.numerator;
  const d = sigma2.denominator;
  if (n <= 0n || d <= 0n) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'σ² must be positive');
  const t = isqrt(n * d) / d + 1n; // ⌊√(n/d)⌋ = ⌊⌊√(n·d)⌋ / d⌋
  const dt = d * t;
  const gammaDenominator = 2n * n * d * t * t;
  return Object.freeze({
    sigma2,
    sample(rng: RandomSource): bigint {
      for (;;) {
        const y = sampleDiscreteLaplace(rng, t);
        const magnitude = y < 0n ? -y : y;
        const offset = magnitude * dt - n;
        if (sampleBernoulliExp(rng, offset * offset, gammaDenominator)) return y;
      }
    },
  });
}
