// Random sources and exact uniform / Bernoulli draws: determinism, the ChaCha20 keystream, and uniformity.
import { createCipheriv, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chiSquareGoodnessOfFit } from '../test-support/goodness-of-fit.ts';
import { DpError } from './errors.ts';
import { bernoulliRational, cryptoRandomSource, seededRandomSource, uniformBelow, uniformBelowSmall } from './random-source.ts';

describe('seededRandomSource', () => {
  it('is the little-endian ChaCha20 keystream under SHA-256(seed), across buffer refills', () => {
    const key = createHash('sha256').update('fedval').digest();
    const keystream = createCipheriv('chacha20', key, Buffer.alloc(16)).update(Buffer.alloc(4096));
    const rng = seededRandomSource('fedval', { bufferBytes: 64 });
    for (let i = 0; i < 1024; i += 1) expect(rng.nextUint32()).toBe(keystream.readUInt32LE(4 * i));
  });

  it('repeats for the same seed and differs between seeds', () => {
    const a = seededRandomSource('one');
    const b = seededRandomSource('one');
    const c = seededRandomSource('two');
    const first = Array.from({ length: 8 }, () => a.nextUint32());
    expect(Array.from({ length: 8 }, () => b.nextUint32())).toEqual(first);
    expect(Array.from({ length: 8 }, () => c.nextUint32())).not.toEqual(first);
  });

  it('refuses an empty seed and an odd buffer size', () => {
    expect(() => seededRandomSource('')).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_SEED' }));
    expect(() => cryptoRandomSource({ bufferBytes: 6 })).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }));
  });
});

describe('cryptoRandomSource', () => {
  it('gives words whose bytes are uniform (chi-square over 256 values)', () => {
    const rng = cryptoRandomSource({ bufferBytes: 1024 });
    const bytes: number[] = [];
    for (let i = 0; i < 50_000; i += 1) {
      const w = rng.nextUint32();
      bytes.push(w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24);
    }
    expect(chiSquareGoodnessOfFit(bytes, () => 1 / 256, 0, 255).pValue).toBeGreaterThan(1e-6);
  });
});

describe('uniformBelow', () => {
  it('is uniform on [0, n) for small n that are not powers of two', () => {
    const rng = seededRandomSource('uniform small');
    for (const n of [3, 10, 1000, 0x8000_0001]) {
      const buckets = Math.min(n, 1000);
      const samples = Array.from({ length: 100_000 }, () => Math.floor((uniformBelowSmall(rng, n) * buckets) / n));
      // Bucket b holds the integers x with ⌊x·buckets/n⌋ = b: count them exactly.
      const pmf = (b: number): number => (Math.ceil(((b + 1) * n) / buckets) - Math.ceil((b * n) / buckets)) / n;
      expect(chiSquareGoodnessOfFit(samples, pmf, 0, buckets - 1).pValue).toBeGreaterThan(1e-4);
    }
  });

  it('is uniform for bigint ranges above 2^32 (residues and deciles)', () => {
    const rng = seededRandomSource('uniform big');
    const n = 3n * (1n << 70n) + 7n;
    const residues: number[] = [];
    const deciles: number[] = [];
    for (let i = 0; i < 50_000; i += 1) {
      const x = uniformBelow(rng, n);
      expect(x >= 0n && x < n).toBe(true);
      residues.push(Number(x % 7n));
      deciles.push(Number((x * 10n) / n));
    }
    expect(chiSquareGoodnessOfFit(residues, () => 1 / 7, 0, 6).pValue).toBeGreaterThan(1e-4);
    expect(chiSquareGoodnessOfFit(deciles, () => 1 / 10, 0, 9).pValue).toBeGreaterThan(1e-4);
  });

  it('returns 0 for n = 1 and refuses n ≤ 0', () => {
    const rng = seededRandomSource('edge');
    expect(uniformBelow(rng, 1n)).toBe(0n);
    expect(() => uniformBelow(rng, 0n)).toThrow(DpError);
  });
});

describe('bernoulliRational', () => {
  it('succeeds with probability numerator/denominator, for small and big denominators', () => {
    const rng = seededRandomSource('bernoulli');
    for (const [num, den] of [[1n, 3n], [2n, 7n], [(1n << 40n) + 1n, 3n << 40n]] as const) {
      let successes = 0;
      const n = 100_000;
      for (let i = 0; i < n; i += 1) if (bernoulliRational(rng, num, den)) successes += 1;
      const p = Number(num) / Number(den);
      expect(Math.abs(successes - n * p) / Math.sqrt(n * p * (1 - p))).toBeLessThan(4.5);
    }
  });
});
