// zCDP accounting checked against closed forms, numerically computed Rényi divergences, and scipy/mpmath references.
import { describe, expect, it } from 'vitest';
import { references } from '../test-support/references.ts';
import {
  bunSteinkeEpsilon,
  composeRho,
  deltaFromRho,
  discreteGaussianRho,
  epsilonFromRho,
  rhoFromEpsilon,
  skellamRenyiDivergence,
  skellamRho,
} from './accountant.ts';
import { DpError } from './errors.ts';

/** D_α(N_ℤ(shift, σ²) ‖ N_ℤ(0, σ²)) summed in log space over a wide range. */
function discreteGaussianRenyi(sigma2: number, shift: number, alpha: number): number {
  const span = Math.ceil(40 * Math.sqrt(sigma2) + 40 + alpha * shift);
  const logTerms: number[] = [];
  const logUnnormalised: number[] = [];
  for (let k = -span; k <= span; k += 1) {
    logUnnormalised.push(-(k * k) / (2 * sigma2));
    logTerms.push(alpha * (-((k - shift) ** 2) / (2 * sigma2)) + (1 - alpha) * (-(k * k) / (2 * sigma2)));
  }
  const logSumExp = (xs: number[]): number => {
    const m = Math.max(...xs);
    return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
  };
  // Both densities share the normalising constant Z, so Σ p^α q^(1−α) = Σ(unnormalised) / Z.
  return (logSumExp(logTerms) - logSumExp(logUnnormalised)) / (alpha - 1);
}

describe('discrete Gaussian ρ = Δ²/(2σ²)', () => {
  it('bounds the Rényi divergence of N_ℤ(Δ, σ²) from N_ℤ(0, σ²) at every order, and is tight for σ ≥ 1', () => {
    for (const sigma2 of [0.25, 1, 9, 400]) {
      for (const shift of [1, 2]) {
        const rho = discreteGaussianRho(shift * shift, sigma2);
        for (const alpha of [1.5, 2, 7, 30]) {
          const divergence = discreteGaussianRenyi(sigma2, shift, alpha);
          expect(divergence).toBeLessThanOrEqual(alpha * rho * (1 + 1e-9));
          if (sigma2 >= 1) expect(divergence).toBeGreaterThan(0.99 * alpha * rho);
        }
      }
    }
  });

  it('adds over independent coordinates (three counters touched: ρ = 3/(2σ²))', () => {
    const sigma2 = 50;
    const perCounter = discreteGaussianRenyi(sigma2, 1, 10);
    expect(3 * perCounter).toBeLessThanOrEqual(10 * discreteGaussianRho(3, sigma2) * (1 + 1e-9));
    expect(discreteGaussianRho(3, sigma2)).toBeCloseTo(3 / 100, 15);
  });

  it('refuses σ² ≤ 0', () => {
    expect(() => discreteGaussianRho(1, 0)).toThrow(DpError);
  });
});

describe('Skellam bound (Agarwal, Kairouz & Liu 2021, Theorem 3.5)', () => {
  it('bounds the Rényi divergence computed in 50-digit arithmetic (mpmath reference)', () => {
    for (const { variance, shift, alpha, divergence } of references.skellamRenyi) {
      expect(skellamRenyiDivergence(alpha, shift, shift * shift, variance)).toBeGreaterThanOrEqual(divergence);
      expect(alpha * skellamRho(shift, shift * shift, variance)).toBeGreaterThanOrEqual(divergence);
    }
  });

  it('skellamRho·α dominates the bound at every integer order', () => {
    for (const [l1, l2Squared, variance] of [[1, 1, 3], [5, 5, 500], [3, 9, 40], [1, 25, 10]] as const) {
      const rho = skellamRho(l1, l2Squared, variance);
      for (let alpha = 2; alpha <= 2000; alpha += 1) {
        expect(alpha * rho).toBeGreaterThanOrEqual(skellamRenyiDivergence(alpha, l1, l2Squared, variance) * (1 - 1e-12));
      }
    }
  });

  it('approaches the Gaussian ρ as the variance grows', () => {
    expect(skellamRho(5, 5, 1e6) / discreteGaussianRho(5, 1e6)).toBeLessThan(1 + 1e-5);
  });

  it('is stated for integer orders ≥ 2 only', () => {
    expect(() => skellamRenyiDivergence(1.5, 1, 1, 10)).toThrow(DpError);
  });
});

