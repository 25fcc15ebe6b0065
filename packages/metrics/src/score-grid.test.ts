// The score grid: bins are exact at their edges, so counts at a grid threshold are exact.
import { describe, expect, it } from 'vitest';
import { gridIndex, scoreBin } from './score-grid.ts';

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
