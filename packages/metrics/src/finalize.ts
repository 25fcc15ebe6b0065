// finalize.ts — turns a (pooled, possibly noised) statistics vector into the JSON metrics report.
import { aucInterval, averagePrecision, confusionAt, delongVariance, proportionNoiseVariance, ratio, rocAuc, wilsonInterval } from './binary-metrics.ts';
import type { ClassHistograms, Interval } from './binary-metrics.ts';
import { calibrationMetrics } from './calibration.ts';
import type { CalibrationMetrics } from './calibration.ts';
import { decisionCurve } from './decision-curve.ts';
import type { DecisionCurvePoint } from './decision-curve.ts';
import { MetricsError } from './errors.ts';
import { EXCLUSION_REASONS } from './exclusion-reasons.ts';
import type { ExclusionReason } from './exclusion-reasons.ts';
import { fairnessMetrics } from './fairness.ts';
import type { FairnessMetrics, LevelRates } from './fairness.ts';
import { multiclassMetrics } from './multiclass-metrics.ts';
import type { MulticlassMetricsBlock } from './multiclass-metrics.ts';
import { monotoneHistogram, nonNegativeCount } from './noisy-counts.ts';
import { regressionMetrics } from './regression-metrics.ts';
import { rocCurve } from './roc-curve.ts';
import type { RocPoint } from './roc-curve.ts';
import type { RegressionMetricsBlock } from './regression-metrics.ts';
import { reliabilityBinStarts, scoreGridOf } from './score-grid.ts';
import { survivalMetrics } from './survival-metrics.ts';
import type { SurvivalMetricsBlock } from './survival-metrics.ts';
import { timeGridOf } from './time-grid.ts';
import type { ScoreGrid } from './score-grid.ts';
import type { ScoreGridMethod } from './metric-spec.ts';
import { REGRESSION_SUMS } from './section-fields.ts';
import type { SectionFieldName } from './section-fields.ts';
import { fieldSlice } from './statistics-layout.ts';
import type { StatisticsLayout, StatisticsSection } from './statistics-layout.ts';

export interface FinalizeOptions {
  /**
   * DP noise that was added to the vector, so intervals can widen by it. `blockVariances` maps a
   * block name (layout.blocks[i].name) to the variance of the noise in each entry of that block,
   * in the block's integer units (summed over sites when every site adds its own noise).
   * Default: no noise. Only count blocks widen intervals; see the README for the method.
   */
  noise?: {
    blockVariances: Readonly<Record<string, number>>;
    /**
     * Optional, per counts block name: the exact noise variance of one class total of one level (the sum of one class
     * histogram), when the release knows it (a tree's root, reconciled across the group hierarchy). The suppression
     * margin of a binary level then uses it (and twice it for n) instead of B times the block's per-bin variance, which
     * counts every fine bin as independently noisy. Default: B times the per-bin variance.
     */
    classTotalVariances?: Readonly<Record<string, number>>;
    /**
     * Optional, per counts block name: the noise variance of a level's positives total when it differs from its negatives'
     * (a release with per-class layouts, @fedval/dp; `classTotalVariances` is then the negatives'). The positives' margin uses
     * it, and n's the sum of both. Default: `classTotalVariances` for both classes.
     */
    positiveTotalVariances?: Readonly<Record<string, number>>;
    /**
     * Noise standard deviations in the suppression margin (z ≥ Φ⁻¹(0.95) ≈ 1.6449, {@link MIN_MARGIN_SDS}): a level with c < minCellSize of a class is released
     * only when the noise on its total exceeds z·sd, probability Φ(−z) for near-Gaussian noise. Default 3 (Φ(−3) ≈ 0.00135).
     */
    marginSds?: number;
  };
}

export type ExclusionCounts = Record<ExclusionReason, number>;

export interface ThresholdMetrics {
  threshold: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  sensitivity: number | null;
  sensitivity_ci95: Interval | null;
  specificity: number | null;
  specificity_ci95: Interval | null;
  ppv: number | null;
  ppv_ci95: Interval | null;
  npv: number | null;
  npv_ci95: Interval | null;
  accuracy: number | null;
  accuracy_ci95: Interval | null;
  f1: number | null;
  balanced_accuracy: number | null;
  mcc: number | null;
  selection_rate: number | null;
}

