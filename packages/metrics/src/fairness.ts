// fairness.ts — between-group fairness gaps of a binary classifier, in Fairlearn's definitions.

/** Per-level rates at the decision threshold; null where a denominator is 0. */
export interface LevelRates {
  level: string;
  selection_rate: number | null;
  true_positive_rate: number | null;
  false_positive_rate: number | null;
  balanced_accuracy: number | null;
}

export interface FairnessMetrics {
  /** Levels the gaps are computed over (not suppressed). */
  levels_covered: string[];
  /** Levels left out, with why. */
  levels_excluded: { level: string; reason: string }[];
  /** max − min selection rate over covered levels. */
  demographic_parity_difference: number | null;
  /** min / max selection rate. */
  demographic_parity_ratio: number | null;
  /** max − min true positive rate. */
  equal_opportunity_difference: number | null;
  /** max of the TPR and FPR differences. */
  equalized_odds_difference: number | null;
  /** min of the TPR and FPR ratios. */
  equalized_odds_ratio: number | null;
  selection_rate: Record<string, number | null>;
  true_positive_rate: Record<string, number | null>;
  false_positive_rate: Record<string, number | null>;
  /** Level with the lowest balanced accuracy. */
  worst_group: { level: string; balanced_accuracy: number } | null;
  /** Level with the highest balanced accuracy. */
  best_group: { level: string; balanced_accuracy: number } | null;
}

/**
 * Fairlearn's between-groups aggregates (fairlearn.metrics, MetricFrame.difference/ratio with
 * method='between_groups'; Bird et al. 2020, Fairlearn, MSR-TR-2020-32; Hardt, Price & Srebro 2016,
 * NeurIPS, for equalized odds and equal opportunity): difference = max − min over groups, ratio =
 * min / max; equalized odds takes the worse of the TPR and FPR values. Computed over the covered
 * levels where the rate is defined; null with fewer than two such levels, or a ratio with max 0.
 */
export function fairnessMetrics(covered: readonly LevelRates[], excluded: { level: string; reason: string }[]): FairnessMetrics {
  const values = (key: 'selection_rate' | 'true_positive_rate' | 'false_positive_rate'): number[] =>
    covered.map((r) => r[key]).filter((v): v is number => v !== null);
  const selection = spread(values('selection_rate'));
  const tpr = spread(values('true_positive_rate'));
  const fpr = spread(values('false_positive_rate'));
  const ranked = covered
    .filter((r): r is LevelRates & { balanced_accuracy: number } => r.balanced_accuracy !== null)
    .map((r) => ({ level: r.level, balanced_accuracy: r.balanced_accuracy }));
  let worst: FairnessMetrics['worst_group'] = null;
  let best: FairnessMetrics['best_group'] = null;
  for (const entry of ranked) {
    if (!worst || entry.balanced_accuracy < worst.balanced_accuracy) worst = entry;
    if (!best || entry.balanced_accuracy > best.balanced_accuracy) best = entry;
  }
  const byLevel = (key: 'selection_rate' | 'true_positive_rate' | 'false_positive_rate'): Record<string, number | null> =>
    Object.fromEntries(covered.map((r) => [r.level, r[key]]));
  return {
    levels_covered: covered.map((r) => r.level),
    levels_excluded: excluded,
    demographic_parity_difference: selection.difference,
    demographic_parity_ratio: selection.ratio,
    equal_opportunity_difference: tpr.difference,
    equalized_odds_difference: tpr.difference === null || fpr.difference === null ? null : Math.max(tpr.difference, fpr.difference),
    equalized_odds_ratio: tpr.ratio === null || fpr.ratio === null ? null : Math.min(tpr.ratio, fpr.ratio),
    selection_rate: byLevel('selection_rate'),
    true_positive_rate: byLevel('true_positive_rate'),
    false_positive_rate: byLevel('false_positive_rate'),
    worst_group: ranked.length >= 2 ? worst : null,
    best_group: ranked.length >= 2 ? best : null,
  };
}

function spread(values: number[]): { difference: number | null; ratio: number | null } {
  if (values.length < 2) return { difference: null, ratio: null };
  const max = Math.max(...values);
  const min = Math.min(...values);
  return { difference: max - min, ratio: max > 0 ? min / max : null };
}
