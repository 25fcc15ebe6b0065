// The private release across the group hierarchy: reconciled (consistent) subgroup histograms, their exact variances, and
// suppression of small cells that stays sound with the smaller margins.
import { createAccumulator, createStatisticsLayout, finalizeMetrics } from '@fedval/metrics';
import type { BinaryMetricsReport } from '@fedval/metrics';
import { describe, expect, it } from 'vitest';
import { aggregateNoiseVariance } from './allocation.ts';
import { normalCdf } from './binormal-model.ts';
import { hierarchyVariances } from './hierarchy.ts';
import { seededRandomSource } from './random-source.ts';
import { createPrivateRelease } from './release.ts';
import { resolvePrivacySpec } from './release-spec.ts';
import { finalizeRelease } from './statistics-release.ts';
import { treeQueryVariance, treeShape } from './tree.ts';

const layout = createStatisticsLayout({ groups: [{ column: 'sex', levels: ['F', 'M'] }, { column: 'band', levels: ['x', 'y', 'z'] }] });
const treeLayout = { kind: 'tree', bins: 32, branching: 2, edges: 'equal-width' } as const;

/** One site's vector: `cells` patients per (sex, band, label), scores spread over the grid. */
function siteVector(positivesF: number): Float64Array {
  const accumulator = createAccumulator(layout);
  let i = 0;
  const add = (count: number, label: number, sex: string, band: string) => {
    for (let k = 0; k < count; k += 1, i += 1) accumulator.addBinary(((i * 37) % 997) / 997, label, [sex, band]);
  };
  add(positivesF, 1, 'F', 'x');
  add(400, 0, 'F', 'y');
  add(300, 1, 'M', 'z');
  add(900, 0, 'M', 'x');
  return accumulator.vector();
}

describe('decode reconciles the overall and every group column', () => {
  const privacy = resolvePrivacySpec({ epsilon: 1, delta: 1e-6, minSites: 1, mechanism: 'discrete-gaussian', layout: treeLayout }, { layout });
  const release = createPrivateRelease(layout, privacy);
  const vector = siteVector(60);

  it('gives histograms whose levels add up to the overall, bin by bin, and the star GLS variances of a class total', () => {
    const decoded = release.decode(release.protect(vector, seededRandomSource('hierarchy release')), 1);
    const field = (column: string | null, level: string | null, name: 'negative_histogram' | 'positive_histogram') => {
      const section = layout.sections.find((s) => s.column === column && s.level === level)!;
      const slice = section.fields[name]!;
      return decoded.vector.subarray(slice.offset, slice.offset + slice.length);
    };
    for (const name of ['negative_histogram', 'positive_histogram'] as const) {
      const overall = field(null, null, name);
      for (const column of ['sex', 'band']) {
        const levels = layout.sections.filter((s) => s.column === column).map((s) => field(column, s.level, name));
        for (let k = 0; k < overall.length; k += 1) expect(levels.reduce((sum, level) => sum + level[k]!, 0)).toBeCloseTo(overall[k]!, 8);
      }
    }
    // Closed form: a class total of each population from its own tree (node variance × the root query of the tree), a
    // level's combined by inverse variance with its released class total (each column's totals block, one counter per
    // patient), then reconciled across the star (levels include (other) and (missing)).
    const block = (name: string) => aggregateNoiseVariance(release.noisePlan.blocks.find((b) => b.name === name)!, 1);
    const root = treeQueryVariance(treeShape(32, 2), new Float64Array(32).fill(1), 1);
    const level = (column: string) => 1 / (1 / (block(`by_group.${column}.counts`) * root) + 1 / block(`by_group.${column}.totals`));
    const star = hierarchyVariances(block('overall.counts') * root, [
      { levels: 4, variance: level('sex') },
      { levels: 5, variance: level('band') },
    ]);
    expect(decoded.classTotalVariances['overall.counts']).toBeCloseTo(star.overall, 9);
    expect(decoded.classTotalVariances['by_group.sex.counts']).toBeCloseTo(star.columns[0]!, 9);
    expect(decoded.classTotalVariances['by_group.band.counts']).toBeCloseTo(star.columns[1]!, 9);
    expect(star.overall).toBeLessThan(block('overall.counts') * root);
    // The released totals make a level's class total far more precise than its tree alone (one counter per patient, not the tree's 6 levels).
    expect(star.columns[0]!).toBeLessThan(0.5 * block('by_group.sex.counts') * root);
    // Each level's class histogram sums to its class total: positives of F plus M are the overall positives.
    const positives = (column: string | null, level: string | null) => field(column, level, 'positive_histogram').reduce((a, b) => a + b, 0);
    const sexPositives = layout.sections.filter((s) => s.column === 'sex').reduce((sum, s) => sum + positives('sex', s.level), 0);
    expect(sexPositives).toBeCloseTo(positives(null, null), 8);
  });

  it('suppresses a level with fewer than minCellSize positives in at most Φ(−3) of rounds, and releases one with 120', () => {
    // finalizeMetrics releases a level when round(max(0, total)) − 3·sd ≥ k, sd² the class total's variance handed to it
    // (next test): a true count c ≤ k − 1 is released only when the noise on its total is ≥ 3·sd + 0.5. The total is a
    // linear combination of independent discrete Gaussians, near-Gaussian: P ≈ Φ(−3) ≈ 0.00135 (and ≤ exp(−4.5) ≈ 0.011
    // rigorously, the discrete Gaussian being sub-Gaussian with its variance, CKS20 §2). Checked by simulation on the
    // decoded totals, with their variance against the one the release reports.
    const rounds = 1000;
    const k = layout.spec.minCellSize;
    const rng = seededRandomSource('suppression soundness');
    const small = siteVector(k - 1);
    const section = layout.sections.find((s) => s.column === 'sex' && s.level === 'F')!;
    const slice = section.fields.positive_histogram!;
    let released = 0;
    let squares = 0;
    let sd = 0;
    for (let r = 0; r < rounds; r += 1) {
      const decoded = release.decode(release.protect(small, rng), 1);
      let total = 0;
      for (let i = slice.offset; i < slice.offset + slice.length; i += 1) total += decoded.vector[i]!;
      sd = Math.sqrt(decoded.classTotalVariances['by_group.sex.counts']!);
      squares += (total - (k - 1)) ** 2;
      if (Math.max(0, Math.round(total)) - 3 * sd >= k) released += 1;
    }
    expect(squares / rounds / sd ** 2).toBeGreaterThan(0.9);
    expect(squares / rounds / sd ** 2).toBeLessThan(1.1);
    const bound = normalCdf(-3);
    // Binomial upper tolerance: the bound's mean count plus 4 of its standard deviations.
    expect(released / rounds).toBeLessThanOrEqual(bound + (4 * Math.sqrt(bound * rounds)) / rounds);
    // Through finalizeRelease: the small level is withheld, a level with 120 positives released.
    const finalRng = seededRandomSource('suppression finalize');
    const level = (v: Float64Array) => (finalizeRelease(release, release.protect(v, finalRng), 1).metrics as BinaryMetricsReport).by_group['sex']!['F']!;
    for (let r = 0; r < 10; r += 1) {
      expect(level(small).suppressed).toBe(true);
      expect(level(siteVector(120)).suppressed).toBe(false);
    }
  });

  it('finalizes through the same margins as finalizeMetrics given the class-total variances, not B bins of the per-bin variance', () => {
    const decoded = release.decode(release.protect(vector, seededRandomSource('margins')), 1);
    const withTotals = finalizeMetrics(layout, decoded.vector, { noise: { blockVariances: decoded.blockVariances, classTotalVariances: decoded.classTotalVariances } }) as BinaryMetricsReport;
    const withoutTotals = finalizeMetrics(layout, decoded.vector, { noise: { blockVariances: decoded.blockVariances } }) as BinaryMetricsReport;
    expect(finalizeRelease(release, release.protect(vector, seededRandomSource('margins')), 1).metrics).toEqual(withTotals);
    // 60 positives: released with the exact total variance, withheld under the old margin (1000 fine bins of the per-bin variance).
    expect(withTotals.by_group['sex']!['F']!.suppressed).toBe(false);
    expect(withoutTotals.by_group['sex']!['F']!.suppressed).toBe(true);
  });
});

