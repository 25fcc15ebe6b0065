// Hierarchical histograms: the two-pass estimator equals least squares solved independently (normal equations),
// is unbiased, and its prefix-sum variances match both the exact formula and simulation.
import { describe, expect, it } from 'vitest';
import { discreteGaussianSampler } from './discrete-gaussian.ts';
import { seededRandomSource } from './random-source.ts';
import { rational } from './rational.ts';
import type { TreeShape } from './tree.ts';
import { encodeTree, estimateTreeHistogram, treePrefixVariances, treeQueryVariance, treeSensitivity, treeShape } from './tree.ts';
import { solve } from '../test-support/dense-solve.ts';

/** Node-by-leaf incidence matrix H, built from leaf ranges (not from the heap arithmetic under test). */
function incidence(shape: TreeShape): number[][] {
  const rows: number[][] = [];
  for (let level = 0, width = shape.paddedLeaves; level < shape.levels; level += 1, width /= shape.branching) {
    for (let start = 0; start < shape.paddedLeaves; start += width) {
      rows.push(Array.from({ length: shape.paddedLeaves }, (_, j) => (j >= start && j < start + width ? 1 : 0)));
    }
  }
  return rows;
}

/** (HᵀH) and Hᵀy for the level-order node vector y. */
function normalEquations(shape: TreeShape, y: Float64Array): { hth: number[][]; hty: number[] } {
  const h = incidence(shape);
  const leaves = shape.paddedLeaves;
  const hth = Array.from({ length: leaves }, (_, i) => Array.from({ length: leaves }, (_, j) => h.reduce((s, row) => s + row[i]! * row[j]!, 0)));
  const hty = Array.from({ length: leaves }, (_, i) => h.reduce((s, row, r) => s + row[i]! * y[r]!, 0));
  return { hth, hty };
}

const SHAPES: [bins: number, branching: number][] = [[8, 2], [9, 3], [13, 4], [16, 4], [5, 5]];

describe('treeShape and encodeTree', () => {
  it('counts levels and nodes, and sums every range', () => {
    const shape = treeShape(13, 4);
    expect(shape).toMatchObject({ bins: 13, branching: 4, levels: 3, paddedLeaves: 16, nodeCount: 21 });
    expect(treeSensitivity(shape)).toEqual({ l1Sensitivity: 3, l2SensitivitySquared: 3 });
    const histogram = Float64Array.from({ length: 13 }, (_, i) => i + 1);
    const nodes = encodeTree(histogram, shape);
    const h = incidence(shape);
    const padded = [...histogram, 0, 0, 0];
    h.forEach((row, r) => expect(nodes[r]).toBe(row.reduce((s, x, j) => s + x * padded[j]!, 0)));
  });

  it('refuses mismatched lengths and degenerate shapes', () => {
    const shape = treeShape(8, 2);
    expect(() => encodeTree(new Float64Array(7), shape)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_TREE_SHAPE' }));
    expect(() => estimateTreeHistogram(new Float64Array(14), shape)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_TREE_SHAPE' }));
    expect(() => treeShape(8, 1)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }));
    expect(() => treeShape(1e7, 2, { maxNodes: 1000 })).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }));
  });
});

