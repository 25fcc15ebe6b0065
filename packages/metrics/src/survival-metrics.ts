// survival-metrics.ts — time-to-event metrics at a horizon from counts per (time bin × score bin × status) and fixed-point sums.
import type { Interval } from './binary-metrics.ts';
import { nonNegativeCount } from './noisy-counts.ts';
import type { ScoreGrid } from './score-grid.ts';
import type { TimeGrid } from './time-grid.ts';

const Z95 = 1.959963984540054;

/** One risk group of the calibration table: predicted against Kaplan–Meier observed risk by the horizon. */
export interface SurvivalCalibrationGroup {
  /** Score range [lower, upper) of the group (the top group includes 1). */
  lower: number;
  upper: number;
  n: number;
  mean_predicted_risk: number | null;
  /** 1 − KM(h) within the group. */
  observed_risk: number | null;
  /** Greenwood, log scale (survfit's default conf.type "log"), as a risk interval. */
  observed_risk_ci95: Interval | null;
}

export interface NetBenefitPoint {
  threshold: number;
  net_benefit: number | null;
}

/** Classification at the decision threshold at the horizon: IPCW sensitivity (cases T <= h, E = 1), specificity on controls T > h. */
export interface SurvivalThresholdMetrics {
  threshold: number;
  selection_rate: number | null;
  sensitivity: number | null;
  specificity: number | null;
  balanced_accuracy: number | null;
}

export interface SurvivalMetricsBlock {
  n: number;
  events: number;
  events_by_horizon: number;
  censored_before_horizon: number;
  c_index: number | null;
  /** Infinitesimal-jackknife interval of Harrell's C (as survival::concordance's variance), normal approximation. */
  c_index_ci95: Interval | null;
  c_index_uno: number | null;
  td_auc: number | null;
  brier_at_horizon: number | null;
  observed_risk_at_horizon: number | null;
  observed_risk_at_horizon_ci95: Interval | null;
  expected_risk_at_horizon: number | null;
  oe_ratio_at_horizon: number | null;
  calibration_at_horizon: SurvivalCalibrationGroup[];
  net_benefit_at_horizon: NetBenefitPoint[];
  at_threshold: SurvivalThresholdMetrics;
}

/** The statistics of one population, in value units (sums already divided by the fixed-point scale). */
export interface SurvivalStatistics {
  /**
   * Index ((k·J) + j)·2 + e: time bin k, score bin j, e = 1 event, 0 censored. May carry DP noise: cells are used as they
   * are (clamping each cell at 0 would add the noise's positive part tens of thousands of times); only derived
   * quantities are clamped into their ranges.
   */
  counts: ArrayLike<number>;
  /** Per time bin k < horizonBins: Σ (1 − s)² over events in bin k. */
  brierCaseSums: ArrayLike<number>;
  /** Σ s² over patients followed beyond the horizon (T > h). */
  brierControlSum: number;
  /** Per calibration group: Σ s. */
  calibrationScoreSums: ArrayLike<number>;
}

export interface SurvivalContext {
  time: TimeGrid;
  score: ScoreGrid;
  /** First score bin of each calibration group, and the bin count at the end (length groups + 1). */
  calibrationStarts: ArrayLike<number>;
  threshold: number;
  decisionThresholds: readonly number[];
}

/**
 * Kaplan–Meier estimate at the end of each time bin, with the events of a bin taken to happen at its
 * right edge and its censorings just after them (the usual KM tie convention: censored at t are at
 * risk at t). Kaplan EL, Meier P. JASA 1958;53:457–481. Greenwood's sum Σ d/(N(N − d)) (Greenwood 1926) alongside.
 */
function kaplanMeierAt(events: Float64Array, atRisk: Float64Array, lastBin: number): { survival: number; greenwood: number } {
  let survival = 1;
  let greenwood = 0;
  for (let k = 0; k <= lastBin; k += 1) {
    const n = atRisk[k] as number;
    const d = Math.min(events[k] as number, n);
    if (!(n > 0) || !(d > 0)) continue;
    survival *= 1 - d / n;
    greenwood += n > d ? d / (n * (n - d)) : Infinity;
  }
  return { survival, greenwood };
}

