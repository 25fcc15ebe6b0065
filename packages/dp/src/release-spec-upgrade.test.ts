// A privacy spec resolved before the class-totals block existed keeps its release vector and ρ split on re-resolution.
import { createStatisticsLayout } from '@fedval/metrics';
import { describe, expect, it } from 'vitest';
import { createPrivateRelease } from './release.ts';
import type { PrivateRelease } from './release.ts';
import { resolvePrivacySpec } from './release-spec.ts';

const layout = createStatisticsLayout({ groups: [{ column: 'meno', levels: ['0', '1'] }, { column: 'age', cuts: [50, 70] }] });

/** Each block's weight as the spec's weights give it (block name → weight), written out by hand. */
function blockWeight(name: string, weights: { overall: number; subgroup: number; sums: number; exclusions: number; totals?: number }): number {
  if (name === 'overall.counts') return weights.overall;
  if (name.endsWith('.counts')) return weights.subgroup;
  if (name.endsWith('.sums')) return weights.sums;
  if (name.endsWith('.exclusions')) return weights.exclusions;
  if (name.endsWith('.totals')) return weights.totals!;
  throw new Error(`unexpected block ${name}`);
}

function shares(release: PrivateRelease): Map<string, number> {
  return new Map(release.noisePlan.blocks.map((block) => [block.name, block.rho / release.noisePlan.rho]));
}

describe('re-resolving a spec resolved before the class totals', () => {
  // A spec as the study stored it then: explicit layout, every field, four weights (what a task carries on the wire).
  const current = resolvePrivacySpec({ epsilon: 1, delta: 1e-6, minSites: 3, layout: { kind: 'flat', bins: 20 } }, { layout });
  const { totals: _dropped, ...fourWeights } = current.weights;
  const stored: unknown = JSON.parse(JSON.stringify({ ...current, weights: fourWeights }));

  it('keeps its four weights, its vector length and its ρ split (no totals block); a new spec gets the block', () => {
    const again = resolvePrivacySpec(stored, { layout });
    expect(again.weights).toEqual({ overall: 3, subgroup: 2, sums: 1, exclusions: 0.25 });
    const old = createPrivateRelease(layout, stored as never);
    const upgraded = createPrivateRelease(layout, current);
    const oldNames = old.noisePlan.blocks.map((b) => b.name);
    expect(oldNames.some((name) => name.endsWith('.totals'))).toBe(false);
    // Without the totals blocks the new release is the old one: same blocks, same offsets in order, same length.
    const totalsBlocks = upgraded.noisePlan.blocks.filter((b) => b.name.endsWith('.totals'));
    expect(totalsBlocks.map((b) => b.name)).toEqual(['by_group.meno.totals', 'by_group.age.totals']);
    expect(old.length).toBe(upgraded.length - totalsBlocks.reduce((n, b) => n + b.length, 0));
    expect(old.noisePlan.blocks.reduce((n, b) => n + b.length, 0)).toBe(old.length);
    expect(oldNames).toEqual(upgraded.noisePlan.blocks.filter((b) => !b.name.endsWith('.totals')).map((b) => b.name));
    // ρ split: a block's share is its weight over the sum of the weights (old: 3 + 2·2 + 3·(1 + 0.25) = 10.75; with the
    // totals, 2 columns × 1 more = 12.75).
    for (const [name, share] of shares(old)) expect(share).toBeCloseTo(blockWeight(name, fourWeights) / 10.75, 12);
    for (const [name, share] of shares(upgraded)) expect(share).toBeCloseTo(blockWeight(name, current.weights) / 12.75, 12);
  });

  it('a new spec written with the four weights only still gets the default totals weight', () => {
    const fresh = resolvePrivacySpec({ epsilon: 1, delta: 1e-6, minSites: 3, layout: { kind: 'flat', bins: 20 }, weights: fourWeights }, { layout });
    expect(fresh.weights).toEqual({ ...fourWeights, totals: 1 });
  });
});

describe('re-resolving a spec resolved before per-class layouts (issue 18)', () => {
  // A rare-outcome study: 'auto' now gives its positives a coarser layout of their own.
  const rare = createStatisticsLayout({ groups: [{ column: 'sex', levels: ['F', 'M'] }] });
  const fresh = resolvePrivacySpec({ epsilon: 1, delta: 1e-6, minSites: 3 }, { layout: rare, expectedPatients: 20_000, expectedPrevalence: 0.02, sites: 4 });
  // The spec as a study resolved it before: the same explicit layout, no positiveLayout (what its tasks carry).
  const { positiveLayout: _dropped, ...before } = fresh;
  const stored: unknown = JSON.parse(JSON.stringify(before));

  it('resolves to itself: no positives layout, the same blocks and vector as a release of one layout for both classes', () => {
    expect(fresh.positiveLayout).toBeDefined();
    const again = resolvePrivacySpec(stored, { layout: rare });
    expect(again).toEqual(stored);
    expect(again.positiveLayout).toBeUndefined();
    const release = createPrivateRelease(rare, again);
    const names = release.noisePlan.blocks.map((b) => b.name);
    expect(names).toEqual([
      'overall.counts', 'overall.exclusions', 'overall.sums',
      'by_group.sex.counts', 'by_group.sex.exclusions', 'by_group.sex.sums', 'by_group.sex.totals',
    ]);
    // Two histograms per level on the shared tree (nodes per histogram = 2·leaves − 1 for a full binary tree).
    const leaves = before.layout.edges.length - 1;
    expect(release.noisePlan.blocks.find((b) => b.name === 'overall.counts')!.length).toBe(2 * (2 * leaves - 1));
    // With the positives' own layout, the positives move to their own blocks and the vector changes.
    const perClass = createPrivateRelease(rare, fresh);
    expect(perClass.noisePlan.blocks.map((b) => b.name)).toContain('overall.positives');
    expect(perClass.length).toBeLessThan(release.length);
  });
});
