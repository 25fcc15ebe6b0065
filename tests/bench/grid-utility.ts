// grid-utility.ts — what a fitted score grid does to the AUC error under DP at n ≈ 2,000: equal-width 1000 bins vs quantile grids of 100/250/1000 bins (prints JSON).
// Run: node tests/bench/grid-utility.ts [--trials N] [--patients N]   (default 100 trials, 2000 patients; ~40 s at 200 trials)
//
// The quantile grid is fitted once on the sponsor's development cohort (fixed per study, as a real grid is); each trial
// draws a validation cohort from the same score distribution (split over 3 sites), sends every site's statistics
// vector through the real private release (@fedval/dp: the planner's 'auto' layout, Skellam shares, ε = 1, δ = 1e-6),
// and compares the released AUC, and the AUC of the exact binned vector, with the exact AUC of the validation scores
// (Mann–Whitney on the raw doubles, ties ½). Next to the measured errors: the planner's predicted median absolute AUC
// error (its binormal model binned on the grid's own edges), and what it predicted when it took a fitted grid's fine
// bins as equal-width (the planner before it knew the edges). The planner's model is the calibrated binormal score:
// the first scenario is it; the second (a marker scaled by its maximum) is not.
import { createPrivateRelease, finalizeRelease, planPrivacySpec, planRelease, seededRandomSource } from '@fedval/dp';
import type { RandomSource } from '@fedval/dp';
import { createAccumulator, createStatisticsLayout, finalizeMetrics, fitScoreGrid, scoreGridOf } from '@fedval/metrics';
import type { BinaryMetricsReport, MetricSpec } from '@fedval/metrics';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '100' }, patients: { type: 'string', default: '2000' } } });
const trials = Number(values.trials);
const patients = Number(values.patients);
const SITES = 3;
const EPSILON = 1;
const DELTA = 1e-6;

/**
 * Score distributions (binormal latent, negatives N(0, 1), positives N(d, 1)): a calibrated risk score at 10 %
 * prevalence (most scores below 0.2, the skew clinical risk models have), and a lab marker scaled to [0, 1] by
 * its maximum (log-normal, like pROC's aSAH ndka: nearly all scores in the lowest 5 % of [0, 1]).
 */
const SCENARIOS = [
  { name: 'calibrated risk score, prevalence 0.1, AUC ≈ 0.75', prevalence: 0.1, separation: 0.95, score: (x: number) => 1 / (1 + Math.exp(-(-2.6 + 0.95 * x))) },
  { name: 'marker scaled by its maximum (log-normal), prevalence 0.35, AUC ≈ 0.7', prevalence: 0.35, separation: 0.75, score: (x: number) => Math.min(1, Math.exp(0.8 * x) / Math.exp(0.8 * 5.5)) },
] as const;

type Scenario = (typeof SCENARIOS)[number];

/** A uniform double in (0, 1) from 32 random bits. */
const uniform = (rng: RandomSource): number => (rng.nextUint32() + 0.5) / 2 ** 32;

/** Standard normals by Box–Muller (Box & Muller 1958, Ann Math Stat 29:610–611). */
function standardNormals(rng: RandomSource, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(uniform(rng)));
    const angle = 2 * Math.PI * uniform(rng);
    out[i] = radius * Math.cos(angle);
    if (i + 1 < n) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}

function drawCohort(scenario: Scenario, n: number, rng: RandomSource): { scores: Float64Array; labels: Uint8Array } {
  const normals = standardNormals(rng, n);
  const scores = new Float64Array(n);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i += 1) {
    const positive = uniform(rng) < scenario.prevalence;
    labels[i] = positive ? 1 : 0;
    scores[i] = scenario.score(normals[i]! + (positive ? scenario.separation : 0));
  }
  return { scores, labels };
}

/** Mann–Whitney AUC with ties ½, by sorting (exact on the raw doubles). */
function exactAuc(scores: Float64Array, labels: Uint8Array): number {
  const order = Array.from(scores.keys()).sort((a, b) => scores[a]! - scores[b]!);
  let rankSum = 0;
  let positives = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]!] === scores[order[i]!]) j += 1;
    const rank = (i + j + 2) / 2;
    for (let k = i; k <= j; k += 1) if (labels[order[k]!] === 1) {
      rankSum += rank;
      positives += 1;
    }
    i = j + 1;
  }
  const negatives = order.length - positives;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

interface GridResult {
  grid: string;
  fineBins: number;
  coarseBins: number;
  releaseLayout: string;
  fullestCoarseBinShare: number;
  binningAbsError: number[];
  dpAbsError: number[];
  predicted: number | null;
  predictedEqualWidthAssumption: number | null;
}

