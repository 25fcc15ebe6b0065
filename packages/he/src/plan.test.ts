import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HeError } from './errors.ts';
import { aggregateNoiseBound, noiseFits } from './noise.ts';
import { buildPackingLayout } from './packing.ts';
import { createHash } from 'node:crypto';
import { bfvEncryptionSummary, bfvPlanSchema, planBfvParameters, planFingerprint, planSha256, validateBfvPlan } from './plan.ts';
import type { BfvPlan, BfvPlanRequest } from './plan.ts';
import { isPrime, largestBatchingPrimeBelow } from './primes.ts';
import { maxCoeffModulusBits } from './security.ts';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(HeError);
    return (error as HeError).code;
  }
  return undefined;
}

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  return '';
}

/** A binary-task layout: 7 sections (overall + 3 columns × 2 levels) of 2 × 1000 bins + 5 exclusion counts, then 7 × 11 fixed-point sums. */
function studyBounds(patientsPerSite: number, noiseMargin: number): number[] {
  const counts = Array<number>(7 * 2005).fill(patientsPerSite + noiseMargin);
  const sums = Array<number>(7 * 11).fill(patientsPerSite * 2 ** 20 + noiseMargin);
  return [...counts, ...sums];
}

function studyRequest(sites: number, patientsPerSite: number): BfvPlanRequest {
  const entryMaxAbs = studyBounds(patientsPerSite, 200);
  return { vectorLength: entryMaxAbs.length, maxSites: sites, maxAbsPerSite: Math.max(...entryMaxAbs), entryMaxAbs };
}

/** Independent restatement of the no-wrap guarantee: in every slot, Π (2·K·m + 1) over its counters ≤ t. */
function expectNoWrap(plan: BfvPlan): void {
  const t = BigInt(plan.plainModulus);
  const layout = buildPackingLayout(plan.entryBounds, plan.maxSites, t);
  const products = new Map<number, bigint>();
  layout.counterSlot.forEach((slot, c) => {
    const radix = 2n * BigInt(plan.maxSites) * BigInt(layout.counterBound[c] as number) + 1n;
    products.set(slot, (products.get(slot) ?? 1n) * radix);
  });
  for (const product of products.values()) expect(product <= t).toBe(true);
}

function expectSecureAndDecryptable(plan: BfvPlan): void {
  const primes = plan.coeffModulus.map(BigInt);
  const step = BigInt(2 * plan.polyModulusDegree);
  for (const p of [...primes, BigInt(plan.plainModulus)]) {
    expect(isPrime(p)).toBe(true);
    expect(p % step).toBe(1n);
  }
  const totalBits = plan.coeffModulusBits.reduce((a, b) => a + b, 0);
  expect(totalBits).toBeLessThanOrEqual(maxCoeffModulusBits(plan.polyModulusDegree, plan.securityBits));
  const bound = aggregateNoiseBound({
    degree: plan.polyModulusDegree,
    contributions: plan.maxSites,
    specialPrime: primes[primes.length - 1] as bigint,
    c0DroppedBits: plan.c0DroppedBits,
    ciphertextCount: plan.ciphertextCount,
    model: plan.noiseBound,
    failureLog2: plan.decryptionFailureLog2 ?? -128,
  });
  const q = primes.slice(0, -1).reduce((a, b) => a * b, 1n);
  expect(noiseFits(q, BigInt(plan.plainModulus), bound)).toBe(true);
  expect(plan.noiseBudgetBits).toBeGreaterThanOrEqual(1);
}

