// binary-metrics.ts — discrimination metrics of a binary score from its two class histograms on the grid.
import { Z_95 } from './special-functions.ts';

/** Negative-class and positive-class score histograms on the same B-bin grid (non-negative). */
export interface ClassHistograms {
  readonly negative: ArrayLike<number>;
  readonly positive: ArrayLike<number>;
}

export type Interval = [number, number];

function total(values: ArrayLike<number>): number {
  let sum = 0;
  for (let k = 0; k < values.length; k += 1) sum += values[k] as number;
  return sum;
}

/**
 * ROC AUC as the Mann–Whitney statistic with scores in one bin treated as ties (½ credit):
 * AUC = Σ_k P_k (N_{<k} + ½ N_k) / (n₊ n₋) (Hanley & McNeil 1982, Radiology 143:29–36). Equal to the
 * trapezoidal area under the empirical ROC curve, which is what scikit-learn's roc_auc_score computes.
 * Not clipped: counts estimated under noise may put it outside [0, 1]. Null when either class total is not positive.
 */
export function mannWhitneyAuc(h: ClassHistograms): number | null {
  const nNeg = total(h.negative);
  const nPos = total(h.positive);
  if (!(nNeg > 0 && nPos > 0)) return null;
  let below = 0;
  let twiceNumerator = 0;
  for (let k = 0; k < h.negative.length; k += 1) {
    const neg = h.negative[k] as number;
    twiceNumerator += (h.positive[k] as number) * (2 * below + neg);
    below += neg;
  }
  return twiceNumerator / (2 * nPos * nNeg);
}

/** ROC AUC ({@link mannWhitneyAuc}) clipped to [0, 1]. Null when either class is empty. */
export function rocAuc(h: ClassHistograms): number | null {
  const auc = mannWhitneyAuc(h);
  return auc === null ? null : Math.min(1, Math.max(0, auc));
}

/**
 * DeLong placement values per bin (DeLong, DeLong & Clarke-Pearson 1988, Biometrics 44:837–845): a positive in bin k
 * has V₁₀(k) = (N_{<k} + ½N_k)/n₋, a negative in bin k has V₀₁(k) = (P_{>k} + ½P_k)/n₊.
 */
function aucPlacements(h: ClassHistograms): { nNegative: number; nPositive: number; v10: Float64Array; v01: Float64Array } {
  const B = h.negative.length;
  const nNegative = total(h.negative);
  const nPositive = total(h.positive);
  const v10 = new Float64Array(B);
  const v01 = new Float64Array(B);
  let below = 0;
  let above = nPositive;
  for (let k = 0; k < B; k += 1) {
    const neg = h.negative[k] as number;
    const pos = h.positive[k] as number;
    above -= pos;
    v10[k] = (below + 0.5 * neg) / nNegative;
    v01[k] = (above + 0.5 * pos) / nPositive;
    below += neg;
  }
  return { nNegative, nPositive, v10, v01 };
}

/** The gradient of the AUC in every class count: what the delta method needs for the variance noise adds. */
export interface AucGradients {
  /** The AUC the gradients are taken at. */
  readonly auc: number;
  /** ∂AUC/∂P_k = (V₁₀(k) − AUC)/n₊ for every bin k of the positive histogram. */
  readonly positive: Float64Array;
  /** ∂AUC/∂N_k = (V₀₁(k) − AUC)/n₋ for every bin k of the negative histogram. */
  readonly negative: Float64Array;
}

/**
 * Gradients of the Mann–Whitney AUC in the class counts, from the DeLong placements (see {@link aucPlacements}), at
 * `auc` (default: the unclipped {@link mannWhitneyAuc} of `h`). Null when either class total is not positive.
 */
export function aucGradients(h: ClassHistograms, auc: number | null = mannWhitneyAuc(h)): AucGradients | null {
  if (auc === null) return null;
  const { nNegative, nPositive, v10, v01 } = aucPlacements(h);
  if (!(nNegative > 0 && nPositive > 0)) return null;
  return { auc, positive: v10.map((v) => (v - auc) / nPositive), negative: v01.map((v) => (v - auc) / nNegative) };
}

/**
 * DeLong variance of the AUC with the placement values computed per bin ({@link aucPlacements}):
 * Var = S₁₀/n₊ + S₀₁/n₋ with S the sample variances (n − 1). Same as pROC's var(method = "delong"). Also returns
 * the variance the DP noise adds, by the delta method: σ² Σ_k (∂AUC/∂P_k)² + (∂AUC/∂N_k)² ({@link aucGradients}).
 * Null when a class has fewer than 2 patients.
 */