export interface BinaryMetricsBlock {
  n: number;
  positives: number;
  prevalence: number | null;
  excluded: ExclusionCounts;
  roc_auc: number | null;
  roc_auc_ci95: Interval | null;
  average_precision: number | null;
  brier_score: number | null;
  at_threshold: ThresholdMetrics;
  calibration: CalibrationMetrics;
  decision_curve: DecisionCurvePoint[];
}

/**
 * A subgroup level block withheld by disclosure control: no numbers and no reason. Every suppressed level reads the
 * same whatever rule withheld it: a reason such as "positives<1" would tell a one-patient level's label.
 */
export interface SuppressedBlock {
  suppressed: true;
}

/** How every suppressed level is listed where a reason is shown (fairness levels_excluded, tables). */
export const SUPPRESSED = 'suppressed';

export type LevelBlock<T> = (T & { suppressed: false }) | SuppressedBlock;

/** Which score grid the histograms were on: public study parameters, so a reader knows the resolution behind every metric. */
export interface ScoreGridSummary {
  kind: 'equal_width' | 'fitted';
  bins: number;
  /** How a fitted grid's edges were chosen; null for an equal-width grid. */
  method: ScoreGridMethod | null;
  /** `sha256:<hex>` of the development data a fitted grid came from; null when not given. */
  source_digest: string | null;
}

interface ReportCommon {
  /** Disclosure-control threshold that was applied to subgroup levels. */
  min_cell_size: number;
  /** True when noise variances were given and intervals include them. */
  noise_in_intervals: boolean;
}

export interface BinaryMetricsReport extends BinaryMetricsBlock, ReportCommon {
  task: 'binary';
  score_grid: ScoreGridSummary;
  /** The overall ROC curve with its pointwise 95% band (roc-curve.ts); absent from results released before it existed. */
  roc_curve?: RocPoint[];
  by_group: Record<string, Record<string, LevelBlock<BinaryMetricsBlock>>>;
  fairness: Record<string, FairnessMetrics>;
}

export interface MulticlassMetricsReport extends MulticlassMetricsBlock, ReportCommon {
  task: 'multiclass';
  score_grid: ScoreGridSummary;
  classes: string[];
  excluded: ExclusionCounts;
  by_group: Record<string, Record<string, LevelBlock<MulticlassMetricsBlock & { excluded: ExclusionCounts }>>>;
}

export interface RegressionMetricsReport extends RegressionMetricsBlock, ReportCommon {
  task: 'regression';
  excluded: ExclusionCounts;
  by_group: Record<string, Record<string, LevelBlock<RegressionMetricsBlock & { excluded: ExclusionCounts }>>>;
}

/** The public time grid behind a survival report (so a reader knows the resolution of every metric). */
export interface TimeGridSummary {
  horizon: number;
  max_time: number;
  /** Bins on [0, horizon]. */
  horizon_bins: number;
  /** All bins, the overflow bin beyond max_time included. */
  bins: number;
  width: number;
}

export interface SurvivalMetricsReport extends SurvivalMetricsBlock, ReportCommon {
  task: 'survival';
  score_grid: ScoreGridSummary;
  time_grid: TimeGridSummary;
  excluded: ExclusionCounts;
  by_group: Record<string, Record<string, LevelBlock<SurvivalMetricsBlock & { excluded: ExclusionCounts }>>>;
  fairness: Record<string, FairnessMetrics>;
}

export type MetricsReport = BinaryMetricsReport | MulticlassMetricsReport | RegressionMetricsReport | SurvivalMetricsReport;

/**
 * Computes every metric from the vector. Robust to DP noise: histograms are made non-negative with
 * monotone cumulative sums (monotoneHistogram), other counts are rounded and clamped at 0, and
 * fixed-point means are clamped into their feasible ranges, so no output is NaN. Subgroup levels
 * are suppressed by the rule in the README (disclosure control).
 */