describe('planBfvParameters', () => {
  it('plans secure, wrap-free, decryptable parameters for realistic study layouts', () => {
    for (const sites of [3, 20, 1000]) {
      for (const patients of [1000, 100_000]) {
        const plan = planBfvParameters(studyRequest(sites, patients));
        expect(plan.vectorLength).toBe(7 * 2016);
        expect(plan.maxSites).toBe(sites);
        expectSecureAndDecryptable(plan);
        expectNoWrap(plan);
        expect(plan.ciphertextCount * plan.slots * plan.countersPerSlot).toBeGreaterThanOrEqual(plan.counterCount);
      }
    }
  });

  it('costs at most 8 bytes per entry per site at 3 and 20 sites of up to 100,000 patients', () => {
    for (const sites of [3, 20]) {
      for (const patients of [1000, 10_000, 100_000]) {
        const plan = planBfvParameters(studyRequest(sites, patients));
        expect(plan.bytesPerSite / plan.vectorLength, `${sites} sites × ${patients}`).toBeLessThanOrEqual(8);
      }
    }
  });

  it('costs at most 8 bytes per entry at 1000 sites of 10,000 patients when the counters fill the ciphertext', () => {
    const plan = planBfvParameters({ vectorLength: 8192, maxSites: 1000, maxAbsPerSite: 10_200 });
    expect(plan.countersPerSlot).toBe(2);
    expect(plan.bytesPerSite / plan.vectorLength).toBeLessThanOrEqual(8);
  });

  it('adapts to the counts it must carry: per-entry bounds, fewer sites and smaller counts never cost more', () => {
    const withBounds = planBfvParameters(studyRequest(1000, 10_000));
    const flat = planBfvParameters({ ...studyRequest(1000, 10_000), entryMaxAbs: undefined });
    expect(withBounds.bytesPerSite).toBeLessThan(flat.bytesPerSite / 1.5);
    expect(withBounds.counterCount).toBeGreaterThanOrEqual(withBounds.vectorLength);
    let previous = 0;
    for (const sites of [1, 3, 20, 1000]) {
      const bytes = planBfvParameters({ vectorLength: 8192, maxSites: sites, maxAbsPerSite: 100_000 }).bytesPerSite;
      expect(bytes).toBeGreaterThanOrEqual(previous);
      previous = bytes;
    }
    const small = planBfvParameters({ vectorLength: 8192, maxSites: 1000, maxAbsPerSite: 100 });
    expect(small.bytesPerSite).toBeLessThan(previous);
  });

  it('splits a few huge entries into limbs instead of enlarging t for all', () => {
    const bounds = [...Array<number>(4000).fill(1000), ...Array<number>(4).fill(2 ** 45)];
    const plan = planBfvParameters({ vectorLength: bounds.length, maxSites: 100, maxAbsPerSite: 2 ** 45, entryMaxAbs: bounds });
    expect(plan.plainModulusBits).toBeLessThan(52); // one 2^45 entry summed over 100 sites needs 53 bits
    expect(plan.counterCount).toBeGreaterThan(plan.vectorLength);
    expectNoWrap(plan);
  });

  it('uses the worst-case bound and higher security levels when asked, at a price', () => {
    const base = { vectorLength: 8192, maxSites: 1000, maxAbsPerSite: 100_000 };
    const probabilistic = planBfvParameters(base);
    const worst = planBfvParameters({ ...base, noiseBound: 'worst-case' });
    expect(worst.decryptionFailureLog2).toBeNull();
    expect(worst.bytesPerSite).toBeGreaterThan(probabilistic.bytesPerSite);
    expectSecureAndDecryptable(worst);
    for (const securityBits of [192, 256] as const) {
      const plan = planBfvParameters({ ...base, securityBits });
      expect(plan.securityBits).toBe(securityBits);
      expectSecureAndDecryptable(plan);
    }
  });

  it('refuses what cannot fit and says why', () => {
    expect(codeOf(() => planBfvParameters({ vectorLength: 10, maxSites: 1000, maxAbsPerSite: 2 ** 50 }))).toBe('FEDVAL_ERR_HE_NO_PARAMETERS');
    expect(messageOf(() => planBfvParameters({ vectorLength: 10, maxSites: 1000, maxAbsPerSite: 2 ** 50 }))).toContain('2^53');
    // Limbs let any bound fit a small t; what cannot shrink is the noise room of 1000 sites.
    const degree = { vectorLength: 100, maxSites: 1000, maxAbsPerSite: 100_000, polyModulusDegree: 1024 };
    expect(codeOf(() => planBfvParameters(degree))).toBe('FEDVAL_ERR_HE_NO_PARAMETERS');
    expect(messageOf(() => planBfvParameters(degree))).toMatch(/degree 1024 needs a \d+-bit coefficient modulus, 128-bit security allows 27/);
    const count = { vectorLength: 400_000, maxSites: 3, maxAbsPerSite: 1000, maxCiphertexts: 1 };
    expect(messageOf(() => planBfvParameters(count))).toMatch(/needs \d+ ciphertexts, more than 1/);
  });

  it('lists every problem of an invalid request', () => {
    const error = (() => {
      try {
        planBfvParameters({ vectorLength: 0, maxSites: 1.5, maxAbsPerSite: -1, securityBits: 100 as 128, polyModulusDegree: 3000 });
      } catch (e) {
        return e as HeError;
      }
      throw new Error('accepted');
    })();
    expect(error.code).toBe('FEDVAL_ERR_HE_INVALID_REQUEST');
    for (const field of ['vectorLength', 'maxSites', 'maxAbsPerSite', 'securityBits', 'polyModulusDegree']) expect(error.message).toContain(field);
    expect(codeOf(() => planBfvParameters({ vectorLength: 3, maxSites: 2, maxAbsPerSite: 10, entryMaxAbs: [1, 2] }))).toBe('FEDVAL_ERR_HE_INVALID_REQUEST');
    expect(codeOf(() => planBfvParameters({ vectorLength: 3, maxSites: 2, maxAbsPerSite: 10, entryMaxAbs: [1, 2, 11] }))).toBe('FEDVAL_ERR_HE_INVALID_REQUEST');
    expect(codeOf(() => planBfvParameters({ vectorLength: 3, maxSites: 2, maxAbsPerSite: 10, noiseBound: 'worst-case', decryptionFailureLog2: -64 }))).toBe('FEDVAL_ERR_HE_INVALID_REQUEST');
    expect(planBfvParameters({ vectorLength: 3, maxSites: 2, maxAbsPerSite: 10n }).maxAbsPerSite).toBe(10);
  });
});

