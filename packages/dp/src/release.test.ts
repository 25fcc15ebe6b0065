// The private release of a metrics vector: exact round trips, brute-force sensitivity and ρ, noise against the planner.
import { readFileSync } from 'node:fs';
import { addStatistics, createAccumulator, createStatisticsLayout, finalizeMetrics, fitScoreGrid, scoreBin, scoreGridOf } from '@fedval/metrics';
import type { BinaryMetricsReport, MulticlassMetricsReport, StatisticsLayout } from '@fedval/metrics';
import { describe, expect, it } from 'vitest';
import { distributedDiscreteGaussianRho, rhoFromEpsilon, skellamRho } from './accountant.ts';
import { normalQuantile, standardNormals } from './binormal-model.ts';
import { DpError } from './errors.ts';
import { seededRandomSource } from './random-source.ts';
import { rationalToNumber } from './rational.ts';
import { createPrivateRelease } from './release.ts';
import type { PrivateRelease } from './release.ts';
import { planPrivacySpec, resolvePrivacySpec } from './release-spec.ts';
import type { PrivacySpec } from './release-spec.ts';
import { noiseTailBound } from './tail-bounds.ts';

const base = { epsilon: 1, delta: 1e-6, minSites: 3 };

interface FixtureRow {
  site: string;
  label: number | null;
  score: number;
  meno: string;
  age: string;
}

/** The metrics package's integration fixture: 300 Rotterdam patients at three sites (label empty = unknown). */
function fixtureRows(): FixtureRow[] {
  const text = readFileSync(new URL('../../metrics/references/fixture_sites.csv', import.meta.url), 'utf8');
  const [header, ...lines] = text.trimEnd().split('\n');
  expect(header).toBe('pid,site,label,score,meno,age');
  return lines.map((line) => {
    const [, site, label, score, meno, age] = line.split(',');
    return { site: site!, label: label === '' ? null : Number(label), score: Number(score), meno: meno!, age: age! };
  });
}

const fixtureLayout = createStatisticsLayout({ groups: [{ column: 'meno', levels: ['0', '1'] }, { column: 'age', cuts: [50, 70] }] });

function fixtureSiteVectors(layout: StatisticsLayout, rows: FixtureRow[]): Float64Array[] {
  const sites = new Map<string, ReturnType<typeof createAccumulator>>();
  for (const row of rows) {
    const accumulator = sites.get(row.site) ?? createAccumulator(layout);
    sites.set(row.site, accumulator);
    accumulator.addBinary(row.score, row.label, [row.meno, row.age]);
  }
  return [...sites.values()].map((a) => a.vector());
}

function sum(vectors: Float64Array[]): Float64Array {
  return vectors.reduce((a, b) => addStatistics(a, b));
}

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof DpError) return error.code;
    throw error;
  }
  throw new Error('expected a DpError');
}

/** Mann–Whitney AUC over every (positive, negative) pair of coarse bin indices, ties one half: no histograms involved. */
function pairwiseAuc(positives: number[], negatives: number[]): number {
  let wins = 0;
  for (const p of positives) for (const n of negatives) wins += p > n ? 1 : p === n ? 0.5 : 0;
  return wins / (positives.length * negatives.length);
}

/** Index of the coarse bin [eᵢ, eᵢ₊₁) holding fine bin k. */
function coarseIndex(edges: readonly number[], k: number): number {
  let i = 0;
  while (edges[i + 1]! <= k) i += 1;
  return i;
}

function fixtureCoarseAuc(rows: FixtureRow[], edges: readonly number[], keep: (row: FixtureRow) => boolean): number {
  const labelled = rows.filter((r) => (r.label === 0 || r.label === 1) && keep(r));
  const bin = (r: FixtureRow): number => coarseIndex(edges, scoreBin(r.score, 1000));
  return pairwiseAuc(labelled.filter((r) => r.label === 1).map(bin), labelled.filter((r) => r.label === 0).map(bin));
}