/** 1 − S with survfit's log-scale interval exp(log S ± z·√greenwood), as a risk interval; null when S = 0 or there is no event. */
function riskInterval(survival: number, greenwood: number): Interval | null {
  if (!(survival > 0) || !Number.isFinite(greenwood)) return null;
  const spread = Z95 * Math.sqrt(greenwood);
  return [1 - Math.min(1, survival * Math.exp(spread)), 1 - survival * Math.exp(-spread)];
}


/**
 * Every survival metric of one population. Definitions (the README gives the exact vs approximated list):
 * - Harrell's C (Harrell et al. JAMA 1982;247:2543): pairs (i, j) with T_i < T_j and E_i = 1 (higher risk should mean
 *   earlier event), tied risks count ½; on the grid, two events in the same time bin are tied times (not comparable, as
 *   survival::concordance's tied.y) and a censored patient in an event's time bin is comparable (censored after events).
 *   Interval: the infinitesimal jackknife, var = Σ_i ((U_i − C·D_i)/D)² over patients (Therneau, survival::concordance),
 *   plus, under DP noise of variance v per count, v·Σ_cells (∂C/∂cell)² (delta method; the same influences).
 * - Uno's C (Uno et al. Stat Med 2011;30:1105): the same pairs weighted 1/G(T_i−)², only events with T_i <= h
 *   (survival::concordance timewt = "n/G2", ymax = h).
 * - td_auc: cumulative/dynamic AUC at h, cases T <= h with E = 1 weighted 1/G(T_i−), controls T > h
 *   (Uno et al. 2007; Blanche et al. Stat Med 2013;32:5381; riskRegression::Score with a KM censoring model).
 * - brier_at_horizon: (1/n)·Σ [1{T<=h, E=1}(1 − s)²/G(T−) + 1{T>h} s²/G(h)] (Graf et al. Stat Med 1999;18:2529).
 * - net benefit at p_t: P(s >= p_t)·[(1 − S₊(h)) − S₊(h)·p_t/(1 − p_t)], S₊ the KM among s >= p_t
 *   (Vickers et al. BMC Med Inform Decis Mak 2008;8:53).
 * G is the Kaplan–Meier estimate of the censoring distribution (censorings as events; the events of a time are no longer
 * at risk of censoring at that time, as prodlim's reverse KM that riskRegression uses).
 */
