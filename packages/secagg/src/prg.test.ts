import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chiSquareUniform } from '../test-support/chi-square.ts';
import { hex, references } from '../test-support/references.ts';
import { expandMask } from './prg.ts';

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
};

describe('expandMask', () => {
  it('reproduces the independent Python implementation of the documented byte rule, for t from 2 to 2^64 − 59 (both sides of the 2^32 and 2^52 path boundaries)', () => {
    expect(references.expandMask.length).toBe(14);
    for (const { seed, t, selfMask24, pairwiseMask5000Sha256 } of references.expandMask) {
      const modulus = BigInt(t);
      expect([...expandMask(hex(seed), 'self-mask', 24, modulus)].map(String)).toEqual(selfMask24);
      const long = expandMask(hex(seed), 'pairwise-mask', 5000, modulus);
      const bytes = Buffer.alloc(8 * long.length);
      long.forEach((v, i) => bytes.writeBigUInt64LE(v, 8 * i));
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(pairwiseMask5000Sha256);
    }
  });

  it('is a prefix-stable stream: a shorter mask is the start of a longer one', () => {
    const seed = new Uint8Array(32).fill(3);
    const t = 1152921504606748673n;
    const long = expandMask(seed, 'self-mask', 1000, t);
    expect([...expandMask(seed, 'self-mask', 17, t)]).toEqual([...long.subarray(0, 17)]);
    expect(expandMask(seed, 'self-mask', 0, t).length).toBe(0);
  });

  it('is uniform on [0, t): chi-square over 64 bins below the critical value (false-alarm rate 1e-6, fixed seed)', () => {
    const { bins, critical } = references.uniformity;
    for (const t of [65537n, 1000003n, 1152921504606748673n, 2n ** 64n - 59n]) {
      const mask = expandMask(new Uint8Array(32).fill(7), 'self-mask', 64 * 300, t);
      expect(mask.every((v) => v < t)).toBe(true);
      expect(chiSquareUniform(mask, t, bins)).toBeLessThan(critical);
    }
  });

  it('refuses bad arguments with coded errors', () => {
    const seed = new Uint8Array(32);
    expect(code(() => expandMask(new Uint8Array(31), 'x', 1, 7n))).toBe('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT');
    expect(code(() => expandMask(seed, '', 1, 7n))).toBe('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT');
    expect(code(() => expandMask(seed, 'x', -1, 7n))).toBe('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT');
    expect(code(() => expandMask(seed, 'x', 1.5, 7n))).toBe('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT');
    expect(code(() => expandMask(seed, 'x', 1, 1n))).toBe('FEDVAL_ERR_SECAGG_INVALID_MODULUS');
    expect(code(() => expandMask(seed, 'x', 1, 2n ** 64n))).toBe('FEDVAL_ERR_SECAGG_INVALID_MODULUS');
    expect(code(() => expandMask(seed, 'x', 1, 7 as unknown as bigint))).toBe('FEDVAL_ERR_SECAGG_INVALID_MODULUS');
  });
});
