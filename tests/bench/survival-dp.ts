// survival-dp.ts — the DP error of c_index and td_auc on GBSG (3 sites, ε = 1, δ = 1e-6), median over rounds, against the planner (prints JSON).
// Run: node tests/bench/survival-dp.ts [--rounds N]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createPrivateRelease, finalizeRelease, planPrivacySpec, predictSurvivalNoise, seededRandomSource } from '@fedval/dp';
import { createAccumulator, createStatisticsLayout, finalizeMetrics } from '@fedval/metrics';
import type { MetricSpec, SurvivalMetricsReport } from '@fedval/metrics';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '100' } } });
const rounds = Number(values.rounds);
const SITES = 3;
const HORIZON = 1826;
const rows = readFileSync(new URL('../../packages/metrics/references/survival_gbsg.csv', import.meta.url), 'utf8')
  .trimEnd()
  .split('\n')
  .slice(1)
  .map((line) => line.split(','));

/** The default grid (exact to the bar) and coarser grids that trade grid error for noise. */
const GRIDS: { name: string; spec: Partial<MetricSpec> }[] = [
  { name: 'default: 100 score bins, 200 + 50 time bins', spec: { task: 'survival', survival: { horizon: HORIZON, maxTime: 2 * HORIZON, timeBins: 200, afterBins: 50 } } },
  { name: '20 score bins, 20 + 5 time bins', spec: { task: 'survival', bins: 20, calibrationBins: 10, decisionThresholds: [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5], survival: { horizon: HORIZON, maxTime: 2 * HORIZON, timeBins: 20, afterBins: 5 } } },
  { name: '10 score bins, 10 + 2 time bins', spec: { task: 'survival', bins: 10, calibrationBins: 10, decisionThresholds: [0.1, 0.2, 0.3, 0.4, 0.5], survival: { horizon: HORIZON, maxTime: 2 * HORIZON, timeBins: 10, afterBins: 2 } } },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results = [];
for (const { name, spec } of GRIDS) {
  const layout = createStatisticsLayout(spec);
  const sites = ['a', 'b', 'c'].map(() => createAccumulator(layout));
  for (const [, site, time, event, risk] of rows) sites['abc'.indexOf(site!)]!.addSurvival(Number(time), Number(event), Number(risk));
  const vectors = sites.map((s) => s.vector());
  const pooled = vectors.reduce((a, b) => a.map((v, i) => v + b[i]!));
  const exact = finalizeMetrics(layout, pooled) as SurvivalMetricsReport;
  const { privacy } = planPrivacySpec({ epsilon: 1, delta: 1e-6, minSites: SITES }, { layout, expectedPatients: rows.length, sites: SITES });
  const release = createPrivateRelease(layout, privacy);
  const counts = release.summary().blocks.find((b) => b.name === 'overall.counts')!;
  const share = (k: number) => k / exact.n;
  const predicted = predictSurvivalNoise({
    layout,
    patients: exact.n,
    eventsByHorizon: share(exact.events_by_horizon),
    censoredBeforeHorizon: share(exact.censored_before_horizon),
    assumedAuc: exact.td_auc!,
    countNoiseVariance: counts.sigma ** 2,
  });
  const errors = { c_index: [] as number[], td_auc: [] as number[] };
  const start = performance.now();
  for (let r = 0; r < rounds; r += 1) {
    const noise = seededRandomSource(`survival-dp ${name} ${r}`);
    const aggregate = new Float64Array(release.length);
    for (const vector of vectors) release.protect(vector, noise).forEach((v, i) => (aggregate[i] = aggregate[i]! + v));
    const noisy = finalizeRelease(release, aggregate, SITES).metrics as SurvivalMetricsReport;
    errors.c_index.push(Math.abs((noisy.c_index ?? 0.5) - exact.c_index!));
    errors.td_auc.push(Math.abs((noisy.td_auc ?? 0.5) - exact.td_auc!));
  }
  results.push({
    grid: name,
    countCells: counts.entries,
    countNoiseSigma: counts.sigma,
    exact: { c_index: exact.c_index, td_auc: exact.td_auc },
    medianAbsError: {
      c_index: { measured: median(errors.c_index), predicted: predicted.c_index?.medianAbsError ?? null },
      td_auc: { measured: median(errors.td_auc), predicted: predicted.td_auc?.medianAbsError ?? null },
    },
    msPerRound: Math.round((performance.now() - start) / rounds),
  });
}
console.log(JSON.stringify({ bench: 'survival-dp', data: 'GBSG (survival_gbsg.csv), 686 patients, 3 sites', epsilon: 1, delta: 1e-6, rounds, results }, null, 2));