describe('createPrivateRelease: encode and decode without noise', () => {
  const rows = fixtureRows();
  const sites = fixtureSiteVectors(fixtureLayout, rows);
  const pooled = sum(sites);
  const exact = finalizeMetrics(fixtureLayout, pooled) as BinaryMetricsReport;

  it('with the full grid as a flat layout, decoding the sum of encodings gives back the pooled vector exactly', () => {
    const privacy = resolvePrivacySpec({ ...base, layout: { kind: 'flat', bins: 1000 } }, { layout: fixtureLayout });
    const release = createPrivateRelease(fixtureLayout, privacy);
    const aggregate = sum(sites.map((v) => release.encode(v)));
    expect(Array.from(release.decode(aggregate, 3).vector)).toEqual(Array.from(pooled));
  });

  const layouts: [string, Partial<PrivacySpec>, object][] = [
    ["'auto' (planner)", base, { expectedPatients: 300, expectedPrevalence: 0.45, sites: 3 }],
    ['a padded 4-ary tree over 20 equal-width bins', { ...base, layout: { kind: 'tree', bins: 20, branching: 4 } }, {}],
    ['32 equal-mass flat bins', { ...base, layout: { kind: 'flat', bins: 32, edges: 'equal-mass' } }, { expectedPrevalence: 0.45 }],
  ];
  for (const [name, spec, context] of layouts) {
    it(`${name}: the metrics of the coarsened scores, exact at the threshold, AUC as by brute force`, () => {
      const privacy = resolvePrivacySpec(spec, { layout: fixtureLayout, ...context });
      const release = createPrivateRelease(fixtureLayout, privacy);
      const aggregate = sum(sites.map((v) => release.encode(v)));
      const decoded = finalizeMetrics(fixtureLayout, release.decode(aggregate, 3).vector) as BinaryMetricsReport;
      const { edges } = privacy.layout;
      const counts = (r: BinaryMetricsReport['at_threshold']): number[] => [r.tp, r.fp, r.tn, r.fn];
      expect(counts(decoded.at_threshold)).toEqual(counts(exact.at_threshold));
      expect([decoded.n, decoded.positives, decoded.excluded]).toEqual([exact.n, exact.positives, exact.excluded]);
      expect(decoded.roc_auc).toBeCloseTo(fixtureCoarseAuc(rows, edges, () => true), 12);
      expect(decoded.brier_score).toBe(exact.brier_score);
      // Decision-curve thresholds and calibration bin edges are coarse edges: both stay exact.
      decoded.decision_curve.forEach((point, i) => expect(point.net_benefit).toBeCloseTo(exact.decision_curve[i]!.net_benefit, 12));
      decoded.calibration.bins.forEach((bin, i) => {
        expect(bin.n).toBe(exact.calibration.bins[i]!.n);
        expect(bin.observed_rate).toBeCloseTo(exact.calibration.bins[i]!.observed_rate!, 12); // tree estimates carry float rounding
      });
      for (const [column, levels] of Object.entries(exact.by_group)) {
        for (const [level, block] of Object.entries(levels)) {
          const got = decoded.by_group[column]![level]!;
          expect(got.suppressed).toBe(block.suppressed);
          if (got.suppressed || block.suppressed) continue;
          expect(counts(got.at_threshold)).toEqual(counts(block.at_threshold));
          const inLevel = (r: FixtureRow): boolean => (column === 'meno' ? r.meno === level : ageBand(Number(r.age)) === level);
          expect(got.roc_auc).toBeCloseTo(fixtureCoarseAuc(rows, edges, inLevel), 12);
        }
      }
    });
  }

  it('encodes linearly, integers to integers', () => {
    const release = createPrivateRelease(fixtureLayout, resolvePrivacySpec({ ...base, layout: { kind: 'tree', bins: 20, branching: 4 } }, { layout: fixtureLayout }));
    const separate = addStatistics(release.encode(sites[0]!), release.encode(sites[1]!));
    expect(Array.from(release.encode(addStatistics(sites[0]!, sites[1]!)))).toEqual(Array.from(separate));
    expect(separate.every((x) => Number.isSafeInteger(x))).toBe(true);
  });

  it('carries multiclass and regression layouts: confusion and sums exact, one-vs-rest AUC as by brute force', () => {
    const rng = seededRandomSource('release multiclass');
    const multiclass = createStatisticsLayout({ task: 'multiclass', classes: ['a', 'b', 'c'], bins: 100, groups: [{ column: 'g', levels: ['x'] }] });
    const patients = Array.from({ length: 240 }, (_, i) => {
      const raw = [1, 2, 3].map(() => (rng.nextUint32() % 1000) / 1000 + 0.001);
      const total = raw.reduce((a, b) => a + b, 0);
      return { scores: raw.map((s) => Math.min(1, s / total)), label: i % 3 };
    });
    const accumulators = [0, 1, 2].map(() => createAccumulator(multiclass));
    patients.forEach((p, i) => accumulators[i % 3]!.addMulticlass(p.scores, p.label, ['x']));
    const vectors = accumulators.map((a) => a.vector());
    const privacy = resolvePrivacySpec({ ...base, layout: { kind: 'tree', bins: 10, branching: 2 } }, { layout: multiclass });
    const release = createPrivateRelease(multiclass, privacy);
    const decoded = finalizeMetrics(multiclass, release.decode(sum(vectors.map((v) => release.encode(v))), 3).vector) as MulticlassMetricsReport;
    const exact = finalizeMetrics(multiclass, sum(vectors)) as MulticlassMetricsReport;
    expect(decoded.confusion_matrix).toEqual(exact.confusion_matrix);
    expect(decoded.brier_score).toBe(exact.brier_score);
    ['a', 'b', 'c'].forEach((name, c) => {
      const bin = (p: (typeof patients)[number]): number => coarseIndex(privacy.layout.edges, scoreBin(p.scores[c]!, 100));
      const reference = pairwiseAuc(patients.filter((p) => p.label === c).map(bin), patients.filter((p) => p.label !== c).map(bin));
      expect(decoded.per_class[name]!.roc_auc).toBeCloseTo(reference, 12);
    });

    const regression = createStatisticsLayout({ task: 'regression', regressionRange: [0, 80], groups: [{ column: 'g', levels: ['x'] }] });
    const site = createAccumulator(regression);
    for (let i = 0; i < 50; i += 1) site.addRegression(i * 1.7, 80 - i, [i % 2 ? 'x' : null]);
    const regressionRelease = createPrivateRelease(regression, resolvePrivacySpec(base, { layout: regression }));
    const vector = site.vector();
    expect(Array.from(regressionRelease.decode(regressionRelease.encode(vector), 3).vector)).toEqual(Array.from(vector));
  });
});

