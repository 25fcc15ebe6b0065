// planner.ts — the accuracy planner: choose a release layout and ρ split, and predict metric errors before a round runs.
//
// What is predicted is the error that privacy adds — DP noise plus coarsening — relative to the
// non-private result on the same patients at the full score grid (sampling error of the cohort itself
// is a separate matter). The prediction is a first-order (delta-method) expansion of each metric in the
// released counts (Oehlert 1992; Casella & Berger 2002, §5.5.4): the error is approximately
// N(bias, gᵀ Σ g), g the metric's gradient in the counts and Σ the covariance of the estimated counts —
// σ²·I for a flat histogram, σ²·(HᵀH)⁻¹ for a consistent tree (tree.ts). The coarsening bias is the
// metric's change on the expected histograms. Counts come from the calibrated binormal model
// (binormal-model.ts), binned on the study's fine grid: equal-width, or the edges of a grid fitted to development
// scores (each fine bin then holds the model's mass between its own edges); subgroup levels are assumed equally sized
// with the same prevalence and AUC.
//
// The report does not show the AUC of the released counts as they are: finalizeMetrics first makes each class histogram
// non-negative with monotone cumulative sums (an isotonic projection, @fedval/metrics monotoneHistogram), which the delta
// method cannot follow. Where a class has few patients against the noise (levels with < ~200 positives at ε = 1) the
// projection removes much of the noise: the delta method over-predicts the reported error by up to ~2× there. So each
// returned prediction also carries `reportedAuc`: the error of the reported AUC by a seeded Monte Carlo of the same noise
// on the expected histograms, followed by the same projection (the simulated SD carries a relative standard error of
// ≈ 1/√(2·trials), that of a sample SD of Normal values: Kendall & Stuart, The Advanced Theory of Statistics, vol. 1). Layout choice and the priorities' ρ split keep the delta method, so a
// study resolves to the same release as before.
import type { NoiseBlock, NoiseMechanism, NoisePlan, PlannedBlock } from './allocation.ts';
import { aggregateNoiseVariance, planNoise } from './allocation.ts';
import { epsilonFromRho, rhoFromEpsilon } from './accountant.ts';
import type { ScoreModel } from './binormal-model.ts';
import { equalWidthScoreEdges, expectedGridBinProbabilities, normalCdf, scoreEdgesOfShares, simulateScoreHistograms, standardNormals } from './binormal-model.ts';
import { coarsenHistogram, equalMassEdges, equalWidthEdges, mergeEdges } from './coarsening.ts';
import { aucGradients, fittedGrid, mannWhitneyAuc, monotoneHistogram } from '@fedval/metrics';
import { DpError } from './errors.ts';
import { seededRandomSource } from './random-source.ts';
import type { TreeShape } from './tree.ts';
import { hierarchyVariances } from './hierarchy.ts';
import { encodeTree, estimateTreeHistogram, treePrefixVariances, treeQueryVariance, treeShape } from './tree.ts';

/**
 * How coarse bin edges are placed on the fine grid: 'equal-width', or 'equal-mass' — equal shares of
 * the pooled score distribution the planner assumes (public study parameters, never the data).
 */
export type EdgePlacement = 'equal-width' | 'equal-mass';

/** A release layout for the score histograms. `edges` defaults to 'equal-width'. */
export type ReleaseLayoutSpec =
  | { readonly kind: 'flat'; readonly bins: number; readonly edges?: EdgePlacement }
  | { readonly kind: 'tree'; readonly bins: number; readonly branching: number; readonly edges?: EdgePlacement };

/** Inputs of {@link planRelease}. Only `patients`, `prevalence`, `sites`, `epsilon` and `delta` are required. */
export interface PlanReleaseRequest {
  /** Pooled patients with a label, across all sites. */
  patients: number;
  /** Share of positives, 0 < π < 1. */
  prevalence: number;
  /** Sites expected to contribute. */
  sites: number;
  /** Share mechanisms: shares are sized so that any minSites of them carry the full noise. Default: `sites`. */
  minSites?: number;
  /** Per-round ε at `delta`. */
  epsilon: number;
  delta: number;
  /** Default 'skellam' (aggregate-only release with exact shares). */
  mechanism?: NoiseMechanism;
  /** Bins of the full score grid on [0, 1]. Default 1000. */
  fineBins?: number;
  /**
   * Score edges of the full grid when it is not equal-width (a grid fitted to development scores): fineBins + 1 values,
   * 0 = e₀ < e₁ < … < e_B = 1; fine bin k holds the scores in [e_k, e_{k+1}). Thresholds are then given as k / fineBins
   * for the edge k they sit on (as the release spec pins them). Default: the equal-width edges k / fineBins.
   */
  fineEdges?: readonly number[] | null;
  /**
   * Pooled share of patients in each fine bin, when the grid knows it better than the model's score scale: a grid fitted
   * to development quantiles holds equal shares by construction, whatever the scores' scale (a marker scaled to [0, 1]
   * is not the calibrated score the model assumes). fineBins positive values. The model is then used in rank space:
   * fine bin k holds the model's patients between the pooled quantiles of the cumulative shares (scoreEdgesOfShares);
   * fineEdges is not used. Default null: the model's mass between the score edges.
   */
  fineShares?: readonly number[] | null;
  /** 'auto' (default) picks the layout with the smallest predicted overall AUC error plus mean sensitivity/specificity error. */
  layout?: 'auto' | ReleaseLayoutSpec;
  /** Number of levels of each subgroup variable released in the same round (e.g. [2] for sex). Default []. */
  subgroupLevels?: readonly number[];
  /** Score thresholds for sensitivity and specificity; snapped to the fine grid and kept as bin edges. Default [0.5]. */
  thresholds?: readonly number[];
  /** AUC assumed by the binormal score model. Default 0.75. */
  assumedAuc?: number;
  /** 'auto' only: smallest number of coarse bins considered (a floor on ROC-curve resolution). Default 1. */
  minBins?: number;
  /**
   * Place thresholds that crowd into consecutive fine bins (as on a fitted score grid, whose thresholds above the
   * development scores all sit in its top bins) among the edges instead of refusing the layout. Default false.
   */
  crowdedThresholds?: boolean;
  /** Relative ρ weights: the overall histograms, and each subgroup variable. Defaults {@link DEFAULT_PLAN_WEIGHTS}. */
  weights?: { overall?: number; subgroup?: number };
  /**
   * Predict for a release that reconciles the overall and every subgroup variable by least squares (hierarchy.ts; the
   * private release of a metrics vector does): each variable's levels plus its '(other)' and '(missing)' levels
   * partition the patients. Default false (the planner's own blocks, each estimated alone).
   */
  hierarchy?: boolean;
  /**
   * Monte Carlo trials behind every `reportedAuc` of the plan (seeded: the same request gives the same prediction).
   * Default {@link DEFAULT_REPORTED_AUC_TRIALS}; at least 20.
   */
  reportedAucTrials?: number;
}

/** Default trials of the reported AUC's Monte Carlo: its SD then carries ≈ ±3.5 % simulation error (1/√(2·400)). */
export const DEFAULT_REPORTED_AUC_TRIALS = 400;

/** Default ρ weights: overall histograms 3, each subgroup variable 2 (so one subgroup gets 40 %). */
export const DEFAULT_PLAN_WEIGHTS: Readonly<{ overall: number; subgroup: number }> = Object.freeze({ overall: 3, subgroup: 2 });