export function finalizeMetrics(layout: StatisticsLayout, vector: Float64Array, options: FinalizeOptions = {}): MetricsReport {
  if (vector.length !== layout.length) {
    throw new MetricsError('FEDVAL_ERR_METRICS_VECTOR_LENGTH', `expected ${layout.length} entries, got ${vector.length}`);
  }
  for (let i = 0; i < vector.length; i += 1) {
    if (!Number.isFinite(vector[i])) throw new MetricsError('FEDVAL_ERR_METRICS_VECTOR_NOT_FINITE', `entry ${i}`);
  }
  const variances = resolveNoise(layout, options.noise?.blockVariances);
  const totals = resolveNoise(layout, options.noise?.classTotalVariances);
  const positiveTotals = resolveNoise(layout, options.noise?.positiveTotalVariances);
  const marginSds = options.noise?.marginSds ?? DEFAULT_MARGIN_SDS;
  if (!(Number.isFinite(marginSds) && marginSds >= MIN_MARGIN_SDS)) {
    throw new MetricsError('FEDVAL_ERR_METRICS_INVALID_NOISE', `marginSds must be a finite number ≥ ${MIN_MARGIN_SDS} (Φ⁻¹(0.95): a level under the minimum cell released in at most 5 % of rounds)`);
  }
  const finalizer = new ReportBuilder(layout, vector, variances, totals, positiveTotals, marginSds);
  if (layout.spec.task === 'binary') return finalizer.binaryReport();
  if (layout.spec.task === 'multiclass') return finalizer.multiclassReport();
  if (layout.spec.task === 'survival') return finalizer.survivalReport();
  return finalizer.regressionReport();
}

/** Default noise standard deviations of the suppression margin (FinalizeOptions `noise.marginSds`). */
export const DEFAULT_MARGIN_SDS = 3;

/**
 * Fewest noise standard deviations the suppression margin accepts: Φ⁻¹(0.95) (scipy.stats.norm.ppf(0.95)), so a level
 * below the minimum cell size is released in at most 5 % of rounds whatever a caller asks.
 */
export const MIN_MARGIN_SDS = 1.6448536269514722;

function resolveNoise(layout: StatisticsLayout, given: Readonly<Record<string, number>> | undefined): Map<string, number> {
  const variances = new Map<string, number>();
  if (given === undefined) return variances;
  const problems: string[] = [];
  const names = new Set(layout.blocks.map((b) => b.name));
  for (const [name, variance] of Object.entries(given)) {
    if (!names.has(name)) problems.push(`unknown block "${name.slice(0, 80)}"`);
    else if (typeof variance !== 'number' || !Number.isFinite(variance) || variance < 0) problems.push(`the variance of block "${name}" must be a finite number >= 0`);
    else variances.set(name, variance);
  }
  if (problems.length > 0) throw new MetricsError('FEDVAL_ERR_METRICS_INVALID_NOISE', problems.join('; '));
  return variances;
}

class ReportBuilder {
  readonly #layout: StatisticsLayout;
  readonly #vector: Float64Array;
  readonly #variances: Map<string, number>;
  /** Noise variance of one class total of one level, per counts block, when the release gave it. */
  readonly #classTotalVariances: Map<string, number>;
  /** Noise variance of one level's positives total, per counts block, when it differs from the negatives' (per-class layouts). */
  readonly #positiveTotalVariances: Map<string, number>;
  /** Whether the vector carries DP noise (some block has a positive noise variance). */
  readonly #noisy: boolean;

  /** Noise standard deviations in the suppression margin. */
  readonly #marginSds: number;

  constructor(layout: StatisticsLayout, vector: Float64Array, variances: Map<string, number>, classTotalVariances: Map<string, number>, positiveTotalVariances: Map<string, number>, marginSds: number) {
    this.#marginSds = marginSds;
    this.#positiveTotalVariances = positiveTotalVariances;
    this.#layout = layout;
    this.#vector = vector;
    this.#variances = variances;
    this.#classTotalVariances = classTotalVariances;
    this.#noisy = [...variances.values()].some((variance) => variance > 0);
  }

  binaryReport(): BinaryMetricsReport {
    const [overall, levels] = this.#split();
    const byGroup: BinaryMetricsReport['by_group'] = {};
    const fairness: BinaryMetricsReport['fairness'] = {};
    this.#layout.spec.groups.forEach((group, g) => {
      const sections = levels[g] ?? [];
      const blocks = sections.map((section) => this.#binaryBlock(section));
      const decisions = this.#suppression(blocks.map((b, i) => ({ n: b.n, reason: this.#binaryReason(b, sections[i]!) })));
      const column: Record<string, LevelBlock<BinaryMetricsBlock>> = {};
      const covered: LevelRates[] = [];
      const excluded: { level: string; reason: string }[] = [];
      blocks.forEach((block, i) => {
        const level = sections[i]?.level ?? '';
        const reason = decisions[i];
        if (reason) {
          column[level] = { suppressed: true };
          excluded.push({ level, reason: SUPPRESSED });
        } else {
          column[level] = { suppressed: false, ...block };
          const t = block.at_threshold;
          covered.push({ level, selection_rate: t.selection_rate, true_positive_rate: t.sensitivity, false_positive_rate: ratio(t.fp, t.fp + t.tn), balanced_accuracy: t.balanced_accuracy });
        }
      });
      byGroup[group.column] = column;
      fairness[group.column] = fairnessMetrics(covered, excluded);
    });
    return { task: 'binary', score_grid: this.#gridSummary(), ...this.#common(), ...this.#binaryBlock(overall), roc_curve: this.#rocCurve(overall), by_group: byGroup, fairness };
  }