function run(scenario: Scenario, gridName: string, spec: (development: Float64Array) => Partial<MetricSpec>): GridResult {
  // The grid is fixed per study: fitted once on the sponsor's development cohort; the validation cohorts and the noise are redrawn.
  const development = drawCohort(scenario, patients, seededRandomSource(`grid-utility development ${scenario.name}`));
  const layout = createStatisticsLayout(spec(development.scores));
  const { privacy, plan } = planPrivacySpec({ epsilon: EPSILON, delta: DELTA, minSites: SITES }, { layout, expectedPatients: patients, expectedPrevalence: scenario.prevalence, sites: SITES });
  const equalWidthAssumption = plan && plan.request.fineEdges !== null ? planRelease({ ...plan.request, fineEdges: null, fineShares: null }) : null;
  const release = createPrivateRelease(layout, privacy);
  const { kind, placement, edges } = privacy.layout;
  // Share of the development scores in the fullest coarse release bin: how much of the ranking the release layout keeps.
  const grid = scoreGridOf(layout.spec);
  const perCoarseBin = new Float64Array(edges.length - 1);
  for (const score of development.scores) {
    const fine = grid.bin(score);
    let c = 0;
    while (edges[c + 1]! <= fine) c += 1;
    perCoarseBin[c] = perCoarseBin[c]! + 1 / development.scores.length;
  }
  const result: GridResult = {
    grid: gridName,
    fineBins: layout.spec.bins,
    coarseBins: edges.length - 1,
    releaseLayout: `${kind}, ${edges.length - 1} bins, ${placement}`,
    fullestCoarseBinShare: Math.max(...perCoarseBin),
    binningAbsError: [],
    dpAbsError: [],
    predicted: plan?.overall.auc.medianAbsError ?? null,
    predictedEqualWidthAssumption: equalWidthAssumption?.overall.auc.medianAbsError ?? null,
  };
  for (let t = 0; t < trials; t += 1) {
    const validation = drawCohort(scenario, patients, seededRandomSource(`grid-utility validation ${scenario.name} ${t}`)); // the same cohorts for every grid
    const noise = seededRandomSource(`grid-utility noise ${scenario.name} ${gridName} ${t}`);
    const sites = Array.from({ length: SITES }, () => createAccumulator(layout));
    validation.scores.forEach((score, i) => sites[i % SITES]!.addBinary(score, validation.labels[i]!));
    const aggregate = new Float64Array(release.length);
    const pooled = new Float64Array(layout.length);
    for (const site of sites) {
      const vector = site.vector();
      vector.forEach((v, i) => (pooled[i] = pooled[i]! + v));
      release.protect(vector, noise).forEach((v, i) => (aggregate[i] = aggregate[i]! + v));
    }
    const exact = exactAuc(validation.scores, validation.labels);
    result.binningAbsError.push(Math.abs((finalizeMetrics(layout, pooled) as BinaryMetricsReport).roc_auc! - exact));
    result.dpAbsError.push(Math.abs((finalizeRelease(release, aggregate, SITES).metrics as BinaryMetricsReport).roc_auc! - exact));
  }
  return result;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const summarize = (r: GridResult) => ({
  grid: r.grid,
  fineBins: r.fineBins,
  releaseLayout: r.releaseLayout,
  fullestCoarseBinShareOfDevelopmentScores: r.fullestCoarseBinShare,
  meanAbsAucErrorBinningOnly: mean(r.binningAbsError),
  meanAbsAucErrorWithDp: mean(r.dpAbsError),
  medianAbsAucErrorWithDp: quantile(r.dpAbsError, 0.5),
  plannerPredictedMedianAbsAucError: r.predicted,
  plannerPredictedIfFittedBinsWereEqualWidth: r.predictedEqualWidthAssumption,
  p90AbsAucErrorWithDp: quantile(r.dpAbsError, 0.9),
});

const start = performance.now();
const rows = SCENARIOS.map((scenario) => ({
  scenario: scenario.name,
  grids: [
    run(scenario, 'equal-width, 1000 bins', () => ({})),
    ...[100, 250, 1000].map((bins) => run(scenario, `quantile fitted on development scores, ${bins} bins`, (development) => ({ scoreGrid: fitScoreGrid(development, { bins, method: 'quantile' }).grid }))),
  ].map(summarize),
}));
console.log(JSON.stringify({ bench: 'grid-utility', patients, sites: SITES, trials, epsilon: EPSILON, delta: DELTA, layout: "'auto' (planner)", mechanism: 'skellam', seconds: Math.round((performance.now() - start) / 1000), rows }, null, 2));