export function survivalMetrics(stats: SurvivalStatistics, context: SurvivalContext, countNoiseVariance = 0): SurvivalMetricsBlock {
  const T = context.time.bins;
  const Kh = context.time.horizonBins;
  const J = context.score.bins;
  const cell = (k: number, j: number, e: number): number => stats.counts[(k * J + j) * 2 + e] as number;
  const { events, censored, atRisk } = timeMargins(cell, T, J);
  const n = Math.max(0, atRisk[0] as number);
  const totalEvents = Math.max(0, events.reduce((a, b) => a + b, 0));
  let eventsByHorizon = 0;
  let censoredBeforeHorizon = 0;
  for (let k = 0; k < Kh; k += 1) {
    eventsByHorizon += events[k] as number;
    censoredBeforeHorizon += censored[k] as number;
  }
  // Censoring KM before each bin: G(T−) for an event in bin k is gBefore[k]; G(h) is gBefore[Kh].
  const gBefore = censoringBefore(events, censored, atRisk);
  const gHorizon = gBefore[Kh] as number;
  const km = kaplanMeierAt(events, atRisk, Kh - 1);
  const observed = n > 0 ? 1 - km.survival : null;

  let scoreSum = 0;
  for (let g = 0; g < stats.calibrationScoreSums.length; g += 1) scoreSum += stats.calibrationScoreSums[g] as number;
  const expected = n > 0 ? Math.min(1, Math.max(0, scoreSum / n)) : null;

  const harrell = concordance(cell, context, gBefore);
  // Under DP the interval adds the delta-method noise variance v·Σ(∂C/∂cell)² to the sampling (IJ) variance.
  const cIndexVariance = harrell.variance === null ? null : harrell.variance + countNoiseVariance * (harrell.noiseGradient ?? 0);
  const auc = timeDependentAuc(cell, context, gBefore);
  let brierSum = 0;
  for (let k = 0; k < Kh; k += 1) if ((gBefore[k] as number) > 0) brierSum += Math.max(0, stats.brierCaseSums[k] as number) / (gBefore[k] as number);
  if (gHorizon > 0) brierSum += Math.max(0, stats.brierControlSum) / gHorizon;
  const brier = n > 0 && gHorizon > 0 ? Math.min(1, Math.max(0, brierSum / n)) : null;

  return {
    n: nonNegativeCount(n),
    events: nonNegativeCount(totalEvents),
    events_by_horizon: nonNegativeCount(eventsByHorizon),
    censored_before_horizon: nonNegativeCount(censoredBeforeHorizon),
    c_index: harrell.c,
    c_index_ci95: harrell.c === null || cIndexVariance === null ? null : [Math.max(0, harrell.c - Z95 * Math.sqrt(cIndexVariance)), Math.min(1, harrell.c + Z95 * Math.sqrt(cIndexVariance))],
    c_index_uno: harrell.uno,
    td_auc: auc.auc,
    brier_at_horizon: brier,
    observed_risk_at_horizon: observed,
    observed_risk_at_horizon_ci95: n > 0 ? riskInterval(km.survival, km.greenwood) : null,
    expected_risk_at_horizon: expected,
    oe_ratio_at_horizon: observed !== null && expected !== null && expected > 0 ? observed / expected : null,
    calibration_at_horizon: calibrationTable(cell, context, stats.calibrationScoreSums),
    net_benefit_at_horizon: context.decisionThresholds.map((threshold) => ({ threshold, net_benefit: netBenefit(cell, context, threshold, n) })),
    at_threshold: thresholdMetrics(cell, context, gBefore, n, auc),
  };
}

type Cell = (k: number, j: number, e: number) => number;

/**
 * The delta-method sensitivity of the C index and the td-AUC to independent noise of variance v in every count cell:
 * Var ≈ v · gradient (Σ over cells of the squared derivative). Used to widen intervals under DP and by the planner.
 */
export function survivalNoiseGradients(stats: Pick<SurvivalStatistics, 'counts'>, context: SurvivalContext): { c_index: number | null; td_auc: number | null } {
  const J = context.score.bins;
  const T = context.time.bins;
  const cell: Cell = (k, j, e) => stats.counts[(k * J + j) * 2 + e] as number;
  const { events, censored, atRisk } = timeMargins(cell, T, J);
  const gBefore = censoringBefore(events, censored, atRisk);
  return { c_index: concordance(cell, context, gBefore).noiseGradient, td_auc: timeDependentAuc(cell, context, gBefore).noiseGradient };
}

/** Events and censorings per time bin (summed over score bins), and the number at risk at the start of each bin. */
function timeMargins(cell: Cell, T: number, J: number): { events: Float64Array; censored: Float64Array; atRisk: Float64Array } {
  const events = new Float64Array(T);
  const censored = new Float64Array(T);
  for (let k = 0; k < T; k += 1) {
    for (let j = 0; j < J; j += 1) {
      events[k] = (events[k] as number) + cell(k, j, 1);
      censored[k] = (censored[k] as number) + cell(k, j, 0);
    }
  }
  const atRisk = new Float64Array(T + 1);
  for (let k = T - 1; k >= 0; k -= 1) atRisk[k] = (atRisk[k + 1] as number) + (events[k] as number) + (censored[k] as number);
  return { events, censored, atRisk };
}