/** A predicted error: approximately Normal(bias, std²); medianAbsError is the median of its absolute value. */
export interface PredictedError {
  readonly bias: number;
  readonly std: number;
  readonly medianAbsError: number;
}

/** Predicted errors of one population (everyone, or one subgroup level). */
export interface PopulationPrediction {
  readonly patients: number;
  /**
   * Delta method: the error of the AUC of the released (reconciled) histograms as they are. What the layout choice and
   * the priorities' ρ split use.
   */
  readonly auc: PredictedError;
  /**
   * The error of the AUC the report shows — the histograms made non-negative with monotone cumulative sums first
   * (finalizeMetrics) — by the seeded Monte Carlo of the header, relative to the AUC of the expected fine histograms:
   * bias and std are the simulated errors' mean and SD, medianAbsError their median absolute value. Smaller than `auc`
   * where a class has few patients against the noise; the figure to compare with a measured DP error.
   */
  readonly reportedAuc: PredictedError;
  /**
   * Share of the Monte Carlo trials in which a subgroup level passes the small-cell rule, when the prediction was asked
   * for under {@link SmallCellRule} (`reportedAuc` is then over those trials only, as a report shows an AUC only for a
   * level it releases; NaN when fewer than two trials release it); null otherwise.
   */
  readonly releaseRate: number | null;
  /** One per threshold, in the order given. */
  readonly sensitivity: readonly PredictedError[];
  readonly specificity: readonly PredictedError[];
  /** Noise std of the estimated number of positives (and of negatives: the same). */
  readonly classCountStd: number;
  /** Largest noise std of any estimated cumulative count of one class. */
  readonly maxCumulativeStd: number;
}

/** A resolved layout: coarse bin edges on the fine grid, and the tree over them if any. */
export interface ReleaseLayout {
  readonly kind: 'flat' | 'tree';
  readonly placement: EdgePlacement;
  readonly fineBins: number;
  /** Coarse bin edges (fine-bin indices, 0 … fineBins). */
  readonly edges: Int32Array;
  /** Present for trees. */
  readonly tree?: TreeShape;
  /** Coordinates of one class histogram: bins (flat) or tree nodes. */
  readonly coordinatesPerHistogram: number;
  /** Counters one patient increments per histogram (1 flat, tree levels). */
  readonly countersPerPatient: number;
}

export interface ReleasePlan {
  readonly request: Readonly<Required<Omit<PlanReleaseRequest, 'weights' | 'layout' | 'fineEdges' | 'fineShares' | 'hierarchy'>>> & {
    readonly hierarchy: boolean;
    /** Shares of patients per fine bin for equal-mass edges; null: the model's. */
    readonly fineShares: readonly number[] | null;
    readonly layout: 'auto' | ReleaseLayoutSpec;
    /** The fitted grid's score edges; null for the equal-width grid. */
    readonly fineEdges: readonly number[] | null;
    readonly weights: Readonly<{ overall: number; subgroup: number }>;
  };
  readonly layout: ReleaseLayout;
  /**
   * The noise plan every site applies: block 'overall' (the two class histograms) and one block
   * 'subgroup-<i>' per subgroup variable (two class histograms per level), each histogram flat bins or
   * tree nodes. How histograms are ordered inside a block is the statistics layout's choice.
   */
  readonly noise: NoisePlan;
  /** ρ of the round, and its (ε, δ) display. */
  readonly rho: number;
  readonly epsilon: number;
  /** Noise std per coordinate in the aggregate of `sites` contributions, per block name. */
  readonly aggregateNoiseStd: Readonly<Record<string, number>>;
  /**
   * Noise std per coordinate of the estimates the predictions are for, per block name: `aggregateNoiseStd`, or after the
   * reconciliation across the group hierarchy when `request.hierarchy`.
   */
  readonly estimateNoiseStd: Readonly<Record<string, number>>;
  readonly overall: PopulationPrediction;
  /** One entry per subgroup variable: the prediction for one of its (equally sized) levels. */
  readonly subgroups: readonly PopulationPrediction[];
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', message);
}

/** Mann–Whitney AUC from class histograms on ordered bins, ties counted one half (@fedval/metrics); NaN when a class is empty. */
function histogramAuc(positive: Float64Array, negative: Float64Array): number {
  return mannWhitneyAuc({ positive, negative }) ?? Number.NaN;
}

/** Gradient of (Σ_{i ≥ edge} h_i) / Σ h — the share of a class at or above a threshold edge. */
function shareAboveGradient(histogram: Float64Array, edge: number): Float64Array {
  const total = histogram.reduce((a, b) => a + b, 0);
  let above = 0;
  for (let i = edge; i < histogram.length; i += 1) above += histogram[i]!;
  const share = above / total;
  return histogram.map((_, i) => ((i >= edge ? 1 : 0) - share) / total);
}

/** Median of |X| for X ~ Normal(bias, std²), by bisection. */
function medianAbsolute(bias: number, std: number): number {
  if (std === 0) return Math.abs(bias);
  let lo = 0;
  let hi = Math.abs(bias) + 10 * std;
  for (let i = 0; i < 100; i += 1) {
    const m = (lo + hi) / 2;
    const inside = normalCdf((m - bias) / std) - normalCdf((-m - bias) / std);
    if (inside < 0.5) lo = m;
    else hi = m;
  }
  return (lo + hi) / 2;
}

function predicted(bias: number, variance: number): PredictedError {
  const std = Math.sqrt(Math.max(0, variance));
  return Object.freeze({ bias, std, medianAbsError: medianAbsolute(bias, std) });
}

/** Variance of a linear function w·ĥ of one estimated class histogram under the layout. */
function linearVariance(layout: ReleaseLayout, weights: Float64Array, noiseVariance: number): number {
  if (layout.tree) return treeQueryVariance(layout.tree, weights, noiseVariance);
  let sum = 0;
  for (const w of weights) sum += w * w;
  return noiseVariance * sum;
}

function thresholdEdges(thresholds: readonly number[], fineBins: number): number[] {
  return [...new Set(thresholds.map((t) => Math.round(t * fineBins)))].filter((e) => e > 0 && e < fineBins);
}

/** Pooled probability of each fine score bin (score edges `fineEdges`) under the model. */
function pooledBinMass(model: ScoreModel, fineEdges: ArrayLike<number>): Float64Array {
  const positive = expectedGridBinProbabilities(model, fineEdges, true);
  const negative = expectedGridBinProbabilities(model, fineEdges, false);
  return positive.map((p, i) => model.prevalence * p + (1 - model.prevalence) * negative[i]!);
}

/** Checks a fitted grid's score edges against fineBins: B + 1 values from 0 to 1, strictly increasing. */
function checkFineEdges(fineEdges: readonly number[], fineBins: number): void {
  check(
    fineEdges.length === fineBins + 1 && fineEdges[0] === 0 && fineEdges[fineBins] === 1 && fineEdges.every((e, k) => k === 0 || e > fineEdges[k - 1]!),
    'fineEdges must be fineBins + 1 strictly increasing score edges from 0 to 1',
  );
}

const sharesEdges = new WeakMap<readonly number[], { prevalence: number; auc: number; edges: Float64Array }>();

/**
 * The score edges the model's fine bins are taken between: implied by `fineShares` (rank space) when given, else
 * `fineEdges` (a fitted grid's score edges), else the equal-width edges k / fineBins. Checks what it is given.
 */
