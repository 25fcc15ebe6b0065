// plan.ts — `fedval plan`: predict, before any round runs, what differential privacy will cost each metric.
import { createPrivateRelease, planPrivacySpec, predictPerClassAuc, predictPopulationError, predictSurvivalNoise } from '@fedval/dp';
import type { ReleasePriorities } from '@fedval/dp';
import { createStatisticsLayout, DEFAULT_MARGIN_SDS, resolveMetricSpec } from '@fedval/metrics';
import type { FittedScoreGrid } from '@fedval/metrics';
import { CliError } from './errors.ts';

export interface PlanOptions {
  patients: number;
  prevalence: number;
  sites: number;
  epsilon: number;
  delta: number;
  minSites?: number | undefined;
  /** Levels of each subgroup column released in the same round, e.g. [2] for sex. */
  groupLevels: number[];
  /** Equal-width score bins over [0, 1]. Default 1000; not with `scoreGrid`. */
  bins?: number | undefined;
  /** A fitted score grid (`fedval grid fit`): the planner's model mass per fine bin is taken between its edges. */
  scoreGrid?: FittedScoreGrid | undefined;
  threshold: number;
  /** AUC the planner's binormal score model assumes. */
  auc: number;
  /**
   * Sponsor priorities (`privacy.priorities`, e.g. { overallAuc: 3, subgroupAuc: 2, calibration: 1, exclusions: 0.5 }):
   * the planner derives the ρ split from them. Default: today's fixed weights.
   */
  priorities?: Partial<ReleasePriorities> | undefined;
}

/**
 * Resolves the release exactly as a study with these public parameters would (same layout choice,
 * same ρ split), and reports the planner's predicted median absolute errors that privacy adds. ROC AUC: the error of
 * the AUC as the report gives it (`reportedAuc`), with its SD; for a subgroup level, under the small-cell rule with the
 * release's exact class-total noise, and the predicted share of rounds the level is released in.
 */
export function planStudyPrivacy(options: PlanOptions) {
  const minSites = options.minSites ?? Math.min(3, options.sites);
  if (minSites > options.sites) throw new CliError('FEDVAL_ERR_CLI_USAGE', '--min-sites cannot exceed --sites');
  if (options.scoreGrid !== undefined && options.bins !== undefined) throw new CliError('FEDVAL_ERR_CLI_USAGE', 'give --bins (equal-width bins) or --score-grid (a fitted grid), not both');
  const spec = resolveMetricSpec({
    task: 'binary',
    ...(options.scoreGrid !== undefined ? { scoreGrid: options.scoreGrid } : { bins: options.bins ?? 1000 }),
    threshold: options.threshold,
    groups: options.groupLevels.map((levels, i) => ({ column: `group${i + 1}`, levels: Array.from({ length: levels }, (_, j) => `level${j + 1}`) })),
  });
  const layout = createStatisticsLayout(spec);
  const { privacy, plan, split, perClass } = planPrivacySpec(
    { epsilon: options.epsilon, delta: options.delta, minSites, ...(options.priorities ? { priorities: options.priorities } : {}) },
    { layout, expectedPatients: options.patients, expectedPrevalence: options.prevalence, sites: options.sites, assumedAuc: options.auc },
  );
  const release = createPrivateRelease(layout, privacy);
  // The exact noise variance of one class total of a level: a function of the noise plan alone (a zero aggregate decodes
  // it); with per-class layouts (issue 18) the positives' totals have their own.
  const decoded = release.decode(new Float64Array(release.length), options.sites);
  const rule = (column: number) => {
    const key = `by_group.${spec.groups[column]!.column}.counts`;
    const positiveTotalVariance = decoded.positiveTotalVariances?.[key];
    return {
      classTotalVariance: decoded.classTotalVariances[key]!,
      ...(positiveTotalVariance === undefined ? {} : { positiveTotalVariance }),
      minCellSize: spec.minCellSize,
      marginSds: DEFAULT_MARGIN_SDS,
    };
  };
  // The AUC as reported (reportedAuc), with its SD; a level's under the small-cell rule, with its release rate. With a
  // positives' layout the AUC and sensitivity come from the per-class prediction; specificity is the negatives' as planned.
  const population = (p: NonNullable<typeof plan>['overall'], column: number | null) => {
    const levelRule = column === null ? undefined : rule(column);
    const positives = perClass && plan ? predictPerClassAuc(plan, perClass.layout, plan.layout, p.patients, column, levelRule) : null;
    // The shared layout's prediction only when no positives' layout was chosen (the delta method of a level costs a plan pass).
    const { reportedAuc: reported, releaseRate } = positives ?? (column === null ? p : predictPopulationError(plan!, p.patients, column, levelRule));
    return {
      patients: p.patients,
      roc_auc: reported.medianAbsError,
      roc_auc_sd: reported.std,
      sensitivity: (positives?.sensitivity[0] ?? p.sensitivity[0])?.medianAbsError ?? null,
      specificity: p.specificity[0]?.medianAbsError ?? null,
      ...(releaseRate === null ? {} : { release_rate: releaseRate }),
    };
  };
  return {
    request: { ...options, scoreGrid: undefined, minSites },
    weights: privacy.weights,
    // With priorities: each block's share of the round's ρ and the predicted noise SD of every metric under that split.
    split: split ? { shares: split.shares, predicted_noise_sd: split.predicted ?? null } : null,
    score_grid: options.scoreGrid !== undefined ? { kind: 'fitted', bins: spec.bins, method: options.scoreGrid.method } : { kind: 'equal_width', bins: spec.bins },
    privacy: {
      epsilon: privacy.epsilon,
      delta: privacy.delta,
      mechanism: privacy.mechanism,
      min_sites: privacy.minSites,
      layout: privacy.layout,
      // The positives' own, coarser layout when 'auto' chose one (issue 18; edges among the layout's); else null.
      positive_layout: privacy.positiveLayout ?? null,
    },
    // Per-class layouts: the overall AUC's predicted median absolute error with them and with the shared layout for both classes.
    per_class: perClass ? { roc_auc: perClass.overall.medianAbsError, roc_auc_shared_layout: perClass.shared.overall.medianAbsError } : null,
    // The round's whole cost: histograms, sums and exclusion counters (the planner's ρ is the histograms' share).
    rho: release.rho,
    aggregate_noise_std: plan?.aggregateNoiseStd ?? null,
    predicted_median_abs_error: plan
      ? { overall: population(plan.overall, null), per_subgroup_level: plan.subgroups.map((p, i) => population(p, i)) }
      : null,
  };
}