/**
 * The censoring KM before each time bin: G(T−) of an event in bin k is gBefore[k], G(h) is gBefore[horizonBins]. The
 * events of a time happen before its censorings: they are no longer at risk of being censored then (prodlim's reverse
 * KM, which riskRegression uses).
 */
function censoringBefore(events: Float64Array, censored: Float64Array, atRisk: Float64Array): Float64Array {
  const T = events.length;
  const gBefore = new Float64Array(T + 1);
  gBefore[0] = 1;
  for (let k = 0; k < T; k += 1) {
    const risk = (atRisk[k] as number) - (events[k] as number);
    gBefore[k + 1] = (gBefore[k] as number) * (risk > 0 ? Math.min(1, Math.max(0, 1 - (censored[k] as number) / risk)) : 1);
  }
  return gBefore;
}

/**
 * Harrell's and Uno's C over the grid, and Harrell's infinitesimal-jackknife variance. A backward pass over time
 * holds, per score bin, everyone in later time bins (the comparators of an event); a forward pass holds the events
 * of earlier bins (the pairs in which a patient is the comparator), for the per-patient influence U_i, D_i.
 */
function concordance(cell: Cell, context: SurvivalContext, gBefore: Float64Array): { c: number | null; variance: number | null; uno: number | null; noiseGradient: number | null } {
  const T = context.time.bins;
  const Kh = context.time.horizonBins;
  const J = context.score.bins;
  const later = new Float64Array(J);
  const comparators = new Float64Array(J);
  const eventU = new Float64Array(T * J);
  const eventD = new Float64Array(T * J);
  let concordant = 0;
  let tied = 0;
  let comparable = 0;
  let unoNumerator = 0;
  let unoDenominator = 0;
  for (let k = T - 1; k >= 0; k -= 1) {
    let total = 0;
    for (let j = 0; j < J; j += 1) {
      comparators[j] = (later[j] as number) + cell(k, j, 0);
      total += comparators[j] as number;
    }
    const g = gBefore[k] as number;
    const unoWeight = k < Kh && g > 0 ? 1 / (g * g) : 0;
    let below = 0;
    for (let j = 0; j < J; j += 1) {
      const a = comparators[j] as number;
      const d = cell(k, j, 1);
      if (d > 0) {
        const score = below + a / 2;
        concordant += d * below;
        tied += d * a;
        comparable += d * total;
        unoNumerator += unoWeight * d * score;
        unoDenominator += unoWeight * d * total;
      }
      eventU[k * J + j] = below + a / 2;
      eventD[k * J + j] = total;
      below += a;
    }
    for (let j = 0; j < J; j += 1) later[j] = (comparators[j] as number) + cell(k, j, 1);
  }
  const unit = (x: number): number => Math.min(1, Math.max(0, x));
  const uno = unoDenominator > 0 ? unit(unoNumerator / unoDenominator) : null;
  if (!(comparable > 0)) return { c: null, variance: null, uno, noiseGradient: null };
  const c = unit((concordant + tied / 2) / comparable);
  // Influence of each patient: the pairs it is in as the event (eventU, eventD) plus those it is in as the comparator.
  const earlier = new Float64Array(J);
  const withBin = new Float64Array(J);
  let variance = 0;
  // Σ over every cell of (∂C/∂count)²: a cell's derivative is the influence of one more patient in it.
  let noiseGradient = 0;
  const cache = new Map<Float64Array, Float64Array>();
  /** Per score bin j: the sum of the histogram over bins above j (computed once per histogram and time bin). */
  const aboveOf = (histogram: Float64Array): Float64Array => {
    let above = cache.get(histogram);
    if (!above) {
      above = new Float64Array(J + 1);
      for (let m = J - 1; m >= 0; m -= 1) above[m] = (above[m + 1] as number) + (m + 1 < J ? (histogram[m + 1] as number) : 0);
      cache.set(histogram, above);
    }
    return above;
  };
  const totalOf = (histogram: Float64Array): number => (aboveOf(histogram)[0] as number) + (histogram[0] as number);
  for (let k = 0; k < T; k += 1) {
    for (let j = 0; j < J; j += 1) withBin[j] = (earlier[j] as number) + cell(k, j, 1);
    // Pairs in which a patient of score bin j is the comparator: events with a higher score count 1, the same bin ½.
    const asComparator = (histogram: Float64Array, j: number): [number, number] => [(aboveOf(histogram)[j] as number) + (histogram[j] as number) / 2, totalOf(histogram)];
    for (let j = 0; j < J; j += 1) {
      // Patients of a noisy cell: at least 0 (the variance is a sum of squares over patients).
      const d = Math.max(0, cell(k, j, 1));
      const q = Math.max(0, cell(k, j, 0));
      const [eu, ed] = asComparator(earlier, j);
      const eventInfluence = ((eventU[k * J + j] as number) + eu - c * ((eventD[k * J + j] as number) + ed)) / comparable;
      const [cu, cd] = asComparator(withBin, j);
      const censoredInfluence = (cu - c * cd) / comparable;
      variance += d * eventInfluence * eventInfluence + q * censoredInfluence * censoredInfluence;
      noiseGradient += eventInfluence * eventInfluence + censoredInfluence * censoredInfluence;
    }
    earlier.set(withBin);
    cache.clear();
  }
  return { c, variance, uno, noiseGradient };
}