function fineScoreEdges(model: ScoreModel, fineBins: number, fineEdges: readonly number[] | null, fineShares: readonly number[] | null): Float64Array {
  if (fineShares !== null) {
    check(fineShares.length === fineBins && fineShares.every((share) => Number.isFinite(share) && share > 0), 'fineShares must be fineBins positive shares');
    // 'auto' resolves dozens of candidate layouts on the same shares: the bisections run once per shares and model.
    const known = sharesEdges.get(fineShares);
    if (known && known.prevalence === model.prevalence && known.auc === model.auc) return known.edges;
    const edges = scoreEdgesOfShares(model, fineShares);
    sharesEdges.set(fineShares, { prevalence: model.prevalence, auc: model.auc, edges });
    return edges;
  }
  if (fineEdges !== null) {
    checkFineEdges(fineEdges, fineBins);
    return Float64Array.from(fineEdges);
  }
  return equalWidthScoreEdges(fineBins);
}

/**
 * Resolves a layout spec into edges (thresholds pinned; crowded ones placed when `crowded`) and the tree shape; `model`
 * places equal-mass edges, on the fine grid's score edges `fineEdges` (default equal-width).
 */
export function resolveLayout(
  spec: ReleaseLayoutSpec,
  fineBins: number,
  thresholds: readonly number[],
  model: ScoreModel,
  crowded = false,
  fineEdges: readonly number[] | null = null,
  fineShares: readonly number[] | null = null,
): ReleaseLayout {
  check(Number.isSafeInteger(spec.bins) && spec.bins >= 1 && spec.bins <= fineBins, 'layout bins must be between 1 and fineBins');
  const placement = spec.edges ?? 'equal-width';
  check(placement === 'equal-width' || placement === 'equal-mass', 'edges must be equal-width or equal-mass');
  const pinned = thresholdEdges(thresholds, fineBins);
  const scoreEdges = fineScoreEdges(model, fineBins, fineEdges, fineShares);
  const edges =
    placement === 'equal-width' ? equalWidthEdges(fineBins, spec.bins, pinned, crowded) : equalMassEdges(pooledBinMass(model, scoreEdges), spec.bins, pinned, crowded);
  if (spec.kind === 'flat') {
    return Object.freeze({ kind: 'flat', placement, fineBins, edges, coordinatesPerHistogram: spec.bins, countersPerPatient: 1 });
  }
  const tree = treeShape(spec.bins, spec.branching);
  return Object.freeze({ kind: 'tree', placement, fineBins, edges, tree, coordinatesPerHistogram: tree.nodeCount, countersPerPatient: tree.levels });
}

/**
 * The small-cell rule a subgroup level's report passes (finalizeMetrics): released when its estimated positives and
 * negatives each reach `minCellSize` + `marginSds` SDs of a class total's noise, and its patients `minCellSize` +
 * `marginSds`·√2 SDs. Public: the release's exact class-total variance (DecodedRelease.classTotalVariances), the metric
 * spec's minimum cell and the margin.
 */
export interface SmallCellRule {
  /** Noise variance of one class total of one level after decoding (counts², > 0). */
  readonly classTotalVariance: number;
  /**
   * Noise variance of the level's positives total when the positives have their own layout (per-class layouts;
   * finalizeMetrics' `noise.positiveTotalVariances`); `classTotalVariance` when absent.
   */
  readonly positiveTotalVariance?: number;
  /** The metric spec's minCellSize (patients). */
  readonly minCellSize: number;
  /** Margin in SDs: finalizeMetrics' `noise.marginSds` (default 3). */
  readonly marginSds: number;
}

/**
 * Per coarse bin j, Cov(x̂_j, Σx̂)/Var(Σx̂) for the layout's estimate x̂ (unit node variance): the share of a class total's
 * correction bin j takes when decoding shifts a histogram to its released total (the least-squares update with one more
 * observation of a linear function, Rao 1973 §4a.9). Flat: 1/k each; tree: Cov(x̂_j, Σx̂) = (q(1 + e_j) − q(e_j) − q(1))/2,
 * q the tree's query variance.
 */
function totalShiftProfile(layout: ReleaseLayout): Float64Array {
  const bins = layout.edges.length - 1;
  const ones = new Float64Array(bins).fill(1);
  const total = linearVariance(layout, ones, 1);
  return Float64Array.from({ length: bins }, (_, j) => {
    const unit = new Float64Array(bins);
    unit[j] = 1;
    const shifted = Float64Array.from(ones, (w, i) => (i === j ? w + 1 : w));
    return (linearVariance(layout, shifted, 1) - linearVariance(layout, unit, 1) - total) / (2 * total);
  });
}

/** Seed of the reported AUC's Monte Carlo: fixed, so a plan is a function of its request. */
const REPORTED_AUC_SEED = 'fedval-planner-reported-auc';

/**
 * The reported AUC's error by Monte Carlo (header): each trial adds independent Normal(0, noiseVariance) noise to every
 * coordinate of both expected class histograms as the layout releases them (coarse bins, or tree nodes then the tree's
 * least-squares estimate), places each coarse bin's mass at its middle fine bin (as decoding does), applies
 * monotoneHistogram to each class and takes the AUC clipped to [0, 1], as finalizeMetrics does. Errors are against the AUC
 * of the expected fine histograms; a trial leaving a class empty (no AUC reported) is left out. Gaussian noise stands
 * for the Skellam and discrete Gaussian sums (close to Gaussian at these variances), as in simulateRelease.
 * Under a small-cell rule (a subgroup level), decoding's last step is modelled too: each class histogram is shifted along
 * {@link totalShiftProfile} to a class total drawn as Normal(n_c, classTotalVariance), independent of the histogram's
 * shape (the residual of a least-squares update is uncorrelated with the total it is updated on), and a trial counts only
 * when the level passes the rule with those totals.
 */
