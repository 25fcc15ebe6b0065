// Privacy spec resolution: defaults, every problem listed, 'auto' through the planner, pinned edges, idempotence.
import { createStatisticsLayout, scoreGridOf } from '@fedval/metrics';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { equalMassEdges, equalWidthEdges } from './coarsening.ts';
import { DpError } from './errors.ts';
import { planRelease } from './planner.ts';
import { DEFAULT_RELEASE_WEIGHTS, histogramRhoShare, planPrivacySpec, planPrivacySpecInput, privacySpecInputSchema, privacySpecSchema, resolvedPrivacySpecSchema, resolvePrivacySpec } from './release-spec.ts';
import type { PrivacySpec } from './release-spec.ts';
import { epsilonFromRho, rhoFromEpsilon } from './accountant.ts';
import { expectedBinProbabilities } from './binormal-model.ts';

const layout = createStatisticsLayout({ groups: [{ column: 'sex', levels: ['F', 'M'] }] });
const context = { layout, expectedPatients: 4000, expectedPrevalence: 0.3, sites: 3 };
const base = { epsilon: 1, delta: 1e-6, minSites: 3 };
// The decision threshold 0.5, the decision curve's 0.05 … 0.50 and the calibration edges 0.1 … 0.9, on the 1000-bin grid.
const PINNED = [50, 100, 150, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800, 900];