describe('per-class layouts (issue 18): the positives on a coarser layout, without noise', () => {
  const rows = fixtureRows();
  const sites = fixtureSiteVectors(fixtureLayout, rows);
  const exact = finalizeMetrics(fixtureLayout, sum(sites)) as BinaryMetricsReport;
  // Negatives on a 64-bin tree; positives on every 4th of its edges and the pinned ones (0.05 … 0.5, 0.6 … 0.9 on 1000 bins).
  const shared = resolvePrivacySpec({ ...base, layout: { kind: 'tree', bins: 64, branching: 2 } }, { layout: fixtureLayout }).layout;
  const pinned = new Set([50, 100, 150, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800, 900]);
  const positiveEdges = shared.edges.filter((e, i) => i % 4 === 0 || i === shared.edges.length - 1 || pinned.has(e));
  const privacy = resolvePrivacySpec({ ...base, layout: shared, positiveLayout: { ...shared, edges: positiveEdges } }, { layout: fixtureLayout });
  const release = createPrivateRelease(fixtureLayout, privacy);
  const decoded = finalizeMetrics(fixtureLayout, release.decode(sum(sites.map((v) => release.encode(v))), 3).vector) as BinaryMetricsReport;

  /** The fine bin a patient's mass is decoded into: the middle fine bin of its class's coarse bin (README, placement). */
  const placed = (r: FixtureRow): number => {
    const edges = r.label === 1 ? positiveEdges : shared.edges;
    const i = coarseIndex(edges, scoreBin(r.score, 1000));
    return edges[i]! + Math.floor((edges[i + 1]! - edges[i]! - 1) / 2);
  };
  const labelled = (keep: (r: FixtureRow) => boolean): FixtureRow[] => rows.filter((r) => (r.label === 0 || r.label === 1) && keep(r));

  it('keeps threshold, decision-curve and calibration counts exact; the AUC compares each class at its decoded fine bin', () => {
    expect(positiveEdges.length).toBeLessThan(shared.edges.length);
    const counts = (r: BinaryMetricsReport['at_threshold']): number[] => [r.tp, r.fp, r.tn, r.fn];
    expect(counts(decoded.at_threshold)).toEqual(counts(exact.at_threshold));
    expect([decoded.n, decoded.positives]).toEqual([exact.n, exact.positives]);
    decoded.decision_curve.forEach((point, i) => expect(point.net_benefit).toBeCloseTo(exact.decision_curve[i]!.net_benefit, 12));
    decoded.calibration.bins.forEach((bin, i) => {
      expect(bin.n).toBe(exact.calibration.bins[i]!.n);
      expect(bin.observed_rate).toBeCloseTo(exact.calibration.bins[i]!.observed_rate!, 12);
    });
    // Independent: every (positive, negative) pair of patients compared at the fine bins their classes' layouts put them in.
    const all = labelled(() => true);
    expect(decoded.roc_auc).toBeCloseTo(pairwiseAuc(all.filter((r) => r.label === 1).map(placed), all.filter((r) => r.label === 0).map(placed)), 12);
    for (const level of ['0', '1']) {
      const inLevel = labelled((r) => r.meno === level);
      const block = decoded.by_group['meno']![level]!;
      expect(block.suppressed).toBe(false);
      if (!block.suppressed) expect(block.roc_auc).toBeCloseTo(pairwiseAuc(inLevel.filter((r) => r.label === 1).map(placed), inLevel.filter((r) => r.label === 0).map(placed)), 12);
    }
  });

  it('moves the AUC from the raw scores by at most the within-bin pairs bound Σ_i P_i·N_i / (n₊·n₋)', () => {
    const all = labelled(() => true);
    const positives = all.filter((r) => r.label === 1);
    const negatives = all.filter((r) => r.label === 0);
    // The AUC of the raw scores (ties one half), pair by pair.
    let wins = 0;
    for (const p of positives) for (const n of negatives) wins += p.score > n.score ? 1 : p.score === n.score ? 0.5 : 0;
    const raw = wins / (positives.length * negatives.length);
    // Pairs with the negative's fine bin inside the positive's coarse bin: the only pairs whose order the layouts can change
    // (every positive edge is a negative edge, so a negative's coarse bin never straddles a positive bin's edge).
    const bin = (r: FixtureRow): number => coarseIndex(positiveEdges, scoreBin(r.score, 1000));
    let within = 0;
    for (const p of positives) for (const n of negatives) within += bin(p) === bin(n) ? 1 : 0;
    const bound = within / (positives.length * negatives.length);
    expect(bound).toBeGreaterThan(0);
    expect(Math.abs(decoded.roc_auc! - raw)).toBeLessThanOrEqual(bound);
  });

  it('carries the positives\' layout through the spec, the summary and a round trip of the resolved spec', () => {
    expect(privacy.positiveLayout?.edges).toEqual(positiveEdges);
    expect(resolvePrivacySpec(JSON.parse(JSON.stringify(privacy)), { layout: fixtureLayout })).toEqual(privacy);
    const summary = release.summary();
    expect(summary.positiveLayout?.bins).toBe(positiveEdges.length - 1);
    expect(summary.blocks.map((b) => b.name)).toContain('by_group.age.positives');
    // The positives' tree is shallower: one positive patient moves fewer nodes.
    const blocks = new Map(release.noisePlan.blocks.map((b) => [b.name, b]));
    expect(blocks.get('overall.positives')!.l1Sensitivity).toBeLessThan(blocks.get('overall.counts')!.l1Sensitivity);
  });
});

describe('createPrivateRelease on a fitted score grid', () => {
  it('keeps a threshold that is no multiple of 1/B, the decision curve and the reliability edges exact after coarsening', () => {
    const rows = fixtureRows();
    const { grid } = fitScoreGrid(
      rows.map((r) => r.score),
      { bins: 200, method: 'quantile' },
    );
    const groups = [{ column: 'meno', levels: ['0', '1'] }, { column: 'age', cuts: [50, 70] }];
    const layout = createStatisticsLayout({ scoreGrid: grid, threshold: 0.137, decisionThresholds: [0.07, 0.2], calibrationBins: 5, groups });
    const sites = fixtureSiteVectors(layout, rows);
    const exact = finalizeMetrics(layout, sum(sites)) as BinaryMetricsReport;
    const privacy = resolvePrivacySpec(base, { layout, expectedPatients: 300, expectedPrevalence: 0.45, sites: 3 });
    const threshold = scoreGridOf(layout.spec).index(0.137)!;
    expect(privacy.layout.edges).toContain(threshold);
    expect(privacy.layout.edges.length - 1).toBeLessThan(layout.spec.bins);
    const release = createPrivateRelease(layout, privacy);
    const decoded = finalizeMetrics(layout, release.decode(sum(sites.map((v) => release.encode(v))), 3).vector) as BinaryMetricsReport;
    const counts = (r: BinaryMetricsReport['at_threshold']): number[] => [r.tp, r.fp, r.tn, r.fn];
    expect(decoded.at_threshold.threshold).toBe(0.137);
    expect(counts(decoded.at_threshold)).toEqual(counts(exact.at_threshold));
    decoded.decision_curve.forEach((point, i) => expect(point.net_benefit).toBeCloseTo(exact.decision_curve[i]!.net_benefit, 12));
    decoded.calibration.bins.forEach((bin, i) => expect(bin.n).toBe(exact.calibration.bins[i]!.n));
  });
});

