// decision-curve.ts — net benefit of the model, of treating everyone and of treating no one.
import { confusionAt } from './binary-metrics.ts';
import type { ClassHistograms } from './binary-metrics.ts';
import type { ScoreGrid } from './score-grid.ts';

export interface DecisionCurvePoint {
  threshold: number;
  /** TP/n − FP/n · pt/(1 − pt). */
  net_benefit: number;
  /** Net benefit of treating everyone: prevalence − (1 − prevalence) · pt/(1 − pt). */
  treat_all: number;
  /** Net benefit of treating no one: always 0. */
  treat_none: number;
}

/**
 * Decision curve (Vickers & Elkin 2006, Med Decis Making 26:565–574): at threshold probability pt,
 * a patient is treated when score >= pt, and net benefit weighs false positives by the odds pt/(1 − pt).
 * Empty when there are no patients. Thresholds are edges of the grid (checked, or inserted, by resolveMetricSpec).
 */
export function decisionCurve(h: ClassHistograms, thresholds: readonly number[], grid: ScoreGrid): DecisionCurvePoint[] {
  const all = confusionAt(h, 0);
  const n = all.tp + all.fp;
  if (!(n > 0)) return [];
  const prevalence = all.tp / n;
  return thresholds.map((threshold) => {
    const { tp, fp } = confusionAt(h, grid.index(threshold) ?? Math.ceil(threshold * grid.bins));
    const odds = threshold / (1 - threshold);
    return {
      threshold,
      net_benefit: tp / n - (fp / n) * odds,
      treat_all: prevalence - (1 - prevalence) * odds,
      treat_none: 0,
    };
  });
}
