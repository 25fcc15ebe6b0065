// Budget allocation and calibration: parameters round up, costs never exceed shares, and site noise sums as planned.
import { describe, expect, it } from 'vitest';
import { discreteGaussianRho, distributedDiscreteGaussianRho, skellamRho } from './accountant.ts';
import type { NoiseBlock } from './allocation.ts';
import { aggregateNoiseVariance, assertNoiseQuorum, boundedSumSensitivity, counterSensitivity, planNoise } from './allocation.ts';
import { addNoise } from './noise.ts';
import { seededRandomSource } from './random-source.ts';
import { compareRational, rational, rationalFromNumber, rationalToNumber } from './rational.ts';

const overall: NoiseBlock = { name: 'overall', offset: 0, length: 100, l1Sensitivity: 5, l2SensitivitySquared: 5 };
const subgroup: NoiseBlock = { name: 'subgroup', offset: 100, length: 200, l1Sensitivity: 5, l2SensitivitySquared: 5 };
const counts: NoiseBlock = { name: 'counts', offset: 300, length: 4, l1Sensitivity: 1, l2SensitivitySquared: 1 };

describe('planNoise', () => {
  it('splits ρ by weight and never spends more than asked', () => {
    const plan = planNoise({ rho: 0.024, mechanism: 'discrete-gaussian', shares: [{ block: overall, weight: 3 }, { block: subgroup, weight: 2 }, { block: counts, weight: 1 }] });
    expect(plan.blocks.map((b) => b.rho / 0.024)).toEqual([expect.closeTo(0.5, 10), expect.closeTo(1 / 3, 10), expect.closeTo(1 / 6, 10)]);
    expect(plan.rho).toBeLessThanOrEqual(0.024);
    expect(plan.rho).toBeGreaterThan(0.024 * (1 - 1e-9));
    expect(plan.minSites).toBe(1);
    expect(plan.blocks.every((b) => b.mechanism === 'discrete-gaussian')).toBe(true);
  });

  it('rounds the discrete Gaussian σ² up to the smallest grid value whose cost fits the share (exact check)', () => {
    const plan = planNoise({ rho: 0.0123, mechanism: 'discrete-gaussian', shares: [{ block: overall, weight: 1 }] });
    const block = plan.blocks[0]!;
    if (block.siteNoise.kind !== 'discrete-gaussian') throw new Error('expected discrete Gaussian');
    const sigma2 = block.siteNoise.sigma2;
    const grid = 1n << 20n;
    const k = (sigma2.numerator * grid) / sigma2.denominator;
    // Δ²/(2σ²) ≤ ρ  ⇔  2σ²ρ ≥ Δ², checked in exact rationals for σ² and one grid step below it.
    const rho = rationalFromNumber(block.rho);
    const fits = (num: bigint): boolean => compareRational(rational(2n * num * rho.numerator, grid * rho.denominator), rational(5n)) >= 0;
    expect(fits(k)).toBe(true);
    expect(fits(k - 1n)).toBe(false);
    expect(discreteGaussianRho(5, rationalToNumber(sigma2))).toBeLessThanOrEqual(block.rho);
  });

  it('sizes Skellam shares so that minSites of them cost at most the share, and one grid step less would not', () => {
    for (const minSites of [1, 3, 4]) {
      const plan = planNoise({ rho: 0.0146, mechanism: 'skellam', minSites, shares: [{ block: overall, weight: 1 }] });
      const block = plan.blocks[0]!;
      if (block.siteNoise.kind !== 'skellam') throw new Error('expected Skellam');
      const lambda = rationalToNumber(block.siteNoise.lambda);
      expect(block.siteVariance).toBeCloseTo(2 * lambda, 12);
      expect(skellamRho(5, 5, 2 * minSites * lambda)).toBeLessThanOrEqual(block.rho);
      expect(skellamRho(5, 5, 2 * minSites * (lambda - 2 ** -20))).toBeGreaterThan(block.rho * (1 - 1e-12));
      expect(plan.minSites).toBe(minSites);
      // Close to the Gaussian calibration Δ²/(2ρ): the Skellam surcharge (3Δ₂² + 6Δ₁)/(8μ²) is ≈ 1.3 % of ρ at μ ≈ 171.
      expect((2 * minSites * lambda) / (5 / (2 * block.rho))).toBeLessThan(1.02);
    }
  });

  it('refuses overlapping blocks, duplicate names, bad weights and minSites with the discrete Gaussian', () => {
    const shifted = { ...subgroup, offset: 50 };
    expect(() => planNoise({ rho: 0.1, mechanism: 'skellam', shares: [{ block: overall, weight: 1 }, { block: shifted, weight: 1 }] })).toThrow(
      expect.objectContaining({ code: 'FEDVAL_ERR_DP_OVERLAPPING_BLOCKS' }),
    );
    expect(() => planNoise({ rho: 0.1, mechanism: 'skellam', shares: [{ block: overall, weight: 1 }, { block: { ...counts, name: 'overall' }, weight: 1 }] })).toThrow(
      expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }),
    );
    expect(() => planNoise({ rho: 0.1, mechanism: 'skellam', shares: [{ block: overall, weight: 0 }] })).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }));
    expect(() => planNoise({ rho: 0.1, mechanism: 'laplace' as 'skellam', shares: [{ block: overall, weight: 1 }] })).toThrow(
      expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }),
    );
    expect(() => planNoise({ rho: -1, mechanism: 'skellam', shares: [{ block: overall, weight: 1 }] })).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }));
  });
});