function simulateReportedAuc(
  finePositive: Float64Array,
  fineNegative: Float64Array,
  layout: ReleaseLayout | { positive: ReleaseLayout; negative: ReleaseLayout },
  noiseVariance: number | { positive: number; negative: number },
  trials: number,
  rule: SmallCellRule | null,
): { auc: PredictedError; releaseRate: number | null } {
  const reference = histogramAuc(finePositive, fineNegative);
  // Per class (positives first): its layout and node noise variance; one layout and variance for both unless per-class.
  const layouts = 'positive' in layout ? [layout.positive, layout.negative] : [layout, layout];
  const variances = typeof noiseVariance === 'number' ? [noiseVariance, noiseVariance] : [noiseVariance.positive, noiseVariance.negative];
  const fineBins = layouts[0]!.fineBins;
  const placements = layouts.map((l) => Int32Array.from({ length: l.edges.length - 1 }, (_, i) => l.edges[i]! + Math.floor((l.edges[i + 1]! - l.edges[i]! - 1) / 2)));
  const released = [finePositive, fineNegative].map((fine, c) => {
    const coarse = coarsenHistogram(fine, layouts[c]!.edges);
    return layouts[c]!.tree ? encodeTree(coarse, layouts[c]!.tree!) : coarse;
  });
  const rng = seededRandomSource(REPORTED_AUC_SEED);
  const stds = variances.map(Math.sqrt);
  const placed = [new Float64Array(fineBins), new Float64Array(fineBins)] as const;
  const classSizes = [finePositive, fineNegative].map((fine) => fine.reduce((a, b) => a + b, 0));
  const profiles = rule ? layouts.map(totalShiftProfile) : null;
  // The class totals' variances the rule allows for: positives', negatives' (finalizeMetrics' #binaryReason).
  const totalVariances = rule ? [rule.positiveTotalVariance ?? rule.classTotalVariance, rule.classTotalVariance] : [0, 0];
  const totals = [0, 0];
  const errors: number[] = [];
  let passed = 0;
  for (let t = 0; t < trials; t += 1) {
    released.forEach((expected, c) => {
      const noise = standardNormals(rng, expected.length);
      const noisy = expected.map((x, i) => x + stds[c]! * noise[i]!);
      const tree = layouts[c]!.tree;
      const coarse = tree ? estimateTreeHistogram(noisy, tree) : noisy;
      if (rule && profiles) {
        const profile = profiles[c]!;
        const target = classSizes[c]! + Math.sqrt(totalVariances[c]!) * standardNormals(rng, 1)[0]!;
        const step = target - coarse.reduce((a, b) => a + b, 0);
        profile.forEach((gain, i) => (coarse[i] = coarse[i]! + gain * step));
        totals[c] = Math.round(Math.max(0, target));
      }
      const fine = placed[c]!;
      fine.fill(0);
      placements[c]!.forEach((at, i) => (fine[at] = coarse[i]!));
    });
    if (rule) {
      // finalizeMetrics' rule on the rounded, non-negative class totals of the projected histograms.
      const [positiveMargin, negativeMargin] = totalVariances.map((v) => rule.marginSds * Math.sqrt(v));
      const nMargin = rule.marginSds * Math.sqrt(totalVariances[0]! + totalVariances[1]!);
      const k = rule.minCellSize;
      if (totals[0]! + totals[1]! - nMargin < k || totals[0]! - positiveMargin! < k || totals[1]! - negativeMargin! < k) continue;
      passed += 1;
    }
    const auc = mannWhitneyAuc({ positive: monotoneHistogram(placed[0]), negative: monotoneHistogram(placed[1]) });
    if (auc !== null) errors.push(Math.min(1, Math.max(0, auc)) - reference);
  }
  const releaseRate = rule ? passed / trials : null;
  // Fewer than two released trials: no SD to give (and no median to bisect for: normalCdf would not terminate on NaN).
  if (errors.length < 2) return { auc: Object.freeze({ bias: Number.NaN, std: Number.NaN, medianAbsError: Number.NaN }), releaseRate };
  const bias = errors.reduce((a, b) => a + b, 0) / errors.length;
  const variance = errors.reduce((a, b) => a + (b - bias) ** 2, 0) / (errors.length - 1);
  return { auc: Object.freeze({ bias, std: Math.sqrt(variance), medianAbsError: median(errors.map(Math.abs)) }), releaseRate };
}

/**
 * The analytic prediction for one population of `patients` under a layout and aggregate noise variance; the expected
 * fine histograms are the model's mass between the fine bins' score edges (see fineScoreEdges). `reportedAuc` by
 * `trials` Monte Carlo trials, or the delta method's `auc` when `trials` is 0 (layout candidates).
 */
function predictPopulation(
  model: ScoreModel,
  patients: number,
  layout: ReleaseLayout,
  noiseVariance: number,
  thresholds: readonly number[],
  scoreEdges: ArrayLike<number> = equalWidthScoreEdges(layout.fineBins),
  trials = 0,
  rule: SmallCellRule | null = null,
): PopulationPrediction {
  const positives = patients * model.prevalence;
  const negatives = patients - positives;
  const finePositive = expectedGridBinProbabilities(model, scoreEdges, true).map((p) => p * positives);
  const fineNegative = expectedGridBinProbabilities(model, scoreEdges, false).map((p) => p * negatives);
  const coarsePositive = coarsenHistogram(finePositive, layout.edges);
  const coarseNegative = coarsenHistogram(fineNegative, layout.edges);
  const gradients = aucGradients({ positive: coarsePositive, negative: coarseNegative });
  if (!gradients) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'the expected histograms leave a class empty');
  const auc = predicted(
    gradients.auc - histogramAuc(finePositive, fineNegative),
    linearVariance(layout, gradients.positive, noiseVariance) + linearVariance(layout, gradients.negative, noiseVariance),
  );
  const sensitivity: PredictedError[] = [];
  const specificity: PredictedError[] = [];
  for (const threshold of thresholds) {
    const fineEdge = Math.round(threshold * layout.fineBins);
    const edge = layout.edges.indexOf(fineEdge); // pinned by resolveLayout (0 and fineBins are edges too)
    sensitivity.push(predicted(0, linearVariance(layout, shareAboveGradient(coarsePositive, edge), noiseVariance)));
    specificity.push(predicted(0, linearVariance(layout, shareAboveGradient(coarseNegative, edge), noiseVariance)));
  }
  const bins = layout.edges.length - 1;
  const classCountStd = Math.sqrt(linearVariance(layout, new Float64Array(bins).fill(1), noiseVariance));
  const prefix = layout.tree
    ? treePrefixVariances(layout.tree, noiseVariance)
    : Float64Array.from({ length: bins + 1 }, (_, k) => k * noiseVariance);
  // The Monte Carlo runs when its result is first read: resolving a study's privacy spec plans a release for its layout
  // alone and never reads it.
  let reported: { auc: PredictedError; releaseRate: number | null } | undefined;
  const simulated = (): { auc: PredictedError; releaseRate: number | null } =>
    (reported ??= trials > 0 ? simulateReportedAuc(finePositive, fineNegative, layout, noiseVariance, trials, rule) : { auc, releaseRate: null });
  return Object.freeze({
    patients,
    auc,
    get reportedAuc(): PredictedError {
      return simulated().auc;
    },
    get releaseRate(): number | null {
      return simulated().releaseRate;
    },
    sensitivity: Object.freeze(sensitivity),
    specificity: Object.freeze(specificity),
    classCountStd,
    maxCumulativeStd: Math.sqrt(Math.max(...prefix)),
  });
}

function layoutBlocks(layout: ReleaseLayout, subgroupLevels: readonly number[]): NoiseBlock[] {
  const blocks: NoiseBlock[] = [];
  const sensitivity = { l1Sensitivity: layout.countersPerPatient, l2SensitivitySquared: layout.countersPerPatient };
  let offset = 0;
  const add = (name: string, histograms: number): void => {
    blocks.push({ name, offset, length: histograms * layout.coordinatesPerHistogram, ...sensitivity });
    offset += histograms * layout.coordinatesPerHistogram;
  };
  add('overall', 2);
  subgroupLevels.forEach((levels, i) => add(`subgroup-${i}`, 2 * levels));
  return blocks;
}

/** Candidate layouts tried by 'auto': flat grids and trees of 2, 4, 8 and 16 branches, both edge placements. */
function candidateLayouts(fineBins: number): ReleaseLayoutSpec[] {
  const out: ReleaseLayoutSpec[] = [];
  for (const edges of ['equal-width', 'equal-mass'] as const) {
    for (const bins of [4, 5, 8, 10, 12, 16, 20, 25, 32, 40, 50, 64, 100, 128, 200]) if (bins <= fineBins) out.push({ kind: 'flat', bins, edges });
    for (const branching of [2, 4, 8, 16]) {
      for (let leaves = branching; leaves <= Math.min(1024, fineBins); leaves *= branching) {
        if (leaves >= 8) out.push({ kind: 'tree', bins: leaves, branching, edges });
      }
    }
  }
  return out;
}