function ageBand(age: number): string {
  return age < 50 ? '<50' : age < 70 ? '50-70' : '>=70';
}

/** Largest L1 and squared L2 change of each release block over single-patient vectors. */
function bruteForceSensitivity(release: PrivateRelease, vectors: Iterable<Float64Array>): Map<string, { l1: number; l2: number }> {
  const out = new Map(release.noisePlan.blocks.map((b) => [b.name, { l1: 0, l2: 0 }]));
  for (const vector of vectors) {
    const encoded = release.encode(vector);
    for (const block of release.noisePlan.blocks) {
      let l1 = 0;
      let l2 = 0;
      for (let i = block.offset; i < block.offset + block.length; i += 1) {
        l1 += Math.abs(encoded[i]!);
        l2 += encoded[i]! * encoded[i]!;
      }
      const max = out.get(block.name)!;
      max.l1 = Math.max(max.l1, l1);
      max.l2 = Math.max(max.l2, l2);
    }
  }
  return out;
}

/** Every kind of binary patient: each score bin (and the exact ends), both labels, every group level, every exclusion. */
function* binaryPatients(layout: StatisticsLayout): Generator<Float64Array> {
  const B = layout.spec.bins;
  // Every combination of each column's levels, a missing level and an unlisted one.
  const groups = layout.spec.groups.reduce<(string | null)[][]>(
    (combos, column) => combos.flatMap((combo) => [...(column.levels ?? []), null, 'unlisted'].map((level) => [...combo, level])),
    [[]],
  );
  const one = (add: (a: ReturnType<typeof createAccumulator>) => void): Float64Array => {
    const accumulator = createAccumulator(layout);
    add(accumulator);
    return accumulator.vector();
  };
  for (const group of groups) {
    for (const score of [0, 1, layout.spec.threshold, ...Array.from({ length: B }, (_, k) => (k + 0.5) / B)]) {
      for (const label of [0, 1]) yield one((a) => a.addBinary(score, label, group));
    }
    yield one((a) => a.addBinary(0.5, null, group));
    yield one((a) => a.addBinary(0.5, 2, group));
    yield one((a) => a.addBinary(null, 1, group));
    yield one((a) => a.addBinary(Number.NaN, 0, group));
    yield one((a) => a.exclude('missing_features', group));
    yield one((a) => a.exclude('outside_cohort', group));
  }
}

/**
 * ρ of a release from its blocks' costs: with per-class layouts (positives blocks present) a patient moves the negatives'
 * histograms (counts blocks) or the positives' (positives blocks), so those two groups cost the larger of their sums and
 * the other blocks add theirs; without, every block adds its cost.
 */
function perClassRho(release: PrivateRelease, costs: ReadonlyMap<string, number>): number {
  let negatives = 0;
  let positives = 0;
  let others = 0;
  for (const [name, cost] of costs) {
    if (name.endsWith('.counts')) negatives += cost;
    else if (name.endsWith('.positives')) positives += cost;
    else others += cost;
  }
  return release.noisePlan.blocks.some((b) => b.name.endsWith('.positives')) ? others + Math.max(negatives, positives) : others + negatives;
}

/** The largest Σ of the costs of the blocks one single patient changes after encoding (the exact zCDP cost, a lower bound on ρ). */
function worstPatientRho(release: PrivateRelease, costs: ReadonlyMap<string, number>, vectors: Iterable<Float64Array>): number {
  let worst = 0;
  for (const vector of vectors) {
    const encoded = release.encode(vector);
    let rho = 0;
    for (const block of release.noisePlan.blocks) {
      if (encoded.subarray(block.offset, block.offset + block.length).some((x) => x !== 0)) rho += costs.get(block.name)!;
    }
    worst = Math.max(worst, rho);
  }
  return worst;
}

