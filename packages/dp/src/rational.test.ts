// Exact rationals: every double converts exactly, rounding up never rounds down.
import { describe, expect, it } from 'vitest';
import { DpError } from './errors.ts';
import { bitLength, ceilToDenominator, compareRational, isqrt, rational, rationalFromNumber, rationalToNumber } from './rational.ts';

describe('rational', () => {
  it('reduces to lowest terms and refuses negative or zero denominators', () => {
    expect(rational(6n, 4n)).toEqual({ numerator: 3n, denominator: 2n });
    expect(rational(0n, 5n)).toEqual({ numerator: 0n, denominator: 1n });
    expect(() => rational(1n, 0n)).toThrow(DpError);
    expect(() => rational(-1n, 2n)).toThrow(DpError);
    expect(() => rational(0.5)).toThrow(DpError);
  });

  it('reads a double exactly: 0.1 is 3602879701896397 / 2^55', () => {
    expect(rationalFromNumber(0.1)).toEqual({ numerator: 3602879701896397n, denominator: 1n << 55n });
    expect(rationalFromNumber(1024)).toEqual({ numerator: 1024n, denominator: 1n });
    expect(rationalFromNumber(Number.MIN_VALUE)).toEqual({ numerator: 1n, denominator: 1n << 1074n });
    expect(() => rationalFromNumber(-1)).toThrow(DpError);
  });

  it('rounds up to a denominator, never below the double', () => {
    const d = 1n << 20n;
    for (const x of [0.1, 1 / 3, 1234.567, 2 ** -30, 5]) {
      const r = ceilToDenominator(x, d);
      expect(r.denominator <= d).toBe(true);
      expect(compareRational(r, rationalFromNumber(x))).toBeGreaterThanOrEqual(0);
      // One grid step lower is already below x.
      const step = rational(r.numerator * (d / r.denominator) - 1n, d);
      expect(compareRational(step, rationalFromNumber(x))).toBe(-1);
    }
    expect(ceilToDenominator(5, d)).toEqual({ numerator: 5n, denominator: 1n });
  });

  it('converts back to the nearest double', () => {
    expect(rationalToNumber(rational(1n, 3n))).toBe(1 / 3);
    expect(rationalToNumber(rationalFromNumber(1234.567))).toBe(1234.567);
    expect(rationalToNumber(rational((1n << 200n) + 1n, 1n << 199n))).toBe(2);
  });

  it('takes exact integer square roots', () => {
    for (const n of [0n, 1n, 2n, 3n, 4n, 99n, 100n, 101n, (1n << 100n) - 1n, 1n << 100n, 12345678901234567890123n]) {
      const r = isqrt(n);
      expect(r * r <= n && (r + 1n) * (r + 1n) > n).toBe(true);
    }
    expect(bitLength(0n)).toBe(0);
    expect(bitLength(255n)).toBe(8);
  });
});