describe('distributed discrete Gaussian shares', () => {
  it('calibrates the smallest local σ² on the grid whose n-share cost fits the block share', () => {
    for (const minSites of [1, 3]) {
      const plan = planNoise({ rho: 0.0146, mechanism: 'distributed-discrete-gaussian', minSites, shares: [{ block: overall, weight: 1 }] });
      const block = plan.blocks[0]!;
      const local = block.siteVariance;
      expect(distributedDiscreteGaussianRho(5, local, minSites, overall.length)).toBeLessThanOrEqual(block.rho);
      expect(distributedDiscreteGaussianRho(5, local - 2 ** -20, minSites, overall.length)).toBeGreaterThan(block.rho * (1 - 1e-9));
      // In aggregate it is the discrete Gaussian calibration, up to the grid step.
      expect(Math.abs(minSites * local - 5 / (2 * block.rho))).toBeLessThan(minSites * 2 ** -19);
    }
  });

  it('costs more than the Gaussian when local shares are tiny (τ term)', () => {
    expect(distributedDiscreteGaussianRho(1, 0.05, 3, 100) / discreteGaussianRho(1, 0.15)).toBeGreaterThan(100);
    // τ ≈ 10·e^{−2π²·20·(1/2)} ≈ 10⁻⁸⁵: the sum of three shares costs what one N_ℤ(0, 60) costs.
    expect(distributedDiscreteGaussianRho(1, 20, 3, 100)).toBeCloseTo(discreteGaussianRho(1, 60), 15);
    expect(distributedDiscreteGaussianRho(4, 7, 1, 100)).toBeCloseTo(discreteGaussianRho(4, 7), 15);
  });

  it('handles fixed-point blocks whose Skellam share would be too large to sample', () => {
    const sums: NoiseBlock = { name: 'sums', offset: 304, length: 2, ...boundedSumSensitivity(2, 2 ** 20) };
    const shares = [{ block: counts, weight: 1 }, { block: sums, weight: 1 }];
    expect(() => planNoise({ rho: 0.02, mechanism: 'skellam', minSites: 3, shares })).toThrow(
      expect.objectContaining({ code: 'FEDVAL_ERR_DP_SKELLAM_SHARE_TOO_LARGE' }),
    );
    const plan = planNoise({ rho: 0.02, mechanism: 'skellam', minSites: 3, shares: [shares[0]!, { ...shares[1]!, mechanism: 'distributed-discrete-gaussian' }] });
    expect(plan.blocks.map((b) => b.mechanism)).toEqual(['skellam', 'distributed-discrete-gaussian']);
    const vector = new Float64Array(306);
    addNoise(vector, plan, seededRandomSource('mixed'), { requireFullCoverage: false });
    expect(vector.every((v) => Number.isSafeInteger(v))).toBe(true);
  });
});

