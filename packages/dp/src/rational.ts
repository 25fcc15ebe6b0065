// rational.ts — exact non-negative rationals over BigInt, used for noise parameters in the sampling path.
import { DpError } from './errors.ts';

/** A non-negative rational number numerator / denominator, always in lowest terms, denominator ≥ 1. */
export interface Rational {
  readonly numerator: bigint;
  readonly denominator: bigint;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** Builds numerator / denominator in lowest terms; both must be integers, numerator ≥ 0, denominator > 0. */
export function rational(numerator: bigint | number, denominator: bigint | number = 1n): Rational {
  if (typeof numerator === 'number' && !Number.isSafeInteger(numerator)) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'rational numerator must be a safe integer or a bigint');
  }
  if (typeof denominator === 'number' && !Number.isSafeInteger(denominator)) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'rational denominator must be a safe integer or a bigint');
  }
  const n = BigInt(numerator);
  const d = BigInt(denominator);
  if (n < 0n || d <= 0n) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'rational needs numerator ≥ 0 and denominator > 0');
  }
  const g = n === 0n ? d : gcd(n, d);
  return Object.freeze({ numerator: n / g, denominator: d / g });
}

/** The exact value of a finite non-negative double as a rational (every double is a dyadic rational). */
export function rationalFromNumber(x: number): Rational {
  if (!Number.isFinite(x) || x < 0) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'expected a finite non-negative number');
  }
  if (x === 0) return rational(0n, 1n);
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const high = view.getUint32(0);
  const low = view.getUint32(4);
  const exponentBits = (high >>> 20) & 0x7ff;
  let mantissa = (BigInt(high & 0xfffff) << 32n) | BigInt(low);
  let exponent: number;
  if (exponentBits === 0) {
    exponent = -1074; // subnormal
  } else {
    mantissa |= 1n << 52n;
    exponent = exponentBits - 1075;
  }
  return exponent >= 0 ? rational(mantissa << BigInt(exponent), 1n) : rational(mantissa, 1n << BigInt(-exponent));
}

/** Smallest rational with the given denominator that is ≥ x, x a finite non-negative double (exact). */
export function ceilToDenominator(x: number, denominator: bigint): Rational {
  if (denominator <= 0n) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'denominator must be positive');
  const exact = rationalFromNumber(x);
  const scaled = exact.numerator * denominator;
  const numerator = (scaled + exact.denominator - 1n) / exact.denominator;
  return rational(numerator, denominator);
}

/** Sign of a − b. */
export function compareRational(a: Rational, b: Rational): -1 | 0 | 1 {
  const left = a.numerator * b.denominator;
  const right = b.numerator * a.denominator;
  return left < right ? -1 : left > right ? 1 : 0;
}

/** Nearest double (for reporting and planning only; never used to sample). */
export function rationalToNumber(r: Rational): number {
  const n = r.numerator;
  const d = r.denominator;
  const whole = n / d;
  const rest = n % d;
  // Scale the remainder so that Number() of each part keeps full precision.
  const shift = BigInt(Math.max(0, bitLength(d) - 60));
  return Number(whole) + Number(rest >> shift) / Number(d >> shift);
}

/** Number of bits needed to write n ≥ 0 (0 for n = 0). */
export function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/** ⌊√n⌋ for n ≥ 0, by Newton's method on integers. */
export function isqrt(n: bigint): bigint {
  if (n < 0n) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'square root of a negative number');
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil(bitLength(n) / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}
