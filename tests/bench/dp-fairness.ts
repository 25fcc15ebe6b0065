// dp-fairness.ts — issue 18: the DP error of the overall and every subgroup AUC against its sampling error (prints JSON).
//
// Four generated scenarios (4 sites, n = 20,000, equal-variance binormal scores with AUC 0.80, prevalence 30 % or 2 %,
// subgroup columns {sex} or {sex, age band (4), ethnicity (5)}) and the bundled Rotterdam example sites (two subgroup
// columns, meno and age bands). Each round runs the round's own code path in-process (no BFV): every site protects its
// statistics vector (encode + its noise share), the protected vectors are summed (what the key holder decrypts), and
// finalizeRelease decodes and finalizes the sum; the result is compared with the exact (`--no-dp`) release of the same
// sites. Reported per AUC (overall and every subgroup level): the DP error's SD (and mean), the sampling SE (DeLong,
// from the exact release's interval), the interval factor √(1 + (SD/SE)²), the suppression rate, and the planner's
// predicted DP error SD of the reported AUC (its Monte Carlo through finalization's projection and, for a level, the
// small-cell rule: `reportedAuc`) beside the delta method's (`auc`), their ratio to the measured SD and whether it is
// within 25 %; per scenario, the exact noise SD of one class total of a level (classTotalSd: what the small-cell rule's
// margin is made of) and a `summary` (interval factors, subgroup SDs, release rates: the frontier's row).
// With per-class layouts (issue 18: 'auto' may give the positives a coarser layout) it also prints the positives' layout
// and the planner's per-class prediction (then the predictions above are the per-class ones); --shared-layout drops the
// positives' layout from the resolved spec (both classes on the shared one, as before issue 18's per-class layouts), for
// a before/after comparison on one machine.
// Run: node tests/bench/dp-fairness.ts [--rounds 20] [--epsilon 1[,2,…]] [--scenario SUBSTRING] [--priorities …]
//      [--weights totals=3] [--suppression-alpha 0.01] [--shared-layout]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse } from 'csv-parse/sync';
import { createRelease, finalizeRelease, normalQuantile, planPrivacySpec, predictPerClassAuc, predictPopulationError, resolvePrivacySpec, seededRandomSource } from '@fedval/dp';
import type { PopulationPrediction, PositiveLayoutChoice, PrivacyContext, RandomSource, ReleasePlan, ResolvedReleaseLayout, SmallCellRule } from '@fedval/dp';
import { addStatistics, createAccumulator, createStatisticsLayout, DEFAULT_MARGIN_SDS, resolveMetricSpec } from '@fedval/metrics';
import type { BinaryMetricsBlock, BinaryMetricsReport, GroupSpec, LevelBlock, StatisticsLayout } from '@fedval/metrics';
import { normal, rotterdamScore } from './rotterdam-score.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    epsilon: { type: 'string', default: '1' },
    scenario: { type: 'string', default: '' },
    // Sponsor priorities (privacy.priorities), e.g. overallAuc=3,subgroupAuc=2,calibration=1,exclusions=0.5; empty: today's fixed weights.
    priorities: { type: 'string', default: '' },
    // ρ weights (privacy.weights), e.g. totals=2; empty: the defaults. Not together with --priorities.
    weights: { type: 'string', default: '' },
    // α of the small-cell rule (finalizeRelease suppressionAlpha); empty: the default Φ(−3).
    'suppression-alpha': { type: 'string', default: '' },
    // Both classes on the shared layout (the resolved spec without its positiveLayout).
    'shared-layout': { type: 'boolean', default: false },
  },
});
const pairs = (text: string): Record<string, number> => Object.fromEntries(text.split(',').map((pair) => { const [key, value] = pair.split('='); return [key!, Number(value)]; }));
const weights = values.weights ? pairs(values.weights) : null;
const suppressionAlpha = values['suppression-alpha'] ? Number(values['suppression-alpha']) : undefined;
const finalizeOptions = suppressionAlpha === undefined ? {} : { suppressionAlpha };
const priorities = values.priorities ? pairs(values.priorities) : null;
const rounds = Number(values.rounds);
const epsilons = values.epsilon.split(',').map(Number);
const DELTA = 1e-6;
const Z_95 = 1.959963984540054;