function problemsOf(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (error) {
    if (error instanceof DpError) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a DpError');
}

function deepFrozen(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  return Object.isFrozen(value) && Object.values(value).every(deepFrozen);
}

describe('resolvePrivacySpec', () => {
  it("resolves 'auto' once with the planner into explicit edges that keep every threshold and calibration edge", () => {
    const { privacy, plan } = planPrivacySpec(base, context);
    expect(privacy.mechanism).toBe('skellam');
    expect(privacy.weights).toEqual(DEFAULT_RELEASE_WEIGHTS);
    expect(privacy.layout.fineBins).toBe(1000);
    expect(privacy.layout.edges[0]).toBe(0);
    expect(privacy.layout.edges.at(-1)).toBe(1000);
    for (const edge of PINNED) expect(privacy.layout.edges).toContain(edge);
    expect(plan).not.toBeNull();
    expect(Array.from(plan!.layout.edges)).toEqual(privacy.layout.edges);
    expect(privacy.layout.kind).toBe(plan!.layout.kind);
    // The planner saw the histograms' share of ρ, split 3 : 2 between overall and the subgroup column (total weight
    // 3 + 2 + 2 × (1 + 0.25) + 1 for the column's class totals = 8.5).
    const share = histogramRhoShare(privacy.weights, 1, 1);
    expect(share).toBeCloseTo(5 / 8.5, 15);
    expect(plan!.rho).toBeCloseTo(rhoFromEpsilon(1, 1e-6) * share, 9);
    expect(plan!.request.thresholds[0]).toBe(0.5);
  });

  it("resolves 'auto' on a fitted grid whose thresholds crowd into its top bins, keeping every one as an edge", () => {
    // A fitted grid of skewed scores: 99 edges below 0.2, so the thresholds 0.25 … 0.9 land in the top 10 fine bins.
    const edges = Array.from({ length: 99 }, (_, i) => ((i + 1) / 100) * 0.2);
    const fitted = createStatisticsLayout({ scoreGrid: { kind: 'fitted', method: 'quantile', edges }, groups: [{ column: 'sex', levels: ['F', 'M'] }] });
    const grid = scoreGridOf(fitted.spec);
    const pinned = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9].map((t) => grid.index(t)!);
    const top = pinned.slice(4);
    expect(top).toEqual(top.map((_, i) => fitted.spec.bins - top.length + i)); // the top ten fine bins' lower edges
    const { privacy, plan } = planPrivacySpec(base, { ...context, layout: fitted });
    expect(privacy.layout.fineBins).toBe(fitted.spec.bins);
    for (const edge of pinned) expect(privacy.layout.edges).toContain(edge);
    // The planner's model mass per fine bin is taken between the fitted grid's own score edges.
    expect(plan!.request.fineEdges).toEqual(Array.from({ length: fitted.spec.bins + 1 }, (_, k) => grid.edge(k)));
    // A quantile grid is also known by its (equal) shares of development scores: the planner works in rank space.
    expect(plan!.request.fineShares).toEqual(new Array(fitted.spec.bins).fill(1));
    expect(planPrivacySpec(base, context).plan!.request.fineEdges).toBeNull(); // an equal-width grid
    expect(planPrivacySpec(base, context).plan!.request.fineShares).toBeNull();
  });

  it('is frozen, idempotent and survives JSON (what travels in a task)', () => {
    const resolved = resolvePrivacySpec(base, context);
    expect(deepFrozen(resolved)).toBe(true);
    expect(resolvePrivacySpec(resolved, { layout })).toEqual(resolved);
    expect(resolvePrivacySpec(JSON.parse(JSON.stringify(resolved)) as PrivacySpec, { layout })).toEqual(resolved);
  });

  it('resolves a planner layout spec with the planner edge rules', () => {
    const width = resolvePrivacySpec({ ...base, layout: { kind: 'flat', bins: 20 } }, { layout });
    expect(width.layout).toEqual({ kind: 'flat', placement: 'equal-width', fineBins: 1000, edges: Array.from(equalWidthEdges(1000, 20, PINNED)) });
    // Equal-mass edges follow the planner's binormal model at the expected prevalence (here 0.45, AUC 0.75).
    const model = { prevalence: 0.45, auc: 0.75 };
    const mass = new Float64Array(1000);
    const positive = expectedBinProbabilities(model, 1000, true);
    const negative = expectedBinProbabilities(model, 1000, false);
    for (let i = 0; i < 1000; i += 1) mass[i] = 0.45 * positive[i]! + 0.55 * negative[i]!;
    const tree = resolvePrivacySpec({ ...base, layout: { kind: 'tree', bins: 32, branching: 4, edges: 'equal-mass' } }, { ...context, expectedPrevalence: 0.45 });
    expect(tree.layout).toEqual({ kind: 'tree', placement: 'equal-mass', fineBins: 1000, edges: Array.from(equalMassEdges(mass, 32, PINNED)), branching: 4 });
  });

  it('accepts explicit edges and names the pinned edges they miss', () => {
    const edges = [0, ...PINNED, 1000];
    const explicit = resolvePrivacySpec({ ...base, layout: { kind: 'tree', fineBins: 1000, edges, branching: 2, placement: 'explicit' } }, { layout });
    expect(explicit.layout).toEqual({ kind: 'tree', placement: 'explicit', fineBins: 1000, edges, branching: 2 });
    const missing = problemsOf(() => resolvePrivacySpec({ ...base, layout: { kind: 'flat', fineBins: 1000, edges: [0, 500, 1000] } as never }, { layout }));
    expect(missing.code).toBe('FEDVAL_ERR_DP_INVALID_ARGUMENT');
    expect(missing.message).toContain('missing 50, 100, 150, 200, 250, 300, 350, 400, 450, 600, 700, 800, 900');
  });

  it("per-class layouts: 'auto' gives a rare outcome's positives a shallower tree on the negatives' edges, pinned ones kept", () => {
    const rare = planPrivacySpec(base, { ...context, expectedPatients: 20_000, expectedPrevalence: 0.02, sites: 4 });
    const positive = rare.privacy.positiveLayout!;
    expect(positive).toBeDefined();
    expect(rare.perClass).not.toBeNull();
    expect(Array.from(rare.perClass!.layout.edges)).toEqual(positive.edges);
    for (const edge of positive.edges) expect(rare.privacy.layout.edges).toContain(edge);
    for (const edge of PINNED) expect(positive.edges).toContain(edge);
    expect(positive.kind).toBe(rare.privacy.layout.kind);
    expect(rare.perClass!.layout.countersPerPatient).toBeLessThan(rare.plan!.layout.countersPerPatient);
    // Chosen for a predicted gain of at least 5 % in the AUC's median absolute error, with a bias within half its noise SD.
    expect(rare.perClass!.overall.medianAbsError).toBeLessThan(0.95 * rare.perClass!.shared.overall.medianAbsError + 1e-12);
    expect(Math.abs(rare.perClass!.overall.bias)).toBeLessThanOrEqual(0.5 * rare.perClass!.overall.std);
    // Idempotent: a resolved per-class spec resolves to itself (explicit edges: no planner involved).
    expect(resolvePrivacySpec(JSON.parse(JSON.stringify(rare.privacy)), { layout })).toEqual(rare.privacy);
    // Not where the planner predicts no gain: a balanced outcome with few patients.
    const balanced = planPrivacySpec(base, { ...context, expectedPatients: 2000, expectedPrevalence: 0.5 });
    expect(balanced.privacy.positiveLayout).toBeUndefined();
    expect(balanced.perClass).toBeNull();
  });

  it('checks an explicit positives layout against the layout: a subset of its edges, pinned edges kept, binary tasks only', () => {
    const edges = [0, 25, ...PINNED, 950, 1000].sort((a, b) => a - b);
    const shared = { kind: 'tree' as const, fineBins: 1000, edges, branching: 2, placement: 'explicit' as const };
    const ok = resolvePrivacySpec({ ...base, layout: shared, positiveLayout: { ...shared, edges: [0, ...PINNED, 1000] } }, { layout });
    expect(ok.positiveLayout?.edges).toEqual([0, ...PINNED, 1000]);
    const refused = problemsOf(() => resolvePrivacySpec({ ...base, layout: shared, positiveLayout: { ...shared, fineBins: 999, edges: [0, 10, 50, 999] } }, { layout })).message;
    for (const part of ['positiveLayout.fineBins must equal', 'positiveLayout.edges must be among layout.edges (not there: 10, 999)', 'must include the threshold, decision-curve and calibration edges (missing 100']) {
      expect(refused).toContain(part);
    }
    const auto = problemsOf(() => resolvePrivacySpec({ ...base, positiveLayout: shared }, context)).message;
    expect(auto).toContain("positiveLayout needs layout as explicit edges");
    const regression = createStatisticsLayout({ task: 'regression', regressionRange: [0, 1] });
    const flat = { kind: 'flat' as const, fineBins: regression.spec.bins, edges: [0, regression.spec.bins], placement: 'explicit' as const };
    expect(problemsOf(() => resolvePrivacySpec({ ...base, layout: flat, positiveLayout: flat }, { layout: regression })).message).toContain('positiveLayout applies to binary tasks only');
  });

  it('lists every problem of a spec in one error', () => {
    const { code, message } = problemsOf(() =>
      resolvePrivacySpec(
        { epsilon: 0, delta: 1, minSites: 1.5, mechanism: 'laplace' as never, weights: { overall: -1, extra: 1 } as never, colour: 'red' } as never,
        { layout },
      ),
    );
    expect(code).toBe('FEDVAL_ERR_DP_INVALID_ARGUMENT');
    for (const part of ['unknown property "colour"', 'epsilon must be', 'delta must be', 'minSites must be', 'mechanism must be one of', 'weights.overall must be', 'unknown property "weights.extra"']) {
      expect(message).toContain(part);
    }
    const layoutProblems = problemsOf(() =>
      resolvePrivacySpec({ ...base, layout: { kind: 'tree', fineBins: 100, edges: [0, 2, 1, 1000], branching: 1, size: 3 } as never }, { layout }),
    ).message;
    for (const part of ['layout.fineBins must equal', 'layout.branching must be', 'strictly increase', 'unknown property "layout.size"']) expect(layoutProblems).toContain(part);
    const planner = problemsOf(() => resolvePrivacySpec({ ...base, layout: { kind: 'cone', bins: 0, edges: 'random' } as never }, context)).message;
    for (const part of ['layout.kind must be', 'layout.bins must be', "layout.edges must be 'equal-width'"]) expect(planner).toContain(part);
  });

  it("needs the public study parameters for 'auto' and equal-mass edges, and minSites ≤ sites", () => {
    const auto = problemsOf(() => resolvePrivacySpec(base, { layout })).message;
    for (const part of ['expectedPatients', 'expectedPrevalence', 'context.sites']) expect(auto).toContain(part);
    const mass = problemsOf(() => resolvePrivacySpec({ ...base, layout: { kind: 'flat', bins: 16, edges: 'equal-mass' } }, { layout })).message;
    expect(mass).toContain('expectedPrevalence');
    expect(problemsOf(() => resolvePrivacySpec({ ...base, minSites: 4 }, context)).message).toContain('minSites (4) must not exceed context.sites (3)');
    expect(problemsOf(() => resolvePrivacySpec({ ...base, layout: { kind: 'flat', bins: 8 } }, { layout })).message).toContain('layout.bins must exceed 14');
    expect(problemsOf(() => resolvePrivacySpec({ ...base, layout: { kind: 'flat', bins: 15 } }, { layout })).message).toContain('too many threshold edges');
  });

  it('plans with the given mechanism and weights and refuses Skellam shares too large to sample', () => {
    const weights = { overall: 5, subgroup: 1, sums: 1, exclusions: 1, totals: 1 };
    const { privacy, plan } = planPrivacySpec({ ...base, mechanism: 'discrete-gaussian', weights: { overall: 5, subgroup: 1, exclusions: 1 } }, context);
    expect(privacy.weights).toEqual(weights);
    expect(plan!.request.mechanism).toBe('discrete-gaussian');
    expect(plan!.request.weights).toEqual({ overall: 5, subgroup: 1 });
    // Histograms 5 + 1 of a total 5 + 1 + 2 × (1 + 1) + 1 (the column's class totals) = 11.
    expect(plan!.epsilon).toBeCloseTo(epsilonFromRho(rhoFromEpsilon(1, 1e-6) * (6 / 11), 1e-6), 9);
    expect(problemsOf(() => resolvePrivacySpec({ ...base, epsilon: 0.01 }, context)).code).toBe('FEDVAL_ERR_DP_SKELLAM_SHARE_TOO_LARGE');
  });

  it('resolves regression without a layout to plan and multiclass by a one-vs-rest planner run', () => {
    const regression = createStatisticsLayout({ task: 'regression', regressionRange: [0, 10] });
    expect(resolvePrivacySpec(base, { layout: regression }).layout).toEqual({ kind: 'flat', placement: 'equal-width', fineBins: 1000, edges: [0, 1000] });
    const multiclass = createStatisticsLayout({ task: 'multiclass', classes: ['a', 'b', 'c'], bins: 100 });
    const { privacy, plan } = planPrivacySpec(base, { layout: multiclass, expectedPatients: 3000, sites: 3 });
    expect(plan).toBeNull();
    const reference = planRelease({
      patients: 3000,
      prevalence: 1 / 3,
      sites: 3,
      epsilon: epsilonFromRho(rhoFromEpsilon(1, 1e-6) * histogramRhoShare(DEFAULT_RELEASE_WEIGHTS, 0, 0), 1e-6),
      delta: 1e-6,
      fineBins: 100,
      thresholds: [],
    });
    expect(privacy.layout.edges).toEqual(Array.from(reference.layout.edges));
  });
});

