// shamir.ts — Shamir t-of-n secret sharing of 32-byte secrets over the prime field GF(p), p = 2^521 − 1
// (Shamir, "How to share a secret", CACM 22(11), 1979; Lagrange interpolation at 0). The secret is the
// polynomial's constant term; shareholder i (1-based, canonical site order) holds (x = i, y = f(i)).
import { SecaggError } from './errors.ts';
import { drawBytes } from './random-source.ts';
import type { RandomBytes } from './random-source.ts';
import { canonicalSiteOrder } from './site-order.ts';

/** The field prime: the Mersenne prime M521 = 2^521 − 1 (proved prime by Robinson, 1952), above every 32-byte secret. */
export const SHAMIR_PRIME = (1n << 521n) - 1n;
/** Bytes of a share's y, big-endian: ⌈521 / 8⌉ = 66. */
export const SHARE_Y_BYTES = 66;
/** Largest x (and so the most shareholders): x travels as an unsigned 16-bit integer. */
export const MAX_SHAREHOLDERS = 65535;
const SECRET_BYTES = 32;
const SECRET_LIMIT = 1n << 256n;

/** One share: the point (x, y) of the sharing polynomial, x ∈ [1, 65535], y ∈ [0, p). */
export interface Share {
  x: number;
  y: bigint;
}

/** A share addressed to its shareholder. */
export interface AddressedShare extends Share {
  shareholderId: string;
}

const mod = (a: bigint): bigint => {
  const r = a % SHAMIR_PRIME;
  return r < 0n ? r + SHAMIR_PRIME : r;
};

