// The planner's reported-AUC prediction against the real release path run many times: an end-to-end simulation that
// shares none of the planner's formula (Skellam shares, reconciliation, class totals, finalizeMetrics' projection and rule).
import { describe, expect, it } from 'vitest';
import { addStatistics, createAccumulator, createStatisticsLayout, DEFAULT_MARGIN_SDS, resolveMetricSpec } from '@fedval/metrics';
import type { BinaryMetricsReport } from '@fedval/metrics';
import { seededRandomSource } from './random-source.ts';
import type { RandomSource } from './random-source.ts';
import { planPrivacySpec } from './release-spec.ts';
import { createRelease, finalizeRelease } from './statistics-release.ts';
import { planRelease, predictPopulationError } from './planner.ts';

/** Uniform in [0, 1) and a standard normal (Box–Muller), written here so the cohort owes nothing to the planner's model. */
const uniform = (rng: RandomSource): number => rng.nextUint32() / 4294967296;
const gaussian = (rng: RandomSource): number => Math.sqrt(-2 * Math.log(1 - uniform(rng))) * Math.cos(2 * Math.PI * uniform(rng));

function sd(xs: readonly number[]): number {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

describe('the planner’s reported AUC error (issue 18)', () => {
  it('is within 25 % of the measured DP error SD of a small subgroup level where the delta method over-predicts it', () => {
    // 3 sites, two levels of 3,000 patients with exactly 50 positives each (so the planner's expected class sizes
    // are the cohort's), binormal scores with AUC Φ(d/√2) = 0.80 as a calibrated risk; ε = 1, distributed discrete
    // Gaussian shares (the fastest exact sampler: 300 rounds in ~3 s).
    const positivesPerLevel = 50;
    const patients = 6000;
    const prevalence = (2 * positivesPerLevel) / patients;
    const layout = createStatisticsLayout(resolveMetricSpec({ task: 'binary', groups: [{ column: 'g', levels: ['a', 'b'] }] }));
    const cohort = seededRandomSource('planner reported auc cohort');
    const d = Math.SQRT2 * 0.8416212335729143;
    const offset = Math.log(prevalence / (1 - prevalence)) - (d * d) / 2;
    const sites = [0, 1, 2].map(() => createAccumulator(layout));
    for (let i = 0; i < patients; i += 1) {
      const label = i % (patients / 2) < positivesPerLevel ? 1 : 0;
      sites[i % 3]!.addBinary(1 / (1 + Math.exp(-(offset + d * (gaussian(cohort) + label * d)))), label, [i < patients / 2 ? 'a' : 'b']);
    }
    const vectors = sites.map((s) => s.vector());
    const exact = finalizeRelease(createRelease(layout, null), vectors.reduce((a, b) => addStatistics(a, b)), 3).metrics as BinaryMetricsReport;
    const level = exact.by_group['g']!['a']!;
    if (level.suppressed) throw new Error('the exact release withholds level a');

    const { privacy, plan } = planPrivacySpec({ epsilon: 1, delta: 1e-6, minSites: 3, mechanism: 'distributed-discrete-gaussian' }, { layout, expectedPatients: patients, expectedPrevalence: prevalence, sites: 3, assumedAuc: 0.8 });
    const release = createRelease(layout, privacy);
    const noise = seededRandomSource('planner reported auc noise');
    const rounds = 300;
    const errors: number[] = [];
    for (let r = 0; r < rounds; r += 1) {
      const aggregate = vectors.map((v) => release.protect(v, noise)).reduce((a, b) => addStatistics(a, b));
      const block = (finalizeRelease(release, aggregate, 3).metrics as BinaryMetricsReport).by_group['g']!['a']!;
      if (!block.suppressed && block.roc_auc !== null) errors.push(block.roc_auc - level.roc_auc!);
    }
    const measured = sd(errors); // ±4.5 % (1/√(2·257)) from the rounds alone
    // The release's exact noise variance of a level's class total (a function of its noise plan, not of the aggregate).
    const classTotalVariance = release.decode(new Float64Array(release.length), 3).classTotalVariances['by_group.g.counts']!;
    const predicted = predictPopulationError(plan!, level.n, 0, { classTotalVariance, minCellSize: layout.spec.minCellSize, marginSds: DEFAULT_MARGIN_SDS });
    // Measured here: 0.128 over 258 released rounds (0.127 over 269 with another noise seed); reported 0.128, delta method
    // 0.188 (× 1.46); predicted release rate 0.90.
    expect(Math.abs(predicted.reportedAuc.std / measured - 1)).toBeLessThanOrEqual(0.25);
    // The delta method on the released histograms as they are misses finalization's projection: far above the measured SD.
    expect(predicted.auc.std / measured).toBeGreaterThan(1.25);
    // The predicted share of rounds the level is released in, against the measured one (±0.1: binomial SE ≈ 0.03).
    expect(Math.abs(predicted.releaseRate! - errors.length / rounds)).toBeLessThanOrEqual(0.1);
  });

  it('gives no AUC error, promptly, for a level the small-cell rule (almost) never releases', () => {
    // 20 positives with a class-total SD of 30: the rule needs an estimated 100, so no trial releases the level (the
    // median's bisection on a NaN SD never ended before).
    const plan = planRelease({ patients: 20000, prevalence: 0.02, sites: 4, minSites: 3, epsilon: 0.3, delta: 1e-6, subgroupLevels: [5], assumedAuc: 0.8, hierarchy: true, layout: { kind: 'tree', bins: 64, branching: 2 } });
    const level = predictPopulationError(plan, 1000, 0, { classTotalVariance: 900, minCellSize: 10, marginSds: 3 });
    expect(level.releaseRate).toBeLessThan(0.01);
    expect(level.reportedAuc.std).toBeNaN();
    expect(level.reportedAuc.medianAbsError).toBeNaN();
  });
});
