// Chi-square tail and CDF against R's pchisq; Wilson intervals against R's prop.test(correct = FALSE).
import { describe, expect, it } from 'vitest';
import { wilsonInterval } from './binary-metrics.ts';
import { chiSquareCdf, chiSquareSurvival, lnGamma, regularizedGammaP, regularizedGammaQ } from './special-functions.ts';
import { readReferenceJson } from './testing/reference-data.ts';

interface RReferences {
  pchisq: { x: number; df: number; upper: number; lower: number }[];
  wilson_prop_test: { successes: number; trials: number; ci95: [number, number] }[];
}
const r = readReferenceJson<RReferences>('r_references.json');

/** |a − b| <= tol·max(|b|, tiny): relative for tail probabilities down to 1e-40. */
function expectRelative(actual: number, expected: number, tolerance: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(tolerance * Math.max(Math.abs(expected), 1e-300));
}

describe('chi-square distribution', () => {
  it.each(r.pchisq.map((c) => [c.x, c.df, c.upper, c.lower]))('x = %d, df = %d matches pchisq', (x, df, upper, lower) => {
    expectRelative(chiSquareSurvival(x as number, df as number), upper as number, 1e-12);
    expectRelative(chiSquareCdf(x as number, df as number), lower as number, 1e-12);
  });

  it('agrees with closed forms', () => {
    // df = 2: P(χ² > x) = e^{−x/2}; df = 1: P(χ² <= x) = erf(√(x/2)), here at x = 1.
    for (const x of [0.01, 1, 7.5, 60]) expectRelative(chiSquareSurvival(x, 2), Math.exp(-x / 2), 1e-13);
    expectRelative(chiSquareCdf(1, 1), 0.6826894921370859, 1e-14);
    expect(chiSquareSurvival(0, 3)).toBe(1);
    expect(chiSquareCdf(-1, 3)).toBe(0);
    expect(regularizedGammaP(2, 3) + regularizedGammaQ(2, 3)).toBeCloseTo(1, 15);
  });

  it('computes ln Γ at known points', () => {
    expect(lnGamma(1)).toBeCloseTo(0, 14);
    expect(lnGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 14);
    expect(lnGamma(10)).toBeCloseTo(Math.log(362880), 12);
    expect(lnGamma(101)).toBeCloseTo(363.73937555556347, 10);
  });
});

describe('Wilson score interval', () => {
  it.each(r.wilson_prop_test.map((c) => [c.successes, c.trials, c.ci95]))('%d of %d matches prop.test', (x, n, ci) => {
    const interval = wilsonInterval(x as number, n as number);
    expect(interval?.[0]).toBeCloseTo((ci as number[])[0] as number, 13);
    expect(interval?.[1]).toBeCloseTo((ci as number[])[1] as number, 13);
  });

  it('is null without trials and widens by noise variance', () => {
    expect(wilsonInterval(0, 0)).toBeNull();
    const plain = wilsonInterval(40, 100) as [number, number];
    const noisy = wilsonInterval(40, 100, 0.001) as [number, number];
    const z = 1.959963984540054;
    expect(noisy[0]).toBeCloseTo(0.4 - Math.sqrt((0.4 - plain[0]) ** 2 + z * z * 0.001), 15);
    expect(noisy[1]).toBeCloseTo(0.4 + Math.sqrt((plain[1] - 0.4) ** 2 + z * z * 0.001), 15);
  });
});