describe('estimateTreeHistogram (Hay et al. 2010)', () => {
  it('equals the least-squares solution of the normal equations', () => {
    const rng = seededRandomSource('tree least squares');
    for (const [bins, branching] of SHAPES) {
      const shape = treeShape(bins, branching);
      const noisy = Float64Array.from({ length: shape.nodeCount }, () => (rng.nextUint32() % 2001) - 1000);
      const { hth, hty } = normalEquations(shape, noisy);
      const expected = solve(hth, hty);
      const estimate = estimateTreeHistogram(noisy, shape);
      for (let j = 0; j < bins; j += 1) expect(estimate[j]).toBeCloseTo(expected[j]!, 8);
    }
  });

  it('returns the exact histogram from noiseless nodes (the linear estimator is unbiased)', () => {
    const shape = treeShape(1000, 4);
    const histogram = Float64Array.from({ length: 1000 }, (_, i) => (i * 7919) % 101);
    const estimate = estimateTreeHistogram(encodeTree(histogram, shape), shape);
    for (let j = 0; j < 1000; j += 1) expect(estimate[j]).toBeCloseTo(histogram[j]!, 8);
  });

  it('has mean equal to the truth under discrete Gaussian node noise (simulation)', () => {
    const rng = seededRandomSource('tree unbiased');
    const shape = treeShape(16, 2);
    const histogram = Float64Array.from({ length: 16 }, (_, i) => 10 * i);
    const nodes = encodeTree(histogram, shape);
    const sampler = discreteGaussianSampler(rational(100n));
    const trials = 4000;
    const sums = new Float64Array(16);
    for (let t = 0; t < trials; t += 1) {
      const noisy = nodes.map((v) => v + Number(sampler.sample(rng)));
      estimateTreeHistogram(noisy, shape).forEach((x, j) => (sums[j]! += x));
    }
    const leafStd = Math.sqrt(treeQueryVariance(shape, Float64Array.from({ length: 16 }, (_, j) => (j === 0 ? 1 : 0)), 100));
    sums.forEach((s, j) => expect(Math.abs(s / trials - histogram[j]!)).toBeLessThan((5 * leafStd) / Math.sqrt(trials)));
  });
});

describe('variances of estimated counts', () => {
  it('equal σ²·cᵀ(HᵀH)⁻¹c from the normal equations, for every prefix', () => {
    for (const [bins, branching] of SHAPES) {
      const shape = treeShape(bins, branching);
      const { hth } = normalEquations(shape, new Float64Array(shape.nodeCount));
      const prefix = treePrefixVariances(shape, 2.5);
      expect(prefix[0]).toBe(0);
      for (let k = 1; k <= bins; k += 1) {
        const c = Array.from({ length: shape.paddedLeaves }, (_, j): number => (j < k ? 1 : 0));
        const u = solve(hth, c);
        expect(prefix[k]).toBeCloseTo(2.5 * c.reduce((s, x, j) => s + x * u[j]!, 0), 9);
      }
    }
  });

  it('match the empirical variance of prefix sums under simulated noise', () => {
    const rng = seededRandomSource('tree variance simulation');
    const shape = treeShape(27, 3);
    const sampler = discreteGaussianSampler(rational(400n));
    const nodes = encodeTree(new Float64Array(27), shape);
    const trials = 4000;
    const ks = [1, 5, 13, 20, 27];
    const sum = new Float64Array(ks.length);
    const sumSquares = new Float64Array(ks.length);
    for (let t = 0; t < trials; t += 1) {
      const estimate = estimateTreeHistogram(nodes.map((v) => v + Number(sampler.sample(rng))), shape);
      ks.forEach((k, i) => {
        let prefix = 0;
        for (let j = 0; j < k; j += 1) prefix += estimate[j]!;
        sum[i]! += prefix;
        sumSquares[i]! += prefix * prefix;
      });
    }
    const predicted = treePrefixVariances(shape, 400);
    ks.forEach((k, i) => {
      const variance = (sumSquares[i]! - (sum[i]! * sum[i]!) / trials) / (trials - 1);
      // The sample variance of 4000 normal draws has relative standard error √(2/3999) ≈ 2.2 %.
      expect(Math.abs(variance / predicted[k]! - 1)).toBeLessThan(0.1);
    });
  });

  it('stay polylogarithmic: at equal ρ a 1024-bin binary tree has worst prefix variance ≈ 20 units against 1024 flat', () => {
    // At a fixed ρ the node variance is levels/(2ρ) for the tree and 1/(2ρ) for a flat histogram.
    const shape = treeShape(1024, 2);
    const worst = Math.max(...treePrefixVariances(shape, shape.levels));
    expect(worst).toBeLessThan(22);
  });
});
