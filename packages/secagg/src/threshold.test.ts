import { describe, expect, it } from 'vitest';
import { defaultThreshold, validateThreshold } from './threshold.ts';

describe('defaultThreshold', () => {
  it('is ⌊2n/3⌋ + 1, at least the policy minimum, at most n', () => {
    const expected: [number, number][] = [[1, 1], [2, 2], [3, 3], [4, 3], [5, 4], [6, 5], [9, 7], [10, 7], [20, 14], [100, 67]];
    for (const [n, t] of expected) expect(defaultThreshold(n)).toBe(t);
    expect(defaultThreshold(10, 8)).toBe(8);
    expect(defaultThreshold(5, 5)).toBe(5);
  });

  it('leaves 2t > n + n_C for every n_C < n/3 (the active-server bound of Bonawitz et al. 2017)', () => {
    for (let n = 1; n <= 300; n++) {
      const t = defaultThreshold(n);
      for (let colluding = 0; 3 * colluding < n; colluding++) expect(2 * t).toBeGreaterThan(n + colluding);
    }
  });

  it('refuses a policy minimum above the number of sites', () => {
    expect(() => defaultThreshold(3, 4)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_THRESHOLD' }));
    expect(() => defaultThreshold(0)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_ARGUMENT' }));
  });
});

describe('validateThreshold', () => {
  it('accepts minSites ≤ t ≤ n with 2t > n', () => {
    expect(validateThreshold(3, 5, 3)).toBe(3);
    expect(validateThreshold(5, 5, 3)).toBe(5);
    expect(validateThreshold(2, 3)).toBe(2);
  });

  it('refuses, naming every broken bound', () => {
    expect(() => validateThreshold(6, 5)).toThrow(/exceeds the 5 sites/);
    expect(() => validateThreshold(3, 5, 4)).toThrow(/below the site's policy.min_sites 4/);
    expect(() => validateThreshold(2, 4, 2)).toThrow(/not above half of the 4 sites/);
    expect(() => validateThreshold(2, 6, 3)).toThrow(/policy.min_sites 3; threshold 2 is not above half/);
    // 2t > n + k (k colluding sites): 3 of 5 holds against k = 0, not k = 1; 4 of 5 holds against k = 2, not k = 3.
    expect(validateThreshold(3, 5, 3, 0)).toBe(3);
    expect(() => validateThreshold(3, 5, 3, 1)).toThrow(/does not satisfy 2t > n \+ k for 5 sites and 1 colluding sites/);
    expect(validateThreshold(4, 5, 3, 2)).toBe(4);
    expect(() => validateThreshold(4, 5, 3, 3)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_THRESHOLD' }));
    expect(() => validateThreshold(4, 5, 3, -1)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_ARGUMENT' }));
    expect(() => validateThreshold(2.5, 5)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_THRESHOLD' }));
    expect(() => validateThreshold(3, 5, 0)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_ARGUMENT' }));
  });
});
