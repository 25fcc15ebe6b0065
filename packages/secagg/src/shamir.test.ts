import { describe, expect, it } from 'vitest';
import { deterministicRandom, streamBytes } from '../test-support/deterministic-random.ts';
import { hex, references, toHex } from '../test-support/references.ts';
import {
  combineShares, decodeShareY, drawFieldElement, encodeShareY, evaluateSharingPolynomial, SHAMIR_PRIME, shareholderXs, splitSecret,
} from './shamir.ts';
import type { Share } from './shamir.ts';

const ref = references.shamir;
const p = SHAMIR_PRIME;
const secret = hex(ref.secret);
const fixed: Share[] = ref.fixedShares.map(({ x, y }) => ({ x, y: BigInt(y) }));
const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
};

function* subsets<T>(items: readonly T[], k: number, start = 0): Generator<T[]> {
  if (k === 0) {
    yield [];
    return;
  }
  for (let i = start; i <= items.length - k; i++) for (const rest of subsets(items, k - 1, i + 1)) yield [items[i] as T, ...rest];
}

const mod = (a: bigint) => ((a % p) + p) % p;
const power = (base: bigint, exponent: bigint): bigint => {
  let result = 1n;
  let b = mod(base);
  for (let e = exponent; e > 0n; e >>= 1n, b = (b * b) % p) if (e & 1n) result = (result * b) % p;
  return result;
};