interface AucParts {
  auc: number | null;
  /** Σ over every cell of (∂AUC/∂count)², the IPCW weights held fixed; null without an AUC. */
  noiseGradient: number | null;
  /** Controls (T > h) per score bin. */
  controls: Float64Array;
  /** IPCW-weighted cases (T <= h, E = 1) per score bin. */
  cases: Float64Array;
}

function timeDependentAuc(cell: Cell, context: SurvivalContext, gBefore: Float64Array): AucParts {
  const T = context.time.bins;
  const Kh = context.time.horizonBins;
  const J = context.score.bins;
  const controls = new Float64Array(J);
  const cases = new Float64Array(J);
  for (let k = 0; k < T; k += 1) {
    const weight = (gBefore[k] as number) > 0 ? 1 / (gBefore[k] as number) : 0;
    for (let j = 0; j < J; j += 1) {
      if (k >= Kh) controls[j] = (controls[j] as number) + cell(k, j, 0) + cell(k, j, 1);
      else cases[j] = (cases[j] as number) + weight * cell(k, j, 1);
    }
  }
  let below = 0;
  let numerator = 0;
  let caseTotal = 0;
  for (let j = 0; j < J; j += 1) {
    numerator += (cases[j] as number) * (below + (controls[j] as number) / 2);
    caseTotal += cases[j] as number;
    below += controls[j] as number;
  }
  if (!(caseTotal > 0 && below > 0)) return { auc: null, noiseGradient: null, controls, cases };
  const auc = numerator / (caseTotal * below);
  // ∂AUC/∂(case cell k, j) = w_k·(controls below j + ½ in j − AUC·N)/(C·N); ∂/∂(control cell j) = (cases above j + ½ in j − AUC·C)/(C·N).
  let caseTerms = 0;
  let controlTerms = 0;
  let controlsBelow = 0;
  let casesAbove = caseTotal;
  for (let j = 0; j < J; j += 1) {
    casesAbove -= cases[j] as number;
    const asCase = (controlsBelow + (controls[j] as number) / 2 - auc * below) / (caseTotal * below);
    const asControl = (casesAbove + (cases[j] as number) / 2 - auc * caseTotal) / (caseTotal * below);
    caseTerms += asCase * asCase;
    controlTerms += asControl * asControl;
    controlsBelow += controls[j] as number;
  }
  let weights = 0;
  for (let k = 0; k < Kh; k += 1) weights += (gBefore[k] as number) > 0 ? 1 / (gBefore[k] as number) ** 2 : 0;
  const noiseGradient = weights * caseTerms + (T - Kh) * 2 * controlTerms;
  return { auc: Math.min(1, Math.max(0, auc)), noiseGradient, controls, cases };
}

