// roc-curve.test.ts — the ROC curve against points counted by hand and Wilson intervals in closed form.
import { describe, expect, it } from 'vitest';
import { rocCurve } from './roc-curve.ts';
import { equalWidthGrid } from './score-grid.ts';

describe('rocCurve', () => {
  // 4 bins; negatives 3,1,1,0 and positives 0,1,1,2 (5 of each class).
  const h = { negative: [3, 1, 1, 0], positive: [0, 1, 1, 2] };

  it('walks the grid edges from (0,0) to (1,1), merging repeated points', () => {
    const curve = rocCurve(h, equalWidthGrid(4));
    // edge 4: nobody; edge 3: tp 2 fp 0; edge 2: tp 3 fp 1; edge 1: tp 4 fp 2; edge 0: tp 4 fp 5 (by hand).
    expect(curve.map((p) => [p.threshold, p.fpr, p.tpr])).toEqual([
      [1, 0, 0],
      [0.75, 0, 0.5],
      [0.5, 0.2, 0.75],
      [0.25, 0.4, 1],
      [0, 1, 1],
    ]);
  });

  it('gives each rate its Wilson interval (closed form, z = 1.959964)', () => {
    const point = rocCurve(h, equalWidthGrid(4))[2]!;
    // tpr 3/4: centre (p + z²/2n)/(1 + z²/n), half z/(1+z²/n)·sqrt(p(1−p)/n + z²/4n²)
    const z = 1.959963984540054;
    const n = 4;
    const p = 0.75;
    const d = 1 + (z * z) / n;
    const centre = (p + (z * z) / (2 * n)) / d;
    const half = (z / d) * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
    expect(point.tpr_ci95![0]).toBeCloseTo(centre - half, 12);
    expect(point.tpr_ci95![1]).toBeCloseTo(centre + half, 12);
  });

  it('widens the band under noise and keeps at most maxPoints points', () => {
    const exact = rocCurve(h, equalWidthGrid(4))[2]!;
    const noisy = rocCurve(h, equalWidthGrid(4), 0.5)[2]!;
    expect(noisy.tpr_ci95![1] - noisy.tpr_ci95![0]).toBeGreaterThan(exact.tpr_ci95![1] - exact.tpr_ci95![0]);
    const bins = 1000;
    const many = { negative: Array.from({ length: bins }, (_, k) => (k < 500 ? 2 : 1)), positive: Array.from({ length: bins }, (_, k) => (k < 500 ? 1 : 2)) };
    const thinned = rocCurve(many, equalWidthGrid(bins), 0, 11);
    expect(thinned).toHaveLength(11);
    expect([thinned[0]!.fpr, thinned[0]!.tpr, thinned[10]!.fpr, thinned[10]!.tpr]).toEqual([0, 0, 1, 1]);
  });

  it('is empty when a class is empty', () => {
    expect(rocCurve({ negative: [1, 2], positive: [0, 0] }, equalWidthGrid(2))).toEqual([]);
  });
});
