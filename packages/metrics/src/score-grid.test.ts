// The score grid: bins are exact at their edges (equal-width and fitted), so counts at a grid threshold are exact.
import { describe, expect, it } from 'vitest';
import { equalWidthGrid, fittedGrid, gridIndex, reliabilityBinStarts, scoreBin, scoreGridOf } from './score-grid.ts';

describe('scoreBin', () => {
  it.each([2, 7, 10, 100, 999, 1000, 4096])('puts k/B in bin k and the double just below in bin k−1 (B = %d)', (B) => {
    for (let k = 0; k <= B; k += 1) {
      const edge = k / B;
      expect(scoreBin(edge, B)).toBe(Math.min(k, B - 1));
      if (k > 0) {
        const below = edge - Number.EPSILON * edge; // at least one ulp below the edge
        expect(scoreBin(below, B)).toBe(k - 1);
        // The definition: the largest k with s >= k/B.
        expect(below >= (k - 1) / B && below < edge).toBe(true);
      }
    }
  });

  it('handles edges where s·B rounds across an integer', () => {
    expect(0.29 * 100).toBeLessThan(29);
    expect(scoreBin(0.29, 100)).toBe(29);
    expect(0.57 * 100).toBeGreaterThan(56.99);
    expect(scoreBin(0.57, 100)).toBe(57);
    expect(scoreBin(1, 1000)).toBe(999);
    expect(scoreBin(0, 1000)).toBe(0);
  });

  it('agrees with "score >= threshold" for random scores at every threshold of a small grid', () => {
    let seed = 12345;
    const random = (): number => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const B = 50;
    for (let i = 0; i < 2000; i += 1) {
      const s = random();
      const bin = scoreBin(s, B);
      for (let k = 0; k < B; k += 1) expect(bin >= k).toBe(s >= k / B);
    }
  });
});

describe('gridIndex', () => {
  it('finds grid points and refuses values off the grid', () => {
    expect(gridIndex(0.05, 1000)).toBe(50);
    expect(gridIndex(0.1 + 0.2, 10)).toBe(3);
    expect(gridIndex(0.0005, 1000)).toBeNull();
    expect(gridIndex(1 / 3, 1000)).toBeNull();
  });
});

describe('fittedGrid', () => {
  const interior = [0.013, 0.1, 0.25, 0.2500000000000001, 0.7];
  const grid = fittedGrid(interior);
  const ends = [0, ...interior, 1];
  /** The definition, by a linear scan: the largest k < B with s >= e_k. */
  const byScan = (s: number): number => {
    let k = 0;
    for (let j = 1; j < grid.bins; j += 1) if (s >= ends[j]!) k = j;
    return k;
  };

  it('has B = edges + 1 bins with e₀ = 0 and e_B = 1', () => {
    expect(grid.kind).toBe('fitted');
    expect(grid.bins).toBe(6);
    expect(Array.from({ length: 7 }, (_, k) => grid.edge(k))).toEqual(ends);
  });

  it('puts every edge in the bin it opens, the double just below it in the bin before, and 1 in the top bin', () => {
    ends.forEach((edge, k) => {
      expect(grid.bin(edge)).toBe(Math.min(k, grid.bins - 1));
      if (k > 0 && k < grid.bins) expect(grid.bin(edge - Number.EPSILON * edge)).toBe(k - 1);
    });
    expect(grid.bin(0.25)).toBe(3);
    expect(grid.bin(0.2500000000000001)).toBe(4);
  });

  it('agrees with the linear scan and with "score >= edge" for random scores', () => {
    let seed = 777;
    const random = (): number => (seed = (seed * 48271) % 2147483647) / 2147483647;
    for (let i = 0; i < 5000; i += 1) {
      const s = i % 7 === 0 ? (ends[i % ends.length] as number) : random();
      const bin = grid.bin(s);
      expect(bin).toBe(byScan(s));
      for (let k = 0; k < grid.bins; k += 1) expect(bin >= k).toBe(s >= ends[k]!);
    }
  });

  it('finds edges exactly and nothing else', () => {
    expect(grid.index(0.25)).toBe(3);
    expect(grid.index(0)).toBe(0);
    expect(grid.index(1)).toBe(6);
    expect(grid.index(0.2500000000000002)).toBeNull();
    expect(grid.index(0.5)).toBeNull();
  });
});

describe('scoreGridOf and reliabilityBinStarts', () => {
  it('gives the equal-width grid without fitted edges, the fitted one with them', () => {
    const equal = scoreGridOf({ bins: 100 });
    expect(equal.kind).toBe('equal_width');
    expect(equal.edge(29)).toBe(0.29);
    expect(equal.bin(0.29)).toBe(scoreBin(0.29, 100));
    expect(equal.index(0.1 + 0.2)).toBe(30);
    const spec = { bins: 4, scoreGrid: { edges: [0.2, 0.5, 0.6] } };
    expect(scoreGridOf(spec).bin(0.55)).toBe(2);
    expect(scoreGridOf(spec)).toBe(scoreGridOf(spec));
  });

  it('starts reliability bin j at the edge j/C', () => {
    expect(Array.from(reliabilityBinStarts(equalWidthGrid(100), 10))).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    expect(Array.from(reliabilityBinStarts(fittedGrid([0.1, 0.25, 0.5, 0.75, 0.9]), 4))).toEqual([0, 2, 3, 4, 6]);
  });
});
