// score-grid-fit.ts — fits a study's score grid from the sponsor's development scores: score quantiles, or logit-spaced edges.
import { MetricsError } from './errors.ts';
import { METRIC_SPEC_LIMITS } from './metric-spec.ts';
import type { FittedScoreGrid } from './metric-spec.ts';

export interface ScoreGridFitOptions {
  /** Bins to fit, 2 … METRIC_SPEC_LIMITS.maxFittedBins (10 000); quantile grids have fewer when the scores have fewer distinct values. Required. */
  bins: number;
  /**
   * 'quantile': equal-mass bins of the development scores, never cutting between equal scores; with at
   * most `bins` distinct scores, one bin per distinct score. 'logit': `bins` bins of equal width in
   * logit(score) between the smallest and largest development score (each clamped into
   * [LOGIT_FIT_FLOOR, 1 − LOGIT_FIT_FLOOR]), the outer two reaching 0 and 1. Required.
   */
  method: 'quantile' | 'logit';
  /** Decision thresholds kept as exact edges (each strictly between 0 and 1). Default []. */
  thresholds?: readonly number[];
  /** `sha256:<hex>` of the development data, stored with the grid. Default: none. */
  sourceDigest?: string;
}

/** What the fit saw, for the sponsor (never stored in the study). */
export interface ScoreGridFitSummary {
  /** Development scores used. */
  scores: number;
  /** Distinct development scores. */
  distinctScores: number;
  /** Bins of the grid (interior edges + 1), thresholds included. */
  bins: number;
  /** Bins holding more than one distinct development score: 0 means no two distinct scores share a bin. */
  binsWithSeveralScores: number;
}

/** Scores are clamped into [f, 1 − f] before the logit: the logit of 0 or 1 is infinite. */
export const LOGIT_FIT_FLOOR = 1e-6;

function refuse(detail: string): MetricsError {
  return new MetricsError('FEDVAL_ERR_METRICS_INVALID_GRID', detail);
}

/**
 * Fits a score grid from development scores (pure: the caller reads the file and digests it). Refuses with
 * FEDVAL_ERR_METRICS_INVALID_GRID: bins out of range, a score that is not a number in [0, 1] (named by its
 * position, never its value), fewer than two distinct scores, a threshold outside (0, 1).
 */
export function fitScoreGrid(scores: ArrayLike<number>, options: ScoreGridFitOptions): { grid: FittedScoreGrid; summary: ScoreGridFitSummary } {
  const { bins, method } = options;
  const thresholds = options.thresholds ?? [];
  const limit = METRIC_SPEC_LIMITS.maxFittedBins;
  if (!(Number.isSafeInteger(bins) && bins >= 2 && bins <= limit)) throw refuse(`bins must be an integer from 2 to ${limit}`);
  if (method !== 'quantile' && method !== 'logit') throw refuse('method must be quantile or logit');
  thresholds.forEach((t, i) => {
    if (!(typeof t === 'number' && t > 0 && t < 1)) throw refuse(`threshold ${i + 1} must be a number strictly between 0 and 1`);
  });
  const sorted = Float64Array.from({ length: scores.length }, (_, i) => scores[i] as number);
  let bad = 0;
  let firstBad = -1;
  sorted.forEach((s, i) => {
    if (!(s >= 0 && s <= 1)) {
      bad += 1;
      if (firstBad < 0) firstBad = i;
    }
  });
  if (bad > 0) throw refuse(`${bad} score${bad === 1 ? ' is' : 's are'} not a number in [0, 1] (the first is score ${firstBad + 1})`);
  sorted.sort();
  const { values, counts } = distinctWithCounts(sorted);
  if (values.length < 2) throw refuse('the development scores need at least two distinct values');
  const fitted = method === 'quantile' ? quantileEdges(values, counts, sorted.length, bins) : logitEdges(values[0] as number, values[values.length - 1] as number, bins);
  const edges = [...new Set([...fitted, ...thresholds])].sort((a, b) => a - b);
  if (edges.length + 1 > limit) throw refuse(`the grid would have ${edges.length + 1} bins with the thresholds, above the limit of ${limit}`);
  const grid: FittedScoreGrid = { kind: 'fitted', method, edges };
  if (options.sourceDigest !== undefined) grid.sourceDigest = options.sourceDigest;
  return { grid, summary: { scores: sorted.length, distinctScores: values.length, bins: edges.length + 1, binsWithSeveralScores: sharedBins(values, edges) } };
}

function distinctWithCounts(sorted: Float64Array): { values: number[]; counts: number[] } {
  const values: number[] = [];
  const counts: number[] = [];
  for (const s of sorted) {
    if (values.length > 0 && values[values.length - 1] === s) counts[counts.length - 1] = (counts[counts.length - 1] as number) + 1;
    else {
      values.push(s);
      counts.push(1);
    }
  }
  return { values, counts };
}

/** An edge e with a < e <= b between two adjacent distinct scores: their midpoint, or b when the midpoint rounds onto a. */
function cutBetween(a: number, b: number): number {
  const middle = a + (b - a) / 2;
  return middle > a ? middle : b;
}

/**
 * Equal-mass edges over the distinct scores (Hyndman & Fan 1996, The American Statistician 50:361–365, take
 * sample quantiles between order statistics; here the cut goes between the two distinct scores around the
 * i/B quantile, so equal scores are never split): cut i (1 ≤ i < B) follows the first distinct score at which
 * the cumulative count reaches i·n/B; repeated cuts collapse. With at most B distinct scores every gap is cut.
 */
function quantileEdges(values: number[], counts: number[], n: number, bins: number): number[] {
  const m = values.length;
  if (m <= bins) return values.slice(1).map((b, j) => cutBetween(values[j] as number, b));
  const cuts = new Set<number>();
  let j = 0;
  let cumulative = counts[0] as number;
  for (let i = 1; i < bins; i += 1) {
    const target = (i * n) / bins;
    while (cumulative < target && j < m - 2) cumulative += counts[++j] as number;
    cuts.add(j);
  }
  return [...cuts].sort((a, b) => a - b).map((k) => cutBetween(values[k] as number, values[k + 1] as number));
}

/** B bins of equal width in logit(score) over [logit(lo), logit(hi)], the outer two reaching 0 and 1 (repeats from rounding collapse). */
function logitEdges(lowest: number, highest: number, bins: number): number[] {
  const clamp = (p: number) => Math.min(1 - LOGIT_FIT_FLOOR, Math.max(LOGIT_FIT_FLOOR, p));
  const logit = (p: number) => Math.log(p / (1 - p));
  const low = logit(clamp(lowest));
  const high = logit(clamp(highest));
  if (!(high > low)) throw refuse(`logit edges need development scores that differ after clamping into [${LOGIT_FIT_FLOOR}, 1 − ${LOGIT_FIT_FLOOR}]`);
  const edges = new Set<number>();
  for (let i = 1; i < bins; i += 1) {
    const edge = 1 / (1 + Math.exp(-(low + ((high - low) * i) / bins)));
    if (edge > 0 && edge < 1) edges.add(edge);
  }
  return [...edges].sort((a, b) => a - b);
}

/** Bins (between consecutive edges) that hold more than one of the distinct sorted values. */
function sharedBins(values: number[], edges: number[]): number {
  let shared = 0;
  let edge = 0;
  let inBin = 0;
  for (const v of values) {
    let moved = false;
    while (edge < edges.length && v >= (edges[edge] as number)) {
      edge += 1;
      moved = true;
    }
    if (moved) inBin = 0;
    inBin += 1;
    if (inBin === 2) shared += 1;
  }
  return shared;
}
