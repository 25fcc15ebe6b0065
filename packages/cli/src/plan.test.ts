// `fedval plan` on a fitted score grid: the grid's edges reach the planner, and --bins with --score-grid is refused.
import { planPrivacySpecInput } from '@fedval/dp';
import { createStatisticsLayout, fitScoreGrid, resolveMetricSpec } from '@fedval/metrics';
import { describe, expect, it } from 'vitest';
import { planStudyPrivacy } from './plan.ts';
import { parsePriorities, prioritiesInput } from './privacy-options.ts';

/** Development scores skewed low, as a calibrated risk score at 10 % prevalence gives them (a fixed, data-free sequence). */
const development = Float64Array.from({ length: 2000 }, (_, i) => 1 / (1 + Math.exp(-(-2.6 + 2.2 * Math.tan(Math.PI * ((i + 0.5) / 2000 - 0.5)) / 6))));
const options = { patients: 2000, prevalence: 0.1, sites: 3, epsilon: 1, delta: 1e-6, groupLevels: [], threshold: 0.5, auc: 0.75, minSites: 3 };

describe('planStudyPrivacy with a fitted score grid', () => {
  it('plans on the fitted grid and says so; its prediction differs from an equal-width grid of about as many bins', () => {
    const { grid } = fitScoreGrid(development, { bins: 200, method: 'quantile', thresholds: [0.5] });
    const fitted = planStudyPrivacy({ ...options, scoreGrid: grid });
    const equalWidth = planStudyPrivacy({ ...options, bins: 200 });
    expect(fitted.score_grid).toMatchObject({ kind: 'fitted', method: 'quantile' });
    // The study's grid: the fitted edges plus the calibration-bin edges its metric spec keeps exact.
    expect(fitted.score_grid.bins).toBeGreaterThan(grid.edges.length);
    expect(equalWidth.score_grid).toEqual({ kind: 'equal_width', bins: 200 });
    expect(fitted.predicted_median_abs_error!.overall.roc_auc).not.toBe(equalWidth.predicted_median_abs_error!.overall.roc_auc);
    expect(JSON.stringify(fitted.request)).not.toContain('edges');
  });

  it('refuses --bins together with --score-grid', () => {
    const { grid } = fitScoreGrid(development, { bins: 50, method: 'quantile', thresholds: [0.5] });
    expect(() => planStudyPrivacy({ ...options, bins: 100, scoreGrid: grid })).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_CLI_USAGE' }));
  });
});

describe('fedval plan --priorities', () => {
  it('plans the split from the priorities and reports every block share and metric prediction; refuses a bad list', () => {
    const planned = planStudyPrivacy({ ...options, groupLevels: [2], priorities: parsePriorities('overall_auc=3,subgroup_auc=2,calibration=1,exclusions=0.5') });
    const shares = planned.split!.shares;
    // overall + one subgroup column + two populations' sums and exclusions + the column's class totals = the whole round.
    expect(shares.overall + shares.subgroup + 2 * (shares.sums + shares.exclusions) + shares.totals!).toBeCloseTo(1, 12);
    expect(planned.split!.predicted_noise_sd!.subgroupAuc).toHaveLength(1);
    expect(planStudyPrivacy({ ...options, groupLevels: [2] }).split).toBeNull();
    for (const bad of ['overall=3', 'overall_auc=-1', 'overall_auc']) expect(() => parsePriorities(bad)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_CLI_USAGE' }));
  });
});

describe('--priorities of fedval studies create and simulate', () => {
  it('reach the study as privacy.priorities (snake_case) and resolve to the weights fedval plan shows', () => {
    const priorities = parsePriorities('overall_auc=3,subgroup_auc=2,calibration=1,exclusions=0.5');
    expect(prioritiesInput(priorities)).toEqual({ overall_auc: 3, subgroup_auc: 2, calibration: 1, exclusions: 0.5 });
    expect(prioritiesInput(parsePriorities('calibration=2'))).toEqual({ calibration: 2 });
    const layout = createStatisticsLayout(resolveMetricSpec({ task: 'binary', groups: [{ column: 'group1', levels: ['level1', 'level2'] }] }));
    const study = planPrivacySpecInput(
      { epsilon: 1, delta: 1e-6, expected_patients: options.patients, expected_prevalence: options.prevalence, priorities: prioritiesInput(priorities) },
      { layout, minSites: 3, sites: 3 },
    );
    expect(study.privacy.weights).toEqual(planStudyPrivacy({ ...options, groupLevels: [2], priorities }).weights);
  });
});

describe('fedval plan: per-class layouts (issue 18)', () => {
  it("shows the positives' layout 'auto' chose for a rare outcome, and the predictions under it", () => {
    const rare = planStudyPrivacy({ ...options, patients: 20_000, prevalence: 0.02, sites: 4, groupLevels: [2] });
    const positive = rare.privacy.positive_layout!;
    expect(positive).not.toBeNull();
    for (const edge of positive.edges) expect(rare.privacy.layout.edges).toContain(edge);
    expect(rare.per_class!.roc_auc).toBeLessThan(rare.per_class!.roc_auc_shared_layout);
    // The row is the per-class prediction of the AUC as reported (Monte Carlo through the projection), near its delta-method figure for the whole population.
    const ratio = rare.predicted_median_abs_error!.overall.roc_auc / rare.per_class!.roc_auc;
    expect(ratio).toBeGreaterThan(0.7);
    expect(ratio).toBeLessThan(1.3);
    const balanced = planStudyPrivacy({ ...options, prevalence: 0.5 });
    expect([balanced.privacy.positive_layout, balanced.per_class]).toEqual([null, null]);
  });
});

describe('fedval plan: the reported AUC', () => {
  it('gives the reported AUC error with its SD, and for a subgroup level its predicted release rate under the small-cell rule', () => {
    // Prevalence 2 %, 20,000 patients, a seven-level column: ≈ 57 positives per level, where the small-cell rule bites
    // (with the positives' own layout 'auto' chooses here; five levels, ≈ 80 positives, are released in every trial).
    const planned = planStudyPrivacy({ ...options, patients: 20000, prevalence: 0.02, sites: 4, groupLevels: [7], auc: 0.8 });
    const { overall, per_subgroup_level: levels } = planned.predicted_median_abs_error!;
    expect(overall.roc_auc_sd).toBeGreaterThan(0);
    expect(overall).not.toHaveProperty('release_rate');
    expect(levels).toHaveLength(1);
    expect(levels[0]!.roc_auc_sd).toBeGreaterThan(overall.roc_auc_sd);
    expect(levels[0]!.release_rate).toBeGreaterThan(0);
    expect(levels[0]!.release_rate).toBeLessThan(1);
  });
});
