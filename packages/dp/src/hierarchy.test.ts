// Consistency across the group hierarchy: the closed-form star GLS against a dense constrained least-squares solve.
import { describe, expect, it } from 'vitest';
import { standardNormals } from './binormal-model.ts';
import { DpError } from './errors.ts';
import { hierarchyVariances, reconcileHierarchy } from './hierarchy.ts';
import { seededRandomSource } from './random-source.ts';
import { solve } from '../test-support/dense-solve.ts';

/**
 * Constrained GLS by the textbook formula: minimise (y − x)ᵀ D⁻¹ (y − x) subject to A x = 0, with D = diag(variances):
 * x̂ = y − D Aᵀ (A D Aᵀ)⁻¹ A y, Cov x̂ = D − D Aᵀ (A D Aᵀ)⁻¹ A D (Rao 1973, §4a.9).
 */
function denseGls(y: number[], variances: number[], a: number[][]): { estimate: number[]; covarianceDiagonal: number[] } {
  const n = y.length;
  const dat = Array.from({ length: n }, (_, i) => a.map((row) => variances[i]! * row[i]!)); // D Aᵀ, n × r
  const adat = a.map((row) => a.map((other) => row.reduce((s, v, i) => s + v * variances[i]! * other[i]!, 0)));
  const ay = a.map((row) => row.reduce((s, v, i) => s + v * y[i]!, 0));
  const lambda = solve(adat, ay);
  const estimate = y.map((yi, i) => yi - dat[i]!.reduce((s, v, r) => s + v * lambda[r]!, 0));
  const covarianceDiagonal = variances.map((v, i) => {
    const z = solve(adat, dat[i]!);
    return v - dat[i]!.reduce((s, w, r) => s + w * z[r]!, 0);
  });
  return { estimate, covarianceDiagonal };
}

