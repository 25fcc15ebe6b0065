import { describe, expect, it } from 'vitest';
import { centeredRepresentatives, liftToResidues } from './residues.ts';

describe('liftToResidues and centeredRepresentatives', () => {
  it('lift signed integers to [0, t) and back to [−(t−1)/2, (t−1)/2] for odd t', () => {
    const t = 11n;
    expect([...liftToResidues([-12, -11, -6, -5, -1, 0, 1, 5, 6, 11, 23n], t)]).toEqual([10n, 0n, 5n, 6n, 10n, 0n, 1n, 5n, 6n, 0n, 1n]);
    expect([...centeredRepresentatives([0n, 1n, 5n, 6n, 10n, 11n, -1n, 27n], t)]).toEqual([0n, 1n, 5n, -5n, -1n, 0n, -1n, 5n]);
  });

  it('round-trip every value of the centred range of a 60-bit modulus', () => {
    const t = 1152921504606748673n;
    const half = (t - 1n) / 2n;
    const values = [-half, -half + 1n, -1n, 0n, 1n, half - 1n, half];
    expect([...centeredRepresentatives(liftToResidues(values, t), t)]).toEqual(values);
    expect([...liftToResidues([-half], t)]).toEqual([half + 1n]);
  });

  it('take the even-modulus range [−t/2, t/2 − 1]', () => {
    expect([...centeredRepresentatives([0n, 1n, 2n, 3n], 4n)]).toEqual([0n, 1n, -2n, -1n]);
  });

  it('refuse non-integers and a bad modulus', () => {
    expect(() => liftToResidues([0.5], 7n)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_ARGUMENT' }));
    expect(() => liftToResidues([2 ** 53], 7n)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_ARGUMENT' }));
    expect(() => centeredRepresentatives([1n], 0n)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_MODULUS' }));
  });
});
