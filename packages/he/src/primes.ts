// primes.ts — exact primality and the NTT-friendly primes BFV batching needs (p ≡ 1 mod 2N).

// Miller–Rabin with the first thirteen prime bases (2 … 41) is deterministic below
// ψ13 = 3,317,044,064,679,887,385,961,981 (Sorenson & Webster, "Strong pseudoprimes to twelve
// prime bases", Math. Comp. 86, 2017), which covers every modulus SEAL accepts (at most 61 bits).
const WITNESSES = [2n, 3n, 5n, 7n, 11n, 13n, 17n, 19n, 23n, 29n, 31n, 37n, 41n] as const;
const DETERMINISTIC_LIMIT = 3_317_044_064_679_887_385_961_981n;

/** Largest bit size SEAL accepts for one modulus (SEAL_USER_MOD_BIT_COUNT_MAX). */
export const MAX_MODULUS_BITS = 60;

export function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

/** Inverse of a modulo m (a and m coprime). */
export function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [((a % m) + m) % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new RangeError('not invertible');
  return ((oldS % m) + m) % m;
}

/** Exact primality for n < 3.3 · 10^24. */
export function isPrime(n: bigint): boolean {
  if (n > DETERMINISTIC_LIMIT) throw new RangeError('primality test is only exact below 3.3e24');
  if (n < 2n) return false;
  for (const p of WITNESSES) {
    if (n === p) return true;
    if (n % p === 0n) return false;
  }
  let d = n - 1n;
  let s = 0;
  while ((d & 1n) === 0n) {
    d >>= 1n;
    s += 1;
  }
  for (const a of WITNESSES) {
    let x = modPow(a, d, n);
    if (x === 1n || x === n - 1n) continue;
    let composite = true;
    for (let i = 1; i < s; i++) {
      x = (x * x) % n;
      if (x === n - 1n) {
        composite = false;
        break;
      }
    }
    if (composite) return false;
  }
  return true;
}

export function bitLength(n: bigint): number {
  return n <= 0n ? 0 : n.toString(2).length;
}

/**
 * The largest prime p < 2^bits with p ≡ 1 (mod 2·degree) that is not in `exclude`, searching
 * downwards from 2^bits − 2·degree + 1 as SEAL's CoeffModulus::Create does; undefined if none
 * lies above 2^(bits−1).
 */
export function largestBatchingPrimeBelow(bits: number, degree: number, exclude: ReadonlySet<bigint> = new Set()): bigint | undefined {
  const step = BigInt(2 * degree);
  const lower = 1n << BigInt(bits - 1);
  for (let p = (1n << BigInt(bits)) - step + 1n; p > lower; p -= step) {
    if (!exclude.has(p) && isPrime(p)) return p;
  }
  return undefined;
}

/** The smallest prime p ≥ min with p ≡ 1 (mod 2·degree), not in `exclude`; undefined above 60 bits. */
export function smallestBatchingPrimeAtLeast(min: bigint, degree: number, exclude: ReadonlySet<bigint> = new Set()): bigint | undefined {
  const step = BigInt(2 * degree);
  const limit = 1n << BigInt(MAX_MODULUS_BITS);
  const start = min <= step ? step + 1n : min + ((1n - min) % step + step) % step;
  for (let p = start; p < limit; p += step) {
    if (!exclude.has(p) && isPrime(p)) return p;
  }
  return undefined;
}
