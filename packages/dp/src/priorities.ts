// priorities.ts — spend where it matters: the ρ split across release blocks that minimises the sponsor's priority-weighted predicted error.
//
// Each metric m the sponsor ranks has a predicted noise SD that scales as s_m/√ρ_b in the ρ_b of the blocks behind it
// (Gaussian-like noise calibrated to zCDP: σ² = Δ²/(2ρ_b), Bun & Steinke 2016, Prop. 1.6; the Skellam surcharge is a
// few per cent). Minimising Σ_g A_g/√ρ_g subject to Σ_g m_g·ρ_g = ρ (group g: m_g blocks sharing one weight) gives, by
// a Lagrange multiplier, ρ_g ∝ (A_g/m_g)^(2/3): the weight of each block of group g. A_g is the priority times the
// unit-ρ SD of the group's metric, averaged over its populations:
//   overall counts   (1 block)        priority overallAuc  × SD(overall AUC)·√ρ (the planner's delta method)
//   subgroup counts  (k blocks)       priority subgroupAuc × mean over columns of SD(level AUC)·√ρ
//   sums             (1 + k blocks)   priority calibration × mean over populations of SD(O/E)·√ρ = √(Δ₂²/2)/(scale·n_p·π)
//   exclusions       (1 + k blocks)   priority exclusions  × mean over populations of SD(excluded share)·√ρ = √(1/2)/n_p
// O/E is calibration in the large: observed events over the sum of predicted risks (≈ n_p·π), whose noise is the sums
// block's (Steyerberg, "Clinical Prediction Models", 2nd ed. 2019, §15.2). The AUC's SD depends on the layout and the layout on the split, so the caller alternates the two (two rounds).
import type { StatisticsLayout } from '@fedval/metrics';
import type { ReleasePlan } from './planner.ts';

/** Relative importances of what a study is for (only ratios matter; see release-spec.ts ReleasePriorities). */
export interface SplitPriorities {
  readonly overallAuc: number;
  readonly subgroupAuc: number;
  readonly calibration: number;
  readonly exclusions: number;
}

/** Relative ρ weights of the release blocks (release-spec.ts ReleaseWeights). */
export interface SplitWeights {
  readonly overall: number;
  readonly subgroup: number;
  readonly sums: number;
  readonly exclusions: number;
  /** Each subgroup column's class totals (binary tasks): not ranked by a priority; the split keeps its share of ρ. */
  readonly totals?: number;
}

/**
 * Smallest weight of a block relative to the largest: a block whose metric has priority 0 (or a negligible error) is still
 * released, so it still gets noise calibrated to a share of ρ, at least this fraction of the largest block's. 0.01.
 */
export const MIN_PRIORITY_SHARE = 0.01;

/** The predicted noise SD of every metric under a split (absolute units of the metric). */
export interface SplitPrediction {
  /** Of the overall ROC AUC. */
  readonly overallAuc: number;
  /** Of a level's ROC AUC, per group column (a level of the column's equal split of the expected patients). */
  readonly subgroupAuc: readonly number[];
  /** Of the overall observed/expected ratio (calibration in the large), from the noise on the sum of predicted risks. */
  readonly observedExpected: number;
  /** Of a level's observed/expected ratio, per group column. */
  readonly subgroupObservedExpected: readonly number[];
  /** Of the overall share of patients excluded for one reason. */
  readonly excludedShare: number;
}

/** The split chosen from priorities: the weights, each block's share of the round's ρ, and the predicted errors. */
export interface ReleaseSplit {
  readonly priorities: SplitPriorities;
  readonly weights: SplitWeights;
  /** Share of the round's ρ of one block of each kind (overall counts, one column's counts, one population's sums or exclusions). */
  readonly shares: SplitWeights;
  readonly predicted?: SplitPrediction;
}

/** Patients of each population: everyone, then a level of each column (an equal split of the declared levels, ≥ 2). */
function populationSizes(layout: StatisticsLayout, patients: number): number[] {
  return [patients, ...layout.spec.groups.map((g) => patients / Math.max(2, g.levels ? g.levels.length : (g.cuts?.length ?? 0) + 1))];
}

