// Exact Poisson and Skellam samplers, and Skellam noise shares whose sum must be Skellam with the summed parameter.
import { describe, expect, it } from 'vitest';
import { chiSquareGoodnessOfFit, poissonPmf } from '../test-support/goodness-of-fit.ts';
import { references } from '../test-support/references.ts';
import { samplePoisson, samplePoissonOne, sampleSkellam } from './poisson.ts';
import { seededRandomSource } from './random-source.ts';
import { rational } from './rational.ts';

const DRAWS = 100_000;
const P_THRESHOLD = 1e-4;

function skellamReference(lambda: number): (typeof references.skellamPmf)[number] {
  const table = references.skellamPmf.find((t) => Math.abs(t.lambda - lambda) < 1e-12);
  if (!table) throw new Error(`no scipy Skellam table for λ = ${lambda}`);
  return table;
}

describe('samplePoissonOne (Duchon & Duvignau 2016)', () => {
  it('matches the Poisson(1) pmf', () => {
    const rng = seededRandomSource('poisson-one');
    const samples = Array.from({ length: DRAWS }, () => samplePoissonOne(rng));
    expect(chiSquareGoodnessOfFit(samples, poissonPmf(1), 0, 20).pValue).toBeGreaterThan(P_THRESHOLD);
  });
});

describe('samplePoisson', () => {
  for (const [num, den] of [[1n, 3n], [7n, 3n], [25n, 1n], [0n, 1n]] as const) {
    it(`matches the Poisson(${num}/${den}) pmf`, () => {
      const rng = seededRandomSource(`poisson ${num}/${den}`);
      const lambda = rational(num, den);
      const samples = Array.from({ length: DRAWS }, () => samplePoisson(rng, lambda));
      const mean = Number(num) / Number(den);
      if (mean === 0) {
        expect(samples.every((s) => s === 0)).toBe(true);
        return;
      }
      const hi = Math.ceil(mean + 12 * Math.sqrt(mean) + 20);
      expect(chiSquareGoodnessOfFit(samples, poissonPmf(mean), 0, hi).pValue).toBeGreaterThan(P_THRESHOLD);
    });
  }
});

describe('Skellam noise shares', () => {
  it('a single share Sk(1/3) matches scipy.stats.skellam', () => {
    const rng = seededRandomSource('skellam single');
    const table = skellamReference(1 / 3);
    const samples = Array.from({ length: DRAWS }, () => sampleSkellam(rng, rational(1n, 3n)));
    const pmf = (k: number): number => table.pmf[k - table.lo] ?? 0;
    expect(chiSquareGoodnessOfFit(samples, pmf, table.lo, table.hi).pValue).toBeGreaterThan(P_THRESHOLD);
  });

  it('the sum of 3 shares Sk(7/3) is Sk(7), and of 4 shares Sk(25/2) is Sk(50) (scipy.stats.skellam)', () => {
    for (const { sites, share, total } of [
      { sites: 3, share: rational(7n, 3n), total: 7 },
      { sites: 4, share: rational(25n, 2n), total: 50 },
    ]) {
      const rng = seededRandomSource(`skellam shares ${sites}`);
      const table = skellamReference(total);
      const sums = Array.from({ length: DRAWS }, () => {
        let sum = 0;
        for (let s = 0; s < sites; s += 1) sum += sampleSkellam(rng, share);
        return sum;
      });
      const pmf = (k: number): number => table.pmf[k - table.lo] ?? 0;
      expect(chiSquareGoodnessOfFit(sums, pmf, table.lo, table.hi).pValue).toBeGreaterThan(P_THRESHOLD);
    }
  });

  it('rejects sums from too few shares (the share test can fail)', () => {
    const rng = seededRandomSource('skellam dropout');
    const table = skellamReference(7);
    const sums = Array.from({ length: DRAWS }, () => sampleSkellam(rng, rational(7n, 3n)) + sampleSkellam(rng, rational(7n, 3n)));
    const pmf = (k: number): number => table.pmf[k - table.lo] ?? 0;
    expect(chiSquareGoodnessOfFit(sums, pmf, table.lo, table.hi).pValue).toBeLessThan(P_THRESHOLD);
  });
});