export interface SurvivalPlanOptions extends PlanOptions {
  horizon: number;
  maxTime?: number | undefined;
  timeBins?: number | undefined;
  afterBins?: number | undefined;
  /** Expected share censored before the horizon (`--prevalence` is the share with the event by it). */
  censored: number;
}

/**
 * `fedval plan --task survival`: the release a survival study with these public parameters would get, and the
 * predicted median absolute error the noise adds to c_index and td_auc (predictSurvivalNoise: the expected count table
 * under the binormal score model, then the delta method with the release's per-cell noise).
 */
export function planSurvivalPrivacy(options: SurvivalPlanOptions) {
  const minSites = options.minSites ?? Math.min(3, options.sites);
  if (minSites > options.sites) throw new CliError('FEDVAL_ERR_CLI_USAGE', '--min-sites cannot exceed --sites');
  const survival = { horizon: options.horizon, ...(options.maxTime !== undefined ? { maxTime: options.maxTime } : {}), ...(options.timeBins !== undefined ? { timeBins: options.timeBins } : {}), ...(options.afterBins !== undefined ? { afterBins: options.afterBins } : {}) };
  const spec = resolveMetricSpec({
    task: 'survival',
    bins: options.bins,
    threshold: options.threshold,
    survival,
    groups: options.groupLevels.map((levels, i) => ({ column: `group${i + 1}`, levels: Array.from({ length: levels }, (_, j) => `level${j + 1}`) })),
  });
  const layout = createStatisticsLayout(spec);
  const { privacy } = planPrivacySpec({ epsilon: options.epsilon, delta: options.delta, minSites }, { layout, expectedPatients: options.patients, sites: options.sites });
  const release = createPrivateRelease(layout, privacy);
  const counts = release.summary().blocks.find((b) => b.name === 'overall.counts')!;
  let predicted;
  try {
    predicted = predictSurvivalNoise({
      layout,
      patients: options.patients,
      eventsByHorizon: options.prevalence,
      censoredBeforeHorizon: options.censored,
      assumedAuc: options.auc,
      countNoiseVariance: counts.sigma ** 2,
    });
  } catch (error) {
    throw new CliError('FEDVAL_ERR_CLI_USAGE', (error as Error).message);
  }
  return {
    request: { ...options, minSites },
    privacy: { epsilon: privacy.epsilon, delta: privacy.delta, mechanism: privacy.mechanism, min_sites: privacy.minSites, layout: privacy.layout },
    rho: release.rho,
    time_grid: spec.survival,
    score_bins: spec.bins,
    count_cells: counts.entries,
    count_noise_std: counts.sigma,
    predicted_median_abs_error: { overall: { patients: options.patients, c_index: predicted.c_index?.medianAbsError ?? null, td_auc: predicted.td_auc?.medianAbsError ?? null } },
  };
}