/** KM risk by the horizon among the patients of score bins [from, to). */
function groupKaplanMeier(cell: Cell, context: SurvivalContext, from: number, to: number): { n: number; survival: number; greenwood: number } {
  const T = context.time.bins;
  const events = new Float64Array(T);
  const atRisk = new Float64Array(T + 1);
  for (let k = T - 1; k >= 0; k -= 1) {
    let d = 0;
    let q = 0;
    for (let j = from; j < to; j += 1) {
      d += cell(k, j, 1);
      q += cell(k, j, 0);
    }
    events[k] = d;
    atRisk[k] = (atRisk[k + 1] as number) + d + q;
  }
  return { n: atRisk[0] as number, ...kaplanMeierAt(events, atRisk, context.time.horizonBins - 1) };
}

function calibrationTable(cell: Cell, context: SurvivalContext, scoreSums: ArrayLike<number>): SurvivalCalibrationGroup[] {
  const starts = context.calibrationStarts;
  const groups: SurvivalCalibrationGroup[] = [];
  for (let g = 0; g + 1 < starts.length; g += 1) {
    const from = starts[g] as number;
    const to = starts[g + 1] as number;
    const km = groupKaplanMeier(cell, context, from, to);
    const n = Math.max(0, km.n);
    const lower = context.score.edge(from);
    const upper = context.score.edge(to);
    groups.push({
      lower,
      upper,
      n: nonNegativeCount(n),
      // Every patient of the group scored within [lower, upper], so their mean does too: clamping a noisy mean there is
      // free post-processing (a no-op on exact counts).
      mean_predicted_risk: n > 0 ? Math.min(upper, Math.max(lower, (scoreSums[g] as number) / n)) : null,
      observed_risk: n > 0 ? 1 - km.survival : null,
      observed_risk_ci95: n > 0 ? riskInterval(km.survival, km.greenwood) : null,
    });
  }
  return groups;
}

function netBenefit(cell: Cell, context: SurvivalContext, threshold: number, n: number): number | null {
  const k = context.score.index(threshold);
  if (k === null || !(n > 0) || threshold >= 1) return null;
  const km = groupKaplanMeier(cell, context, k, context.score.bins);
  if (!(km.n > 0)) return 0;
  const share = Math.min(1, km.n / n);
  return share * (1 - km.survival - (km.survival * threshold) / (1 - threshold));
}

function thresholdMetrics(cell: Cell, context: SurvivalContext, _gBefore: Float64Array, n: number, auc: AucParts): SurvivalThresholdMetrics {
  const threshold = context.threshold;
  const k = context.score.index(threshold) ?? 0;
  const J = context.score.bins;
  let selected = 0;
  for (let t = 0; t < context.time.bins; t += 1) for (let j = k; j < J; j += 1) selected += cell(t, j, 0) + cell(t, j, 1);
  let casesAbove = 0;
  let casesAll = 0;
  let controlsBelow = 0;
  let controlsAll = 0;
  for (let j = 0; j < J; j += 1) {
    casesAll += auc.cases[j] as number;
    controlsAll += auc.controls[j] as number;
    if (j >= k) casesAbove += auc.cases[j] as number;
    else controlsBelow += auc.controls[j] as number;
  }
  const proportion = (a: number, b: number): number | null => (b > 0 ? Math.min(1, Math.max(0, a / b)) : null);
  const sensitivity = proportion(casesAbove, casesAll);
  const specificity = proportion(controlsBelow, controlsAll);
  return {
    threshold,
    selection_rate: proportion(selected, n),
    sensitivity,
    specificity,
    balanced_accuracy: sensitivity === null || specificity === null ? null : (sensitivity + specificity) / 2,
  };
}