describe('privacy accounting: sensitivity by brute force over single patients', () => {
  const layout = createStatisticsLayout({ bins: 200, groups: [{ column: 'sex', levels: ['F', 'M'] }] });
  const context = { layout, expectedPatients: 5000, expectedPrevalence: 0.3, sites: 3 };

  it('discrete Gaussian: ρ = Σ Δ₂²/(2σ²) with each Δ₂ the largest change one patient makes after encoding', () => {
    // The last two: per-class layouts (issue 18), the positives on every 3rd edge (and the pinned ones) of a tree / flat grid.
    const pinned = new Set([10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 120, 140, 160, 180]);
    const perClass = (layoutSpec: { kind: 'tree'; bins: number; branching: number } | { kind: 'flat'; bins: number }): Partial<PrivacySpec> => {
      const shared = resolvePrivacySpec({ ...base, layout: layoutSpec }, context).layout;
      return { layout: shared, positiveLayout: { ...shared, edges: shared.edges.filter((e, i) => i % 3 === 0 || i === shared.edges.length - 1 || pinned.has(e)) } };
    };
    const layouts: Partial<PrivacySpec>[] = [
      { layout: { kind: 'tree', bins: 40, branching: 2 } },
      { layout: { kind: 'tree', bins: 20, branching: 3 } },
      { layout: { kind: 'flat', bins: 20 } },
      perClass({ kind: 'tree', bins: 64, branching: 2 }),
      perClass({ kind: 'flat', bins: 40 }),
    ];
    for (const layoutSpec of layouts) {
      const release = createPrivateRelease(layout, resolvePrivacySpec({ ...base, mechanism: 'discrete-gaussian', ...layoutSpec }, context));
      const observed = bruteForceSensitivity(release, binaryPatients(layout));
      const costs = new Map<string, number>();
      for (const block of release.noisePlan.blocks) {
        const { l1, l2 } = observed.get(block.name)!;
        expect([block.name, block.l1Sensitivity, block.l2SensitivitySquared]).toEqual([block.name, l1, l2]);
        expect(block.siteNoise.kind).toBe('discrete-gaussian');
        if (block.siteNoise.kind === 'discrete-gaussian') costs.set(block.name, l2 / (2 * rationalToNumber(block.siteNoise.sigma2)));
      }
      expect(release.noisePlan.blocks.some((b) => b.name.endsWith('.positives'))).toBe(layoutSpec.positiveLayout !== undefined);
      expect(release.rho).toBeCloseTo(perClassRho(release, costs), 14);
      expect(release.rho).toBeGreaterThanOrEqual(worstPatientRho(release, costs, binaryPatients(layout)) * (1 - 1e-12));
      expect(release.rho).toBeLessThanOrEqual(rhoFromEpsilon(1, 1e-6));
      expect(release.rho).toBeGreaterThan(0.999 * rhoFromEpsilon(1, 1e-6));
      expect(release.epsilon).toBeLessThanOrEqual(1);
    }
  });

  it('per-class layouts with two subgroup columns: the counts and positives blocks of every population compose as alternatives', () => {
    // A patient is in one level of each column (or none): its class decides which group of blocks it moves, in all of them.
    const twoColumns = createStatisticsLayout({ bins: 60, groups: [{ column: 'sex', levels: ['F', 'M'] }, { column: 'age', levels: ['young', 'middle', 'old'] }] });
    const twoContext = { layout: twoColumns, expectedPatients: 20_000, expectedPrevalence: 0.02, sites: 4 };
    const shared = resolvePrivacySpec({ ...base, layout: { kind: 'tree', bins: 60, branching: 2 } }, twoContext).layout;
    const pinned = new Set(shared.edges.filter((e) => e % 6 === 0));
    const positiveLayout = { ...shared, edges: shared.edges.filter((e, i) => i % 3 === 0 || i === shared.edges.length - 1 || pinned.has(e)) };
    for (const mechanism of ['discrete-gaussian', 'skellam'] as const) {
      const release = createPrivateRelease(twoColumns, resolvePrivacySpec({ ...base, mechanism, layout: shared, positiveLayout }, twoContext));
      expect(release.noisePlan.blocks.filter((b) => b.name.endsWith('.positives')).map((b) => b.name).sort()).toEqual(['by_group.age.positives', 'by_group.sex.positives', 'overall.positives']);
      const observed = bruteForceSensitivity(release, binaryPatients(twoColumns));
      const costs = new Map<string, number>();
      for (const block of release.noisePlan.blocks) {
        const { l1, l2 } = observed.get(block.name)!;
        expect([block.name, block.l1Sensitivity, block.l2SensitivitySquared]).toEqual([block.name, l1, l2]);
        if (block.siteNoise.kind === 'discrete-gaussian') costs.set(block.name, l2 / (2 * rationalToNumber(block.siteNoise.sigma2)));
      }
      if (mechanism === 'discrete-gaussian') expect(release.rho).toBeCloseTo(perClassRho(release, costs), 14);
      if (mechanism === 'discrete-gaussian') expect(release.rho).toBeGreaterThanOrEqual(worstPatientRho(release, costs, binaryPatients(twoColumns)) * (1 - 1e-12));
      expect(release.rho).toBeLessThanOrEqual(rhoFromEpsilon(1, 1e-6));
      expect(release.epsilon).toBeLessThanOrEqual(1);
    }
  });

  it("Skellam counts and distributed discrete Gaussian sums: ρ by each mechanism's bound at the brute-force sensitivities", () => {
    // Today's fixed weights, and the split planned from sponsor priorities (another ρ share per block, the same accounting).
    // Per-class layouts (issue 18): the positives on every 4th edge of a 40-bin tree (and the pinned edges) — a
    // shallower tree, its own noise block per population, the two classes' blocks composed as alternatives.
    const shared = resolvePrivacySpec({ ...base, layout: { kind: 'tree', bins: 40, branching: 2 } }, context).layout;
    const pinned = new Set([10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 120, 140, 160, 180]);
    const positiveLayout = { ...shared, edges: shared.edges.filter((e, i) => i % 4 === 0 || i === shared.edges.length - 1 || pinned.has(e)) };
    expect(positiveLayout.edges.length - 1).toBeLessThan(shared.edges.length - 1);
    const specs = [base, { ...base, priorities: { overallAuc: 3, subgroupAuc: 2, calibration: 1, exclusions: 0.5 } }, { ...base, layout: shared, positiveLayout }];
    const releases = specs.map((spec) => createPrivateRelease(layout, resolvePrivacySpec(spec, context)));
    expect(releases[2]!.privacy.positiveLayout?.edges).toEqual(positiveLayout.edges);
    expect(releases[2]!.noisePlan.blocks.find((b) => b.name === 'overall.positives')!.l1Sensitivity).toBeLessThan(releases[2]!.noisePlan.blocks.find((b) => b.name === 'overall.counts')!.l1Sensitivity);
    for (const release of releases) {
      expect(release.privacy.layout.kind).toBe('tree');
      const observed = bruteForceSensitivity(release, binaryPatients(layout));
      const costs = new Map<string, number>();
      for (const block of release.noisePlan.blocks) {
        const { l1, l2 } = observed.get(block.name)!;
        expect([block.name, block.l1Sensitivity, block.l2SensitivitySquared]).toEqual([block.name, l1, l2]);
        const noise = block.siteNoise;
        if (block.name.endsWith('.sums')) {
          expect(block.mechanism).toBe('distributed-discrete-gaussian');
          if (noise.kind === 'discrete-gaussian') costs.set(block.name, distributedDiscreteGaussianRho(l2, rationalToNumber(noise.sigma2), 3, block.length));
        } else {
          expect(noise.kind).toBe('skellam');
          if (noise.kind === 'skellam') costs.set(block.name, skellamRho(l1, l2, 3 * 2 * rationalToNumber(noise.lambda)));
        }
      }
      expect(release.rho).toBeCloseTo(perClassRho(release, costs), 14);
      expect(release.rho).toBeGreaterThanOrEqual(worstPatientRho(release, costs, binaryPatients(layout)) * (1 - 1e-12));
      expect(release.rho).toBeLessThanOrEqual(release.noisePlan.rho);
      expect(release.noisePlan.rho).toBeLessThanOrEqual(rhoFromEpsilon(1, 1e-6));
      // The tree has levels = ⌈log₂ leaves⌉ + 1: one patient moves one node per level of one histogram per population.
      const leaves = release.privacy.layout.edges.length - 1;
      expect(release.noisePlan.blocks.find((b) => b.name === 'overall.counts')!.l2SensitivitySquared).toBe(Math.ceil(Math.log2(leaves)) + 1);
    }
  });

  it('multiclass and regression: declared sensitivities are reached (or, for the rounded regression sums, bounded)', () => {
    const multiclass = createStatisticsLayout({ task: 'multiclass', classes: ['a', 'b', 'c'], bins: 50, groups: [{ column: 'g', levels: ['x'] }] });
    const release = createPrivateRelease(multiclass, resolvePrivacySpec({ ...base, layout: { kind: 'tree', bins: 10, branching: 2 } }, { layout: multiclass }));
    const rng = seededRandomSource('multiclass patients');
    const patients = function* (): Generator<Float64Array> {
      for (const group of ['x', null, 'y']) {
        const scoreSets = [[1, 0, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0], ...Array.from({ length: 100 }, () => [0, 1, 2].map(() => (rng.nextUint32() % 1001) / 1000))];
        for (const scores of scoreSets) {
          for (const label of [0, 1, 2]) {
            const a = createAccumulator(multiclass);
            a.addMulticlass(scores, label, [group]);
            yield a.vector();
          }
        }
        const a = createAccumulator(multiclass);
        a.exclude('outside_cohort', [group]);
        yield a.vector();
      }
    };
    const observed = bruteForceSensitivity(release, patients());
    // 1 confusion cell + one histogram per class (3) × 5 tree levels = 16.
    expect(release.noisePlan.blocks.find((b) => b.name === 'overall.counts')!.l2SensitivitySquared).toBe(16);
    for (const block of release.noisePlan.blocks) {
      expect([block.name, block.l1Sensitivity, block.l2SensitivitySquared]).toEqual([block.name, observed.get(block.name)!.l1, observed.get(block.name)!.l2]);
    }

    const regression = createStatisticsLayout({ task: 'regression', regressionRange: [0, 1] });
    const regressionRelease = createPrivateRelease(regression, resolvePrivacySpec(base, { layout: regression }));
    const cases = function* (): Generator<Float64Array> {
      for (const y of [-1, 0, 0.3, 1, 2]) {
        for (const yhat of [-1, 0, 0.7, 1, 2]) {
          const a = createAccumulator(regression);
          a.addRegression(y, yhat, []);
          yield a.vector();
        }
      }
      const a = createAccumulator(regression);
      a.addRegression(null, 0.5, []);
      yield a.vector();
    };
    const regressionObserved = bruteForceSensitivity(regressionRelease, cases());
    for (const block of regressionRelease.noisePlan.blocks) {
      const { l1, l2 } = regressionObserved.get(block.name)!;
      if (block.name.endsWith('.sums')) {
        expect(l1).toBeLessThanOrEqual(block.l1Sensitivity);
        expect(l2).toBeLessThanOrEqual(block.l2SensitivitySquared);
        expect(l2).toBeGreaterThan(block.l2SensitivitySquared * (1 - 1e-5));
      } else expect([block.l1Sensitivity, block.l2SensitivitySquared]).toEqual([l1, l2]);
    }
  });
});