function uniform(rng: RandomSource): number {
  return rng.nextUint32() / 4294967296;
}

/** Index of the share u ∈ [0, 1) falls in, for shares summing to 1. */
function pick(u: number, shares: readonly number[]): number {
  let cumulative = 0;
  for (let i = 0; i < shares.length; i += 1) {
    cumulative += shares[i]!;
    if (u < cumulative) return i;
  }
  return shares.length - 1;
}

// Equal-variance binormal model (Hanley & McNeil 1982): AUC = Φ(d/√2); AUC 0.80 needs d = √2·Φ⁻¹(0.80),
// Φ⁻¹(0.80) = 0.8416212335729143.
const SEPARATION_AUC_080 = Math.SQRT2 * 0.8416212335729143;

/** Subgroup columns of the generated scenarios, with the share of patients in each level (public to nobody: data). */
const COLUMNS = {
  sex: { levels: ['F', 'M'], shares: [0.5, 0.5] },
  age: { levels: ['18-39', '40-59', '60-79', '80+'], shares: [0.2, 0.3, 0.3, 0.2] },
  ethnicity: { levels: ['A', 'B', 'C', 'D', 'E'], shares: [0.5, 0.2, 0.15, 0.1, 0.05] },
} as const;
type ColumnName = keyof typeof COLUMNS;

interface Scenario {
  name: string;
  layout: StatisticsLayout;
  sites: Float64Array[];
  context: Omit<PrivacyContext, 'layout'>;
  minSites: number;
}

function binormalScenario(prevalence: number, columns: ColumnName[]): Scenario {
  const patients = 20_000;
  const siteCount = 4;
  const groups: GroupSpec[] = columns.map((column) => ({ column, levels: [...COLUMNS[column].levels] }));
  const layout = createStatisticsLayout(resolveMetricSpec({ task: 'binary', groups }));
  const rng = seededRandomSource(`dp-fairness cohort ${prevalence} ${columns.join(',')}`);
  const d = SEPARATION_AUC_080;
  const offset = Math.log(prevalence / (1 - prevalence)) - (d * d) / 2;
  const accumulators = Array.from({ length: siteCount }, () => createAccumulator(layout));
  for (let i = 0; i < patients; i += 1) {
    const label = uniform(rng) < prevalence ? 1 : 0;
    const score = 1 / (1 + Math.exp(-(offset + d * (normal(rng) + label * d))));
    const levels = columns.map((column) => COLUMNS[column].levels[pick(uniform(rng), COLUMNS[column].shares)]!);
    accumulators[i % siteCount]!.addBinary(score, label, levels);
  }
  return {
    name: `prevalence ${prevalence * 100}%, columns ${columns.join(', ')}`,
    layout,
    sites: accumulators.map((a) => a.vector()),
    context: { expectedPatients: patients, expectedPrevalence: prevalence, sites: siteCount, assumedAuc: 0.8 },
    minSites: 3,
  };
}

function rotterdamScenario(): Scenario {
  const layout = createStatisticsLayout(resolveMetricSpec({ task: 'binary', groups: [{ column: 'meno', levels: ['0', '1'] }, { column: 'age', cuts: [50, 70] }] }));
  const sites = ['a', 'b', 'c'].map((site) => {
    const file = new URL(`../../examples/rotterdam/data/site-${site}.csv`, import.meta.url);
    const rows = parse(readFileSync(file, 'utf8'), { columns: true, skip_empty_lines: true }) as Record<string, string>[];
    const accumulator = createAccumulator(layout);
    for (const row of rows) {
      const label = row['event5y'] === '' ? null : Number(row['event5y']);
      accumulator.addBinary(rotterdamScore(row), label, [row['meno'] ?? null, Number(row['age'])]);
    }
    return accumulator.vector();
  });
  return { name: 'rotterdam example sites (meno, age bands)', layout, sites, context: { expectedPatients: 2000, expectedPrevalence: 0.5, sites: 3 }, minSites: 3 };
}