describe('validateBfvPlan', () => {
  const plan = planBfvParameters({ vectorLength: 5000, maxSites: 20, maxAbsPerSite: 100_000 });
  const wire = (): Record<string, unknown> => JSON.parse(JSON.stringify(plan)) as Record<string, unknown>;

  it('is bfvPlanSchema: every problem at once, each naming the field as sent', () => {
    const { slots: _slots, ...withoutSlots } = wire();
    const message = messageOf(() => validateBfvPlan({ ...withoutSlots, maxSites: 0, noiseBound: 'maybe', coeffModulus: ['12x'], colour: 'blue' }));
    for (const part of ['slots is missing', 'maxSites must be an integer in [1, ', "noiseBound must be 'probabilistic' or 'worst-case'", 'coeffModulus[0] must be a decimal string', 'unknown property "colour"']) {
      expect(message).toContain(part);
    }
    expect(bfvPlanSchema.safeParse(wire()).success).toBe(true);
    // The document as JSON Schema (OpenAPI of GET /api/studies/:id/encryption): every field required.
    expect(z.toJSONSchema(bfvPlanSchema, { io: 'input' }).required).toEqual(Object.keys(plan));
    const mismatch = bfvPlanSchema.safeParse({ ...wire(), ciphertextBytes: plan.ciphertextBytes + 1 });
    expect(mismatch.success).toBe(false);
    expect(mismatch.error?.issues.map((issue) => issue.path.join('.'))).toContain('ciphertextBytes');
  });

  it('encodes a plan as the REST API answers with it (fastify serializes responses with z.encode)', () => {
    const encoded = z.encode(bfvPlanSchema, plan);
    expect(encoded).toEqual(plan);
    expect(bfvPlanSchema.parse(JSON.parse(JSON.stringify(encoded)))).toEqual(plan);
    expect(() => z.encode(bfvPlanSchema, { ...plan, slots: -1 })).toThrow();
  });

  it('accepts a plan that went through JSON and returns a frozen equal copy', () => {
    const back = validateBfvPlan(wire());
    expect(back).toEqual(plan);
    expect(Object.isFrozen(back)).toBe(true);
    expect(Object.isFrozen(back.entryBounds[0])).toBe(true);
  });

  it('rejects a plan whose plaintext modulus lets sums wrap', () => {
    const bad = wire();
    const smaller = largestBatchingPrimeBelow(plan.plainModulusBits - 1, plan.polyModulusDegree) as bigint;
    bad.plainModulus = String(smaller);
    bad.plainModulusBits = plan.plainModulusBits - 1;
    expect(messageOf(() => validateBfvPlan(bad))).toContain('does not match');
    expect(codeOf(() => validateBfvPlan(bad))).toBe('FEDVAL_ERR_HE_INVALID_PLAN');
  });

  it('rejects a plan below the security table', () => {
    const bad = wire();
    const used = new Set(plan.coeffModulus.map(BigInt));
    const big = largestBatchingPrimeBelow(60, plan.polyModulusDegree, used) as bigint;
    bad.coeffModulus = [...plan.coeffModulus.slice(0, -1), String(big), plan.coeffModulus[plan.coeffModulus.length - 1]];
    expect(messageOf(() => validateBfvPlan(bad))).toMatch(/128-bit security allows/);
  });

  it('rejects a plan with too little noise room for its number of sites', () => {
    const bad = wire();
    bad.maxSites = 1_000_000;
    expect(messageOf(() => validateBfvPlan(bad))).toMatch(/noise room|does not match/);
    const bits = wire();
    bits.c0DroppedBits = 40;
    expect(codeOf(() => validateBfvPlan(bits))).toBe('FEDVAL_ERR_HE_INVALID_PLAN');
  });

  it('rejects composite moduli, unknown or missing fields and malformed values', () => {
    const composite = wire();
    composite.coeffModulus = ['12289', ...plan.coeffModulus.slice(1)];
    expect(messageOf(() => validateBfvPlan(composite))).toContain('is not a prime');
    const extra = { ...wire(), note: 'x' };
    expect(messageOf(() => validateBfvPlan(extra))).toContain('unknown property "note"');
    const missing = wire();
    delete missing.slots;
    expect(messageOf(() => validateBfvPlan(missing))).toContain('slots is missing');
    for (const [key, value] of [
      ['plainModulus', 12345],
      ['entryBounds', [[10, 5], [20, 5]]],
      ['entryBounds', [[0, 5]]],
      ['scheme', 'ckks'],
      ['decryptionFailureLog2', null],
      ['polyModulusDegree', 4000],
    ] as const) {
      expect(codeOf(() => validateBfvPlan({ ...wire(), [key]: value })), key).toBe('FEDVAL_ERR_HE_INVALID_PLAN');
    }
    expect(codeOf(() => validateBfvPlan(null))).toBe('FEDVAL_ERR_HE_INVALID_PLAN');
    expect(codeOf(() => validateBfvPlan([]))).toBe('FEDVAL_ERR_HE_INVALID_PLAN');
  });
});

