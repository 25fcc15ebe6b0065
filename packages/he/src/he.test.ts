// End to end through SEAL: site encryption, coordinator sum, key-holder decryption.
// References: plaintext sums computed directly in BigInt, and SEAL's own invariant noise budget
// against the plan's closed-form lower bound.
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHeContext } from './context.ts';
import type { HeContext } from './context.ts';
import { decryptVector, measureNoiseBudget } from './decrypt.ts';
import { encryptVector, VectorEncryptor } from './encrypt.ts';
import { EncryptedSum } from './encrypted-sum.ts';
import { HeError } from './errors.ts';
import { generateKeyPair } from './keys.ts';
import type { HeKeyPair } from './keys.ts';
import { planBfvParameters } from './plan.ts';
import type { BfvPlan, BfvPlanRequest } from './plan.ts';
import type { EncryptedVector } from './wire-format.ts';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(HeError);
    return (error as HeError).code;
  }
  return undefined;
}

/** Site k's vector: entries 0 and 1 at +bound and −bound everywhere, entry 2 alternating, the rest uniform in [−bound, bound]. */
function siteVector(bounds: Float64Array, k: number, random: () => number): Float64Array {
  return Float64Array.from(bounds, (m, e) => {
    if (e === 0) return m;
    if (e === 1) return -m;
    if (e === 2) return k % 2 === 0 ? m : -m;
    return Math.round((2 * random() - 1) * m);
  });
}

function entryBounds(plan: BfvPlan): Float64Array {
  return Float64Array.from(plan.entryBounds.flatMap(([count, m]) => Array<number>(count).fill(m)));
}

interface RoundResult {
  got: Float64Array;
  want: bigint[];
  budget: number[];
}

async function runRound(request: BfvPlanRequest, contributions: number, seed: number): Promise<RoundResult & { plan: BfvPlan }> {
  const plan = planBfvParameters(request);
  const ctx = await createHeContext(JSON.parse(JSON.stringify(plan)));
  try {
    const keys = generateKeyPair(ctx);
    const bounds = entryBounds(plan);
    const want = new Array<bigint>(plan.vectorLength).fill(0n);
    const encryptor = new VectorEncryptor(ctx, keys.publicKey);
    const sum = new EncryptedSum(ctx);
    const random = rng(seed);
    try {
      for (let k = 0; k < contributions; k++) {
        const values = siteVector(bounds, k, random);
        values.forEach((v, e) => {
          want[e] = (want[e] as bigint) + BigInt(v);
        });
        const contribution = encryptor.encrypt(values);
        expect(contribution.ciphertexts.map((c) => c.byteLength)).toEqual(Array(plan.ciphertextCount).fill(plan.ciphertextBytes));
        sum.add(contribution);
      }
    } finally {
      encryptor.dispose();
    }
    expect(sum.count).toBe(contributions);
    const aggregate = sum.toEncryptedVector();
    const got = decryptVector(ctx, keys.secretKey, aggregate, contributions);
    return { plan, got, want, budget: measureNoiseBudget(ctx, keys.secretKey, aggregate) };
  } finally {
    ctx.dispose();
  }
}

describe('encrypted aggregation at the planner limits', () => {
  for (const sites of [1, 3, 1000]) {
    it(`decrypts exact signed sums of ${sites} contribution(s) at ±maxAbsPerSite`, async () => {
      const { plan, got, want, budget } = await runRound({ vectorLength: 8192, maxSites: sites, maxAbsPerSite: 100_000 }, sites, sites);
      expect(plan.ciphertextCount).toBe(1);
      expect(got[0]).toBe(sites * 100_000);
      expect(got[1]).toBe(-sites * 100_000);
      expect(Array.from(got, BigInt)).toEqual(want);
      // SEAL's measured budget can never be below the closed-form lower bound of the plan.
      for (const b of budget) expect(b).toBeGreaterThanOrEqual(plan.noiseBudgetBits);
    }, 120_000);
  }

  it('decrypts a multi-ciphertext study layout with fixed-point sums split into limbs', async () => {
    const counts = Array<number>(7 * 2005).fill(100_200);
    const sums = Array<number>(7 * 11).fill(100_000 * 2 ** 20 + 200);
    const entryMaxAbs = [...sums.slice(0, 3), ...counts, ...sums]; // large entries first so the ±bound rows hit them
    const request = { vectorLength: entryMaxAbs.length, maxSites: 3, maxAbsPerSite: Math.max(...entryMaxAbs), entryMaxAbs, polyModulusDegree: 2048 };
    const { plan, got, want, budget } = await runRound(request, 3, 99);
    expect(plan.ciphertextCount).toBeGreaterThan(1);
    expect(plan.counterCount).toBeGreaterThan(plan.vectorLength);
    expect(got[0]).toBe(3 * (100_000 * 2 ** 20 + 200));
    expect(Array.from(got, BigInt)).toEqual(want);
    for (const b of budget) expect(b).toBeGreaterThanOrEqual(plan.noiseBudgetBits);
  }, 120_000);

  it('decrypts exact sums under the worst-case noise bound', async () => {
    const { plan, got, want } = await runRound({ vectorLength: 3000, maxSites: 20, maxAbsPerSite: 5000, noiseBound: 'worst-case' }, 20, 5);
    expect(plan.noiseBound).toBe('worst-case');
    expect(Array.from(got, BigInt)).toEqual(want);
  }, 120_000);
});