describe('composition', () => {
  it('adds ρ: k discrete Gaussian releases cost k·Δ²/(2σ²)', () => {
    expect(composeRho(Array.from({ length: 10 }, () => discreteGaussianRho(2, 40)))).toBeCloseTo(10 * (2 / 80), 14);
    expect(composeRho(Array.from({ length: 10 }, () => 0.1))).toBe(1);
    expect(composeRho([])).toBe(0);
    expect(() => composeRho([0.1, -0.01])).toThrow(DpError);
  });
});

describe('ρ → (ε, δ)', () => {
  it('Bun–Steinke Prop. 1.3 closed form', () => {
    expect(bunSteinkeEpsilon(0.5, Math.exp(-2))).toBeCloseTo(0.5 + 2 * Math.sqrt(0.5 * 2), 14);
    for (const c of references.conversions) expect(bunSteinkeEpsilon(c.rho, c.delta)).toBeCloseTo(c.epsilonBunSteinke, 12);
  });

  it('CKS20 Corollary 13 over integer orders matches the brute-force reference, and is tighter than Bun–Steinke', () => {
    for (const { rho, delta, epsilonIntegerOrders, epsilonRealOrders, epsilonBunSteinke } of references.conversions) {
      const epsilon = epsilonFromRho(rho, delta);
      expect(Math.abs(epsilon - epsilonIntegerOrders)).toBeLessThan(1e-10 * epsilonIntegerOrders);
      expect(epsilon).toBeGreaterThanOrEqual(epsilonRealOrders - 1e-12);
      expect(epsilon).toBeLessThan(epsilonBunSteinke);
    }
  });

  it('δ for a given ε matches the brute-force reference', () => {
    for (const { rho, epsilon, deltaIntegerOrders } of references.deltaFromRho) {
      expect(Math.abs(deltaFromRho(rho, epsilon) - deltaIntegerOrders)).toBeLessThanOrEqual(1e-9 * deltaIntegerOrders);
    }
  });

  it('upper-bounds the exact δ(ε) of the discrete Gaussian (CKS20 Theorem 7)', () => {
    for (const sigma2 of [2, 20, 200]) {
      const span = Math.ceil(60 * Math.sqrt(sigma2) + 60);
      let z = 0;
      for (let k = -span; k <= span; k += 1) z += Math.exp(-(k * k) / (2 * sigma2));
      const tail = (from: number): number => {
        let sum = 0;
        for (let k = from; k <= span; k += 1) sum += Math.exp(-(k * k) / (2 * sigma2)) / z;
        return sum;
      };
      for (const epsilon of [0.25, 0.5, 1, 2]) {
        const lower = Math.floor(epsilon * sigma2 - 0.5) + 1;
        const upper = Math.floor(epsilon * sigma2 + 0.5) + 1;
        const exactDelta = tail(lower) - Math.exp(epsilon) * tail(upper);
        expect(exactDelta).toBeLessThanOrEqual(deltaFromRho(discreteGaussianRho(1, sigma2), epsilon));
      }
    }
  });

  it('inverts: the largest ρ for (ε, δ) matches the reference and converts back to at most ε', () => {
    for (const { epsilon, delta, rho } of references.rhoFromEpsilon) {
      const found = rhoFromEpsilon(epsilon, delta);
      expect(Math.abs(found - rho)).toBeLessThan(1e-9 * rho);
      expect(epsilonFromRho(found, delta)).toBeLessThanOrEqual(epsilon);
      expect(epsilonFromRho(found * (1 + 1e-9), delta)).toBeGreaterThan(epsilon);
    }
  });

  it('handles ρ = 0 and refuses δ outside (0, 1)', () => {
    expect(epsilonFromRho(0, 1e-6)).toBe(0);
    expect(deltaFromRho(0, 1)).toBe(0);
    expect(() => epsilonFromRho(0.1, 0)).toThrow(DpError);
    expect(() => epsilonFromRho(0.1, 1)).toThrow(DpError);
    expect(() => rhoFromEpsilon(0, 1e-6)).toThrow(DpError);
  });
});
