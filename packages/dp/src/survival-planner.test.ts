// The survival planner's delta-method prediction against Monte Carlo: Gaussian noise added to the expected count table.
import { createStatisticsLayout, reliabilityBinStarts, scoreGridOf, survivalMetrics, timeGridOf } from '@fedval/metrics';
import { describe, expect, it } from 'vitest';
import { seededRandomSource } from './random-source.ts';
import { expectedSurvivalCounts, predictSurvivalNoise } from './survival-planner.ts';

describe('predictSurvivalNoise', () => {
  const layout = createStatisticsLayout({ task: 'survival', bins: 10, survival: { horizon: 5, maxTime: 10, timeBins: 10, afterBins: 3 } });
  const assumptions = { layout, patients: 5000, eventsByHorizon: 0.3, censoredBeforeHorizon: 0.2, assumedAuc: 0.75 };

  it('predicts the median error of c_index and td_auc within 25% of a Monte Carlo over the expected table', () => {
    const variance = 16;
    const predicted = predictSurvivalNoise({ ...assumptions, countNoiseVariance: variance });
    const counts = expectedSurvivalCounts(assumptions);
    const spec = layout.spec;
    const score = scoreGridOf(spec);
    const context = { time: timeGridOf(spec.survival!), score, calibrationStarts: reliabilityBinStarts(score, spec.calibrationBins), threshold: spec.threshold, decisionThresholds: spec.decisionThresholds };
    const sums = { brierCaseSums: new Float64Array(10), brierControlSum: 0, calibrationScoreSums: new Float64Array(10) };
    const exact = survivalMetrics({ counts, ...sums }, context);
    const rng = seededRandomSource('survival-planner test');
    const uniform = () => (rng.nextUint32() + 0.5) / 2 ** 32;
    const errors = { c: [] as number[], auc: [] as number[] };
    for (let t = 0; t < 400; t += 1) {
      const noisy = counts.map((x) => x + Math.sqrt(variance) * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()));
      const m = survivalMetrics({ counts: noisy, ...sums }, context);
      errors.c.push(Math.abs(m.c_index! - exact.c_index!));
      errors.auc.push(Math.abs(m.td_auc! - exact.td_auc!));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length / 2]!;
    expect(median(errors.c) / predicted.c_index!.medianAbsError).toBeGreaterThan(0.75);
    expect(median(errors.c) / predicted.c_index!.medianAbsError).toBeLessThan(1.25);
    expect(median(errors.auc) / predicted.td_auc!.medianAbsError).toBeGreaterThan(0.75);
    expect(median(errors.auc) / predicted.td_auc!.medianAbsError).toBeLessThan(1.25);
  });

  it('refuses impossible assumptions with a coded error listing each', () => {
    expect(() => predictSurvivalNoise({ ...assumptions, eventsByHorizon: 0.9, assumedAuc: 0.4, countNoiseVariance: 1 })).toThrow(
      expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT', message: expect.stringMatching(/censored before the horizon.*assumed AUC/) }),
    );
  });
});