function resolveRequest(request: PlanReleaseRequest): ReleasePlan['request'] {
  const resolved = {
    patients: request.patients,
    prevalence: request.prevalence,
    sites: request.sites,
    minSites: request.minSites ?? request.sites,
    epsilon: request.epsilon,
    delta: request.delta,
    mechanism: request.mechanism ?? 'skellam',
    fineBins: request.fineBins ?? 1000,
    fineEdges: request.fineEdges ? Object.freeze([...request.fineEdges]) : null,
    fineShares: request.fineShares ? Object.freeze([...request.fineShares]) : null,
    layout: request.layout ?? 'auto',
    subgroupLevels: Object.freeze([...(request.subgroupLevels ?? [])]),
    thresholds: Object.freeze([...(request.thresholds ?? [0.5])]),
    assumedAuc: request.assumedAuc ?? 0.75,
    minBins: request.minBins ?? 1,
    crowdedThresholds: request.crowdedThresholds ?? false,
    hierarchy: request.hierarchy ?? false,
    reportedAucTrials: request.reportedAucTrials ?? DEFAULT_REPORTED_AUC_TRIALS,
    weights: Object.freeze({ ...DEFAULT_PLAN_WEIGHTS, ...request.weights }),
  } as const;
  check(Number.isFinite(resolved.patients) && resolved.patients >= 2, 'patients must be at least 2');
  check(resolved.prevalence > 0 && resolved.prevalence < 1, 'prevalence must lie strictly between 0 and 1');
  check(Number.isSafeInteger(resolved.sites) && resolved.sites >= 1, 'sites must be a positive integer');
  check(Number.isSafeInteger(resolved.minSites) && resolved.minSites >= 1 && resolved.minSites <= resolved.sites, 'minSites must be between 1 and sites');
  check(Number.isSafeInteger(resolved.fineBins) && resolved.fineBins >= 2, 'fineBins must be an integer ≥ 2');
  check(resolved.assumedAuc > 0.5 && resolved.assumedAuc < 1, 'assumedAuc must lie strictly between 0.5 and 1');
  check(resolved.subgroupLevels.every((l) => Number.isSafeInteger(l) && l >= 2), 'every subgroup variable needs at least 2 levels');
  check(resolved.thresholds.every((t) => t >= 0 && t <= 1), 'thresholds must lie in [0, 1]');
  check(Number.isSafeInteger(resolved.minBins) && resolved.minBins >= 1, 'minBins must be a positive integer');
  check(Number.isSafeInteger(resolved.reportedAucTrials) && resolved.reportedAucTrials >= 20, 'reportedAucTrials must be an integer ≥ 20');
  fineScoreEdges({ prevalence: resolved.prevalence, auc: resolved.assumedAuc }, resolved.fineBins, resolved.fineEdges, resolved.fineShares);
  const { overall, subgroup } = resolved.weights;
  check(Number.isFinite(overall) && overall > 0 && Number.isFinite(subgroup) && subgroup > 0, 'weights must be finite and > 0');
  return Object.freeze(resolved);
}

function buildPlan(request: ReleasePlan['request'], spec: ReleaseLayoutSpec, rho: number, withSubgroups: boolean): ReleasePlan {
  const { weights } = request;
  const model: ScoreModel = { prevalence: request.prevalence, auc: request.assumedAuc };
  const layout = resolveLayout(spec, request.fineBins, request.thresholds, model, request.crowdedThresholds, request.fineEdges, request.fineShares);
  const blocks = layoutBlocks(layout, request.subgroupLevels);
  const noise = planNoise({
    rho,
    mechanism: request.mechanism,
    minSites: request.mechanism === 'discrete-gaussian' ? 1 : request.minSites,
    shares: blocks.map((block) => ({ block, weight: block.name === 'overall' ? weights.overall : weights.subgroup })),
  });
  const raw = noise.blocks.map((block) => aggregateNoiseVariance(block, request.sites));
  const estimated = estimateVariances(request, raw);
  const scoreEdges = fineScoreEdges(model, request.fineBins, request.fineEdges, request.fineShares);
  // Layout candidates ('auto', withSubgroups false) are compared on the delta method alone: no Monte Carlo for them.
  const trials = withSubgroups ? request.reportedAucTrials : 0;
  const overall = predictPopulation(model, request.patients, layout, estimated[0]!, request.thresholds, scoreEdges, trials);
  const subgroups = withSubgroups
    ? request.subgroupLevels.map((levels, i) => predictPopulation(model, request.patients / levels, layout, estimated[i + 1]!, request.thresholds, scoreEdges, trials))
    : [];
  return Object.freeze({
    request,
    layout,
    noise,
    rho: noise.rho,
    epsilon: epsilonFromRho(noise.rho, request.delta),
    aggregateNoiseStd: Object.freeze(Object.fromEntries(noise.blocks.map((block, b) => [block.name, Math.sqrt(raw[b]!)]))),
    estimateNoiseStd: Object.freeze(Object.fromEntries(noise.blocks.map((block, b) => [block.name, Math.sqrt(estimated[b]!)]))),
    overall,
    subgroups: Object.freeze(subgroups),
  });
}

/**
 * Per-coordinate variances of the estimates, per block (overall, then each subgroup variable): the aggregate noise, or
 * after the release's reconciliation across the group hierarchy (each variable: its levels, '(other)' and '(missing)').
 */
function estimateVariances(request: ReleasePlan['request'], raw: readonly number[]): number[] {
  if (!request.hierarchy || request.subgroupLevels.length === 0) return [...raw];
  const star = hierarchyVariances(raw[0]!, request.subgroupLevels.map((levels, i) => ({ levels: levels + 2, variance: raw[i + 1]! })));
  return [star.overall, ...star.columns];
}

/**
 * The predicted error of one population of `patients` under a plan: the overall population's noise (`subgroup` null) or
 * that of a level of subgroup variable `subgroup` (its estimates' variance, reconciled when the plan is), for a level
 * whose expected size differs from the plan's equal split (a public planning assumption, never data). With `rule` (a
 * subgroup level only), `reportedAuc` is the error over the Monte Carlo trials in which the level passes the small-cell
 * rule, and `releaseRate` their share.
 */
export function predictPopulationError(plan: ReleasePlan, patients: number, subgroup: number | null, rule?: SmallCellRule): PopulationPrediction {
  check(Number.isFinite(patients) && patients >= 2, 'patients must be at least 2');
  const { request, layout } = plan;
  const name = subgroup === null ? 'overall' : `subgroup-${subgroup}`;
  const std = plan.estimateNoiseStd[name];
  check(std !== undefined, `the plan has no block ${name}`);
  const model: ScoreModel = { prevalence: request.prevalence, auc: request.assumedAuc };
  const scoreEdges = fineScoreEdges(model, request.fineBins, request.fineEdges, request.fineShares);
  if (rule !== undefined) {
    check(subgroup !== null, 'the small-cell rule applies to subgroup levels only');
    check(Number.isFinite(rule.classTotalVariance) && rule.classTotalVariance > 0, 'classTotalVariance must be a finite number > 0');
    check(Number.isSafeInteger(rule.minCellSize) && rule.minCellSize >= 0, 'minCellSize must be a non-negative integer');
    check(Number.isFinite(rule.marginSds) && rule.marginSds >= 0, 'marginSds must be a finite number ≥ 0');
  }
  return predictPopulation(model, patients, layout, std! ** 2, request.thresholds, scoreEdges, request.reportedAucTrials, rule ?? null);
}