  multiclassReport(): MulticlassMetricsReport {
    const [overall, levels] = this.#split();
    const classes = [...(this.#layout.spec.classes ?? [])];
    const byGroup: MulticlassMetricsReport['by_group'] = {};
    this.#layout.spec.groups.forEach((group, g) => {
      const sections = levels[g] ?? [];
      const blocks = sections.map((section) => this.#multiclassBlock(section));
      const decisions = this.#suppression(blocks.map((b) => ({ n: b.n, reason: this.#multiclassReason(b) })));
      byGroup[group.column] = Object.fromEntries(
        blocks.map((block, i) => {
          const reason = decisions[i];
          return [sections[i]?.level ?? '', reason ? { suppressed: true as const } : { suppressed: false as const, ...block }];
        }),
      );
    });
    return { task: 'multiclass', classes, score_grid: this.#gridSummary(), ...this.#common(), ...this.#multiclassBlock(overall), by_group: byGroup };
  }

  regressionReport(): RegressionMetricsReport {
    const [overall, levels] = this.#split();
    const byGroup: RegressionMetricsReport['by_group'] = {};
    const k = this.#layout.spec.minCellSize;
    this.#layout.spec.groups.forEach((group, g) => {
      const sections = levels[g] ?? [];
      const blocks = sections.map((section) => this.#regressionBlock(section));
      const decisions = this.#suppression(blocks.map((b) => ({ n: b.n, reason: b.n < k ? `n<${k}` : null })));
      byGroup[group.column] = Object.fromEntries(
        blocks.map((block, i) => {
          const reason = decisions[i];
          return [sections[i]?.level ?? '', reason ? { suppressed: true as const } : { suppressed: false as const, ...block }];
        }),
      );
    });
    return { task: 'regression', ...this.#common(), ...this.#regressionBlock(overall), by_group: byGroup };
  }

  survivalReport(): SurvivalMetricsReport {
    const [overall, levels] = this.#split();
    const block = this.#survivalBlock(overall);
    // Only an exact vector can tell: under DP the counts beyond the horizon are noisy, and the metrics stay defined (clamped).
    if (!this.#noisy && block.n > 0 && block.n - block.events_by_horizon - block.censored_before_horizon <= 0) {
      throw new MetricsError('FEDVAL_ERR_METRICS_HORIZON_BEYOND_FOLLOW_UP', `horizon ${this.#layout.spec.survival?.horizon}: every one of the ${block.n} patients had the event or was censored by then`);
    }
    const byGroup: SurvivalMetricsReport['by_group'] = {};
    const fairness: SurvivalMetricsReport['fairness'] = {};
    const k = this.#layout.spec.minCellSize;
    this.#layout.spec.groups.forEach((group, g) => {
      const sections = levels[g] ?? [];
      const blocks = sections.map((section) => this.#survivalBlock(section));
      // As binary: enough patients, and enough events by the horizon and patients without one; under DP a count must
      // clear k by three noise standard deviations (n sums every count cell, the events by the horizon H·B of them).
      const time = timeGridOf(this.#layout.spec.survival!);
      const B = this.#layout.spec.bins;
      const decisions = this.#suppression(
        blocks.map((b, i) => {
          const v = this.#blockVariance(sections[i]!, 'counts');
          const nMargin = 3 * Math.sqrt(2 * time.bins * B * v);
          const eventMargin = 3 * Math.sqrt(time.horizonBins * B * v);
          const reason = b.n - nMargin < k ? 'n' : b.events_by_horizon - eventMargin < k ? 'events' : b.n - b.events_by_horizon - nMargin < k ? 'non-events' : null;
          return { n: b.n, reason };
        }),
      );
      const column: SurvivalMetricsReport['by_group'][string] = {};
      const covered: LevelRates[] = [];
      const excluded: { level: string; reason: string }[] = [];
      blocks.forEach((levelBlock, i) => {
        const level = sections[i]?.level ?? '';
        if (decisions[i]) {
          column[level] = { suppressed: true };
          excluded.push({ level, reason: SUPPRESSED });
        } else {
          column[level] = { suppressed: false, ...levelBlock };
          const t = levelBlock.at_threshold;
          covered.push({ level, selection_rate: t.selection_rate, true_positive_rate: t.sensitivity, false_positive_rate: t.specificity === null ? null : 1 - t.specificity, balanced_accuracy: t.balanced_accuracy });
        }
      });
      byGroup[group.column] = column;
      fairness[group.column] = fairnessMetrics(covered, excluded);
    });
    const survival = this.#layout.spec.survival!;
    const time = timeGridOf(survival);
    return {
      task: 'survival',
      score_grid: this.#gridSummary(),
      time_grid: { horizon: survival.horizon, max_time: survival.maxTime, horizon_bins: time.horizonBins, bins: time.bins, width: time.width },
      ...this.#common(),
      ...block,
      by_group: byGroup,
      fairness,
    };
  }

  #survivalBlock(section: StatisticsSection): SurvivalMetricsBlock & { excluded: ExclusionCounts } {
    const spec = this.#layout.spec;
    const time = timeGridOf(spec.survival!);
    const score = scoreGridOf(spec);
    const scale = this.#layout.fixedPointScale;
    const sums = Array.from(this.#read(section, 'survival_sums'), (v) => v / scale);
    const block = survivalMetrics(
      {
        counts: this.#read(section, 'survival_counts'),
        brierCaseSums: sums.slice(0, time.horizonBins),
        brierControlSum: sums[time.horizonBins] as number,
        calibrationScoreSums: sums.slice(time.horizonBins + 1),
      },
      { time, score, calibrationStarts: reliabilityBinStarts(score, spec.calibrationBins), threshold: spec.threshold, decisionThresholds: spec.decisionThresholds },
      this.#blockVariance(section, 'counts'),
    );
    return { ...block, excluded: this.#exclusions(section) };
  }

  #gridSummary(): ScoreGridSummary {
    const { bins, scoreGrid } = this.#layout.spec;
    return scoreGrid
      ? { kind: 'fitted', bins, method: scoreGrid.method, source_digest: scoreGrid.sourceDigest ?? null }
      : { kind: 'equal_width', bins, method: null, source_digest: null };
  }

  #common(): ReportCommon {
    return { min_cell_size: this.#layout.spec.minCellSize, noise_in_intervals: [...this.#variances.values()].some((v) => v > 0) };
  }

  /** Overall section, then the sections of each group column. */
  #split(): [StatisticsSection, StatisticsSection[][]] {
    const sections = this.#layout.sections;
    const overall = sections[0] as StatisticsSection;
    const levels = this.#layout.spec.groups.map((group) => sections.filter((s) => s.column === group.column));
    return [overall, levels];
  }