describe('privacySpecInputSchema and planPrivacySpecInput (REST API and YAML, snake_case)', () => {
  const input = { epsilon: 1, delta: 1e-6 };

  it('gives back what it parsed in the same spelling, so a REST body parsed once may be resolved again', () => {
    const written = { ...input, layout: { kind: 'tree', fine_bins: 1000, edges: [0, ...PINNED, 1000], branching: 2 }, expected_patients: 10 };
    const once = privacySpecInputSchema.parse(written);
    expect(once).toEqual({ ...written, layout: { ...written.layout, placement: 'explicit' } });
    expect(privacySpecInputSchema.parse(once)).toEqual(once);
  });

  it('resolves to the same spec as the wire spelling, with the release policy and sites from the study', () => {
    const fromInput = planPrivacySpecInput({ ...input, expected_patients: 4000, expected_prevalence: 0.3 }, { layout, minSites: 3, sites: 3 });
    expect(fromInput.privacy).toEqual(resolvePrivacySpec(base, context));
    const edges = [0, ...PINNED, 1000];
    const explicit = planPrivacySpecInput({ ...input, layout: { kind: 'flat', fine_bins: 1000, edges } }, { layout, minSites: 2, sites: 3 });
    expect(explicit.privacy.layout).toEqual({ kind: 'flat', placement: 'explicit', fineBins: 1000, edges });
    expect(explicit.plan).toBeNull();
  });

  it("names the planning assumptions 'auto' needs as the user wrote them", () => {
    const { code, message } = problemsOf(() => planPrivacySpecInput(input, { layout, minSites: 3, sites: 3 }));
    expect(code).toBe('FEDVAL_ERR_DP_INVALID_ARGUMENT');
    expect(message).toContain("layout 'auto' needs expected_patients ≥ 2");
    expect(message).toContain("layout 'auto' needs expected_prevalence with 0 < π < 1");
    expect(message).not.toMatch(/context\.|expectedPatients|expectedPrevalence/);
    // A regression task's 'auto' needs no planning assumption.
    const regression = createStatisticsLayout({ task: 'regression', regressionRange: [0, 1] });
    expect(planPrivacySpecInput(input, { layout: regression, minSites: 1, sites: 1 }).privacy.layout.edges).toEqual([0, 1000]);
  });

  it('lists every problem at once, each in the snake_case spelling', () => {
    const { message } = problemsOf(() =>
      planPrivacySpecInput(
        { epsilon: -1, delta: 2, expected_patients: 1, expected_prevalence: 1.5, expectedPatients: 10, layout: { kind: 'tree', fine_bins: 100, fineBins: 100, edges: [0, 2, 1, 1000] } },
        { layout, minSites: 3, sites: 3 },
      ),
    );
    for (const part of [
      'epsilon must be a finite number > 0',
      'delta must be a number with 0 < delta < 1',
      'expected_patients must be a number ≥ 2',
      'expected_prevalence must be a number with 0 < π < 1',
      'unknown property "expectedPatients"',
      'unknown property "layout.fineBins"',
      'layout.branching must be an integer ≥ 2 for a tree',
      'layout.edges must run from 0 to 100 and strictly increase',
      "layout.fine_bins must equal the metric spec's bins (1000)",
    ]) {
      expect(message).toContain(part);
    }
    expect(problemsOf(() => planPrivacySpecInput(input, { layout, minSites: 4, sites: 3 })).message).toContain('min_sites (4) must not exceed sites (3)');
    expect(problemsOf(() => planPrivacySpecInput({ ...input, layout: 'best' }, { layout, minSites: 3, sites: 3 })).message).toContain("layout must be 'auto', a layout spec { kind, bins, branching?, edges? } or explicit edges { kind, fine_bins, edges, branching? }");
  });
});

