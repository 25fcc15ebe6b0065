// Reference: SEAL's own prime search (CoeffModulus::Create, PlainModulus::Batching) and primality test (Modulus::is_prime).
import { beforeAll, describe, expect, it } from 'vitest';
import { bitLength, isPrime, largestBatchingPrimeBelow, modInverse, modPow, smallestBatchingPrimeAtLeast } from './primes.ts';
import { loadSealRuntime } from './seal-runtime.ts';
import type { Seal } from './seal-runtime.ts';

let seal: Seal;
beforeAll(async () => {
  seal = (await loadSealRuntime()).seal;
});

function sealPrimes(degree: number, bits: number[]): bigint[] {
  const vector = seal.CoeffModulus.Create(degree, Int32Array.from(bits));
  try {
    return Array.from({ length: vector.size() }, (_, i) => {
      const m = vector.get(i) as NonNullable<ReturnType<typeof vector.get>>;
      const value = m.value();
      m.delete();
      return value;
    });
  } finally {
    vector.delete();
  }
}

function sealIsPrime(n: bigint): boolean {
  const m = new seal.Modulus(n);
  try {
    return m.isPrime();
  } finally {
    m.delete();
  }
}

describe('isPrime', () => {
  it('agrees with SEAL on 3000 random odd numbers up to 60 bits', () => {
    let state = 0x2545f4914f6cdd1dn;
    for (let i = 0; i < 3000; i++) {
      state = (state * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
      const bits = 2n + (state % 59n);
      const n = ((state >> 3n) & ((1n << bits) - 1n)) | 1n | (1n << (bits - 1n));
      expect(isPrime(n), String(n)).toBe(sealIsPrime(n));
    }
  });

  it('knows primes and strong pseudoprimes from the literature', () => {
    // Mersenne prime M61; the largest prime below 2^64; the smallest strong pseudoprimes to the
    // first 4 prime bases (3215031751), to the first 9 (3825123056546413051) and to the first 12
    // (ψ12 = 318665857834031151167461, Sorenson & Webster 2017), which base 41 exposes.
    expect(isPrime((1n << 61n) - 1n)).toBe(true);
    expect(isPrime((1n << 64n) - 59n)).toBe(true);
    expect(isPrime(3215031751n)).toBe(false);
    expect(isPrime(3825123056546413051n)).toBe(false);
    expect(isPrime(318665857834031151167461n)).toBe(false);
    expect(isPrime(561n)).toBe(false);
    expect([0n, 1n, 2n, 3n, 4n, 37n, 41n].map(isPrime)).toEqual([false, false, true, true, false, true, true]);
    expect(() => isPrime(1n << 90n)).toThrow(RangeError);
  });
});

describe('batching primes', () => {
  it('finds the same largest primes below 2^bits as SEAL CoeffModulus::Create', () => {
    for (const degree of [1024, 4096, 8192, 32768]) {
      for (const bits of [degree < 8192 ? 20 : 25, 21 + Math.log2(degree / 1024), 30, 36, 40, 51, 60]) {
        const expected = sealPrimes(degree, [bits, bits, bits]);
        const used = new Set<bigint>();
        const ours = expected.map(() => {
          const p = largestBatchingPrimeBelow(bits, degree, used) as bigint;
          used.add(p);
          return p;
        });
        // SEAL hands out equal-size primes in its own order; the set is what must agree.
        expect([...ours].sort(), `degree ${degree}, ${bits} bits`).toEqual([...expected].sort());
      }
    }
  });

  it('matches SEAL PlainModulus::Batching', () => {
    for (const [degree, bits] of [[4096, 20], [4096, 56], [8192, 39], [2048, 14], [16384, 60]] as const) {
      const m = seal.PlainModulus.Batching(degree, bits);
      expect(largestBatchingPrimeBelow(bits, degree)).toBe(m.value());
      m.delete();
    }
  });

  it('returns the smallest batching prime at or above a bound, checked by SEAL', () => {
    for (const [degree, min] of [[4096, 40_000_000_000_000_001n], [2048, 4097n], [8192, 1n], [4096, (1n << 55n) + 12345n]] as const) {
      const p = smallestBatchingPrimeAtLeast(min, degree) as bigint;
      const step = BigInt(2 * degree);
      expect(p >= min).toBe(true);
      expect(p % step).toBe(1n);
      expect(sealIsPrime(p)).toBe(true);
      for (let q = p - step; q >= min && q > 1n; q -= step) expect(sealIsPrime(q)).toBe(false);
    }
    expect(smallestBatchingPrimeAtLeast(1n << 60n, 4096)).toBeUndefined();
  });
});

describe('modular helpers', () => {
  it('inverts and exponentiates modulo a prime', () => {
    const p = 1099511480321n;
    for (const a of [2n, 3n, 123456789n, p - 1n]) expect((a * modInverse(a, p)) % p).toBe(1n);
    expect(modPow(3n, p - 1n, p)).toBe(1n); // Fermat
    expect(modPow(2n, 10n, 1000n)).toBe(24n);
    expect(() => modInverse(6n, 9n)).toThrow(RangeError);
    expect([0n, 1n, 2n, 255n, 256n, 1n << 60n].map(bitLength)).toEqual([0, 1, 2, 8, 9, 61]);
  });
});
