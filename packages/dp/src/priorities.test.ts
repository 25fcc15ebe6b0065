// Spend where it matters: the split from priorities minimises its documented objective, and the spec carries it as weights.
import { createStatisticsLayout } from '@fedval/metrics';
import { describe, expect, it } from 'vitest';
import { rhoFromEpsilon } from './accountant.ts';
import { standardNormals } from './binormal-model.ts';
import { DpError } from './errors.ts';
import { planRelease } from './planner.ts';
import { planReleaseWeights } from './priorities.ts';
import type { SplitWeights } from './priorities.ts';
import { seededRandomSource } from './random-source.ts';
import { DEFAULT_RELEASE_WEIGHTS, planPrivacySpec, planPrivacySpecInput, resolvePrivacySpec, resolvedPrivacySpecSchema } from './release-spec.ts';

const layout = createStatisticsLayout({ groups: [{ column: 'sex', levels: ['F', 'M'] }, { column: 'age', levels: ['a', 'b', 'c', 'd'] }] });
const patients = 20_000;
const prevalence = 0.05;
const rho = rhoFromEpsilon(1, 1e-6);

function problems(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof DpError) return error.message;
    throw error;
  }
  throw new Error('expected a DpError');
}

describe('planReleaseWeights', () => {
  const plan = planRelease({ patients, prevalence, sites: 4, minSites: 3, epsilon: 0.5, delta: 1e-6, subgroupLevels: [2, 4], hierarchy: true, layout: { kind: 'tree', bins: 64, branching: 2 } });
  const priorities = { overallAuc: 3, subgroupAuc: 2, calibration: 1.5, exclusions: 0.5 };
  const current: SplitWeights = DEFAULT_RELEASE_WEIGHTS;
  const k = 2;
  // Weights of every block but the class totals (one per column, not a ranked metric: the split keeps their share of ρ).
  const ranked = (w: SplitWeights) => w.overall + k * w.subgroup + (1 + k) * (w.sums + w.exclusions);
  const share = (w: SplitWeights) => {
    const total = ranked(w) + k * (w.totals ?? 0);
    return { overall: w.overall / total, subgroup: w.subgroup / total, sums: w.sums / total, exclusions: w.exclusions / total, totals: (w.totals ?? 0) / total };
  };
  // The objective as the module documents it, written out here: Σ priority × predicted SD, each SD ∝ 1/√(its block's ρ),
  // scaled from the plan's AUC SDs under `current`; O/E SD = √(Δ₂²/2)/(scale·n·π·√ρ); excluded share SD = √(1/2)/(n·√ρ).
  const sums = layout.blocks.find((b) => b.name === 'overall.sums')!;
  const sizes = [patients, patients / 2, patients / 4];
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const objective = (w: SplitWeights): number => {
    const s = share(w);
    const c = share(current);
    const overall = plan.overall.auc.std * Math.sqrt(c.overall / s.overall);
    const subgroup = mean(plan.subgroups.map((p) => p.auc.std * Math.sqrt(c.subgroup / s.subgroup)));
    const oe = mean(sizes.map((n) => Math.sqrt(sums.perPatientL2Squared / 2) / layout.fixedPointScale / (n * prevalence * Math.sqrt(rho * s.sums))));
    const excluded = mean(sizes.map((n) => Math.SQRT1_2 / (n * Math.sqrt(rho * s.exclusions))));
    return priorities.overallAuc * overall + priorities.subgroupAuc * subgroup + priorities.calibration * oe + priorities.exclusions * excluded;
  };

  it('no random split does better than the closed form (Lagrange: ρ_g ∝ (A_g/m_g)^(2/3))', () => {
    const split = planReleaseWeights(priorities, plan, current, layout, rho);
    const best = objective(split.weights);
    expect(share(split.weights).totals).toBeCloseTo(share(current).totals, 6);
    expect(best).toBeLessThan(objective(current));
    const noise = standardNormals(seededRandomSource('priority splits'), 4 * 500);
    for (let t = 0; t < 500; t += 1) {
      const w = split.weights;
      const moved = {
        overall: w.overall * Math.exp(0.4 * noise[4 * t]!),
        subgroup: w.subgroup * Math.exp(0.4 * noise[4 * t + 1]!),
        sums: w.sums * Math.exp(0.4 * noise[4 * t + 2]!),
        exclusions: w.exclusions * Math.exp(0.4 * noise[4 * t + 3]!),
      };
      const perturbed = { ...moved, totals: (w.totals! * ranked(moved)) / ranked(w) };
      expect(objective(perturbed)).toBeGreaterThanOrEqual(best * (1 - 1e-9));
    }
    const shares = split.shares;
    expect(shares.overall + k * shares.subgroup + (1 + k) * (shares.sums + shares.exclusions) + k * shares.totals!).toBeCloseTo(1, 12);
  });

  it('gives a metric of priority 0 the floor share, 1 % of the largest weight', () => {
    const split = planReleaseWeights({ ...priorities, exclusions: 0 }, plan, current, layout, rho);
    const largest = Math.max(split.weights.overall, split.weights.subgroup, split.weights.sums);
    expect(split.weights.exclusions / largest).toBeCloseTo(0.01, 5);
  });
});

