// poisson.ts — exact Poisson and symmetric Skellam samplers using only uniform integers.
//
// Poisson(1): Duchon & Duvignau (2016), "Preserving the number of cycles of length k in a growing
// uniform permutation", Electronic Journal of Combinatorics 23(4) #P4.22, Algorithm 1 — it grows a
// uniform random permutation one element at a time and returns its number of fixed points in the
// limit, which is exactly Poisson(1). Poisson(λ) for rational λ = m + f (m integer, 0 ≤ f < 1) is the
// sum of m independent Poisson(1) draws plus a Poisson(f) draw, and Poisson(f) is Binomial(N, f) with
// N ~ Poisson(1) (thinning of a Poisson count). Cost grows linearly in λ.
import { DpError } from './errors.ts';
import type { Rational } from './rational.ts';
import type { RandomSource } from './random-source.ts';
import { bernoulliRational, uniformBelowSmall } from './random-source.ts';

/** One exact Poisson(1) draw (Duchon & Duvignau 2016, Algorithm 1). */
export function samplePoissonOne(rng: RandomSource): number {
  let count = 1;
  let size = 1;
  let guard = 0;
  for (;;) {
    const j = uniformBelowSmall(rng, size + 1);
    if (j === size) {
      count += 1;
    } else if (j >= guard) {
      count -= 1;
      guard = size + 1;
    } else {
      return count;
    }
    size += 1;
  }
}

/** One exact Poisson(λ) draw for a rational λ ≥ 0. */
export function samplePoisson(rng: RandomSource, lambda: Rational): number {
  const whole = lambda.numerator / lambda.denominator;
  const fraction = lambda.numerator % lambda.denominator;
  if (whole > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'Poisson mean too large');
  }
  let total = 0;
  for (let i = Number(whole); i > 0; i -= 1) total += samplePoissonOne(rng);
  if (fraction !== 0n) {
    for (let trials = samplePoissonOne(rng); trials > 0; trials -= 1) {
      if (bernoulliRational(rng, fraction, lambda.denominator)) total += 1;
    }
  }
  return total;
}

/**
 * One draw of the symmetric Skellam distribution Sk(λ, λ) = Poisson(λ) − Poisson(λ), variance 2λ.
 * Sums of independent symmetric Skellams are symmetric Skellam with the summed parameter.
 */
export function sampleSkellam(rng: RandomSource, lambda: Rational): number {
  return samplePoisson(rng, lambda) - samplePoisson(rng, lambda);
}
