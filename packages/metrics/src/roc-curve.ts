// roc-curve.ts — the empirical ROC curve on the score grid, with a pointwise 95% confidence band, for reports.
import { proportionNoiseVariance, wilsonInterval } from './binary-metrics.ts';
import type { ClassHistograms, Interval } from './binary-metrics.ts';
import type { ScoreGrid } from './score-grid.ts';

/** One operating point: patients with score >= `threshold` (a grid edge) are called positive. */
export interface RocPoint {
  threshold: number;
  fpr: number;
  tpr: number;
  /** Pointwise 95% Wilson interval of the false positive rate (widened by the DP noise when there is some). */
  fpr_ci95: Interval | null;
  /** Pointwise 95% Wilson interval of the true positive rate (widened by the DP noise when there is some). */
  tpr_ci95: Interval | null;
}

/** Most points a released ROC curve keeps (the first and last always among them). Default 101. */
export const DEFAULT_ROC_CURVE_POINTS = 101;

/**
 * The empirical ROC curve (Fawcett 2006, Pattern Recogn Lett 27:861–874) at the grid edges, from the highest edge
 * (nobody positive, (0, 0)) down to edge 0 (everybody positive, (1, 1)); consecutive edges with the same point are
 * merged, keeping the highest threshold. Its trapezoidal area is the Mann–Whitney AUC. Each rate carries a pointwise
 * 95% Wilson interval (Wilson 1927, JASA 22:209–212), the "vertical and horizontal" band of Macskassy & Provost
 * (ROCAI 2004); with DP noise, each count's noise variance is one bin variance per histogram bin it sums. When more
 * than `maxPoints` distinct points remain, evenly spaced ones are kept (first and last included). Empty when either
 * class total is not positive.
 */
export function rocCurve(h: ClassHistograms, grid: ScoreGrid, binVariance = 0, maxPoints = DEFAULT_ROC_CURVE_POINTS): RocPoint[] {
  const bins = h.negative.length;
  let positives = 0;
  let negatives = 0;
  for (let k = 0; k < bins; k += 1) {
    positives += h.positive[k] as number;
    negatives += h.negative[k] as number;
  }
  if (!(positives > 0 && negatives > 0)) return [];
  const points: RocPoint[] = [];
  let tp = 0;
  let fp = 0;
  for (let k = bins; k >= 0; k -= 1) {
    if (k < bins) {
      tp += h.positive[k] as number;
      fp += h.negative[k] as number;
    }
    const tpr = Math.min(1, Math.max(0, tp / positives));
    const fpr = Math.min(1, Math.max(0, fp / negatives));
    const last = points.at(-1);
    if (last && last.tpr === tpr && last.fpr === fpr) continue;
    const vAbove = (bins - k) * binVariance;
    const vBelow = k * binVariance;
    points.push({
      threshold: grid.edge(k),
      fpr,
      tpr,
      fpr_ci95: wilsonInterval(fp, negatives, proportionNoiseVariance(fp, negatives - fp, vAbove, vBelow)),
      tpr_ci95: wilsonInterval(tp, positives, proportionNoiseVariance(tp, positives - tp, vAbove, vBelow)),
    });
  }
  if (points.length <= maxPoints) return points;
  const kept: RocPoint[] = [];
  for (let i = 0; i < maxPoints; i += 1) kept.push(points[Math.round((i * (points.length - 1)) / (maxPoints - 1))] as RocPoint);
  return kept;
}