describe('noise: decoded metrics against the planner', () => {
  // A binormal cohort as the planner assumes it (AUC 0.75, prevalence 0.3), 6,000 patients at 3 sites, one 2-level subgroup.
  const n = 6000;
  const prevalence = 0.3;
  const layout = createStatisticsLayout({ groups: [{ column: 'sex', levels: ['F', 'M'] }] });
  const planned = planPrivacySpec(base, { layout, expectedPatients: n, expectedPrevalence: prevalence, sites: 3 });
  const rng = seededRandomSource('release noise test');
  const separation = Math.SQRT2 * normalQuantile(0.75);
  const offset = Math.log(prevalence / (1 - prevalence)) - (separation * separation) / 2;
  const latent = standardNormals(rng, n);
  const accumulators = [0, 1, 2].map(() => createAccumulator(layout));
  for (let i = 0; i < n; i += 1) {
    const label = i < n * prevalence ? 1 : 0;
    const score = 1 / (1 + Math.exp(-(offset + separation * (latent[i]! + label * separation))));
    accumulators[i % 3]!.addBinary(score, label, [i % 2 ? 'F' : 'M']);
  }
  const sites = accumulators.map((a) => a.vector());
  const truth = finalizeMetrics(layout, sum(sites)) as BinaryMetricsReport;
  const { positiveLayout: _positives, ...sharedSpec } = planned.privacy;
  const plan = planned.plan!;
  const cases = [
    // 'auto' gives this cohort's positives a coarser layout of their own (issue 18): its per-class prediction.
    { name: "per-class layouts ('auto')", privacy: planned.privacy, auc: planned.perClass?.overall, sensitivity: planned.perClass?.sensitivity[0] },
    { name: 'one layout for both classes', privacy: resolvePrivacySpec(sharedSpec, { layout }), auc: plan.overall.auc, sensitivity: plan.overall.sensitivity[0] },
  ];
  for (const { name, privacy, auc, sensitivity } of cases) {
    it(`${name}: over seeded rounds, AUC, sensitivity and specificity errors have the median the planner predicts; variances widen intervals correctly`, () => {
      expect(auc).toBeDefined();
      const release = createPrivateRelease(layout, privacy);
      const overall = release.summary().blocks.find((b) => b.name === 'overall.counts')!;
      expect(overall.sigma).toBeCloseTo(plan.aggregateNoiseStd['overall']!, 9);
      const rounds = 150;
      const errors = { auc: [] as number[], sensitivity: [] as number[], specificity: [] as number[] };
      const tp: number[] = [];
      let modelledAucNoise = 0;
      let modelledTpVariance = 0;
      for (let r = 0; r < rounds; r += 1) {
        const { vector, blockVariances } = release.decode(sum(sites.map((v) => release.protect(v, rng))), 3);
        const noisy = finalizeMetrics(layout, vector, { noise: { blockVariances } }) as BinaryMetricsReport;
        const plain = finalizeMetrics(layout, vector) as BinaryMetricsReport;
        errors.auc.push(noisy.roc_auc! - truth.roc_auc!);
        errors.sensitivity.push(noisy.at_threshold.sensitivity! - truth.at_threshold.sensitivity!);
        errors.specificity.push(noisy.at_threshold.specificity! - truth.at_threshold.specificity!);
        tp.push(noisy.at_threshold.tp);
        const half = (i: [number, number]): number => (i[1] - i[0]) / (2 * 1.959963984540054);
        modelledAucNoise += half(noisy.roc_auc_ci95!) ** 2 - half(plain.roc_auc_ci95!) ** 2;
        modelledTpVariance += 500 * blockVariances['overall.counts']!;
      }
      const median = (x: number[]): number => [...x].map(Math.abs).sort((a, b) => a - b)[x.length >> 1]!;
      const mean = (x: number[]): number => x.reduce((a, b) => a + b, 0) / x.length;
      expect(median(errors.auc) / auc!.medianAbsError).toBeGreaterThan(0.7);
      expect(median(errors.auc) / auc!.medianAbsError).toBeLessThan(1.3);
      expect(median(errors.sensitivity) / sensitivity!.medianAbsError).toBeGreaterThan(0.7);
      expect(median(errors.sensitivity) / sensitivity!.medianAbsError).toBeLessThan(1.3);
      expect(median(errors.specificity) / plan.overall.specificity[0]!.medianAbsError).toBeGreaterThan(0.7);
      expect(median(errors.specificity) / plan.overall.specificity[0]!.medianAbsError).toBeLessThan(1.3);
      // The AUC interval's noise term matches the observed mean squared error; the TP count's is conservative.
      const aucMeanSquare = mean(errors.auc.map((e) => e * e));
      expect(modelledAucNoise / rounds / aucMeanSquare).toBeGreaterThan(0.75);
      expect(modelledAucNoise / rounds / aucMeanSquare).toBeLessThan(1.5);
      const tpMean = mean(tp);
      expect(modelledTpVariance / rounds).toBeGreaterThan(0.9 * mean(tp.map((x) => (x - tpMean) ** 2)));
    });
  }
});

