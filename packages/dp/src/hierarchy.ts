// hierarchy.ts — consistency across the group hierarchy: the least-squares reconciliation of noisy overall and subgroup counts.
//
// Every subgroup column partitions the same patients, so for any count (a histogram bin or a tree node) the levels of
// each column add up to the overall count. The release noises the overall population and each column independently
// (variance v₀ per overall entry, v_c per entry of column c, i.i.d.), which breaks those sums. The generalized least
// squares estimate under the constraints (Gauss–Markov with linear restrictions: Rao, "Linear Statistical Inference and
// its Applications", 2nd ed. 1973, §4a.9; the same idea as the consistent tree of Hay, Rastogi, Miklau & Suciu, PVLDB
// 3(1), 2010, applied across populations) has a closed form for this "star" (overall + k partitions):
//   s_c = Σ_ℓ y_cℓ                                   (column c's estimate of the overall count, variance L_c·v_c)
//   x̂₀ = (y₀/v₀ + Σ_c s_c/(L_c·v_c)) / (1/v₀ + Σ_c 1/(L_c·v_c))                 Var x̂₀ = V₀ = 1/(1/v₀ + Σ_c 1/(L_c·v_c))
//   x̂_cℓ = y_cℓ + (x̂₀ − s_c)/L_c                                                Var x̂_cℓ = v_c·(1 − 1/L_c) + V₀/L_c²
// (given x̂₀, each column's problem is the projection of its levels onto Σ_ℓ x_cℓ = x̂₀; the residual cost of column c is
// (x̂₀ − s_c)²/(L_c·v_c), whose minimiser over x̂₀ is the weighted mean above; y_cℓ − s_c/L_c is uncorrelated with s_c).
// Applied entry by entry, with the same coefficients for every entry, it keeps entries independent with one variance per
// population, so it commutes with the tree's least-squares estimate (both are orthogonal projections in the same metric,
// acting on different factors): reconciling the tree nodes and then estimating each tree is the joint least squares.
// Post-processing of released values: no privacy cost (Dwork & Roth 2014, Prop. 2.1).
import { DpError } from './errors.ts';

/** One subgroup column: the noisy vectors of its levels (all the same length as the overall one) and their noise variance per entry. */
export interface HierarchyColumn {
  readonly levels: readonly Float64Array[];
  /** Noise variance of one entry of any level of this column (> 0). */
  readonly variance: number;
}

/** Per-entry noise variances of the reconciled estimates. */
export interface HierarchyVariances {
  /** Of an overall entry: V₀. */
  readonly overall: number;
  /** Of an entry of a level of each column, in the columns' order. */
  readonly columns: readonly number[];
}

function checkColumns(overallVariance: number, columns: readonly { readonly levels: number; readonly variance: number }[]): void {
  if (!(Number.isFinite(overallVariance) && overallVariance > 0)) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'the overall noise variance must be a finite number > 0');
  columns.forEach((column, c) => {
    if (!(Number.isSafeInteger(column.levels) && column.levels >= 1)) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `column ${c} needs at least one level`);
    if (!(Number.isFinite(column.variance) && column.variance > 0)) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `the noise variance of column ${c} must be a finite number > 0`);
  });
}

/** The variances of the reconciled estimates (closed form in the header), from the variances and level counts alone. */
export function hierarchyVariances(overallVariance: number, columns: readonly { readonly levels: number; readonly variance: number }[]): HierarchyVariances {
  checkColumns(overallVariance, columns);
  const precision = columns.reduce((total, { levels, variance }) => total + 1 / (levels * variance), 1 / overallVariance);
  const overall = 1 / precision;
  return Object.freeze({
    overall,
    columns: Object.freeze(columns.map(({ levels, variance }) => variance * (1 - 1 / levels) + overall / (levels * levels))),
  });
}

/**
 * Reconciles, in place, a noisy overall vector with the noisy level vectors of each column (entry by entry, the closed
 * form in the header), so that every column's levels add up to the overall entry; returns the estimates' variances.
 */
export function reconcileHierarchy(overall: Float64Array, overallVariance: number, columns: readonly HierarchyColumn[]): HierarchyVariances {
  const variances = hierarchyVariances(overallVariance, columns.map((column) => ({ levels: column.levels.length, variance: column.variance })));
  for (const column of columns) {
    for (const level of column.levels) {
      if (level.length !== overall.length) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `every level vector must have ${overall.length} entries`);
    }
  }
  const precision = 1 / variances.overall;
  for (let j = 0; j < overall.length; j += 1) {
    // x̂₀ as y₀ plus the precision-weighted mean of the columns' disagreements with it (the same weighted mean): exact,
    // with no rounding residue, when the columns already agree with the overall entry (a release without noise).
    const y0 = overall[j]!;
    let correction = 0;
    const sums = columns.map(({ levels, variance }) => {
      let s = 0;
      for (const level of levels) s += level[j]!;
      correction += (s - y0) / (levels.length * variance);
      return s;
    });
    const estimate = y0 + correction / precision;
    overall[j] = estimate;
    columns.forEach(({ levels }, c) => {
      const shift = (estimate - sums[c]!) / levels.length;
      for (const level of levels) level[j] = level[j]! + shift;
    });
  }
  return variances;
}
