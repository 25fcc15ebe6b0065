// calibration.ts — reliability bins, ECE/MCE, observed/expected, Hosmer–Lemeshow and the grid recalibration fit.
import type { ClassHistograms } from './binary-metrics.ts';
import { fitLogisticCalibration } from './logistic-calibration.ts';
import { reliabilityBinStarts } from './score-grid.ts';
import type { ScoreGrid } from './score-grid.ts';
import { chiSquareSurvival } from './special-functions.ts';

export interface ReliabilityBin {
  lower: number;
  upper: number;
  n: number;
  /** Mean score of the patients in the bin; null when the bin is empty. */
  mean_predicted: number | null;
  /** Share of positives in the bin; null when the bin is empty. */
  observed_rate: number | null;
}

export interface HosmerLemeshow {
  statistic: number;
  /** Non-empty bins with non-zero expected variance, minus 2. */
  df: number;
  /** P(χ²_df > statistic); null when df < 1. */
  p_value: number | null;
  groups: number;
}

export interface CalibrationMetrics {
  bins: ReliabilityBin[];
  mean_predicted: number | null;
  observed_rate: number | null;
  /** observed rate − mean predicted. */
  calibration_in_the_large: number | null;
  observed_expected_ratio: number | null;
  ece: number | null;
  mce: number | null;
  hosmer_lemeshow: HosmerLemeshow | null;
  /** Recalibration intercept with slope fixed at 1, fitted on the grid (bin midpoints). */
  calibration_intercept: number | null;
  /** Recalibration slope, fitted on the grid (bin midpoints). */
  calibration_slope: number | null;
}

/**
 * Calibration from the class histograms on `grid` and the per-reliability-bin sums of scores.
 * Reliability bin j holds the scores in [j/C, (j+1)/C) (the last also holds 1): edges of the
 * histogram grid, so its counts are exact; its mean score comes from the fixed-point sum,
 * clamped into the bin's range (noise can push it out).
 * - ECE = Σ_j (n_j/n)·|o_j − p̄_j| and MCE = max_j |o_j − p̄_j| over non-empty bins (Naeini, Cooper
 *   & Hauskrecht 2015, AAAI; Guo et al. 2017, ICML).
 * - Observed/expected ratio Σy/Σp (Debray et al. 2017, BMJ 356:i6460) and calibration-in-the-large
 *   ȳ − p̄ (Steyerberg, Clinical Prediction Models, 2nd ed. 2019, ch. 15).
 * - Hosmer–Lemeshow Ĥ over the fixed reliability bins (the "fixed cut points" form, Hosmer &
 *   Lemeshow, Applied Logistic Regression, 3rd ed. 2013, ch. 5): Σ_j (O_j − E_j)²/(E_j(1 − E_j/n_j))
 *   with E_j the sum of scores, over bins where that variance is > 0; df = groups − 2.
 * - Calibration slope and intercept (Cox 1958) fitted by fitLogisticCalibration on the histograms,
 *   each bin's patients placed at its midpoint (e_k + e_{k+1})/2 ((k + ½)/B on an equal-width grid): an approximation of the per-patient fit
 *   whose error shrinks with the bin width (see the README for the measured difference).
 */
export function calibrationMetrics(h: ClassHistograms, scoreSums: ArrayLike<number>, grid: ScoreGrid): CalibrationMetrics {
  const C = scoreSums.length;
  const starts = reliabilityBinStarts(grid, C);
  const bins: ReliabilityBin[] = [];
  let n = 0;
  let positives = 0;
  let expected = 0;
  let eceSum = 0;
  let mce: number | null = null;
  let hl = 0;
  let hlGroups = 0;
  for (let j = 0; j < C; j += 1) {
    let count = 0;
    let observed = 0;
    for (let k = starts[j] as number; k < (starts[j + 1] as number); k += 1) {
      count += (h.negative[k] as number) + (h.positive[k] as number);
      observed += h.positive[k] as number;
    }
    const lower = j / C;
    const upper = (j + 1) / C;
    if (!(count > 0)) {
      bins.push({ lower, upper, n: 0, mean_predicted: null, observed_rate: null });
      continue;
    }
    const meanPredicted = Math.min(upper, Math.max(lower, (scoreSums[j] as number) / count));
    const observedRate = observed / count;
    // Counts are whole numbers unless DP noise was smoothed out of the histograms.
    bins.push({ lower, upper, n: Math.round(count), mean_predicted: meanPredicted, observed_rate: observedRate });
    n += count;
    positives += observed;
    const binExpected = meanPredicted * count;
    expected += binExpected;
    const gap = Math.abs(observedRate - meanPredicted);
    eceSum += count * gap;
    mce = mce === null ? gap : Math.max(mce, gap);
    const variance = binExpected * (1 - meanPredicted);
    if (variance > 0) {
      hl += (observed - binExpected) ** 2 / variance;
      hlGroups += 1;
    }
  }
  const meanPredicted = n > 0 ? expected / n : null;
  const observedRate = n > 0 ? positives / n : null;
  const df = hlGroups - 2;
  const fit = n > 0 ? gridRecalibration(h, grid) : null;
  return {
    bins,
    mean_predicted: meanPredicted,
    observed_rate: observedRate,
    calibration_in_the_large: meanPredicted === null || observedRate === null ? null : observedRate - meanPredicted,
    observed_expected_ratio: expected > 0 ? positives / expected : null,
    ece: n > 0 ? eceSum / n : null,
    mce,
    hosmer_lemeshow: hlGroups > 0 ? { statistic: hl, df, p_value: df >= 1 ? chiSquareSurvival(hl, df) : null, groups: hlGroups } : null,
    calibration_intercept: fit?.intercept ?? null,
    calibration_slope: fit?.slope ?? null,
  };
}

function gridRecalibration(h: ClassHistograms, grid: ScoreGrid): { intercept: number; slope: number } | null {
  const B = h.negative.length;
  const scores = new Float64Array(2 * B);
  const labels = new Float64Array(2 * B);
  const weights = new Float64Array(2 * B);
  for (let k = 0; k < B; k += 1) {
    const midpoint = grid.kind === 'equal_width' ? (k + 0.5) / B : (grid.edge(k) + grid.edge(k + 1)) / 2;
    scores[2 * k] = midpoint;
    scores[2 * k + 1] = midpoint;
    labels[2 * k + 1] = 1;
    weights[2 * k] = h.negative[k] as number;
    weights[2 * k + 1] = h.positive[k] as number;
  }
  return fitLogisticCalibration(scores, labels, weights);
}
