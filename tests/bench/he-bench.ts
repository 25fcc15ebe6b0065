// he-bench.ts — encryption time per site, aggregation time per contribution and bytes per entry per site of @fedval/he (prints JSON).
// Run: node tests/bench/he-bench.ts
import { bfvEncryptionSummary, createHeContext, decryptVector, EncryptedSum, generateKeyPair, measureNoiseBudget, planBfvParameters, VectorEncryptor } from '@fedval/he';
import type { BfvPlanRequest, EncryptedVector } from '@fedval/he';
// Bench-only yardsticks (SEAL's own zstd serialization); internal to @fedval/he, the only package that may load node-seal.
import { sealReferenceSizes, sealZstdCiphertextBytes } from '../../packages/he/src/seal-reference.ts';

const SECTIONS = 1 + 3 * 2; // overall + 3 subgroup columns × 2 levels
const BINS = 1000;

/** A binary-task statistics vector: per section 2 × 1000 score bins and 5 exclusion counts, then per section 11 fixed-point (2^20) sums. */
function studyBounds(patientsPerSite: number, noiseMargin: number): number[] {
  const counts = Array<number>(SECTIONS * (2 * BINS + 5)).fill(patientsPerSite + noiseMargin);
  const sums = Array<number>(SECTIONS * 11).fill(patientsPerSite * 2 ** 20 + noiseMargin);
  return [...counts, ...sums];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function round(x: number, digits = 2): number {
  return Number(x.toFixed(digits));
}

async function measure(name: string, request: BfvPlanRequest) {
  let start = performance.now();
  const plan = planBfvParameters(request);
  const planMs = performance.now() - start;
  const ctx = await createHeContext(plan);
  try {
    const keys = generateKeyPair(ctx);
    const bounds = Float64Array.from(plan.entryBounds.flatMap(([count, m]) => Array<number>(count).fill(m)));
    const distinct = Math.min(plan.maxSites, 30);
    const encryptor = new VectorEncryptor(ctx, keys.publicKey);
    const contributions: EncryptedVector[] = [];
    const expected = new Float64Array(plan.vectorLength);
    const encryptMs: number[] = [];
    const warmUp = new EncryptedSum(ctx);
    for (let i = 0; i < 3; i++) warmUp.add(encryptor.encrypt(new Float64Array(plan.vectorLength))); // JIT warm-up, untimed
    let seed = 1;
    for (let k = 0; k < distinct; k++) {
      const values = bounds.map((m) => {
        seed = (seed * 48271) % 2147483647;
        return Math.round(((2 * seed) / 2147483647 - 1) * m);
      });
      values.forEach((v, e) => {
        expected[e]! += v;
      });
      start = performance.now();
      contributions.push(encryptor.encrypt(values));
      encryptMs.push(performance.now() - start);
    }
    encryptor.dispose();
    // Exactness on distinct encryptions; timing over maxSites additions (cycling through them).
    const exactSum = new EncryptedSum(ctx);
    for (const c of contributions) exactSum.add(c);
    start = performance.now();
    const decrypted = decryptVector(ctx, keys.secretKey, exactSum.toEncryptedVector(), distinct);
    const decryptMs = performance.now() - start;
    const exact = decrypted.every((v, e) => v === expected[e]);
    const budget = Math.min(...measureNoiseBudget(ctx, keys.secretKey, exactSum.toEncryptedVector()));
    const heapBefore = ctx.runtime.heapBytes();
    const sum = new EncryptedSum(ctx);
    start = performance.now();
    for (let k = 0; k < plan.maxSites; k++) sum.add(contributions[k % distinct] as EncryptedVector);
    const addMs = (performance.now() - start) / plan.maxSites;
    const sealZstd = sealZstdCiphertextBytes(ctx, keys.publicKey) * plan.ciphertextCount;
    return {
      layout: name,
      sites: plan.maxSites,
      entries: plan.vectorLength,
      plan: bfvEncryptionSummary(plan),
      plan_ms: round(planMs),
      bytes_per_site: plan.bytesPerSite,
      bytes_per_entry_per_site: round(plan.bytesPerSite / plan.vectorLength, 3),
      bytes_per_packed_counter: round(plan.bytesPerSite / (plan.ciphertextCount * plan.slots * plan.countersPerSlot), 3),
      seal_zstd_bytes_per_site_same_parameters: sealZstd,
      public_key_bytes: keys.publicKey.byteLength,
      encrypt_ms_per_site: round(median(encryptMs)),
      aggregate_ms_per_contribution: round(addMs, 3),
      decrypt_ms: round(decryptMs),
      exact_sum_of_distinct_contributions: exact,
      noise_budget_bits_measured: budget,
      noise_budget_bits_guaranteed: plan.noiseBudgetBits,
      wasm_heap_growth_bytes_during_aggregation: ctx.runtime.heapBytes() - heapBefore,
    };
  } finally {
    ctx.dispose();
  }
}

const results = [];
for (const sites of [3, 20, 1000]) {
  const entryMaxAbs = studyBounds(10_000, 200);
  results.push(await measure('2 × 1000 bins + 3 groups × 2 levels, 10,000 patients per site', {
    vectorLength: entryMaxAbs.length,
    maxSites: sites,
    maxAbsPerSite: Math.max(...entryMaxAbs),
    entryMaxAbs,
  }));
}
for (const sites of [3, 20, 1000]) {
  results.push(await measure('8192 counts of at most 100,000 (one full ciphertext at two per slot)', { vectorLength: 8192, maxSites: sites, maxAbsPerSite: 100_000 }));
}
const reference = (await sealReferenceSizes()).map((r) => ({ ...r, bytesPerValue: round(r.bytesPerValue) }));
console.log(JSON.stringify({ bench: 'he', node: process.version, results, reference }, null, 2));