describe('decode refuses an aggregate of fewer than minSites contributions', () => {
  for (const mechanism of ['skellam', 'discrete-gaussian'] as const) {
    it(mechanism, () => {
      const release = createPrivateRelease(fixtureLayout, resolvePrivacySpec({ ...base, mechanism, layout: { kind: 'flat', bins: 20 } }, { layout: fixtureLayout }));
      const aggregate = new Float64Array(release.length);
      expect(codeOf(() => release.decode(aggregate, 2))).toBe('FEDVAL_ERR_DP_QUORUM_BELOW_MINIMUM');
      expect(codeOf(() => release.decode(aggregate, 3.5))).toBe('FEDVAL_ERR_DP_QUORUM_BELOW_MINIMUM');
      // The quorum is checked before anything else about the aggregate.
      expect(codeOf(() => release.decode(new Float64Array(1), 1))).toBe('FEDVAL_ERR_DP_QUORUM_BELOW_MINIMUM');
      expect(release.decode(aggregate, 4).vector.length).toBe(fixtureLayout.length);
    });
  }
});

describe('coded errors, bounds and the summary', () => {
  const privacy = resolvePrivacySpec({ ...base, layout: { kind: 'tree', bins: 20, branching: 4 } }, { layout: fixtureLayout });
  const release = createPrivateRelease(fixtureLayout, privacy);
  const sites = fixtureSiteVectors(fixtureLayout, fixtureRows());

  it('throws a coded error for every misuse', () => {
    expect(codeOf(() => release.encode(new Float64Array(5)))).toBe('FEDVAL_ERR_DP_INVALID_ARGUMENT');
    const fractional = Float64Array.from(sites[0]!);
    fractional[3] = 0.5;
    expect(codeOf(() => release.encode(fractional))).toBe('FEDVAL_ERR_DP_NOT_SAFE_INTEGER');
    const huge = new Float64Array(fixtureLayout.length);
    huge.fill(2 ** 52, 0, 100); // fine bins whose coarse sum leaves the safe integers
    expect(codeOf(() => release.encode(huge))).toBe('FEDVAL_ERR_DP_NOT_SAFE_INTEGER');
    const full = new Float64Array(fixtureLayout.length);
    for (const section of fixtureLayout.sections) full.fill(Number.MAX_SAFE_INTEGER, section.fields.exclusions!.offset, section.fields.exclusions!.offset + 6);
    expect(codeOf(() => release.protect(full, seededRandomSource('overflow')))).toBe('FEDVAL_ERR_DP_NOISE_OVERFLOW');
    expect(codeOf(() => release.decode(new Float64Array(release.length - 1), 3))).toBe('FEDVAL_ERR_DP_INVALID_ARGUMENT');
    const noisy = new Float64Array(release.length);
    noisy[7] = 1.5;
    expect(codeOf(() => release.decode(noisy, 3))).toBe('FEDVAL_ERR_DP_NOT_SAFE_INTEGER');
    expect(codeOf(() => release.entryMaxAbsPerSite(-1))).toBe('FEDVAL_ERR_DP_INVALID_ARGUMENT');
    expect(codeOf(() => createPrivateRelease(fixtureLayout, privacy, { tailProbability: 0 }))).toBe('FEDVAL_ERR_DP_INVALID_ARGUMENT');
    const tampered = { ...privacy, layout: { ...privacy.layout, edges: [0, 500, 1000] } };
    expect(codeOf(() => createPrivateRelease(fixtureLayout, tampered))).toBe('FEDVAL_ERR_DP_INVALID_ARGUMENT');
    expect(codeOf(() => createPrivateRelease(fixtureLayout, { ...privacy, epsilon: 1e-4 }))).toBe('FEDVAL_ERR_DP_SKELLAM_SHARE_TOO_LARGE');
  });

  it('bounds every entry a site sends, noise included, for the encryption planner', () => {
    const patients = 120;
    const bounds = release.entryMaxAbsPerSite(patients);
    expect(bounds.length).toBe(release.length);
    for (const block of release.noisePlan.blocks) {
      const perPatient = block.name.endsWith('.sums') ? 2 ** 20 : 1;
      const tail = noiseTailBound(block, 1, 2 ** -64 / release.length);
      expect(bounds[block.offset]).toBe(patients * perPatient + tail);
    }
    expect(release.maxAbsPerSite(patients)).toBe(Math.max(...bounds));
    const rng = seededRandomSource('bounds');
    const site = sites[0]!;
    for (let r = 0; r < 50; r += 1) {
      const sent = release.protect(site, rng);
      for (let i = 0; i < sent.length; i += 1) expect(Math.abs(sent[i]!)).toBeLessThanOrEqual(bounds[i]!);
    }
  });

  it('summarises mechanism, cost, layout and the noise scale of every block as JSON', () => {
    const summary = release.summary();
    expect(JSON.parse(JSON.stringify(summary))).toEqual(summary);
    expect(summary).toMatchObject({ mechanism: 'skellam', epsilon: release.epsilon, delta: 1e-6, rho: release.rho, minSites: 3 });
    expect(summary.layout).toMatchObject({ kind: 'tree', branching: 4, bins: 20, edges: privacy.layout.edges });
    expect(summary.blocks.map((b) => b.name)).toEqual(release.noisePlan.blocks.map((b) => b.name));
    summary.blocks.forEach((b, i) => {
      const planned = release.noisePlan.blocks[i]!;
      expect(b.sigma).toBeCloseTo(Math.sqrt(3 * planned.siteVariance), 9);
      expect(b.mechanism).toBe(b.name.endsWith('.sums') ? 'distributed-discrete-gaussian' : 'skellam');
    });
    expect(summary.blocks.reduce((a, b) => a + b.rho, 0)).toBeCloseTo(release.rho, 14);
    expect(release.length).toBe(summary.blocks.reduce((a, b) => a + b.entries, 0));
  });
});