describe('the privacy documents as JSON Schema (for OpenAPI)', () => {
  it('states which fields are required, in the spelling of the REST API', () => {
    const input = z.toJSONSchema(privacySpecInputSchema, { io: 'input' });
    expect(input.required).toEqual(['epsilon', 'delta']);
    expect(Object.keys(input.properties ?? {})).toEqual(['epsilon', 'delta', 'mechanism', 'layout', 'weights', 'priorities', 'expected_patients', 'expected_prevalence']);
    expect(JSON.stringify(input)).toContain('fine_bins');
    expect(z.toJSONSchema(resolvedPrivacySpecSchema).required).toEqual(['epsilon', 'delta', 'mechanism', 'minSites', 'layout', 'weights']);
  });
});

describe('resolvedPrivacySpecSchema (the privacy of a task)', () => {
  it('accepts a resolved spec as JSON and refuses an unresolved one, naming the fields', () => {
    const resolved = resolvePrivacySpec(base, context);
    expect(resolvedPrivacySpecSchema.parse(JSON.parse(JSON.stringify(resolved)))).toEqual(resolved);
    const refused = resolvedPrivacySpecSchema.safeParse({ ...base, layout: 'auto' });
    expect(refused.success).toBe(false);
    const paths = refused.error!.issues.map((issue) => issue.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['mechanism', 'layout', 'weights']));
  });

  it('parses a wire spec with privacySpecSchema, filling nothing the resolution owns', () => {
    expect(privacySpecSchema.parse(base)).toEqual(base);
    expect(privacySpecSchema.safeParse({ ...base, layout: { kind: 'flat', bins: 0 } }).success).toBe(false);
  });
});