describe('the small-cell rule at a chosen α (finalizeRelease suppressionAlpha)', () => {
  const privacy = resolvePrivacySpec({ epsilon: 1, delta: 1e-6, minSites: 1, mechanism: 'discrete-gaussian', layout: treeLayout }, { layout });
  const release = createPrivateRelease(layout, privacy);
  const k = layout.spec.minCellSize;

  it('releases a level with k − 1 positives in at most α of rounds (simulation), and uses z = Φ⁻¹(1 − α) standard deviations', () => {
    const alpha = 0.05;
    const rounds = 200;
    const rng = seededRandomSource('suppression alpha');
    const small = siteVector(k - 1);
    let released = 0;
    for (let r = 0; r < rounds; r += 1) {
      const metrics = finalizeRelease(release, release.protect(small, rng), 1, { suppressionAlpha: alpha }).metrics as BinaryMetricsReport;
      if (!metrics.by_group['sex']!['F']!.suppressed) released += 1;
    }
    // Binomial upper tolerance: α's mean count plus 4 of its standard deviations.
    expect(released / rounds).toBeLessThanOrEqual(alpha + (4 * Math.sqrt(alpha * (1 - alpha) * rounds)) / rounds);
    // The same decoded vector through finalizeMetrics with z = 1.6449 (Φ(−1.6449) = 0.05, a closed form): the same report.
    const aggregate = release.protect(siteVector(40), seededRandomSource('alpha margins'));
    const decoded = release.decode(aggregate, 1);
    const z = 1.6448536269514729;
    expect(normalCdf(-z)).toBeCloseTo(alpha, 12);
    const expected = finalizeMetrics(layout, decoded.vector, { noise: { blockVariances: decoded.blockVariances, classTotalVariances: decoded.classTotalVariances, marginSds: z } });
    expect(finalizeRelease(release, aggregate, 1, { suppressionAlpha: alpha }).metrics).toEqual(expected);
  });

  it('refuses an α outside (0, 0.05] with a coded error (a margin under Φ⁻¹(0.95) standard deviations)', () => {
    const aggregate = release.protect(siteVector(40), seededRandomSource('alpha refused'));
    for (const alpha of [0, 0.5, 0.0501, 0.2, 0.4999, -1, Number.NaN]) {
      expect(() => finalizeRelease(release, aggregate, 1, { suppressionAlpha: alpha })).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }));
    }
  });
});