describe('planFingerprint and bfvEncryptionSummary', () => {
  const plan = planBfvParameters({ vectorLength: 5000, maxSites: 20, maxAbsPerSite: 100_000 });

  it('fingerprints every field', () => {
    expect(planFingerprint(plan)).toMatch(/^[0-9a-f]{16}$/);
    expect(planFingerprint(validateBfvPlan(JSON.parse(JSON.stringify(plan))))).toBe(planFingerprint(plan));
    const other = planBfvParameters({ vectorLength: 5000, maxSites: 21, maxAbsPerSite: 100_000 });
    expect(planFingerprint(other)).not.toBe(planFingerprint(plan));
  });

  it('planSha256 is the full SHA-256 of the fields in canonical order, planFingerprint its first 8 bytes', () => {
    const fields = [
      'scheme', 'planVersion', 'securityBits', 'polyModulusDegree', 'coeffModulus', 'coeffModulusBits', 'plainModulus',
      'plainModulusBits', 'slots', 'vectorLength', 'maxSites', 'maxAbsPerSite', 'entryBounds', 'counterCount',
      'countersPerSlot', 'ciphertextCount', 'c0DroppedBits', 'noiseBound', 'decryptionFailureLog2', 'noiseBudgetBits',
      'ciphertextBytes', 'bytesPerSite',
    ] as const;
    const reference = createHash('sha256').update(JSON.stringify(fields.map((field) => plan[field]))).digest('hex');
    expect(planSha256(plan)).toBe(reference);
    expect(reference.slice(0, 16)).toBe(planFingerprint(plan));
    expect(planSha256(planBfvParameters({ vectorLength: 5000, maxSites: 21, maxAbsPerSite: 100_000 }))).not.toBe(reference);
  });

  it('summarizes the encryption for the result JSON', () => {
    const summary = bfvEncryptionSummary(plan);
    expect(summary).toMatchObject({
      scheme: 'bfv',
      poly_modulus_degree: plan.polyModulusDegree,
      plain_modulus_bits: plan.plainModulusBits,
      security_bits: 128,
      ciphertexts_per_site: plan.ciphertextCount,
      ciphertext_bytes_per_site: plan.bytesPerSite,
      max_sites: 20,
      noise_bound: 'probabilistic',
      decryption_failure_log2: -128,
    });
    expect(summary.ciphertext_modulus_bits).toBe(plan.coeffModulusBits.slice(0, -1).reduce((a, b) => a + b, 0));
    expect(summary.bytes_per_entry_per_site).toBeCloseTo(plan.bytesPerSite / 5000, 10);
    expect(JSON.parse(JSON.stringify(summary))).toEqual(summary);
  });
});