/** The planner's prediction for a per-class layout ({@link predictPerClassAuc}). */
export interface PerClassPrediction {
  /** The positives' and the negatives' layouts, resolved (thresholds kept as edges). */
  readonly positive: ReleaseLayout;
  readonly negative: ReleaseLayout;
  /** Of the AUC of the population: bias (coarsening) and noise SD. */
  readonly auc: PredictedError;
  /** Sensitivity at each of the plan's thresholds (the positives' share at or above it, on the positives' layout); specificity is the negatives' as in the plan. */
  readonly sensitivity: readonly PredictedError[];
  /**
   * The error of the AUC as reported (after finalization's non-negative, monotone projection; under `rule`, over the
   * rounds that release the level) by the same seeded Monte Carlo as {@link PopulationPrediction.reportedAuc}, with each
   * class on its own layout and node noise; computed when first read.
   */
  readonly reportedAuc: PredictedError;
  /** Under a small-cell rule: the share of rounds the level is released in (Monte Carlo); null otherwise. */
  readonly releaseRate: number | null;
}

/**
 * The AUC error a per-class layout gives (issue 18, "fit the grid to the class sizes"), in the same ρ as the plan:
 * positives on `positive`'s coarse bins (or tree), negatives on `negative`'s (layout specs, or layouts already resolved
 * such as {@link PositiveLayoutChoice.layout} and the plan's). A patient increments L_c counters of its
 * class's histogram, so with node variance σ_c² per class the counts block costs max_c L_c/(2σ_c²) in zCDP (Gaussian
 * calibration, Bun & Steinke 2016, Prop. 1.6); the plan's cost L₀/(2σ₀²) is kept with σ_c² = σ₀²·L_c/L₀ (L₀ the plan
 * layout's counters per patient). The reconciliation across the group hierarchy is homogeneous in the variances, so the
 * estimates' variances scale the same way. AUC: the delta method as for the plan (DeLong placements of the expected
 * histograms), each class's coarse mass at the middle fine bin of its coarse bin as the release places it; its bias is
 * that of the two coarsenings against the fine grid. For the overall population (`subgroup` null) or a level of
 * subgroup variable `subgroup` with `patients` patients. The release carries such a layout when 'auto' chooses one
 * ({@link choosePositiveLayout}; release.ts).
 */
export function predictPerClassAuc(
  plan: ReleasePlan,
  positive: ReleaseLayoutSpec | ReleaseLayout,
  negative: ReleaseLayoutSpec | ReleaseLayout,
  patients: number,
  subgroup: number | null,
  rule?: SmallCellRule,
): PerClassPrediction {
  const { request } = plan;
  const model: ScoreModel = { prevalence: request.prevalence, auc: request.assumedAuc };
  const resolve = (spec: ReleaseLayoutSpec | ReleaseLayout): ReleaseLayout =>
    'coordinatesPerHistogram' in spec ? spec : resolveLayout(spec, request.fineBins, request.thresholds, model, request.crowdedThresholds, request.fineEdges, request.fineShares);
  return perClassPrediction(plan, resolve(positive), resolve(negative), patients, subgroup, rule ?? null);
}

/** {@link predictPerClassAuc} for layouts already resolved. */
function perClassPrediction(plan: ReleasePlan, positive: ReleaseLayout, negative: ReleaseLayout, patients: number, subgroup: number | null, rule: SmallCellRule | null = null): PerClassPrediction {
  check(Number.isFinite(patients) && patients >= 2, 'patients must be at least 2');
  const { request } = plan;
  const name = subgroup === null ? 'overall' : `subgroup-${subgroup}`;
  const std = plan.estimateNoiseStd[name];
  check(std !== undefined, `the plan has no block ${name}`);
  const model: ScoreModel = { prevalence: request.prevalence, auc: request.assumedAuc };
  const layouts = { positive, negative };
  const scoreEdges = fineScoreEdges(model, request.fineBins, request.fineEdges, request.fineShares);
  const positives = patients * model.prevalence;
  const fine = {
    positive: expectedGridBinProbabilities(model, scoreEdges, true).map((q) => q * positives),
    negative: expectedGridBinProbabilities(model, scoreEdges, false).map((q) => q * (patients - positives)),
  };
  // Each coarse bin's mass at its middle fine bin (release.ts), so the two classes' bins compare on the fine grid.
  const placements = (layout: ReleaseLayout): Int32Array =>
    Int32Array.from({ length: layout.edges.length - 1 }, (_, i) => layout.edges[i]! + Math.floor((layout.edges[i + 1]! - layout.edges[i]! - 1) / 2));
  const place = (histogram: Float64Array, layout: ReleaseLayout): Float64Array => {
    const coarse = coarsenHistogram(histogram, layout.edges);
    const out = new Float64Array(request.fineBins);
    placements(layout).forEach((at, i) => (out[at] = coarse[i]!));
    return out;
  };
  const gradients = aucGradients({ positive: place(fine.positive, layouts.positive), negative: place(fine.negative, layouts.negative) });
  if (!gradients) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'the expected histograms leave a class empty');
  const nodeVariance = (layout: ReleaseLayout): number => (std! ** 2 * layout.countersPerPatient) / plan.layout.countersPerPatient;
  const variance = (layout: ReleaseLayout, fineGradient: Float64Array): number =>
    linearVariance(layout, Float64Array.from(placements(layout), (at) => fineGradient[at]!), nodeVariance(layout));
  const coarsePositive = coarsenHistogram(fine.positive, layouts.positive.edges);
  const sensitivity = request.thresholds.map((threshold) => {
    const edge = layouts.positive.edges.indexOf(Math.round(threshold * request.fineBins)); // pinned (0 and fineBins are edges too)
    return predicted(0, linearVariance(layouts.positive, shareAboveGradient(coarsePositive, edge), nodeVariance(layouts.positive)));
  });
  let simulated: ReturnType<typeof simulateReportedAuc> | undefined;
  const simulate = () =>
    (simulated ??= simulateReportedAuc(
      fine.positive,
      fine.negative,
      layouts,
      { positive: nodeVariance(layouts.positive), negative: nodeVariance(layouts.negative) },
      request.reportedAucTrials,
      rule,
    ));
  return Object.freeze({
    ...layouts,
    auc: predicted(gradients.auc - histogramAuc(fine.positive, fine.negative), variance(layouts.positive, gradients.positive) + variance(layouts.negative, gradients.negative)),
    sensitivity: Object.freeze(sensitivity),
    get reportedAuc(): PredictedError {
      return simulate().auc;
    },
    get releaseRate(): number | null {
      return simulate().releaseRate;
    },
  });
}

/**
 * Exactly `bins` coarse bins whose edges are among `edges` and include `keep` and both ends: starting from those, the bin
 * of largest `mass` (per fine bin) that holds one of `edges` inside is split at the one nearest its mass median, until
 * there are `bins`. Null when `keep` alone needs more bins, or too few of `edges` remain to split.
 */
