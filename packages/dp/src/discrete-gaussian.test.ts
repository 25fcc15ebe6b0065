// Exact samplers of CKS20 checked against closed-form distributions by chi-square tests over 10^5 draws.
import { describe, expect, it } from 'vitest';
import { chiSquareGoodnessOfFit, discreteGaussianPmf } from '../test-support/goodness-of-fit.ts';
import { discreteGaussianSampler, sampleBernoulliExp, sampleDiscreteLaplace } from './discrete-gaussian.ts';
import { DpError } from './errors.ts';
import { seededRandomSource } from './random-source.ts';
import type { Rational } from './rational.ts';
import { ceilToDenominator, rational, rationalToNumber } from './rational.ts';

const DRAWS = 100_000;
const P_THRESHOLD = 1e-4;

/** Two-sided binomial z-score of `successes` in `n` trials at probability p. */
function zScore(successes: number, n: number, p: number): number {
  return (successes - n * p) / Math.sqrt(n * p * (1 - p));
}

describe('sampleBernoulliExp', () => {
  it('succeeds with probability exp(−γ) for rational γ below, at and above 1', () => {
    const rng = seededRandomSource('bernoulli-exp');
    for (const [num, den] of [[1n, 3n], [1n, 1n], [5n, 2n], [7n, 1n], [123456789n, 98765432101n]] as const) {
      let successes = 0;
      for (let i = 0; i < DRAWS; i += 1) if (sampleBernoulliExp(rng, num, den)) successes += 1;
      expect(Math.abs(zScore(successes, DRAWS, Math.exp(-Number(num) / Number(den))))).toBeLessThan(4.5);
    }
  });

  it('always succeeds at γ = 0', () => {
    const rng = seededRandomSource('bernoulli-exp-zero');
    for (let i = 0; i < 1000; i += 1) expect(sampleBernoulliExp(rng, 0n, 7n)).toBe(true);
  });

  it('refuses a negative γ', () => {
    expect(() => sampleBernoulliExp(seededRandomSource('x'), -1n, 2n)).toThrow(DpError);
  });
});

describe('sampleDiscreteLaplace', () => {
  it('matches P[Y = y] ∝ exp(−|y|/t)', () => {
    const rng = seededRandomSource('discrete-laplace');
    for (const t of [1, 3, 40]) {
      const samples = Array.from({ length: DRAWS }, () => Number(sampleDiscreteLaplace(rng, BigInt(t))));
      const z = (1 + Math.exp(-1 / t)) / (1 - Math.exp(-1 / t));
      const pmf = (k: number): number => Math.exp(-Math.abs(k) / t) / z;
      const span = Math.ceil(30 * t);
      expect(chiSquareGoodnessOfFit(samples, pmf, -span, span).pValue).toBeGreaterThan(P_THRESHOLD);
    }
  });
});

describe('discreteGaussianSampler', () => {
  const cases: { label: string; sigma2: Rational }[] = [
    { label: 'σ = 0.5', sigma2: rational(1n, 4n) },
    { label: 'σ² = 0.7 (σ < 1, not a perfect square)', sigma2: rational(7n, 10n) },
    { label: 'σ = 3', sigma2: rational(9n) },
    { label: 'σ² = 1234.567 on the 2^-20 grid', sigma2: ceilToDenominator(1234.567, 1n << 20n) },
    { label: 'σ = 150', sigma2: rational(22_500n) },
    { label: 'σ ≈ 1000.3', sigma2: ceilToDenominator(1000.3 ** 2, 1n << 20n) },
  ];
  for (const { label, sigma2 } of cases) {
    it(`matches the N_ℤ(0, σ²) pmf by chi-square over 10^5 draws (${label})`, () => {
      const rng = seededRandomSource(`discrete-gaussian ${label}`);
      const sampler = discreteGaussianSampler(sigma2);
      const samples = Array.from({ length: DRAWS }, () => Number(sampler.sample(rng)));
      const s2 = rationalToNumber(sigma2);
      const span = Math.ceil(8 * Math.sqrt(s2) + 10);
      const result = chiSquareGoodnessOfFit(samples, discreteGaussianPmf(s2), -span, span);
      expect(result.cells).toBeGreaterThan(2);
      expect(result.pValue).toBeGreaterThan(P_THRESHOLD);
    });
  }

  it('refuses σ² = 0', () => {
    expect(() => discreteGaussianSampler(rational(0n))).toThrow(DpError);
  });
});

describe('distributed discrete Gaussian shares (Kairouz, Liu & Steinke 2021)', () => {
  it('three N_ℤ(0, 3) shares sum to N_ℤ(0, 9) within τ ≈ 10⁻¹¹ (chi-square over 10^5 sums)', () => {
    const rng = seededRandomSource('ddg shares');
    const share = discreteGaussianSampler(rational(3n));
    const sums = Array.from({ length: DRAWS }, () => Number(share.sample(rng) + share.sample(rng) + share.sample(rng)));
    expect(chiSquareGoodnessOfFit(sums, discreteGaussianPmf(9), -40, 40).pValue).toBeGreaterThan(P_THRESHOLD);
  });

  it('but tiny shares do not: three N_ℤ(0, 0.1) shares are far from N_ℤ(0, 0.3), which is why τ is charged', () => {
    const rng = seededRandomSource('ddg tiny shares');
    const share = discreteGaussianSampler(rational(1n, 10n));
    const sums = Array.from({ length: DRAWS }, () => Number(share.sample(rng) + share.sample(rng) + share.sample(rng)));
    expect(chiSquareGoodnessOfFit(sums, discreteGaussianPmf(0.3), -10, 10).pValue).toBeLessThan(P_THRESHOLD);
  });
});