describe('sensitivity from the metric spec', () => {
  it('counts touched counters, and squares fixed-point bounds', () => {
    expect(counterSensitivity(6)).toEqual({ l1Sensitivity: 6, l2SensitivitySquared: 6 });
    // A Brier-score block: one patient adds at most 10 000 units (1.0 at scale 10⁴) to each of 2 sums.
    expect(boundedSumSensitivity(2, 10_000)).toEqual({ l1Sensitivity: 20_000, l2SensitivitySquared: 200_000_000 });
    expect(() => counterSensitivity(0)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }));
  });
});

describe('quorum and aggregate variance', () => {
  const plan = planNoise({ rho: 0.02, mechanism: 'skellam', minSites: 3, shares: [{ block: counts, weight: 1 }] });

  it('refuses an aggregate with fewer shares than minSites', () => {
    expect(() => assertNoiseQuorum(plan, 2)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_QUORUM_BELOW_MINIMUM' }));
    expect(() => assertNoiseQuorum(plan, 3)).not.toThrow();
  });

  it('grows with every extra share (the dropout margin: 4 shares planned for 3 carry 4/3 of the noise)', () => {
    const block = plan.blocks[0]!;
    expect(aggregateNoiseVariance(block, 4) / aggregateNoiseVariance(block, 3)).toBeCloseTo(4 / 3, 12);
  });
});

describe('addNoise', () => {
  it('adds noise whose aggregate over sites has the planned variance (Skellam shares, 3 sites)', () => {
    const block: NoiseBlock = { name: 'cells', offset: 0, length: 20_000, l1Sensitivity: 1, l2SensitivitySquared: 1 };
    const plan = planNoise({ rho: 0.05, mechanism: 'skellam', minSites: 3, shares: [{ block, weight: 1 }] });
    const truth = Float64Array.from({ length: 20_000 }, (_, i) => i % 17);
    const aggregate = new Float64Array(20_000);
    for (let site = 0; site < 3; site += 1) {
      const vector = Float64Array.from(truth, (v) => (site === 0 ? v : 0));
      addNoise(vector, plan, seededRandomSource(`site ${site}`));
      vector.forEach((v, i) => (aggregate[i]! += v));
    }
    let sum = 0;
    let sumSquares = 0;
    aggregate.forEach((v, i) => {
      expect(Number.isSafeInteger(v)).toBe(true);
      sum += v - truth[i]!;
      sumSquares += (v - truth[i]!) ** 2;
    });
    const variance = sumSquares / 20_000 - (sum / 20_000) ** 2;
    const planned = aggregateNoiseVariance(plan.blocks[0]!, 3);
    expect(planned).toBeGreaterThanOrEqual(1 / (2 * 0.05));
    // Relative standard error of a sample variance over 20 000 draws ≈ 1 %.
    expect(Math.abs(variance / planned - 1)).toBeLessThan(0.05);
  });

  it('refuses values that are not safe integers, blocks out of range, and incomplete coverage', () => {
    const plan = planNoise({ rho: 0.05, mechanism: 'discrete-gaussian', shares: [{ block: { ...counts, offset: 0 }, weight: 1 }] });
    const rng = seededRandomSource('refusals');
    expect(() => addNoise(Float64Array.of(1, 2, 3.5, 4), plan, rng)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_NOT_SAFE_INTEGER' }));
    expect(() => addNoise(new Float64Array(3), plan, rng)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_BLOCK_OUT_OF_RANGE' }));
    expect(() => addNoise(new Float64Array(6), plan, rng)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INCOMPLETE_COVERAGE' }));
    const partial = new Float64Array(6);
    addNoise(partial, plan, rng, { requireFullCoverage: false });
    expect([partial[4], partial[5]]).toEqual([0, 0]);
  });

  it('never puts a data value into an error message', () => {
    const plan = planNoise({ rho: 0.05, mechanism: 'discrete-gaussian', shares: [{ block: { ...counts, offset: 0 }, weight: 1 }] });
    try {
      addNoise(Float64Array.of(1, 2, 31337.5, 4), plan, seededRandomSource('message'));
      expect.unreachable();
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('31337');
    }
  });
});