/** √(Δ₂²/2)/scale: the SD of the sum of predicted risks times √ρ (the sums block's squared L2 sensitivity, in fixed-point units). */
function riskSumUnit(layout: StatisticsLayout): number {
  const sums = layout.blocks.find((b) => b.name === 'overall.sums');
  return sums ? Math.sqrt(sums.perPatientL2Squared / 2) / layout.fixedPointScale : 0;
}

/** Sum of the weights of every block but the class totals. */
function rankedTotal(weights: SplitWeights, columns: number): number {
  return weights.overall + columns * weights.subgroup + (1 + columns) * (weights.sums + weights.exclusions);
}

function shareOf(weights: SplitWeights, columns: number): SplitWeights {
  const total = rankedTotal(weights, columns) + columns * (weights.totals ?? 0);
  const totals = weights.totals === undefined ? {} : { totals: weights.totals / total };
  return { overall: weights.overall / total, subgroup: weights.subgroup / total, sums: weights.sums / total, exclusions: weights.exclusions / total, ...totals };
}

/**
 * The weights that minimise the priority-weighted predicted SD (header), given the plan made under `current` weights
 * (its AUC SDs are rescaled to unit ρ with the shares `current` gave), and the round's whole ρ `rho`.
 */
export function planReleaseWeights(priorities: SplitPriorities, plan: ReleasePlan, current: SplitWeights, layout: StatisticsLayout, rho: number): ReleaseSplit {
  const k = layout.spec.groups.length;
  const shares = shareOf(current, k);
  const sizes = populationSizes(layout, plan.request.patients);
  const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const unit = {
    overall: plan.overall.auc.std * Math.sqrt(rho * shares.overall),
    subgroup: mean(plan.subgroups.map((s) => s.auc.std * Math.sqrt(rho * shares.subgroup))),
    sums: mean(sizes.map((n) => riskSumUnit(layout) / (n * plan.request.prevalence))),
    exclusions: mean(sizes.map((n) => Math.SQRT1_2 / n)),
  };
  const raw = {
    overall: (priorities.overallAuc * unit.overall) ** (2 / 3),
    subgroup: k > 0 ? ((priorities.subgroupAuc * unit.subgroup) / k) ** (2 / 3) : 0,
    sums: ((priorities.calibration * unit.sums) / (1 + k)) ** (2 / 3),
    exclusions: ((priorities.exclusions * unit.exclusions) / (1 + k)) ** (2 / 3),
  };
  const largest = Math.max(raw.overall, raw.subgroup, raw.sums, raw.exclusions);
  const floor = (w: number): number => Number((Math.max(w, MIN_PRIORITY_SHARE * largest) / largest).toPrecision(6));
  const ranked = { overall: floor(raw.overall), subgroup: floor(raw.subgroup), sums: floor(raw.sums), exclusions: floor(raw.exclusions) };
  // The class totals (the suppression rule's counts) are not a ranked metric: they keep the share of ρ `current` gave them.
  const totals = current.totals === undefined ? {} : { totals: Number(((current.totals * rankedTotal(ranked, k)) / rankedTotal(current, k)).toPrecision(6)) };
  const weights = { ...ranked, ...totals };
  return Object.freeze({ priorities: Object.freeze({ ...priorities }), weights: Object.freeze(weights), shares: Object.freeze(shareOf(weights, k)) });
}

/**
 * The predicted noise SD of every metric under the split, from the plan made with its weights: the AUCs' as the report
 * shows them (`reportedAuc`: the planner's Monte Carlo through finalization), while the split itself is chosen on the
 * delta method's (planReleaseWeights), which scales as 1/√ρ.
 */
export function predictSplit(split: ReleaseSplit, plan: ReleasePlan, layout: StatisticsLayout, rho: number): SplitPrediction {
  const sizes = populationSizes(layout, plan.request.patients);
  const oe = (n: number): number => riskSumUnit(layout) / (n * plan.request.prevalence * Math.sqrt(rho * split.shares.sums));
  return Object.freeze({
    overallAuc: plan.overall.reportedAuc.std,
    subgroupAuc: Object.freeze(plan.subgroups.map((s) => s.reportedAuc.std)),
    observedExpected: oe(sizes[0]!),
    subgroupObservedExpected: Object.freeze(sizes.slice(1).map(oe)),
    excludedShare: Math.SQRT1_2 / (sizes[0]! * Math.sqrt(rho * split.shares.exclusions)),
  });
}
