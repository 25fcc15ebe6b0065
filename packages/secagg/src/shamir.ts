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

/** Inverses of all values mod p with one modular inversion (Montgomery's trick); every value must be non-zero mod p. */
function batchInverse(values: readonly bigint[]): bigint[] {
  const prefix: bigint[] = new Array<bigint>(values.length);
  let running = 1n;
  for (let i = 0; i < values.length; i++) {
    prefix[i] = running;
    running = mod(running * (values[i] as bigint));
  }
  let inv = inverse(running);
  const out: bigint[] = new Array<bigint>(values.length);
  for (let i = values.length - 1; i >= 0; i--) {
    out[i] = mod(inv * (prefix[i] as bigint));
    inv = mod(inv * (values[i] as bigint));
  }
  return out;
}

/** The barycentric weights w_i = 1 / Π_{j≠i} (x_i − x_j) mod p of a set of nodes. */
interface LagrangeNodes {
  xs: bigint[];
  weights: bigint[];
}

const NODE_CACHE_SIZE = 8;
const nodeCache = new Map<string, LagrangeNodes>();

/** Weights for the nodes, cached for the last few node sets (an unmasking combines every site's secret over the same responders). */
function lagrangeNodes(xs: readonly number[]): LagrangeNodes {
  const key = xs.join(',');
  const cached = nodeCache.get(key);
  if (cached) return cached;
  const big = xs.map(BigInt);
  const denominators = big.map((xi, i) => {
    let d = 1n;
    for (let j = 0; j < big.length; j++) if (j !== i) d = mod(d * (xi - (big[j] as bigint)));
    return d;
  });
  const nodes = { xs: big, weights: batchInverse(denominators) };
  if (nodeCache.size >= NODE_CACHE_SIZE) nodeCache.delete(nodeCache.keys().next().value as string);
  nodeCache.set(key, nodes);
  return nodes;
}

/**
 * f(at) of the polynomial through (x_i, y_i), `at` not a node: Σ y_i·w_i·Π_{j≠i} (at − x_j) (Lagrange interpolation
 * with barycentric weights w_i; Berrut and Trefethen, SIAM Review 46(3), 2004, §3), the products Π_{j≠i} taken from
 * prefix and suffix products, so no inversion is needed.
 */
function interpolateAt(nodes: LagrangeNodes, ys: readonly bigint[], at: bigint): bigint {
  const n = nodes.xs.length;
  const differences = nodes.xs.map((x) => mod(at - x));
  const suffix = new Array<bigint>(n + 1);
  suffix[n] = 1n;
  for (let i = n - 1; i >= 0; i--) suffix[i] = mod((suffix[i + 1] as bigint) * (differences[i] as bigint));
  let prefix = 1n;
  let sum = 0n;
  for (let i = 0; i < n; i++) {
    sum += mod((ys[i] as bigint) * (nodes.weights[i] as bigint)) * mod(prefix * (suffix[i + 1] as bigint));
    prefix = mod(prefix * (differences[i] as bigint));
  }
  return mod(sum);
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
  const nodes = lagrangeNodes(base.map((share) => share.x));
  const ys = base.map((share) => share.y);
  const interpolate = (at: bigint): bigint => interpolateAt(nodes, ys, at);
  for (const extra of shares.slice(threshold)) {
    if (interpolate(BigInt(extra.x)) !== extra.y) throw new SecaggError('FEDVAL_ERR_SECAGG_INCONSISTENT_SHARES', `share x = ${extra.x} is off the polynomial`);
  }
  const secret = interpolate(0n);
  if (secret >= SECRET_LIMIT) throw new SecaggError('FEDVAL_ERR_SECAGG_INCONSISTENT_SHARES', 'the interpolated value is not a 32-byte secret');
  return bigIntToBytes(secret, SECRET_BYTES);
}
