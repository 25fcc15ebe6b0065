// secagg-primitives.ts — cost of @fedval/secagg's building blocks for one round (prints JSON): mask expansion throughput
// and a site's masking time on the packed slot vector of real BFV plans, the unmasking correction with one dropout,
// Shamir split/combine, share sealing and key agreement, for 3, 20 and 100 sites.
// Run: node tests/bench/secagg-primitives.ts
import { planBfvParameters } from '@fedval/he';
import {
  agreeSecret, combineShares, defaultThreshold, expandMask, generateAgreementKeyPair, maskCorrection, maskVector, openShares,
  pairwiseSign, sealShares, SEALED_SHARES_BYTES, splitSecret, systemRandomBytes,
} from '@fedval/secagg';
import type { PairwiseMask } from '@fedval/secagg';

const SECTIONS = 1 + 3 * 2; // overall + 3 subgroup columns × 2 levels (as tests/bench/he-bench.ts)
const BINS = 1000;

/** A binary-task statistics vector: per section 2 × 1000 score bins and 5 exclusion counts, then per section 11 fixed-point (2^20) sums. */
function studyBounds(patientsPerSite: number, noiseMargin: number): number[] {
  const counts = Array<number>(SECTIONS * (2 * BINS + 5)).fill(patientsPerSite + noiseMargin);
  const sums = Array<number>(SECTIONS * 11).fill(patientsPerSite * 2 ** 20 + noiseMargin);
  return [...counts, ...sums];
}

/** Median of `repeat` timed runs of fn, in milliseconds. */
function time(fn: () => unknown, repeat: number): number {
  for (let i = 0; i < 3; i++) fn(); // JIT warm-up, untimed
  const runs: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const start = performance.now();
    fn();
    runs.push(performance.now() - start);
  }
  runs.sort((a, b) => a - b);
  return Number((runs[Math.floor(runs.length / 2)] as number).toFixed(3));
}

const results = [];
for (const sites of [3, 20, 100]) {
  const entryMaxAbs = studyBounds(10_000, 200);
  const plan = planBfvParameters({ vectorLength: entryMaxAbs.length, maxSites: sites, maxAbsPerSite: Math.max(...entryMaxAbs), entryMaxAbs });
  const t = BigInt(plan.plainModulus);
  const slots = plan.ciphertextCount * plan.polyModulusDegree;
  const threshold = defaultThreshold(sites);
  const ids = Array.from({ length: sites }, (_, i) => `site-${String(i).padStart(3, '0')}`);
  const seed = systemRandomBytes(32);
  const values = new BigInt64Array(slots).map((_, i) => BigInt((i % 201) - 100));
  const pairwise: PairwiseMask[] = ids.slice(1).map((peer) => ({ peerId: peer, secret: systemRandomBytes(32), sign: pairwiseSign(ids[0] as string, peer) }));
  const repeat = sites >= 100 ? 3 : 7;
  const expandMs = time(() => expandMask(seed, 'pairwise-mask', slots, t), 15);
  const maskMs = time(() => maskVector(values, { selfSeed: seed, pairwise }, t), repeat);
  // Unmasking with one dropout: every survivor's self mask and every survivor's pair mask with the dropped site.
  const survivors = sites - 1;
  const correctionMs = !(sites - 1 >= defaultThreshold(sites)) ? null : time(() => maskCorrection(slots, {
    selfSeeds: Array.from({ length: survivors }, () => seed),
    droppedPairs: Array.from({ length: survivors }, (_, i) => ({ secret: seed, sign: i % 2 === 0 ? 1 : -1 })),
  }, t), repeat);
  const noDropCorrectionMs = time(() => maskCorrection(slots, { selfSeeds: Array.from({ length: sites }, () => seed), droppedPairs: [] }, t), repeat);
  const shares = splitSecret(seed, threshold, ids, systemRandomBytes);
  const splitMs = time(() => splitSecret(seed, threshold, ids, systemRandomBytes), repeat);
  const combineMs = time(() => combineShares(shares.slice(0, threshold), threshold), repeat);
  // One dropout leaves n − 1 responders: their shares beyond the threshold are verified. Impossible when t = n (e.g. 3 sites).
  const canDrop = sites - 1 >= threshold;
  const combineAllMs = canDrop ? time(() => combineShares(shares.slice(1), threshold), repeat) : null;
  const a = generateAgreementKeyPair();
  const b = generateAgreementKeyPair();
  const agreeMs = time(() => agreeSecret(a.privateKey, b.publicKey, { purpose: 'pairwise-mask', studyId: 'study', roundId: 'round', siteA: 'a', siteB: 'b' }), 51);
  const key = systemRandomBytes(32);
  const binding = { studyId: 'study', roundId: 'round', sender: 'a', recipient: 'b' };
  const bundle = { x: 2, selfMaskSeed: (shares[1] as { y: bigint }).y, agreementKey: (shares[2] as { y: bigint }).y };
  const sealed = sealShares(key, binding, bundle);
  const sealMs = time(() => sealShares(key, binding, bundle), 51);
  const openMs = time(() => openShares(key, binding, sealed), 51);
  results.push({
    sites,
    threshold,
    plain_modulus_bits: plan.plainModulusBits,
    slots_masked: slots,
    bfv_bytes_per_site: plan.bytesPerSite,
    expand_mask_ms: expandMs,
    expand_mask_million_values_per_s: Number((slots / expandMs / 1000).toFixed(2)),
    site_mask_vector_ms: maskMs,
    site_agree_secrets_ms: Number((2 * (sites - 1) * agreeMs).toFixed(3)), // mask and transport secret per peer
    site_split_two_secrets_ms: Number((2 * splitMs).toFixed(3)),
    site_seal_ms: Number(((sites - 1) * sealMs).toFixed(3)),
    site_open_ms: Number(((sites - 1) * openMs).toFixed(3)),
    site_sealed_share_bytes_sent: (sites - 1) * SEALED_SHARES_BYTES,
    unmask_combine_ms_per_secret: combineMs,
    unmask_combine_ms_all_no_dropout: Number((sites * combineMs).toFixed(3)),
    unmask_combine_ms_per_secret_verifying_all_shares: combineAllMs,
    unmask_correction_ms_no_dropout: noDropCorrectionMs,
    unmask_correction_ms_one_dropout: correctionMs,
  });
}
console.log(JSON.stringify({ bench: 'secagg-primitives', node: process.version, results }, null, 2));