function refineEdges(edges: Int32Array, keep: readonly number[], bins: number, mass: Float64Array): Int32Array | null {
  const chosen = [...new Set<number>([edges[0]!, edges[edges.length - 1]!, ...keep])].sort((a, b) => a - b);
  if (chosen.length - 1 > bins) return null;
  const prefix = new Float64Array(mass.length + 1);
  for (let k = 0; k < mass.length; k += 1) prefix[k + 1] = prefix[k]! + mass[k]!;
  while (chosen.length - 1 < bins) {
    let best = -1;
    let split = -1;
    for (let i = 0; i + 1 < chosen.length; i += 1) {
      const [lo, hi] = [chosen[i]!, chosen[i + 1]!];
      const inside = edges.filter((e) => e > lo && e < hi);
      if (inside.length === 0) continue;
      if (best >= 0 && prefix[hi]! - prefix[lo]! <= prefix[chosen[best + 1]!]! - prefix[chosen[best]!]!) continue;
      const median = (prefix[lo]! + prefix[hi]!) / 2;
      best = i;
      split = inside.reduce((a, e) => (Math.abs(prefix[e]! - median) < Math.abs(prefix[a]! - median) ? e : a));
    }
    if (best < 0) return null;
    chosen.splice(best + 1, 0, split);
  }
  return Int32Array.from(chosen);
}

/** Each of `targets` moved to the nearest of `edges`, with `keep` and both ends: a subset of `edges`, sorted, unique. */
function snapToEdges(targets: Int32Array, edges: Int32Array, keep: readonly number[]): Int32Array {
  const chosen = new Set<number>([edges[0]!, edges[edges.length - 1]!, ...keep]);
  for (const target of targets) {
    let best = edges[0]!;
    for (const edge of edges) if (Math.abs(edge - target) < Math.abs(best - target)) best = edge;
    chosen.add(best);
  }
  return Int32Array.from([...chosen].sort((a, b) => a - b));
}

/** A per-class layout 'auto' chose ({@link choosePositiveLayout}): the positives' layout and the predictions behind it. */
export interface PositiveLayoutChoice {
  /** The positives' layout: a coarsening of the plan's (its edges a subset of the plan's, the thresholds kept). */
  readonly layout: ReleaseLayout;
  /** AUC error of the overall population and of one (equally sized) level of each subgroup variable: per-class layout. */
  readonly overall: PredictedError;
  readonly subgroups: readonly PredictedError[];
  /** Sensitivity of the overall population at each of the plan's thresholds, per-class layout (specificity: the plan's). */
  readonly sensitivity: readonly PredictedError[];
  /** The same with the plan's layout for both classes (what the choice is measured against). */
  readonly shared: { readonly overall: PredictedError; readonly subgroups: readonly PredictedError[] };
}

/** The positives' candidate layouts keep every m-th of the plan's edges for m = 2 … this (and every pinned edge). */
const MAX_POSITIVE_MERGE = 32;
/** A per-class layout is chosen only when it cuts the predicted AUC error by at least this share. */
const MIN_PER_CLASS_GAIN = 0.05;
/** …and when the coarsening bias it predicts stays within this multiple of the noise SD (so the noise term of the interval covers it). */
const MAX_PER_CLASS_BIAS_TO_SD = 0.5;

/**
 * Issue 18, "fit the grid to the class sizes": a coarser layout for the positives' histograms, or null to keep the plan's
 * layout for both classes. Candidates keep every m-th of the plan's coarse edges (m = 2 … {@link MAX_POSITIVE_MERGE})
 * and every threshold edge (mergeEdges: edges a subset of the plan's), as a tree of the plan's branching (fewer bins,
 * often fewer levels: a smaller sensitivity, so less noise per node in the same ρ; see {@link predictPerClassAuc}) or
 * flat when the plan is flat. The objective is the
 * predicted median absolute AUC error of the overall population plus the mean over subgroup variables of a level's
 * (equally sized levels, from the plan's public inputs only); a candidate is considered only when its tree has fewer
 * levels than the plan's and its class total is no noisier (the small-cell rule reads it), and chosen when it beats the
 * plan's own layout by {@link MIN_PER_CLASS_GAIN} and its predicted |bias| is at most {@link MAX_PER_CLASS_BIAS_TO_SD}
 * × its noise SD.
 */
export function choosePositiveLayout(plan: ReleasePlan): PositiveLayoutChoice | null {
  const { request, layout } = plan;
  const pinned = thresholdEdges(request.thresholds, request.fineBins).filter((edge) => layout.edges.includes(edge));
  const evaluate = (positive: ReleaseLayout): { overall: PredictedError; sensitivity: readonly PredictedError[]; subgroups: PredictedError[]; objective: number } => {
    const whole = perClassPrediction(plan, positive, layout, request.patients, null);
    const overall = whole.auc;
    const subgroups = request.subgroupLevels.map((levels, i) => perClassPrediction(plan, positive, layout, request.patients / levels, i).auc);
    const objective = overall.medianAbsError + (subgroups.length ? subgroups.reduce((a, e) => a + e.medianAbsError, 0) / subgroups.length : 0);
    return { overall, sensitivity: whole.sensitivity, subgroups, objective };
  };
  const shared = evaluate(layout);
  // Noise variance of a class total under a layout, per unit node variance of the plan's layout (σ_c² = σ₀²·L_c/L₀).
  const classTotalVariance = (candidate: ReleaseLayout): number =>
    linearVariance(candidate, new Float64Array(candidate.edges.length - 1).fill(1), candidate.countersPerPatient / layout.countersPerPatient);
  let best: (ReturnType<typeof evaluate> & { layout: ReleaseLayout }) | null = null;
  const bins = layout.edges.length - 1;
  // Every m-th edge kept (and the pinned ones), m = 2 … 32: coarser grids, and for a tree fewer levels…
  const candidates: Int32Array[] = [];
  for (let factor = 2; factor <= Math.min(MAX_POSITIVE_MERGE, bins); factor += 1) candidates.push(mergeEdges(layout.edges, factor, pinned));
  // …and the plan's edges nearest equal shares of the positives' expected scores (the model's, public): 4 … bins/2 bins.
  const model: ScoreModel = { prevalence: request.prevalence, auc: request.assumedAuc };
  const positiveMass = expectedGridBinProbabilities(model, fineScoreEdges(model, request.fineBins, request.fineEdges, request.fineShares), true);
  for (let target = 4; target <= bins / 2; target *= 2) candidates.push(snapToEdges(equalMassEdges(positiveMass, target), layout.edges, pinned));
  // …and full trees (no padding leaves, so a class total is the root's): b^j bins, j below the plan's depth, refined from
  // the pinned edges by splitting the bin of largest expected positive (or pooled) mass at the plan's edge nearest its median.
  const pooledMass = pooledBinMass(model, fineScoreEdges(model, request.fineBins, request.fineEdges, request.fineShares));
  if (layout.tree) {
    for (let leaves = layout.tree.branching; leaves < layout.tree.paddedLeaves; leaves *= layout.tree.branching) {
      for (const mass of [positiveMass, pooledMass]) {
        const refined = refineEdges(layout.edges, pinned, leaves, mass);
        if (refined !== null) candidates.push(refined);
      }
    }
  }
  const tried = new Set<string>([layout.edges.join()]);
  for (const edges of candidates) {
    if (tried.has(edges.join())) continue;
    tried.add(edges.join());
    const tree = layout.tree ? treeShape(edges.length - 1, layout.tree.branching) : undefined;
    const positive: ReleaseLayout = Object.freeze({
      kind: layout.kind,
      placement: layout.placement,
      fineBins: layout.fineBins,
      edges,
      ...(tree ? { tree } : {}),
      coordinatesPerHistogram: tree ? tree.nodeCount : edges.length - 1,
      countersPerPatient: tree ? tree.levels : 1,
    });
    // A shallower tree (the smaller sensitivity the per-class layout is for), and a class total no noisier than the
    // shared layout's (the small-cell rule's margin is made of it; a padded tree's total is a range query, not its root).
    if (tree && layout.tree && tree.levels >= layout.tree.levels) continue;
    if (classTotalVariance(positive) > classTotalVariance(layout)) continue;
    const candidate = { ...evaluate(positive), layout: positive };
    if (Math.abs(candidate.overall.bias) > MAX_PER_CLASS_BIAS_TO_SD * candidate.overall.std) continue;
    if (candidate.objective <= (1 - MIN_PER_CLASS_GAIN) * shared.objective && (best === null || candidate.objective < best.objective)) best = candidate;
  }
  if (best === null) return null;
  return Object.freeze({
    layout: best.layout,
    overall: best.overall,
    subgroups: Object.freeze(best.subgroups),
    sensitivity: best.sensitivity,
    shared: Object.freeze({ overall: shared.overall, subgroups: Object.freeze(shared.subgroups) }),
  });
}

