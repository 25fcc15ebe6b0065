// multiclass-metrics.ts — accuracy, per-class and averaged precision/recall/F1, Cohen's kappa and one-vs-rest AUC.
import { ratio, rocAuc, wilsonInterval, proportionNoiseVariance } from './binary-metrics.ts';
import type { ClassHistograms, Interval } from './binary-metrics.ts';

export interface ClassMetrics {
  support: number;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  /** One-vs-rest ROC AUC: this class's score, this class against all others. */
  roc_auc: number | null;
}

export interface AveragedMetrics {
  precision: number | null;
  recall: number | null;
  f1: number | null;
  roc_auc: number | null;
}

export interface MulticlassMetricsBlock {
  n: number;
  class_counts: Record<string, number>;
  accuracy: number | null;
  accuracy_ci95: Interval | null;
  balanced_accuracy: number | null;
  cohen_kappa: number | null;
  brier_score: number | null;
  /** Rows: true class, columns: predicted class (arg-max score, lowest index on ties), in class order. */
  confusion_matrix: number[][];
  per_class: Record<string, ClassMetrics>;
  /** Unweighted mean over classes; null when any class's value is null. */
  macro: AveragedMetrics;
  /** Mean weighted by support over classes with support > 0; null when any of them is null. */
  weighted: AveragedMetrics;
}

/**
 * Multiclass metrics from the K×K confusion counts and the per-class histograms (scikit-learn's
 * definitions: precision_recall_fscore_support, balanced_accuracy_score = mean recall over classes
 * present, roc_auc_score(multi_class='ovr') macro and prevalence-weighted; Cohen 1960, Educ Psychol
 * Meas 20:37–46, for kappa = (p_o − p_e)/(1 − p_e)). Brier score: mean over patients of Σ_c (s_c − y_c)²
 * (Brier 1950, Mon Weather Rev 78:1–3), each patient's term clamped to [0, 2].
 * `cellNoiseVariance` (per confusion cell) widens the accuracy interval (see wilsonInterval).
 */
export function multiclassMetrics(
  classes: readonly string[],
  confusion: readonly (readonly number[])[],
  histograms: readonly ClassHistograms[],
  brierSum: number,
  cellNoiseVariance = 0,
): MulticlassMetricsBlock {
  const K = classes.length;
  const support = classes.map((_, c) => sumOf(confusion[c] ?? []));
  const predicted = classes.map((_, c) => sumOf(confusion.map((row) => row[c] ?? 0)));
  const n = sumOf(support);
  let correct = 0;
  for (let c = 0; c < K; c += 1) correct += confusion[c]?.[c] ?? 0;

  const perClass: Record<string, ClassMetrics> = {};
  const rows: ClassMetrics[] = [];
  classes.forEach((name, c) => {
    const hit = confusion[c]?.[c] ?? 0;
    const s = support[c] as number;
    const p = predicted[c] as number;
    const h = histograms[c];
    const row: ClassMetrics = {
      support: s,
      precision: ratio(hit, p),
      recall: ratio(hit, s),
      f1: ratio(2 * hit, s + p),
      roc_auc: h ? rocAuc(h) : null,
    };
    perClass[name] = row;
    rows.push(row);
  });

  const average = (key: keyof AveragedMetrics, weighted: boolean): number | null => {
    let total = 0;
    let weight = 0;
    for (let c = 0; c < K; c += 1) {
      const w = weighted ? (support[c] as number) : 1;
      if (w === 0) continue;
      const value = rows[c]?.[key] ?? null;
      if (value === null) return null;
      total += w * value;
      weight += w;
    }
    return weight > 0 ? total / weight : null;
  };
  const averaged = (weighted: boolean): AveragedMetrics => ({
    precision: average('precision', weighted),
    recall: average('recall', weighted),
    f1: average('f1', weighted),
    roc_auc: average('roc_auc', weighted),
  });

  const presentRecalls = rows.filter((r) => r.support > 0).map((r) => r.recall as number);
  let chance = 0;
  for (let c = 0; c < K; c += 1) chance += ((support[c] as number) * (predicted[c] as number)) / (n * n);
  const observed = n > 0 ? correct / n : null;
  const diagonalVariance = K * cellNoiseVariance;
  const offDiagonalVariance = (K * K - K) * cellNoiseVariance;

  return {
    n,
    class_counts: Object.fromEntries(classes.map((name, c) => [name, support[c] as number])),
    accuracy: observed,
    accuracy_ci95: wilsonInterval(correct, n, proportionNoiseVariance(correct, n - correct, diagonalVariance, offDiagonalVariance)),
    balanced_accuracy: presentRecalls.length > 0 ? sumOf(presentRecalls) / presentRecalls.length : null,
    cohen_kappa: observed !== null && chance < 1 ? (observed - chance) / (1 - chance) : null,
    brier_score: n > 0 ? Math.min(2, Math.max(0, brierSum / n)) : null,
    confusion_matrix: confusion.map((row) => [...row]),
    per_class: perClass,
    macro: averaged(false),
    weighted: averaged(true),
  };
}

function sumOf(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