describe('reconcileHierarchy: the star GLS', () => {
  // Overall + sex (2 levels + other + missing) + ethnicity (5 + 2), unequal noise per population.
  const levels = [4, 7];
  const v0 = 3.5;
  const vc = [9, 20];

  it('equals a dense constrained least-squares solve, entry by entry, and its variances the dense covariance', () => {
    const rng = seededRandomSource('hierarchy dense');
    const entries = 5;
    const noise = standardNormals(rng, entries * (1 + levels[0]! + levels[1]!));
    const overall = Float64Array.from({ length: entries }, (_, j) => 100 + 7 * j + noise[j]! * 3);
    const columns = levels.map((L, c) => ({
      levels: Array.from({ length: L }, (_, l) => Float64Array.from({ length: entries }, (__, j) => (100 + 7 * j) / L + noise[entries * (1 + c * levels[0]! + l) + j]! * 4)),
      variance: vc[c]!,
    }));
    const before = { overall: Float64Array.from(overall), columns: columns.map((c) => c.levels.map((l) => Float64Array.from(l))) };
    const variances = reconcileHierarchy(overall, v0, columns);
    // The dense problem per entry: unknowns (x₀, x_1ℓ…, x_2ℓ…), constraints x₀ − Σ_ℓ x_cℓ = 0 for each column.
    const n = 1 + levels[0]! + levels[1]!;
    const start = [1, 1 + levels[0]!];
    const a = levels.map((L, c) => Array.from({ length: n }, (_, i) => (i === 0 ? 1 : i >= start[c]! && i < start[c]! + L ? -1 : 0)));
    const pv = [v0, ...Array<number>(levels[0]!).fill(vc[0]!), ...Array<number>(levels[1]!).fill(vc[1]!)];
    for (let j = 0; j < entries; j += 1) {
      const y = [before.overall[j]!, ...before.columns[0]!.map((l) => l[j]!), ...before.columns[1]!.map((l) => l[j]!)];
      const dense = denseGls(y, pv, a);
      expect(overall[j]).toBeCloseTo(dense.estimate[0]!, 9);
      columns.forEach((column, c) => column.levels.forEach((level, l) => expect(level[j]).toBeCloseTo(dense.estimate[1 + (c === 0 ? 0 : levels[0]!) + l]!, 9)));
      // Consistent: every column's levels add up to the overall entry.
      for (const column of columns) expect(column.levels.reduce((s, level) => s + level[j]!, 0)).toBeCloseTo(overall[j]!, 9);
      if (j === 0) {
        expect(variances.overall).toBeCloseTo(dense.covarianceDiagonal[0]!, 12);
        expect(variances.columns[0]).toBeCloseTo(dense.covarianceDiagonal[1]!, 12);
        expect(variances.columns[1]).toBeCloseTo(dense.covarianceDiagonal[1 + levels[0]!]!, 12);
      }
    }
  });

  it('reduces the overall variance to 1/(1/v₀ + Σ 1/(L_c v_c)), confirmed by simulation, and leaves exact counts unchanged', () => {
    const closed = 1 / (1 / v0 + 1 / (levels[0]! * vc[0]!) + 1 / (levels[1]! * vc[1]!));
    expect(hierarchyVariances(v0, levels.map((L, c) => ({ levels: L, variance: vc[c]! }))).overall).toBeCloseTo(closed, 14);
    const rng = seededRandomSource('hierarchy simulation');
    const trials = 20_000;
    const noise = standardNormals(rng, trials * (1 + levels[0]! + levels[1]!));
    let k = 0;
    const overall = new Float64Array(trials);
    const columns = levels.map((L, c) => ({ levels: Array.from({ length: L }, () => new Float64Array(trials)), variance: vc[c]! }));
    for (let t = 0; t < trials; t += 1) {
      overall[t] = Math.sqrt(v0) * noise[k++]!;
      for (const column of columns) for (const level of column.levels) level[t] = Math.sqrt(column.variance) * noise[k++]!;
    }
    const variances = reconcileHierarchy(overall, v0, columns);
    const empirical = (xs: Float64Array) => xs.reduce((s, x) => s + x * x, 0) / xs.length;
    expect(empirical(overall) / variances.overall).toBeGreaterThan(0.96);
    expect(empirical(overall) / variances.overall).toBeLessThan(1.04);
    expect(empirical(columns[1]!.levels[3]!) / variances.columns[1]!).toBeGreaterThan(0.96);
    expect(empirical(columns[1]!.levels[3]!) / variances.columns[1]!).toBeLessThan(1.04);
    // Exact (consistent) inputs come back unchanged.
    const exact = Float64Array.of(10, 0, 25);
    const exactColumns = [{ levels: [Float64Array.of(4, 0, 20), Float64Array.of(6, 0, 5)], variance: 2 }];
    reconcileHierarchy(exact, 1, exactColumns);
    expect(Array.from(exact)).toEqual([10, 0, 25]);
    expect(exactColumns[0]!.levels.map((l) => Array.from(l))).toEqual([[4, 0, 20], [6, 0, 5]]);
  });

  it('refuses bad variances, empty columns and mismatched lengths with a coded error', () => {
    const code = (run: () => unknown): string | undefined => {
      try {
        run();
      } catch (error) {
        return error instanceof DpError ? error.code : undefined;
      }
      return undefined;
    };
    expect(code(() => hierarchyVariances(0, []))).toBe('FEDVAL_ERR_DP_INVALID_ARGUMENT');
    expect(code(() => hierarchyVariances(1, [{ levels: 0, variance: 1 }]))).toBe('FEDVAL_ERR_DP_INVALID_ARGUMENT');
    expect(code(() => hierarchyVariances(1, [{ levels: 2, variance: Number.NaN }]))).toBe('FEDVAL_ERR_DP_INVALID_ARGUMENT');
    expect(code(() => reconcileHierarchy(new Float64Array(2), 1, [{ levels: [new Float64Array(3)], variance: 1 }]))).toBe('FEDVAL_ERR_DP_INVALID_ARGUMENT');
  });
});