/** What 'auto' minimises: the AUC error plus the mean sensitivity/specificity error over thresholds. */
function layoutScore(prediction: PopulationPrediction): number {
  const confusion = prediction.sensitivity.map((e, i) => (e.medianAbsError + prediction.specificity[i]!.medianAbsError) / 2);
  return prediction.auc.medianAbsError + (confusion.length ? confusion.reduce((a, b) => a + b, 0) / confusion.length : 0);
}

/**
 * Plans one round: converts (ε, δ) to ρ, splits ρ between the overall histograms and each subgroup
 * variable, calibrates the noise, and predicts the error of AUC, sensitivity and specificity. With
 * layout 'auto' it evaluates flat grids and trees, with equal-width and equal-mass edges (thresholds
 * kept as edges), and keeps the one with the smallest predicted overall AUC median absolute error
 * plus mean sensitivity/specificity median absolute error.
 */
export function planRelease(request: PlanReleaseRequest): ReleasePlan {
  const resolved = resolveRequest(request);
  check(Number.isFinite(resolved.epsilon) && resolved.epsilon > 0, 'ε must be a finite number > 0');
  const rho = rhoFromEpsilon(resolved.epsilon, resolved.delta);
  if (resolved.layout !== 'auto') return buildPlan(resolved, resolved.layout, rho, true);
  let best: { spec: ReleaseLayoutSpec; error: number } | undefined;
  for (const spec of candidateLayouts(resolved.fineBins)) {
    if (spec.bins < resolved.minBins) continue;
    let error: number;
    try {
      error = layoutScore(buildPlan(resolved, spec, rho, false).overall);
    } catch (cause) {
      if (cause instanceof DpError && cause.code === 'FEDVAL_ERR_DP_INVALID_ARGUMENT') continue; // e.g. thresholds need more bins
      throw cause;
    }
    if (best === undefined || error < best.error) best = { spec, error };
  }
  if (best === undefined) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'no candidate layout fits the thresholds');
  return buildPlan(resolved, best.spec, rho, true);
}

/** Options of {@link simulateRelease}. */
export interface SimulateReleaseOptions {
  /** Simulated rounds. Default 200. */
  trials: number;
  /** Seed of the deterministic generator. Default 'fedval-dp-simulation'. */
  seed: string;
}

export const DEFAULT_SIMULATE_RELEASE_OPTIONS: Readonly<SimulateReleaseOptions> = Object.freeze({ trials: 200, seed: 'fedval-dp-simulation' });

/** Observed median absolute errors of one population over the simulated rounds. */
export interface SimulatedErrors {
  readonly auc: number;
  readonly sensitivity: readonly number[];
  readonly specificity: readonly number[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function shareAbove(histogram: Float64Array, start: number): number {
  let above = 0;
  let total = 0;
  for (let i = 0; i < histogram.length; i += 1) {
    total += histogram[i]!;
    if (i >= start) above += histogram[i]!;
  }
  return above / total;
}

/**
 * Monte Carlo check of a plan: simulates cohorts from the binormal model, releases their histograms
 * through the plan's layout with Gaussian noise of the plan's aggregate variance (the Skellam and
 * discrete Gaussian sums are close to Gaussian at these variances), estimates, and compares AUC,
 * sensitivity and specificity with the non-private values on the full grid of the same cohort.
 * Returns the median absolute errors of the overall population and of one level per subgroup variable.
 */
export function simulateRelease(plan: ReleasePlan, options?: Partial<SimulateReleaseOptions>): { overall: SimulatedErrors; subgroups: SimulatedErrors[] } {
  const { trials, seed } = { ...DEFAULT_SIMULATE_RELEASE_OPTIONS, ...options };
  check(Number.isSafeInteger(trials) && trials >= 1, 'trials must be a positive integer');
  const rng = seededRandomSource(seed);
  const { request, layout } = plan;
  const model: ScoreModel = { prevalence: request.prevalence, auc: request.assumedAuc };
  const fineEdges = request.thresholds.map((t) => Math.round(t * layout.fineBins));
  // Scores are binned on the study's fine grid: equal-width, or the fitted edges (largest k with score ≥ e_k).
  const binOf =
    request.fineEdges === null && request.fineShares === null
      ? undefined
      : fittedGrid(Array.from(fineScoreEdges(model, request.fineBins, request.fineEdges, request.fineShares).subarray(1, -1))).bin;
  const run = (patients: number, noiseStd: number): SimulatedErrors => {
    const positives = Math.round(patients * request.prevalence);
    const errors = { auc: [] as number[], sensitivity: fineEdges.map(() => [] as number[]), specificity: fineEdges.map(() => [] as number[]) };
    const release = (fine: Float64Array): Float64Array => {
      const coarse = coarsenHistogram(fine, layout.edges);
      if (!layout.tree) {
        const noise = standardNormals(rng, coarse.length);
        return coarse.map((c, i) => c + noiseStd * noise[i]!);
      }
      const nodes = encodeTree(coarse, layout.tree);
      const noise = standardNormals(rng, nodes.length);
      return estimateTreeHistogram(nodes.map((c, i) => c + noiseStd * noise[i]!), layout.tree);
    };
    for (let t = 0; t < trials; t += 1) {
      const cohort = simulateScoreHistograms(model, positives, patients - positives, layout.fineBins, rng, binOf);
      const positive = release(cohort.positive);
      const negative = release(cohort.negative);
      errors.auc.push(Math.abs(histogramAuc(positive, negative) - histogramAuc(cohort.positive, cohort.negative)));
      fineEdges.forEach((fineEdge, k) => {
        const edge = layout.edges.indexOf(fineEdge);
        errors.sensitivity[k]!.push(Math.abs(shareAbove(positive, edge) - shareAbove(cohort.positive, fineEdge)));
        errors.specificity[k]!.push(Math.abs(shareAbove(negative, edge) - shareAbove(cohort.negative, fineEdge)));
      });
    }
    return { auc: median(errors.auc), sensitivity: errors.sensitivity.map(median), specificity: errors.specificity.map(median) };
  };
  // The estimates' noise: a reconciled estimate's noise is again i.i.d. Gaussian per coordinate, of the reconciled variance.
  const std = plan.estimateNoiseStd;
  return {
    overall: run(request.patients, std['overall']!),
    subgroups: request.subgroupLevels.map((levels, i) => run(Math.round(request.patients / levels), std[`subgroup-${i}`]!)),
  };
}
