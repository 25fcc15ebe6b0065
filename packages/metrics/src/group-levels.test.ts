// Subgroup level names and which level a raw cell falls in.
import { describe, expect, it } from 'vitest';
import { groupLevelIndex, groupLevelNames } from './group-levels.ts';

describe('group levels', () => {
  const sex = { column: 'sex', levels: ['F', 'M'] };
  const age = { column: 'age', cuts: [50, 70] };

  it('names declared levels, then (other) and (missing)', () => {
    expect(groupLevelNames(sex)).toEqual(['F', 'M', '(other)', '(missing)']);
    expect(groupLevelNames(age)).toEqual(['<50', '50-70', '>=70', '(other)', '(missing)']);
    expect(groupLevelNames({ column: 'x', cuts: [0] })).toEqual(['<0', '>=0', '(other)', '(missing)']);
  });

  it('maps categorical cells exactly, after trimming', () => {
    expect(['F', ' M ', 'f', 'X', '', 'NA', null, undefined, Number.NaN].map((v) => groupLevelIndex(sex, v))).toEqual([0, 1, 2, 2, 3, 3, 3, 3, 3]);
    expect(groupLevelIndex({ column: 'code', levels: ['1', '2'] }, 2)).toBe(1);
    expect(groupLevelIndex({ column: 'code', levels: ['NA', 'EU'] }, 'NA')).toBe(0);
  });

  it('maps numeric cells to bands with the lower bound inclusive', () => {
    const cells = [49.999, 50, '50', 69, 70, 120, -3, 'abc', 'Infinity', '', ' NA ', null, Number.NaN];
    expect(cells.map((v) => groupLevelIndex(age, v))).toEqual([0, 1, 1, 1, 2, 2, 0, 3, 3, 4, 4, 4, 4]);
  });
});
