// The chi-square helper used by the sampler tests, checked against scipy and against samplers it must reject.
import { describe, expect, it } from 'vitest';
import { chiSquareGoodnessOfFit, chiSquareSurvival, discreteGaussianPmf } from '../test-support/goodness-of-fit.ts';
import { references } from '../test-support/references.ts';
import { discreteGaussianSampler } from './discrete-gaussian.ts';
import { seededRandomSource } from './random-source.ts';
import { ceilToDenominator, rational } from './rational.ts';

describe('chi-square helper', () => {
  it('matches scipy.stats.chi2.sf', () => {
    for (const { statistic, dof, sf } of references.chiSquareSurvival) {
      expect(chiSquareSurvival(statistic, dof)).toBeGreaterThan(sf * (1 - 1e-6));
      expect(chiSquareSurvival(statistic, dof)).toBeLessThan(sf * (1 + 1e-6));
    }
  });

  it('rejects a discrete Gaussian sampler whose σ is 5 % too large (the sampler tests can fail)', () => {
    const rng = seededRandomSource('power check');
    for (const sigma of [3, 150]) {
      const wrong = discreteGaussianSampler(ceilToDenominator((1.05 * sigma) ** 2, 1n << 20n));
      const samples = Array.from({ length: 100_000 }, () => Number(wrong.sample(rng)));
      const span = Math.ceil(8 * sigma + 10);
      const result = chiSquareGoodnessOfFit(samples, discreteGaussianPmf(sigma * sigma), -span, span);
      expect(result.pValue).toBeLessThan(1e-4);
    }
  });

  it('rejects a sampler that is shifted by one', () => {
    const rng = seededRandomSource('power check shift');
    const sampler = discreteGaussianSampler(rational(9n));
    const samples = Array.from({ length: 100_000 }, () => Number(sampler.sample(rng)) + 1);
    expect(chiSquareGoodnessOfFit(samples, discreteGaussianPmf(9), -40, 40).pValue).toBeLessThan(1e-4);
  });
});