describe('own noise share: what one site share alone is worth if every other party colludes', () => {
  // Oracle: the Skellam ρ (Agarwal, Kairouz & Liu 2021, Thm 3.5 at integer orders), the discrete Gaussian
  // ρ = Δ₂²/(2σ²) (Canonne, Kamath & Steinke 2020) and the CKS20 Cor. 13 conversion to ε, evaluated by hand in
  // /usr/bin/python3 with mpmath (40 digits) from the noise parameters asserted below, not from this package's code.
  const layout = createStatisticsLayout({ task: 'regression', regressionRange: [0, 10] } as never);
  const cases = [
    { mechanism: 'skellam', counts: { kind: 'skellam', lambda: [3954063n, 524288n] }, exclusions: { kind: 'skellam', lambda: [46035931n, 1048576n] }, ownRho: 0.10495039820920243, ownEpsilon: 2.2009057290134922 },
    {
      mechanism: 'distributed-discrete-gaussian',
      counts: { kind: 'discrete-gaussian', sigma2: [952977n, 65536n] },
      exclusions: { kind: 'discrete-gaussian', sigma2: [91485791n, 1048576n] },
      ownRho: 0.09742382768542104,
      ownEpsilon: 2.1121294559787204,
    },
  ] as const;
  for (const c of cases) {
    it(`${c.mechanism}, minSites 4, ε 1: the own share gives ε ${c.ownEpsilon.toFixed(3)}, the honest sum ε 1`, () => {
      const release = createPrivateRelease(layout, { epsilon: 1, delta: 1e-6, mechanism: c.mechanism, minSites: 4 } as never);
      const params = (name: string) => {
        const noise = release.noisePlan.blocks.find((block) => block.name === name)!.siteNoise as Record<string, unknown>;
        const value = (noise.lambda ?? noise.sigma2) as { numerator: bigint; denominator: bigint };
        return { kind: noise.kind, value: [value.numerator, value.denominator] };
      };
      // The oracle's inputs.
      const [countsKey, countsValue] = Object.entries(c.counts).find(([key]) => key !== 'kind')!;
      expect(params('overall.counts')).toEqual({ kind: c.counts.kind, value: countsValue });
      expect(params('overall.exclusions')).toEqual({ kind: c.exclusions.kind, value: Object.entries(c.exclusions).find(([key]) => key !== 'kind')![1] });
      expect(params('overall.sums')).toEqual({ kind: 'discrete-gaussian', value: [3837195838301591n, 32n] });
      expect(countsKey).toBe(c.counts.kind === 'skellam' ? 'lambda' : 'sigma2');
      expect(release.epsilon).toBeCloseTo(1, 6);
      expect(release.ownShareRho).toBeCloseTo(c.ownRho, 12);
      expect(release.ownShareEpsilon).toBeCloseTo(c.ownEpsilon, 9);
      expect(release.summary().ownShareEpsilon).toBe(release.ownShareEpsilon);
    });
  }

  it('grows with minSites (each share shrinks) and equals ε for one site or the central mechanism', () => {
    const own = (minSites: number, mechanism = 'skellam') => createPrivateRelease(layout, { epsilon: 1, delta: 1e-6, mechanism, minSites } as never);
    expect(own(1).ownShareEpsilon).toBeCloseTo(own(1).epsilon, 12);
    expect(own(20, 'discrete-gaussian').ownShareEpsilon).toBeCloseTo(own(20, 'discrete-gaussian').epsilon, 12);
    const series = [2, 3, 10, 50].map((minSites) => own(minSites).ownShareEpsilon);
    for (let i = 1; i < series.length; i += 1) expect(series[i]!).toBeGreaterThan(series[i - 1]!);
  });
});