describe('privacy.priorities in the spec', () => {
  const context = { layout, expectedPatients: patients, expectedPrevalence: prevalence, sites: 4 };
  const base = { epsilon: 1, delta: 1e-6, minSites: 3 };

  it('resolve to explicit weights (the task keeps its schema); without priorities the weights are today\'s defaults', () => {
    const planned = planPrivacySpec({ ...base, priorities: { overallAuc: 3, subgroupAuc: 2, calibration: 1, exclusions: 0.5 } }, context);
    expect(planned.split).not.toBeNull();
    expect(planned.privacy.weights).toEqual(planned.split!.weights);
    expect(planned.privacy.weights).not.toEqual(DEFAULT_RELEASE_WEIGHTS);
    expect(resolvedPrivacySpecSchema.safeParse(JSON.parse(JSON.stringify(planned.privacy))).success).toBe(true);
    // What a site re-checks: idempotent with only the layout.
    expect(resolvePrivacySpec(JSON.parse(JSON.stringify(planned.privacy)), { layout })).toEqual(planned.privacy);
    // The prediction is the plan's at those weights.
    expect(planned.split!.predicted!.overallAuc).toBe(planned.plan!.overall.reportedAuc.std);
    const old = planPrivacySpec(base, context);
    expect(old.privacy.weights).toEqual(DEFAULT_RELEASE_WEIGHTS);
    expect(old.split).toBeNull();
  });

  it('reads the REST/YAML spelling the same way', () => {
    const rest = planPrivacySpecInput(
      { epsilon: 1, delta: 1e-6, expected_patients: patients, expected_prevalence: prevalence, priorities: { overall_auc: 3, subgroup_auc: 2, calibration: 1, exclusions: 0.5 } },
      { layout, minSites: 3, sites: 4 },
    );
    const api = planPrivacySpec({ ...base, priorities: { overallAuc: 3, subgroupAuc: 2, calibration: 1, exclusions: 0.5 } }, context);
    expect(rest.privacy).toEqual(api.privacy);
  });

  it('refuses priorities with weights, without the planning parameters, all zero, or negative, listing every problem', () => {
    expect(problems(() => planPrivacySpec({ ...base, weights: { overall: 2 }, priorities: { overallAuc: 1 } }, context))).toContain('give weights or priorities, not both');
    expect(problems(() => planPrivacySpecInput({ epsilon: 1, delta: 1e-6, priorities: { overall_auc: 1 } }, { layout, minSites: 3, sites: 4 }))).toContain('priorities needs expected_patients');
    expect(problems(() => planPrivacySpec({ ...base, priorities: { overallAuc: 0, calibration: 0 } }, context))).toContain('priorities must be an object with a priority > 0');
    const message = problems(() => planPrivacySpecInput({ epsilon: 1, delta: 1e-6, expected_patients: 100, expected_prevalence: 0.1, priorities: { overall_auc: -1, colour: 1 } }, { layout, minSites: 3, sites: 4 }));
    expect(message).toContain('priorities.overall_auc must be a finite number ≥ 0');
    expect(message).toContain('unknown property "priorities.colour"');
  });
});