describe('Shamir sharing over GF(2^521 − 1)', () => {
  it('uses the Mersenne prime 2^521 − 1 (Fermat check for a few bases)', () => {
    expect(String(p)).toBe(ref.prime);
    for (const a of [2n, 3n, 5n, 7n, 11n]) expect(power(a, p - 1n)).toBe(1n);
  });

  it('evaluates a fixed polynomial exactly as the independent Python implementation', () => {
    const shares = evaluateSharingPolynomial(secret, ref.coefficients.map(BigInt), [1, 2, 3, 4, 5]);
    expect(shares.map(({ x, y }) => ({ x, y: String(y) }))).toEqual(ref.fixedShares);
  });

  it('recovers the secret from every subset of threshold shares, in any order, and from all of them', () => {
    let count = 0;
    for (const subset of subsets(fixed, 3)) {
      expect(toHex(combineShares(subset, 3))).toBe(ref.secret);
      expect(toHex(combineShares([...subset].reverse(), 3))).toBe(ref.secret);
      count += 1;
    }
    expect(count).toBe(10);
    expect(toHex(combineShares(fixed, 3))).toBe(ref.secret);
  });

  it('splits with coefficients drawn from the random source by the documented rule, x = 1..n in canonical order', () => {
    const shares = splitSecret(secret, ref.splitThreshold, ref.splitShareholders, deterministicRandom(ref.splitLabel));
    expect(shares.map(({ shareholderId, x, y }) => ({ shareholderId, x, y: String(y) }))).toEqual(ref.splitShares);
    expect(shareholderXs(ref.splitShareholders).get('site-a')).toBe(1);
  });

  it('draws field elements by rejection: the value p itself is drawn again', () => {
    const top = new Uint8Array(66).fill(0xff); // 0x01ff…ff after clearing the top 7 bits = 2^521 − 1 = p
    const next = new Uint8Array(66).fill(0xab);
    const chunks = [top, next];
    const value = drawFieldElement(() => chunks.shift() as Uint8Array);
    expect(value).toBe(BigInt(`0x01${'ab'.repeat(65)}`));
  });

  it('reveals nothing with threshold − 1 shares: for any candidate secret, one polynomial of the threshold degree fits them', () => {
    // With t − 1 shares fixed, the map from the t-th share's y to f(0) is y ↦ c + λ·y with λ = ℓ_t(0) ≠ 0 mod p: a bijection of
    // GF(p), so every secret is equally likely given t − 1 shares (Shamir 1979). Check it for random candidates.
    const known = fixed.slice(0, 2); // threshold 3
    const x3 = 5n;
    for (let k = 0; k < 5; k++) {
      const candidate = streamBytes(`candidate ${k}`, 32);
      const s = BigInt(`0x${toHex(candidate)}`);
      // The polynomial through (0, s), (x1, y1), (x2, y2), evaluated at x3 by Lagrange with its own arithmetic.
      const points: [bigint, bigint][] = [[0n, s], ...known.map((sh): [bigint, bigint] => [BigInt(sh.x), sh.y])];
      let y3 = 0n;
      for (const [xi, yi] of points) {
        let term = yi;
        for (const [xj] of points) if (xj !== xi) term = mod(term * mod(x3 - xj) * power(mod(xi - xj), p - 2n));
        y3 = mod(y3 + term);
      }
      expect(toHex(combineShares([...known, { x: 5, y: y3 }], 3))).toBe(toHex(candidate));
    }
  });

  it('refuses too few, duplicate, malformed and inconsistent shares with coded errors', () => {
    expect(code(() => combineShares(fixed.slice(0, 2), 3))).toBe('FEDVAL_ERR_SECAGG_TOO_FEW_SHARES');
    expect(code(() => combineShares([fixed[0] as Share, fixed[0] as Share, fixed[1] as Share], 3))).toBe('FEDVAL_ERR_SECAGG_DUPLICATE_SHARE');
    expect(code(() => combineShares([{ x: 0, y: 1n }, ...fixed.slice(0, 2)], 3))).toBe('FEDVAL_ERR_SECAGG_INVALID_SHARE');
    expect(code(() => combineShares([{ x: 65536, y: 1n }, ...fixed.slice(0, 2)], 3))).toBe('FEDVAL_ERR_SECAGG_INVALID_SHARE');
    expect(code(() => combineShares([{ x: 1.5, y: 1n }, ...fixed.slice(0, 2)], 3))).toBe('FEDVAL_ERR_SECAGG_INVALID_SHARE');
    expect(code(() => combineShares([{ x: 1, y: p }, ...fixed.slice(1, 3)], 3))).toBe('FEDVAL_ERR_SECAGG_INVALID_SHARE');
    expect(code(() => combineShares(fixed, 0))).toBe('FEDVAL_ERR_SECAGG_INVALID_THRESHOLD');
    // A fourth share off the polynomial of the first three.
    const off = [...fixed.slice(0, 3), { x: 4, y: mod((fixed[3] as Share).y + 1n) }];
    expect(code(() => combineShares(off, 3))).toBe('FEDVAL_ERR_SECAGG_INCONSISTENT_SHARES');
    // A share changed by a large amount among exactly threshold: f(0) moves by λ_1(0)·2^400 = 3·2^400 (nodes 1, 2, 3),
    // so it is no longer a 32-byte secret. (A small change to a share of exactly threshold goes unnoticed: AES-GCM
    // authenticates shares in transit, this check only catches gross corruption.)
    const changed = [{ x: 1, y: mod((fixed[0] as Share).y + 2n ** 400n) }, ...fixed.slice(1, 3)];
    expect(code(() => combineShares(changed, 3))).toBe('FEDVAL_ERR_SECAGG_INCONSISTENT_SHARES');
  });

  it('refuses bad split arguments with coded errors', () => {
    const random = deterministicRandom('split errors');
    expect(code(() => splitSecret(secret, 4, ['a', 'b', 'c'], random))).toBe('FEDVAL_ERR_SECAGG_INVALID_THRESHOLD');
    expect(code(() => splitSecret(secret, 0, ['a', 'b', 'c'], random))).toBe('FEDVAL_ERR_SECAGG_INVALID_THRESHOLD');
    expect(code(() => splitSecret(secret, 2, ['a', 'b', 'a'], random))).toBe('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT');
    expect(code(() => splitSecret(secret.subarray(1), 2, ['a', 'b'], random))).toBe('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT');
  });

  it('round-trips 100 shareholders at threshold 67, and a share y through its 66-byte encoding', () => {
    const ids = Array.from({ length: 100 }, (_, i) => `site-${String(i).padStart(3, '0')}`);
    const shares = splitSecret(secret, 67, ids, deterministicRandom('hundred'));
    expect(toHex(combineShares(shares.slice(33), 67))).toBe(ref.secret);
    // All 100: the 33 beyond the threshold are checked against the polynomial of the first 67.
    expect(toHex(combineShares([...shares].reverse(), 67))).toBe(ref.secret);
    const oneOff = shares.map((share, i) => (i === 99 ? { ...share, y: mod(share.y + 1n) } : share));
    expect(code(() => combineShares(oneOff, 67))).toBe('FEDVAL_ERR_SECAGG_INCONSISTENT_SHARES');
    const y = (shares[5] as Share).y;
    expect(decodeShareY(encodeShareY(y))).toBe(y);
    expect(encodeShareY(p - 1n).length).toBe(66);
    expect(code(() => decodeShareY(new Uint8Array(66).fill(0xff)))).toBe('FEDVAL_ERR_SECAGG_INVALID_SHARE');
    expect(code(() => encodeShareY(p))).toBe('FEDVAL_ERR_SECAGG_INVALID_SHARE');
  });
});