  #binaryBlock(section: StatisticsSection): BinaryMetricsBlock {
    const spec = this.#layout.spec;
    const grid = scoreGridOf(spec);
    const h: ClassHistograms = {
      negative: monotoneHistogram(this.#read(section, 'negative_histogram')),
      positive: monotoneHistogram(this.#read(section, 'positive_histogram')),
    };
    const binVariance = this.#blockVariance(section, 'counts');
    const all = confusionAt(h, 0);
    const n = nonNegativeCount(all.tp + all.fp);
    const positives = Math.min(n, nonNegativeCount(all.tp));
    const auc = rocAuc(h);
    const variance = auc === null ? null : delongVariance(h, auc, binVariance);
    const brierSum = (this.#read(section, 'brier_sum')[0] as number) / this.#layout.fixedPointScale;
    const scoreSums = Array.from(this.#read(section, 'calibration_score_sums'), (v) => v / this.#layout.fixedPointScale);
    return {
      n,
      positives,
      prevalence: ratio(positives, n),
      excluded: this.#exclusions(section),
      roc_auc: auc,
      roc_auc_ci95: auc === null || variance === null ? null : aucInterval(auc, variance.sampling + variance.noise),
      average_precision: averagePrecision(h),
      brier_score: n > 0 ? Math.min(1, Math.max(0, brierSum / n)) : null,
      at_threshold: thresholdMetrics(h, spec.threshold, grid, binVariance),
      calibration: calibrationMetrics(h, scoreSums, grid),
      decision_curve: decisionCurve(h, spec.decisionThresholds, grid),
    };
  }

  #rocCurve(section: StatisticsSection): RocPoint[] {
    const h: ClassHistograms = {
      negative: monotoneHistogram(this.#read(section, 'negative_histogram')),
      positive: monotoneHistogram(this.#read(section, 'positive_histogram')),
    };
    return rocCurve(h, scoreGridOf(this.#layout.spec), this.#blockVariance(section, 'counts'));
  }

  #multiclassBlock(section: StatisticsSection): MulticlassMetricsBlock & { excluded: ExclusionCounts } {
    const spec = this.#layout.spec;
    const classes = spec.classes ?? [];
    const K = classes.length;
    const B = spec.bins;
    const cells = this.#read(section, 'confusion');
    const confusion = classes.map((_, i) => classes.map((__, j) => nonNegativeCount(cells[i * K + j] as number)));
    const histogramEntries = this.#read(section, 'class_histograms');
    const histograms = classes.map((_, c) => ({
      negative: monotoneHistogram(histogramEntries.subarray(2 * c * B, (2 * c + 1) * B)),
      positive: monotoneHistogram(histogramEntries.subarray((2 * c + 1) * B, (2 * c + 2) * B)),
    }));
    const brierSum = (this.#read(section, 'brier_sum')[0] as number) / this.#layout.fixedPointScale;
    const block = multiclassMetrics(classes, confusion, histograms, brierSum, this.#blockVariance(section, 'counts'));
    return { ...block, excluded: this.#exclusions(section) };
  }

  #regressionBlock(section: StatisticsSection): RegressionMetricsBlock & { excluded: ExclusionCounts } {
    const scale = this.#layout.fixedPointScale;
    const n = nonNegativeCount(this.#read(section, 'count')[0] as number);
    const clamped = Math.min(n, nonNegativeCount(this.#read(section, 'clamped')[0] as number));
    const raw = this.#read(section, 'regression_sums');
    const sums = Object.fromEntries(REGRESSION_SUMS.map((name, i) => [name, (raw[i] as number) / scale])) as unknown as Parameters<typeof regressionMetrics>[2];
    const block = regressionMetrics(n, clamped, sums, this.#layout.spec.regressionRange ?? [0, 1]);
    return { ...block, excluded: this.#exclusions(section) };
  }

  /**
   * Primary suppression of a subgroup level. Under DP the counts are noisy: a count is taken to be at
   * least k only when it is at least k plus z noise standard deviations of that count (`noise.marginSds`, default 3): the release's
   * exact variance of a class total when given (`classTotalVariances`; n sums two class totals), else a class
   * count summing B bins of the per-bin variance (n 2B), so an empty or tiny level is not released on the
   * strength of its noise. A level with c < k of a class is then released only when the noise on its total
   * exceeds z standard deviations (probability ≈ Φ(−z), Φ(−3) ≈ 0.00135, for near-Gaussian noise).
   */
  #binaryReason(block: BinaryMetricsBlock, section: StatisticsSection): string | null {
    const k = this.#layout.spec.minCellSize;
    const binVariance = this.#blockVariance(section, 'counts');
    const B = this.#layout.spec.bins;
    const counts = `${section.column === null ? 'overall' : `by_group.${section.column}`}.counts`;
    const totalVariance = this.#classTotalVariances.get(counts) ?? B * binVariance;
    const positiveVariance = this.#positiveTotalVariances.get(counts) ?? totalVariance;
    const classMargin = this.#marginSds * Math.sqrt(totalVariance);
    const nMargin = this.#marginSds * Math.sqrt(totalVariance + positiveVariance);
    const suffix = binVariance > 0 ? ' allowing for noise' : '';
    if (block.n - nMargin < k) return `n<${k}${suffix}`;
    if (block.positives - this.#marginSds * Math.sqrt(positiveVariance) < k) return `positives<${k}${suffix}`;
    if (block.n - block.positives - classMargin < k) return `negatives<${k}${suffix}`;
    return null;
  }

  #multiclassReason(block: MulticlassMetricsBlock): string | null {
    const k = this.#layout.spec.minCellSize;
    if (block.n < k) return `n<${k}`;
    if (Object.values(block.class_counts).some((count) => count < k)) return `class count<${k}`;
    return null;
  }

  /**
   * Primary suppression by each level's own rule, then complementary suppression: when exactly one
   * non-empty level of a column is suppressed, overall minus the other levels would reveal it, so
   * the smallest released level is suppressed too.
   */
  #suppression(levels: { n: number; reason: string | null }[]): (string | null)[] {
    const decisions = levels.map((l) => l.reason);
    // Under DP every count is already noisy, so a difference reveals only a DP-protected count; and
    // empty levels carry noise too, which would make complementary suppression hide real levels at random.
    if (this.#noisy) return decisions;
    const hiddenNonEmpty = levels.filter((l, i) => decisions[i] !== null && l.n > 0).length;
    if (hiddenNonEmpty === 1) {
      let smallest = -1;
      levels.forEach((l, i) => {
        if (decisions[i] === null && (smallest < 0 || l.n < (levels[smallest] as { n: number }).n)) smallest = i;
      });
      if (smallest >= 0) decisions[smallest] = 'complementary';
    }
    return decisions;
  }

  #exclusions(section: StatisticsSection): ExclusionCounts {
    const counts = this.#read(section, 'exclusions');
    return Object.fromEntries(EXCLUSION_REASONS.map((reason, i) => [reason, nonNegativeCount(counts[i] as number)])) as ExclusionCounts;
  }

  #read(section: StatisticsSection, name: SectionFieldName): Float64Array {
    const slice = fieldSlice(section, name);
    return this.#vector.subarray(slice.offset, slice.offset + slice.length);
  }

  /** Noise variance per entry of the count block holding this section. */
  #blockVariance(section: StatisticsSection, part: 'counts' | 'sums'): number {
    const prefix = section.column === null ? 'overall' : `by_group.${section.column}`;
    return this.#variances.get(`${prefix}.${part}`) ?? 0;
  }
}

/**
 * Confusion counts at the decision threshold and the metrics built on them (counts are exact when
 * the vector is). Intervals: Wilson for sensitivity, specificity, PPV, NPV and accuracy, widened by
 * the delta-method noise variance of each proportion when `binVariance` > 0.
 */
function thresholdMetrics(h: ClassHistograms, threshold: number, grid: ScoreGrid, binVariance: number): ThresholdMetrics {
  const bins = grid.bins;
  const k = grid.index(threshold) ?? 0;
  const raw = confusionAt(h, k);
  const tp = Math.round(raw.tp);
  const fp = Math.round(raw.fp);
  const tn = Math.round(raw.tn);
  const fn = Math.round(raw.fn);
  const n = tp + fp + tn + fn;
  // Noise variance of each count: one bin variance per histogram bin it sums.
  const vAbove = (bins - k) * binVariance;
  const vBelow = k * binVariance;
  const sensitivity = ratio(tp, tp + fn);
  const specificity = ratio(tn, tn + fp);
  const mccDenominator = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn);
  return {
    threshold,
    tp,
    fp,
    tn,
    fn,
    sensitivity,
    sensitivity_ci95: wilsonInterval(tp, tp + fn, proportionNoiseVariance(tp, fn, vAbove, vBelow)),
    specificity,
    specificity_ci95: wilsonInterval(tn, tn + fp, proportionNoiseVariance(tn, fp, vBelow, vAbove)),
    ppv: ratio(tp, tp + fp),
    ppv_ci95: wilsonInterval(tp, tp + fp, proportionNoiseVariance(tp, fp, vAbove, vAbove)),
    npv: ratio(tn, tn + fn),
    npv_ci95: wilsonInterval(tn, tn + fn, proportionNoiseVariance(tn, fn, vBelow, vBelow)),
    accuracy: ratio(tp + tn, n),
    accuracy_ci95: wilsonInterval(tp + tn, n, proportionNoiseVariance(tp + tn, fp + fn, vAbove + vBelow, vAbove + vBelow)),
    f1: ratio(2 * tp, 2 * tp + fp + fn),
    balanced_accuracy: sensitivity === null || specificity === null ? null : (sensitivity + specificity) / 2,
    mcc: mccDenominator > 0 ? (tp * tn - fp * fn) / Math.sqrt(mccDenominator) : null,
    selection_rate: ratio(tp + fp, n),
  };
}
