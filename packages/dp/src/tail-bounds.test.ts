// Tail bounds of aggregate noise, checked against exact tails of the closed-form pmfs.
import { describe, expect, it } from 'vitest';
import { discreteGaussianPmf } from '../test-support/goodness-of-fit.ts';
import { references } from '../test-support/references.ts';
import type { NoiseBlock, PlannedBlock } from './allocation.ts';
import { planNoise } from './allocation.ts';
import { rational } from './rational.ts';
import { noiseTailBound } from './tail-bounds.ts';

const block: NoiseBlock = { name: 'cells', offset: 0, length: 10, l1Sensitivity: 1, l2SensitivitySquared: 1 };

/** Smallest B with P[|X| > B] ≤ p for a symmetric pmf on [−span, span]. */
function exactQuantile(pmf: (k: number) => number, span: number, p: number): number {
  let outside = 1 - pmf(0);
  for (let b = 0; b <= span; b += 1) {
    if (b > 0) outside -= 2 * pmf(b);
    if (outside <= p) return b;
  }
  return span;
}

describe('noiseTailBound', () => {
  it('covers the exact discrete Gaussian tail for the sum over sites, without being loose by more than 40 %', () => {
    const plan = planNoise({ rho: 0.005, mechanism: 'discrete-gaussian', shares: [{ block, weight: 1 }] });
    const planned = plan.blocks[0]!;
    for (const p of [1e-3, 1e-9]) {
      // One site, where the exact pmf is known: N_ℤ(0, σ²).
      const exact = exactQuantile(discreteGaussianPmf(planned.siteVariance), 2000, p);
      const bound = noiseTailBound(planned, 1, p);
      expect(bound).toBeGreaterThanOrEqual(exact);
      expect(bound).toBeLessThan(1.4 * exact);
    }
  });

  it('covers the exact Skellam tail of 4 shares summing to Sk(50) (scipy.stats.skellam)', () => {
    const table = references.skellamPmf.find((t) => t.lambda === 50)!;
    const pmf = (k: number): number => table.pmf[k - table.lo] ?? 0;
    const planned: PlannedBlock = { ...block, mechanism: 'skellam', rho: 0, siteNoise: { kind: 'skellam', lambda: rational(25n, 2n) }, siteVariance: 25 };
    for (const p of [1e-2, 1e-6]) {
      const exact = exactQuantile(pmf, table.hi, p);
      const bound = noiseTailBound(planned, 4, p);
      expect(bound).toBeGreaterThanOrEqual(exact);
      expect(bound).toBeLessThan(1.4 * exact);
    }
  });

  it('refuses a probability outside (0, 1)', () => {
    const plan = planNoise({ rho: 0.005, mechanism: 'skellam', minSites: 2, shares: [{ block, weight: 1 }] });
    expect(() => noiseTailBound(plan.blocks[0]!, 2, 0)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }));
  });
});