function sum(vectors: Float64Array[]): Float64Array {
  return vectors.reduce((a, b) => addStatistics(a, b));
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Sample SD (n − 1); null with fewer than 2 values. */
function sd(xs: number[]): number | null {
  if (xs.length < 2) return null;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

function round4(x: number | null): number | null {
  return x === null ? null : Number(x.toPrecision(4));
}

function samplingSe(block: BinaryMetricsBlock): number | null {
  const ci = block.roc_auc_ci95;
  return ci ? (ci[1] - ci[0]) / (2 * Z_95) : null;
}

/**
 * The planner's prediction for one AUC: the overall one, or a level's of column `column` under the small-cell rule, for
 * the level's expected patients (here the exact count stands in for the sponsor's expected share of the level, a public
 * assumption).
 */
function prediction(plan: ReleasePlan | null, perClass: PositiveLayoutChoice | null, column: number | null, patients: number, rule: SmallCellRule | undefined): Prediction | null {
  if (!plan || patients < 2) return null;
  // With per-class layouts the positives' layout is the one released: the per-class prediction (same Monte Carlo).
  if (perClass) return predictPerClassAuc(plan, perClass.layout, plan.layout, patients, column, rule);
  if (column === null) return plan.overall;
  return predictPopulationError(plan, patients, column, rule);
}

/** What the bench reads of a prediction (a population's, or a per-class layout's). */
type Prediction = Pick<PopulationPrediction, 'auc' | 'reportedAuc' | 'releaseRate'>;

function layoutName(layout: ResolvedReleaseLayout): string {
  return layout.kind === 'tree' ? `tree b=${layout.branching}, ${layout.edges.length - 1} bins` : `flat, ${layout.edges.length - 1} bins`;
}

/** Relative standard error of a sample SD from m values (Normal data): ≈ 1/√(2(m − 1)). */
function sdRelativeSe(m: number): number | null {
  return m >= 2 ? 1 / Math.sqrt(2 * (m - 1)) : null;
}

/** Fewest released rounds for a measured SD to be compared with the prediction (below: ±24 % or worse). */
const MIN_COMPARED_ROUNDS = 10;

interface Track {
  column: string | null;
  level: string;
  positives: number;
  exactAuc: number | null;
  se: number | null;
  errors: number[];
  suppressed: number;
  predicted: Prediction | null;
}

function runScenario(scenario: Scenario, epsilon: number) {
  const { layout, sites } = scenario;
  const planned = planPrivacySpec({ epsilon, delta: DELTA, minSites: scenario.minSites, ...(priorities ? { priorities } : {}), ...(weights ? { weights } : {}) }, { layout, ...scenario.context });
  const { plan, split } = planned;
  const { positiveLayout, ...sharedSpec } = planned.privacy;
  const privacy = values['shared-layout'] ? resolvePrivacySpec(sharedSpec, { layout }) : planned.privacy;
  const perClass = values['shared-layout'] ? null : planned.perClass;
  const release = createRelease(layout, privacy);
  const exactRelease = createRelease(layout, null);
  const exact = finalizeRelease(exactRelease, sum(sites.map((v) => exactRelease.protect(v, seededRandomSource('unused')))), sites.length).metrics as BinaryMetricsReport;
  const rng = seededRandomSource(`dp-fairness noise ${scenario.name} ${epsilon}`);
  // The exact noise variance of one class total of a level, per column (a function of the noise plan, not of the data):
  // what the small-cell rule's margin is made of, and what the planner's rule takes.
  const decoded = release.decode(sum(sites.map((v) => release.protect(v, rng))), sites.length);
  const { classTotalVariances, positiveTotalVariances } = decoded;
  const classTotalSd = Object.fromEntries(Object.entries(classTotalVariances).map(([name, variance]) => [name, round4(Math.sqrt(variance))]));
  // With per-class layouts: the positives' class total (classTotalSd is then the negatives').
  const positiveTotalSd = positiveTotalVariances ? Object.fromEntries(Object.entries(positiveTotalVariances).map(([name, variance]) => [name, round4(Math.sqrt(variance))])) : null;
  const marginSds = suppressionAlpha === undefined ? DEFAULT_MARGIN_SDS : -normalQuantile(suppressionAlpha);
  const rule = (column: string): SmallCellRule | undefined => {
    const variance = classTotalVariances[`by_group.${column}.counts`];
    const positiveTotalVariance = positiveTotalVariances?.[`by_group.${column}.counts`];
    return variance === undefined ? undefined : { classTotalVariance: variance, ...(positiveTotalVariance === undefined ? {} : { positiveTotalVariance }), minCellSize: layout.spec.minCellSize, marginSds };
  };
  const tracks: Track[] = [
    { column: null, level: 'overall', positives: exact.positives, exactAuc: exact.roc_auc, se: samplingSe(exact), errors: [], suppressed: 0, predicted: prediction(plan, perClass, null, exact.n, undefined) },
  ];
  layout.spec.groups.forEach((group, g) => {
    for (const [level, block] of Object.entries(exact.by_group[group.column]!)) {
      if (block.suppressed || block.n === 0) continue;
      tracks.push({ column: group.column, level, positives: block.positives, exactAuc: block.roc_auc, se: samplingSe(block), errors: [], suppressed: 0, predicted: prediction(plan, perClass, g, block.n, rule(group.column)) });
    }
  });
  const started = performance.now();
  for (let r = 0; r < rounds; r += 1) {
    const noisy = finalizeRelease(release, sum(sites.map((v) => release.protect(v, rng))), sites.length, finalizeOptions).metrics as BinaryMetricsReport;
    for (const track of tracks) {
      const block: LevelBlock<BinaryMetricsBlock> = track.column === null ? { ...noisy, suppressed: false } : noisy.by_group[track.column]![track.level]!;
      if (block.suppressed) track.suppressed += 1;
      else if (block.roc_auc !== null && track.exactAuc !== null) track.errors.push(block.roc_auc - track.exactAuc);
    }
  }
  const msPerRound = (performance.now() - started) / rounds;
  const auc = tracks.map((t) => {
    const dpSd = sd(t.errors);
    const predicted = t.predicted?.reportedAuc.std ?? null;
    const ratio = dpSd !== null && predicted !== null && dpSd > 0 ? predicted / dpSd : null;
    return {
      column: t.column,
      level: t.level,
      positives: t.positives,
      exact: round4(t.exactAuc),
      dpErrorSd: round4(dpSd),
      dpErrorMean: t.errors.length ? round4(mean(t.errors)) : null,
      // The measured SD's own relative standard error (from the rounds the level was released in).
      dpErrorSdRelativeSe: round4(sdRelativeSe(t.errors.length)),
      samplingSe: round4(t.se),
      intervalFactor: dpSd !== null && t.se ? round4(Math.sqrt(1 + (dpSd / t.se) ** 2)) : null,
      suppressionRate: t.suppressed / rounds,
      predictedReleaseRate: t.predicted?.releaseRate ?? null,
      predictedDpErrorSd: round4(predicted),
      predictedDpErrorMean: round4(t.predicted?.reportedAuc.bias ?? null),
      // The delta method on the released histograms as they are (before finalization's projection): what the layout
      // choice and the priorities' split use.
      deltaMethodSd: round4(t.predicted?.auc.std ?? null),
      ratio: round4(ratio),
      within25: ratio === null || t.errors.length < MIN_COMPARED_ROUNDS ? null : Math.abs(ratio - 1) <= 0.25,
    };
  });
  const levels = auc.filter((a) => a.column !== null);
  const released = levels.filter((a) => a.suppressionRate <= 0.2);
  const range = (xs: (number | null)[]): [number, number] | null => {
    const kept = xs.filter((x): x is number => x !== null);
    return kept.length ? [Math.min(...kept), Math.max(...kept)] : null;
  };
  const summary = {
    overallIntervalFactor: auc[0]!.intervalFactor,
    overallDpErrorSd: auc[0]!.dpErrorSd,
    overallPredictedSd: auc[0]!.predictedDpErrorSd,
    // Over the levels released in ≥ 80 % of rounds.
    subgroupIntervalFactor: range(released.map((a) => a.intervalFactor)),
    subgroupDpErrorSd: range(released.map((a) => a.dpErrorSd)),
    releaseRates: Object.fromEntries(levels.map((a) => [`${a.column} ${a.level} (${a.positives} positives)`, 1 - a.suppressionRate])),
    // Share of rounds in which every level with ≥ 50 positives was released (the 95 % goal).
    levelsWith50PositivesReleased: Math.min(1, ...levels.filter((a) => a.positives >= 50).map((a) => 1 - a.suppressionRate)),
    predictionsCompared: auc.filter((a) => a.within25 !== null).length,
    predictionsWithin25: auc.filter((a) => a.within25 === true).length,
  };
  return {
    scenario: scenario.name,
    epsilon,
    delta: DELTA,
    sites: sites.length,
    minSites: scenario.minSites,
    planning: scenario.context,
    layout: layoutName(privacy.layout),
    // Issue 18, per-class layouts: the positives' layout 'auto' chose (null: the shared one).
    positiveLayout: privacy.positiveLayout ? layoutName(privacy.positiveLayout) : null,
    ...(values['shared-layout'] && positiveLayout ? { droppedPositiveLayout: layoutName(positiveLayout) } : {}),
    rho: release.kind === 'private' ? release.rho : 0,
    weights: privacy.weights,
    split: split ? { shares: split.shares, predicted: split.predicted } : null,
    msPerRound: Number(msPerRound.toFixed(1)),
    classTotalSd,
    positiveTotalSd,
    // The planner's delta-method AUC error with per-class layouts against the shared layout (what 'auto' chose by).
    perClassPrediction: perClass
      ? {
          overall: { bias: round4(perClass.overall.bias), sd: round4(perClass.overall.std), sharedBias: round4(perClass.shared.overall.bias), sharedSd: round4(perClass.shared.overall.std) },
          levelSd: perClass.subgroups.map((e, i) => ({ column: layout.spec.groups[i]!.column, sd: round4(e.std), sharedSd: round4(perClass.shared.subgroups[i]!.std) })),
        }
      : null,
    summary,
    auc,
  };
}

const scenarios: (() => Scenario)[] = [
  () => binormalScenario(0.3, ['sex']),
  () => binormalScenario(0.3, ['sex', 'age', 'ethnicity']),
  () => binormalScenario(0.02, ['sex']),
  () => binormalScenario(0.02, ['sex', 'age', 'ethnicity']),
  rotterdamScenario,
];
const results = [];
for (const make of scenarios) {
  const scenario = make();
  if (!scenario.name.includes(values.scenario)) continue;
  for (const epsilon of epsilons) results.push(runScenario(scenario, epsilon));
}
const compared = results.reduce((n, r) => n + r.summary.predictionsCompared, 0);
const within = results.reduce((n, r) => n + r.summary.predictionsWithin25, 0);
console.log(JSON.stringify({ bench: 'dp-fairness', rounds, priorities, weights, suppressionAlpha: suppressionAlpha ?? null, predictionsWithin25: `${within} of ${compared}`, results }, null, 2));
