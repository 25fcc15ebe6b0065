// survival-planner.ts — predicts, before any round, the error DP noise adds to a survival task's C index and td-AUC.
import { reliabilityBinStarts, scoreGridOf, survivalNoiseGradients, timeGridOf } from '@fedval/metrics';
import type { StatisticsLayout } from '@fedval/metrics';
import { expectedBinProbabilities } from './binormal-model.ts';
import { DpError } from './errors.ts';

/** Public planning assumptions about a survival cohort (no data). */
export interface SurvivalPlanRequest {
  /** A survival statistics layout (its time and score grids). */
  layout: StatisticsLayout;
  /** Patients expected across all sites. */
  patients: number;
  /** Expected share with the event by the horizon, 0 < π < 1. */
  eventsByHorizon: number;
  /** Expected share censored before the horizon, 0 <= c < 1 − π. */
  censoredBeforeHorizon: number;
  /** Time-dependent AUC the binormal score model assumes (0.5 < AUC < 1). */
  assumedAuc: number;
  /** Variance of the aggregate noise in each count cell (σ² of the release's `overall.counts` block). */
  countNoiseVariance: number;
}

/** Median |error| the noise adds (0.6745 σ of a normal error), and the σ behind it. */
export interface SurvivalNoisePrediction {
  c_index: { medianAbsError: number; std: number } | null;
  td_auc: { medianAbsError: number; std: number } | null;
}

const MEDIAN_ABS_NORMAL = 0.6744897501960817;

/**
 * The expected count table under the assumptions, then the delta method: Var ≈ v · Σ_cells (∂metric/∂cell)²
 * (survivalNoiseGradients; the same influences as the C index's infinitesimal-jackknife variance). Assumptions: scores
 * follow the planner's calibrated binormal model (binormal-model.ts) with the events by the horizon as positives and
 * everyone followed beyond it as negatives; event and censoring times spread evenly over the bins up to the horizon;
 * patients followed beyond the horizon spread evenly over the later bins, censored there. The delta method holds while
 * the noise is small against the counts; when σ·√cells approaches n, expect worse than predicted (see the README).
 */
export function predictSurvivalNoise(request: SurvivalPlanRequest): SurvivalNoisePrediction {
  const { layout, patients: n, eventsByHorizon: pi, censoredBeforeHorizon: c, assumedAuc, countNoiseVariance: v } = request;
  const spec = layout.spec;
  const problems: string[] = [];
  if (spec.task !== 'survival' || !spec.survival) problems.push('the layout must be a survival task');
  if (!(n >= 2)) problems.push('patients must be at least 2');
  if (!(pi > 0 && pi < 1)) problems.push('the share of events by the horizon must lie strictly between 0 and 1');
  if (!(c >= 0 && c < 1 - pi)) problems.push('the share censored before the horizon must lie in [0, 1 − events share)');
  if (!(assumedAuc > 0.5 && assumedAuc < 1)) problems.push('the assumed AUC must lie strictly between 0.5 and 1');
  if (!(v >= 0 && Number.isFinite(v))) problems.push('the count noise variance must be a finite number >= 0');
  if (problems.length > 0) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', problems.join('; '));
  const time = timeGridOf(spec.survival!);
  const score = scoreGridOf(spec);
  const counts = expectedSurvivalCounts(request);
  const gradients = survivalNoiseGradients({ counts }, {
    time,
    score,
    calibrationStarts: reliabilityBinStarts(score, spec.calibrationBins),
    threshold: spec.threshold,
    decisionThresholds: spec.decisionThresholds,
  });
  const predict = (gradient: number | null) => {
    if (gradient === null) return null;
    const std = Math.sqrt(v * gradient);
    return { medianAbsError: MEDIAN_ABS_NORMAL * std, std };
  };
  return { c_index: predict(gradients.c_index), td_auc: predict(gradients.td_auc) };
}

/** The expected (time bin × score bin × status) count table under the planning assumptions of {@link predictSurvivalNoise}. */
export function expectedSurvivalCounts(request: Omit<SurvivalPlanRequest, 'countNoiseVariance'>): Float64Array {
  const { layout, patients: n, eventsByHorizon: pi, censoredBeforeHorizon: c, assumedAuc } = request;
  const spec = layout.spec;
  const time = timeGridOf(spec.survival!);
  const J = scoreGridOf(spec).bins;
  const known = 1 - c;
  const model = { prevalence: pi / known, auc: assumedAuc };
  const positive = expectedBinProbabilities(model, J, true);
  const negative = expectedBinProbabilities(model, J, false);
  const counts = new Float64Array(time.bins * J * 2);
  const Kh = time.horizonBins;
  const later = Math.max(1, time.afterBins);
  for (let j = 0; j < J; j += 1) {
    const mixed = model.prevalence * (positive[j] as number) + (1 - model.prevalence) * (negative[j] as number);
    for (let k = 0; k < Kh; k += 1) {
      counts[(k * J + j) * 2 + 1] = (n * pi * (positive[j] as number)) / Kh;
      counts[(k * J + j) * 2] = (n * c * mixed) / Kh;
    }
    for (let k = Kh; k < Kh + later; k += 1) counts[(k * J + j) * 2] = (n * (known - pi) * (negative[j] as number)) / later;
  }
  return counts;
}