export function delongVariance(h: ClassHistograms, auc: number, binNoiseVariance = 0): { sampling: number; noise: number } | null {
  const { nNegative: nNeg, nPositive: nPos, v10, v01 } = aucPlacements(h);
  if (!(nNeg >= 2 && nPos >= 2)) return null;
  let s10 = 0;
  let s01 = 0;
  for (let k = 0; k < v10.length; k += 1) {
    s10 += (h.positive[k] as number) * (v10[k]! - auc) * (v10[k]! - auc);
    s01 += (h.negative[k] as number) * (v01[k]! - auc) * (v01[k]! - auc);
  }
  let noise = 0;
  const gradients = binNoiseVariance > 0 ? aucGradients(h, auc) : null;
  if (gradients) for (let k = 0; k < v10.length; k += 1) noise += gradients.positive[k]! ** 2 + gradients.negative[k]! ** 2;
  const sampling = s10 / (nPos - 1) / nPos + s01 / (nNeg - 1) / nNeg;
  return { sampling: Math.max(0, sampling), noise: binNoiseVariance * noise };
}

/** Normal 95% interval AUC ± z·√Var, clipped to [0, 1] as pROC's ci.auc(method = "delong") does. */
export function aucInterval(auc: number, variance: number): Interval {
  const half = Z_95 * Math.sqrt(variance);
  return [Math.max(0, auc - half), Math.min(1, auc + half)];
}

/**
 * Average precision AP = Σ_n (R_n − R_{n−1}) P_n over the thresholds k/B taken from the top bin
 * down (scikit-learn's average_precision_score, a step-wise sum without interpolation). A bin is one
 * threshold: with every score on the grid this equals scikit-learn. Null when there are no positives.
 */
export function averagePrecision(h: ClassHistograms): number | null {
  const nPos = total(h.positive);
  if (!(nPos > 0)) return null;
  let tp = 0;
  let fp = 0;
  let ap = 0;
  for (let k = h.positive.length - 1; k >= 0; k -= 1) {
    const pos = h.positive[k] as number;
    tp += pos;
    fp += h.negative[k] as number;
    if (pos > 0) ap += (pos / nPos) * (tp / (tp + fp));
  }
  return Math.min(1, Math.max(0, ap));
}

export interface ConfusionCounts {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

/** Confusion counts at grid threshold index k: predicted positive means bin >= k (score >= k/B). */
export function confusionAt(h: ClassHistograms, k: number): ConfusionCounts {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (let j = 0; j < h.negative.length; j += 1) {
    if (j >= k) {
      tp += h.positive[j] as number;
      fp += h.negative[j] as number;
    } else {
      fn += h.positive[j] as number;
      tn += h.negative[j] as number;
    }
  }
  return { tp, fp, tn, fn };
}

/** x / y, or null when y is 0 (never NaN). */
export function ratio(x: number, y: number): number | null {
  return y > 0 ? x / y : null;
}

/**
 * Wilson score interval for a proportion x/n at 95% (Wilson 1927, JASA 22:209–212; Newcombe 1998,
 * Stat Med 17:857–872, method 3): centre (p̂ + z²/2n)/(1 + z²/n), half-width
 * z/(1 + z²/n)·√(p̂(1−p̂)/n + z²/4n²). DP noise widens each side by adding its variance:
 * side' = √(side² + z²·noiseVariance) (noiseVariance: variance of p̂ caused by the noise).
 * Null when n = 0.
 */
export function wilsonInterval(successes: number, trials: number, noiseVariance = 0): Interval | null {
  if (!(trials > 0)) return null;
  const p = Math.min(1, Math.max(0, successes / trials));
  const z2 = Z_95 * Z_95;
  const denominator = 1 + z2 / trials;
  const centre = (p + z2 / (2 * trials)) / denominator;
  const half = (Z_95 / denominator) * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials));
  let low = centre - half;
  let high = centre + half;
  if (noiseVariance > 0) {
    low = p - Math.sqrt((p - low) ** 2 + z2 * noiseVariance);
    high = p + Math.sqrt((high - p) ** 2 + z2 * noiseVariance);
  }
  return [Math.max(0, low), Math.min(1, high)];
}

/**
 * Variance of p̂ = x/(x + y) caused by independent noise of variance vx on x and vy on y, by the
 * delta method: (y²·vx + x²·vy)/(x + y)⁴.
 */
export function proportionNoiseVariance(x: number, y: number, vx: number, vy: number): number {
  const n = x + y;
  if (!(n > 0) || (vx === 0 && vy === 0)) return 0;
  return (y * y * vx + x * x * vy) / n ** 4;
}