/** a^−1 mod p by the extended Euclidean algorithm (a ≢ 0). */
function inverse(a: bigint): bigint {
  let [r0, r1] = [mod(a), SHAMIR_PRIME];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0);
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`);
}

function bigIntToBytes(value: bigint, length: number): Uint8Array {
  return new Uint8Array(Buffer.from(value.toString(16).padStart(2 * length, '0'), 'hex'));
}

/** y as 66 big-endian bytes. */
export function encodeShareY(y: bigint): Uint8Array {
  if (typeof y !== 'bigint' || y < 0n || y >= SHAMIR_PRIME) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_SHARE', 'y is outside [0, p)');
  return bigIntToBytes(y, SHARE_Y_BYTES);
}

/** y from 66 big-endian bytes; refuses a value ≥ p. */
export function decodeShareY(bytes: Uint8Array): bigint {
  if (!(bytes instanceof Uint8Array) || bytes.length !== SHARE_Y_BYTES) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_SHARE', `y must be ${SHARE_Y_BYTES} bytes`);
  const y = bytesToBigInt(bytes);
  if (y >= SHAMIR_PRIME) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_SHARE', 'y is outside [0, p)');
  return y;
}

/**
 * A uniform element of GF(p) from `random`: 66 bytes read big-endian, the top 7 bits cleared (value < 2^521),
 * drawn again while the value equals p (probability 2^−521).
 */
export function drawFieldElement(random: RandomBytes): bigint {
  for (;;) {
    const bytes = new Uint8Array(drawBytes(random, SHARE_Y_BYTES));
    bytes[0] = (bytes[0] as number) & 0x01;
    const value = bytesToBigInt(bytes);
    if (value < SHAMIR_PRIME) return value;
  }
}

/** Shareholder x-coordinates: 1, 2, … in canonical site order (site-order.ts). */
export function shareholderXs(shareholderIds: readonly string[]): Map<string, number> {
  const order = canonicalSiteOrder(shareholderIds);
  if (order.length > MAX_SHAREHOLDERS) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', `at most ${MAX_SHAREHOLDERS} shareholders`);
  return new Map(order.map((id, i) => [id, i + 1]));
}

function checkSecret(secret: unknown): bigint {
  if (!(secret instanceof Uint8Array) || secret.length !== SECRET_BYTES) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'a secret must be 32 bytes');
  return bytesToBigInt(secret);
}

/** f(x) = secret + Σ_k coefficients[k−1]·x^k mod p at each x (Horner). Exported for known-answer tests. */
export function evaluateSharingPolynomial(secret: Uint8Array, coefficients: readonly bigint[], xs: readonly number[]): Share[] {
  const constant = checkSecret(secret);
  for (const c of coefficients) {
    if (typeof c !== 'bigint' || c < 0n || c >= SHAMIR_PRIME) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'coefficients must be in [0, p)');
  }
  return xs.map((x) => {
    const bx = BigInt(x);
    let y = 0n;
    for (let k = coefficients.length - 1; k >= 0; k--) y = mod((y + (coefficients[k] as bigint)) * bx);
    return { x, y: mod(y + constant) };
  });
}

/**
 * Splits a 32-byte secret into one share per shareholder, any `threshold` of which recover it and fewer reveal
 * nothing. The threshold − 1 random coefficients a_1, …, a_{t−1} are drawn in that order with {@link drawFieldElement}.
 * Shares come back in canonical shareholder order, shareholder i (1-based) with x = i.
 */
export function splitSecret(secret: Uint8Array, threshold: number, shareholderIds: readonly string[], random: RandomBytes): AddressedShare[] {
  checkSecret(secret);
  const xs = shareholderXs(shareholderIds);
  if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > xs.size) {
    throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_THRESHOLD', `threshold ${threshold} with ${xs.size} shareholders`);
  }
  const coefficients = Array.from({ length: threshold - 1 }, () => drawFieldElement(random));
  const ids = [...xs.keys()];
  return evaluateSharingPolynomial(secret, coefficients, [...xs.values()]).map((share, i) => ({ shareholderId: ids[i] as string, ...share }));
}

function checkShares(shares: readonly Share[]): void {
  if (!Array.isArray(shares)) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'shares must be an array');
  const seen = new Set<number>();
  for (const share of shares) {
    if (share === null || typeof share !== 'object' || !Number.isSafeInteger(share.x) || share.x < 1 || share.x > MAX_SHAREHOLDERS) {
      throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_SHARE', 'x must be an integer in [1, 65535]');
    }
    if (typeof share.y !== 'bigint' || share.y < 0n || share.y >= SHAMIR_PRIME) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_SHARE', `y of x = ${share.x} is outside [0, p)`);
    if (seen.has(share.x)) throw new SecaggError('FEDVAL_ERR_SECAGG_DUPLICATE_SHARE', `x = ${share.x}`);
    seen.add(share.x);
  }
}

/** Lagrange basis values at `at` for the nodes xs: ℓ_i(at) = Π_{j≠i} (at − x_j)/(x_i − x_j) mod p. */
function lagrangeBasis(xs: readonly bigint[], at: bigint): bigint[] {
  return xs.map((xi, i) => {
    let numerator = 1n;
    let denominator = 1n;
    for (let j = 0; j < xs.length; j++) {
      if (j === i) continue;
      const xj = xs[j] as bigint;
      numerator = mod(numerator * (at - xj));
      denominator = mod(denominator * (xi - xj));
    }
    return mod(numerator * inverse(denominator));
  });
}

/**
 * The secret from at least `threshold` shares: f(0) = Σ y_i·ℓ_i(0) over the first `threshold` shares. Every
 * further share must lie on the same polynomial, and the secret must be below 2^256 (a random point lands
 * there with probability 2^−265), otherwise FEDVAL_ERR_SECAGG_INCONSISTENT_SHARES.
 */
export function combineShares(shares: readonly Share[], threshold: number): Uint8Array {
  checkShares(shares);
  if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > MAX_SHAREHOLDERS) {
    throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_THRESHOLD', `threshold ${threshold}`);
  }
  if (shares.length < threshold) throw new SecaggError('FEDVAL_ERR_SECAGG_TOO_FEW_SHARES', `${shares.length} shares, threshold ${threshold}`);
  const base = shares.slice(0, threshold);
  const xs = base.map((s) => BigInt(s.x));
  const interpolate = (at: bigint): bigint => {
    const basis = lagrangeBasis(xs, at);
    let sum = 0n;
    for (let i = 0; i < base.length; i++) sum += (base[i] as Share).y * (basis[i] as bigint);
    return mod(sum);
  };
  for (const extra of shares.slice(threshold)) {
    if (interpolate(BigInt(extra.x)) !== extra.y) throw new SecaggError('FEDVAL_ERR_SECAGG_INCONSISTENT_SHARES', `share x = ${extra.x} is off the polynomial`);
  }
  const secret = interpolate(0n);
  if (secret >= SECRET_LIMIT) throw new SecaggError('FEDVAL_ERR_SECAGG_INCONSISTENT_SHARES', 'the interpolated value is not a 32-byte secret');
  return bigIntToBytes(secret, SECRET_BYTES);
}