describe('checked inputs', () => {
  let ctx: HeContext;
  let keys: HeKeyPair;
  let plan: BfvPlan;
  let contributions: EncryptedVector[];
  const values = (k: number): Float64Array => Float64Array.from({ length: 100 }, (_, e) => ((e * 7 + k * 13) % 2001) - 1000);

  beforeAll(async () => {
    plan = planBfvParameters({ vectorLength: 100, maxSites: 4, maxAbsPerSite: 1000 });
    ctx = await createHeContext(plan);
    keys = generateKeyPair(ctx);
    contributions = [0, 1, 2].map((k) => encryptVector(ctx, keys.publicKey, values(k)));
  });
  afterAll(() => ctx.dispose());

  const copy = (v: EncryptedVector): EncryptedVector => ({ ciphertexts: v.ciphertexts.map((c) => c.slice()) });
  const reseal = (bytes: Uint8Array): Uint8Array => {
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(20, crc32(bytes.subarray(24), crc32(bytes.subarray(0, 20))), true);
    return bytes;
  };
  const addCode = (v: unknown): string | undefined => codeOf(() => new EncryptedSum(ctx).add(v as EncryptedVector));

  it('rejects corrupted, truncated, oversized and foreign ciphertexts with coded errors', () => {
    const c = contributions[0] as EncryptedVector;
    const flipped = copy(c);
    (flipped.ciphertexts[0] as Uint8Array)[500]! ^= 0x10;
    expect(addCode(flipped)).toBe('FEDVAL_ERR_HE_CIPHERTEXT_CORRUPT');
    expect(addCode({ ciphertexts: [(c.ciphertexts[0] as Uint8Array).subarray(0, 1000)] })).toBe('FEDVAL_ERR_HE_CIPHERTEXT_SIZE');
    const longer = new Uint8Array(plan.ciphertextBytes + 1);
    longer.set(c.ciphertexts[0] as Uint8Array);
    expect(addCode({ ciphertexts: [longer] })).toBe('FEDVAL_ERR_HE_CIPHERTEXT_SIZE');
    expect(addCode({ ciphertexts: [] })).toBe('FEDVAL_ERR_HE_CIPHERTEXT_COUNT');
    expect(addCode({ ciphertexts: [c.ciphertexts[0], c.ciphertexts[0]] })).toBe('FEDVAL_ERR_HE_CIPHERTEXT_COUNT');
    expect(addCode(null)).toBe('FEDVAL_ERR_HE_CIPHERTEXT_COUNT');
    expect(addCode({ ciphertexts: ['x'] })).toBe('FEDVAL_ERR_HE_CIPHERTEXT_MALFORMED');
    const magic = copy(c);
    (magic.ciphertexts[0] as Uint8Array)[0] = 0x5e;
    expect(addCode(magic)).toBe('FEDVAL_ERR_HE_CIPHERTEXT_MALFORMED');
    const foreign = copy(c);
    (foreign.ciphertexts[0] as Uint8Array)[12]! ^= 1; // plan fingerprint
    reseal(foreign.ciphertexts[0] as Uint8Array);
    expect(addCode(foreign)).toBe('FEDVAL_ERR_HE_PLAN_MISMATCH');
    const claims = copy(c);
    (claims.ciphertexts[0] as Uint8Array)[8] = 2; // a contribution claiming two sites
    reseal(claims.ciphertexts[0] as Uint8Array);
    expect(addCode(claims)).toBe('FEDVAL_ERR_HE_CIPHERTEXT_MALFORMED');
    const outOfRange = copy(c);
    const bytes = outOfRange.ciphertexts[0] as Uint8Array;
    bytes.fill(0xff, bytes.length - 64); // c1 residues of the last prime set to all ones: ≥ q_i
    reseal(bytes);
    expect(addCode(outOfRange)).toBe('FEDVAL_ERR_HE_CIPHERTEXT_CORRUPT');
  });

  it('rejects ciphertexts made under another plan', async () => {
    const other = await createHeContext(planBfvParameters({ vectorLength: 100, maxSites: 5, maxAbsPerSite: 1000 }));
    try {
      // Same ciphertext size, different moduli: only the fingerprint and SEAL's key check tell them apart.
      expect(other.plan.ciphertextBytes).toBe(plan.ciphertextBytes);
      expect(other.plan.coeffModulus).not.toEqual(plan.coeffModulus);
      const otherKeys = generateKeyPair(other);
      const foreign = encryptVector(other, otherKeys.publicKey, values(0));
      expect(addCode(foreign)).toBe('FEDVAL_ERR_HE_PLAN_MISMATCH');
      expect(codeOf(() => encryptVector(ctx, otherKeys.publicKey, values(0)))).toBe('FEDVAL_ERR_HE_KEY_MISMATCH');
      const aggregate = new EncryptedSum(ctx);
      aggregate.add(contributions[0] as EncryptedVector);
      expect(codeOf(() => decryptVector(ctx, otherKeys.secretKey, aggregate.toEncryptedVector(), 1))).toBe('FEDVAL_ERR_HE_KEY_MISMATCH');
    } finally {
      other.dispose();
    }
  });

  it('leaves the sum unchanged when an add fails, and refuses contributions beyond maxSites', () => {
    const sum = new EncryptedSum(ctx);
    sum.add(contributions[0] as EncryptedVector);
    const bad = copy(contributions[1] as EncryptedVector);
    (bad.ciphertexts[0] as Uint8Array)[600]! ^= 1;
    expect(codeOf(() => sum.add(bad))).toBe('FEDVAL_ERR_HE_CIPHERTEXT_CORRUPT');
    sum.add(contributions[1] as EncryptedVector);
    sum.add(contributions[2] as EncryptedVector);
    sum.add(contributions[2] as EncryptedVector);
    expect(codeOf(() => sum.add(contributions[0] as EncryptedVector))).toBe('FEDVAL_ERR_HE_TOO_MANY_CONTRIBUTIONS');
    expect(sum.count).toBe(4);
    const got = decryptVector(ctx, keys.secretKey, sum.toEncryptedVector(), 4);
    const want = values(0).map((v, e) => v + values(1)[e]! + 2 * values(2)[e]!);
    expect(Array.from(got)).toEqual(Array.from(want));
  });

  it('resumes from a saved aggregate', () => {
    const first = new EncryptedSum(ctx);
    first.add(contributions[0] as EncryptedVector);
    first.add(contributions[1] as EncryptedVector);
    const resumed = new EncryptedSum(ctx);
    expect(codeOf(() => resumed.add(first.toEncryptedVector()))).toBe('FEDVAL_ERR_HE_CIPHERTEXT_MALFORMED');
    expect(codeOf(() => resumed.addAggregate(contributions[0] as EncryptedVector))).toBe('FEDVAL_ERR_HE_CIPHERTEXT_MALFORMED');
    resumed.addAggregate(first.toEncryptedVector());
    resumed.add(contributions[2] as EncryptedVector);
    expect(resumed.count).toBe(3);
    const got = decryptVector(ctx, keys.secretKey, resumed.toEncryptedVector(), 3);
    expect(Array.from(got)).toEqual(Array.from(values(0).map((v, e) => v + values(1)[e]! + values(2)[e]!)));
  });

  it('refuses to decrypt a single contribution, a wrong count, or with a wrong key', () => {
    const sum = new EncryptedSum(ctx);
    expect(codeOf(() => sum.toEncryptedVector())).toBe('FEDVAL_ERR_HE_CONTRIBUTION_COUNT');
    sum.add(contributions[0] as EncryptedVector);
    sum.add(contributions[1] as EncryptedVector);
    const aggregate = sum.toEncryptedVector();
    expect(codeOf(() => decryptVector(ctx, keys.secretKey, contributions[0] as EncryptedVector, 1))).toBe('FEDVAL_ERR_HE_CIPHERTEXT_MALFORMED');
    expect(codeOf(() => decryptVector(ctx, keys.secretKey, aggregate, 3))).toBe('FEDVAL_ERR_HE_CONTRIBUTION_COUNT');
    expect(codeOf(() => decryptVector(ctx, keys.secretKey, aggregate, 0))).toBe('FEDVAL_ERR_HE_CONTRIBUTION_COUNT');
    const stranger = generateKeyPair(ctx);
    expect(codeOf(() => decryptVector(ctx, stranger.secretKey, aggregate, 2))).toBe('FEDVAL_ERR_HE_DECRYPTION_FAILED');
    expect(measureNoiseBudget(ctx, stranger.secretKey, aggregate)).toEqual([0]);
    expect(Array.from(decryptVector(ctx, keys.secretKey, aggregate, 2))).toEqual(Array.from(values(0).map((v, e) => v + values(1)[e]!)));
  });

  it('rejects malformed, truncated and mismatched keys before or while SEAL reads them', () => {
    const { publicKey, secretKey } = keys;
    expect(codeOf(() => encryptVector(ctx, new Uint8Array(10), values(0)))).toBe('FEDVAL_ERR_HE_KEY_MALFORMED');
    const oversized = new Uint8Array(4 * 1024 * 1024);
    oversized.set(publicKey.subarray(0, 16));
    new DataView(oversized.buffer).setBigUint64(8, BigInt(oversized.length), true); // a consistent header claiming 4 MiB
    expect(codeOf(() => encryptVector(ctx, oversized, values(0)))).toBe('FEDVAL_ERR_HE_KEY_MALFORMED');
    expect(codeOf(() => encryptVector(ctx, publicKey.subarray(0, publicKey.length - 1), values(0)))).toBe('FEDVAL_ERR_HE_KEY_MALFORMED');
    expect(codeOf(() => encryptVector(ctx, 'key' as unknown as Uint8Array, values(0)))).toBe('FEDVAL_ERR_HE_KEY_MALFORMED');
    const garbled = publicKey.slice();
    garbled.fill(0x55, 40, 200); // inside the zstd stream, header intact
    expect(codeOf(() => encryptVector(ctx, garbled, values(0)))).toMatch(/^FEDVAL_ERR_HE_KEY_(MALFORMED|MISMATCH)$/);
    const aggregate = (() => {
      const s = new EncryptedSum(ctx);
      s.add(contributions[0] as EncryptedVector);
      return s.toEncryptedVector();
    })();
    expect(codeOf(() => decryptVector(ctx, publicKey, aggregate, 1))).toMatch(/^FEDVAL_ERR_HE_KEY_(MALFORMED|MISMATCH)$/);
    expect(codeOf(() => decryptVector(ctx, secretKey.subarray(0, 100), aggregate, 1))).toBe('FEDVAL_ERR_HE_KEY_MALFORMED');
  });

  it('checks vectors before encrypting them', () => {
    expect(codeOf(() => encryptVector(ctx, keys.publicKey, new Float64Array(99)))).toBe('FEDVAL_ERR_HE_VECTOR_LENGTH');
    const big = values(0);
    big[42] = 1001;
    expect(codeOf(() => encryptVector(ctx, keys.publicKey, big))).toBe('FEDVAL_ERR_HE_VALUE_OUT_OF_RANGE');
    big[42] = 0.5;
    expect(codeOf(() => encryptVector(ctx, keys.publicKey, big))).toBe('FEDVAL_ERR_HE_VALUE_OUT_OF_RANGE');
  });

  it('refuses an invalid plan and works no more once disposed', async () => {
    await expect(createHeContext({ ...plan, maxSites: 10_000_000 })).rejects.toMatchObject({ code: 'FEDVAL_ERR_HE_INVALID_PLAN' });
    const encryptor = new VectorEncryptor(ctx, keys.publicKey);
    encryptor.dispose();
    encryptor.dispose();
    expect(codeOf(() => encryptor.encrypt(values(0)))).toBe('FEDVAL_ERR_HE_DISPOSED');
    const short = await createHeContext(plan);
    short.dispose();
    short.dispose();
    expect(codeOf(() => generateKeyPair(short))).toBe('FEDVAL_ERR_HE_DISPOSED');
    expect(codeOf(() => new EncryptedSum(short).add(contributions[0] as EncryptedVector))).toBe('FEDVAL_ERR_HE_DISPOSED');
  });

  it('does not grow WASM memory or leak WASM stack over repeated rounds and failures', () => {
    const round = (): void => {
      const sum = new EncryptedSum(ctx);
      sum.add(encryptVector(ctx, keys.publicKey, values(1)));
      sum.add(contributions[2] as EncryptedVector);
      decryptVector(ctx, keys.secretKey, sum.toEncryptedVector(), 2);
      measureNoiseBudget(ctx, keys.secretKey, contributions[0] as EncryptedVector);
      const garbled = keys.publicKey.slice();
      garbled.fill(0x55, 40, 200);
      // Both failures are C++ exceptions thrown inside SEAL and caught by the guard.
      for (const fail of [() => encryptVector(ctx, garbled, values(0)), () => decryptVector(ctx, keys.publicKey, sum.toEncryptedVector(), 2)]) {
        try {
          fail();
          throw new Error('accepted');
        } catch (error) {
          expect(String((error as HeError).cause)).toContain('std::logic_error');
        }
      }
    };
    for (let i = 0; i < 5; i++) round();
    const heap = ctx.runtime.heapBytes();
    const stack = ctx.runtime.stackPointer();
    for (let i = 0; i < 60; i++) round();
    expect(ctx.runtime.heapBytes()).toBe(heap);
    expect(ctx.runtime.stackPointer()).toBe(stack);
  });
});
