// Coarse bins: edges, pinned thresholds, equal-mass placement and merged counts.
import { describe, expect, it } from 'vitest';
import { checkEdges, coarsenHistogram, equalMassEdges, equalWidthEdges, mergeEdges } from './coarsening.ts';

describe('equalWidthEdges', () => {
  it('splits the fine grid evenly', () => {
    expect([...equalWidthEdges(1000, 4)]).toEqual([0, 250, 500, 750, 1000]);
    expect([...equalWidthEdges(10, 3)]).toEqual([0, 3, 7, 10]);
  });

  it('moves the nearest free edge onto each threshold and keeps the bin count', () => {
    expect([...equalWidthEdges(1000, 4, [300])]).toEqual([0, 300, 500, 750, 1000]);
    expect([...equalWidthEdges(1000, 4, [500, 520])]).toEqual([0, 250, 500, 520, 1000]);
    expect([...equalWidthEdges(1000, 4, [750])]).toEqual([0, 250, 500, 750, 1000]);
  });

  it('with crowded, keeps crowded thresholds (a fitted grid puts several in consecutive fine bins), still with the bin count', () => {
    // 14 thresholds, ten of them in the top fine bins 104 … 113 of 114: no free edge lies between their neighbours.
    const thresholds = [20, 40, 60, 90, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113];
    expect(() => equalWidthEdges(114, 20, thresholds)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }));
    const edges = [...equalWidthEdges(114, 20, thresholds, true)];
    expect(edges).toHaveLength(21);
    for (const t of thresholds) expect(edges).toContain(t);
    expect(edges.every((e, i) => i === 0 || e > edges[i - 1]!)).toBe(true);
    expect([edges[0], edges.at(-1)]).toEqual([0, 114]);
    const mass = new Float64Array(114).fill(1);
    const massEdges = [...equalMassEdges(mass, 20, thresholds, true)];
    expect(massEdges).toHaveLength(21);
    for (const t of thresholds) expect(massEdges).toContain(t);
    // 7 is pinned by moving the edge 6; for 9, the original edges farthest from those chosen fill the free place (4).
    expect([...equalWidthEdges(10, 5, [7, 8, 9], true)]).toEqual([0, 4, 7, 8, 9, 10]);
    expect(() => equalWidthEdges(10, 3, [7, 8, 9], true)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }));
  });

  it('refuses thresholds that do not fit and bad bin counts', () => {
    expect(() => equalWidthEdges(1000, 2, [100, 200])).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }));
    expect(() => equalWidthEdges(1000, 4, [0])).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }));
    expect(() => equalWidthEdges(10, 11)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }));
  });
});

describe('equalMassEdges', () => {
  it('gives each coarse bin an equal share of the mass', () => {
    // Mass proportional to the fine-bin index: cumulative mass of [0, e) is e(e − 1)/2.
    const mass = Float64Array.from({ length: 1000 }, (_, i) => i);
    const edges = equalMassEdges(mass, 4);
    const total = (1000 * 999) / 2;
    for (let i = 1; i < 4; i += 1) {
      const e = edges[i]!;
      expect(Math.abs((e * (e - 1)) / 2 / total - i / 4)).toBeLessThan(0.002);
    }
  });

  it('keeps at least one fine bin per coarse bin when the mass is concentrated', () => {
    const mass = new Float64Array(100);
    mass[3] = 1;
    const edges = equalMassEdges(mass, 10);
    checkEdges(edges, 100);
    expect(edges.length).toBe(11);
  });

  it('refuses negative or all-zero masses', () => {
    expect(() => equalMassEdges(new Float64Array(10), 2)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }));
    expect(() => equalMassEdges(Float64Array.of(1, -1, 1), 2)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }));
  });
});

describe('coarsenHistogram', () => {
  it('sums runs of fine bins, reading from an offset', () => {
    const vector = Float64Array.of(99, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
    expect([...coarsenHistogram(vector, Int32Array.of(0, 3, 7, 10), 1)]).toEqual([6, 22, 27]);
  });

  it('refuses edges that run past the vector or do not increase', () => {
    expect(() => coarsenHistogram(new Float64Array(5), Int32Array.of(0, 3, 6))).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_BLOCK_OUT_OF_RANGE' }));
    expect(() => coarsenHistogram(new Float64Array(5), Int32Array.of(0, 3, 3, 5))).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }));
  });
});

describe('mergeEdges (per-class layouts)', () => {
  it('keeps every m-th edge, the kept edges and both ends: a subset of the edges', () => {
    const edges = Int32Array.of(0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100);
    expect([...mergeEdges(edges, 4, [])]).toEqual([0, 40, 80, 100]);
    expect([...mergeEdges(edges, 4, [50, 90])]).toEqual([0, 40, 50, 80, 90, 100]);
    expect([...mergeEdges(edges, 1, [])]).toEqual([...edges]);
  });

  it('refuses a kept edge that is not an edge, and a factor below 1', () => {
    const edges = Int32Array.of(0, 10, 20, 30);
    expect(() => mergeEdges(edges, 2, [15])).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }));
    expect(() => mergeEdges(edges, 0, [])).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }));
  });
});
