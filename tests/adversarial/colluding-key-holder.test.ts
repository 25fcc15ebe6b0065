// The coordinator and the key holder collude (issue 13): together they hold every site's ciphertext, the signed
// secure-aggregation transcript and the secret key. A real round (real coordinator, agents and key holder over
// loopback, `fedval simulate --secure-aggregation`) is played out; then this test, holding exactly what those two hold
// (the coordinator's database, the key directory), decrypts a single site's ciphertext and the sum of a proper subset,
// and also subtracts from them the self-masks PRG(b_u) it rebuilds from the shares the sites revealed after the round
// (a colluding pair holds them): a chi-square test against uniform mod t still finds nothing but noise, because the
// pairwise masks cancel only in the full sum. (Shown able to fail: with the pairwise masks switched off at the sites,
// a single site minus its revealed self-mask is its statistics vector, and χ² is far above the critical value.) Only the sum of every survivor, unmasked with the
// shares the sites revealed, reads back, and it equals eval-local on the pooled data.
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { parseRoster, planUnmasking } from '@fedval/cli';
import { combineShares, maskCorrection } from '@fedval/secagg';
import { createRelease, finalizeRelease } from '@fedval/dp';
import { createHeContext, decryptAggregateSlots, decryptVector, EncryptedSum, validateBfvPlan } from '@fedval/he';
import type { HeContext } from '@fedval/he';
import { createStatisticsLayout, metricSpecSchema } from '@fedval/metrics';
import { secaggTranscriptSchema } from '@fedval/protocol';
import type { SecaggTranscript } from '@fedval/protocol';
import { decodeRevealedShare, resultAttestationSchema } from '@fedval/trust';
import type { ResultAttestation } from '@fedval/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gbsgScoreLines } from '../helpers/gbsg-scores.ts';
import { runJson } from '../helpers/run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-colluding-'));
const SITES = ['site-a', 'site-b', 'site-c'];
/** χ² with 15 degrees of freedom at a false-alarm rate of 10⁻⁹ (scipy.stats.chi2.ppf(1 − 1e-9, 15)). */
const CHI2_15_CRITICAL = 73.63;
const BINS = 16;

/** Pearson's χ² of the slot values (residues mod t) against the uniform distribution on [0, t), in 16 equal bins. */
function chiSquareUniform(slots: BigInt64Array, t: bigint): number {
  const counts = new Array<number>(BINS).fill(0);
  for (const value of slots) {
    const residue = value < 0n ? value + t : value;
    counts[Number((residue * BigInt(BINS)) / t)]! += 1;
  }
  const expected = slots.length / BINS;
  return counts.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
}

describe('a coordinator and key holder that collude learn only the full sum', () => {
  let context: HeContext;
  let secretKey: Uint8Array;
  let t: bigint;
  const ciphertexts = new Map<string, Uint8Array[]>();
  const attestations = new Map<string, ResultAttestation | null>();
  let transcript: SecaggTranscript;
  let local: { metrics: Record<string, unknown> };
  let workDir = '';
  let studyId = '';
  let roundId = '';
  let metricSpec: unknown;

  const sumOf = (sites: string[]) => {
    const sum = new EncryptedSum(context);
    for (const site of sites) sum.add({ ciphertexts: ciphertexts.get(site)! });
    return sum.toEncryptedVector();
  };

  beforeAll(async () => {
    const header = 'status,score';
    const rows = gbsgScoreLines();
    const lines = [header, ...rows];
    const size = Math.ceil(rows.length / SITES.length);
    const files = SITES.map((site, i) => {
      const path = join(dir, `${site}.csv`);
      writeFileSync(path, `${[header, ...rows.slice(i * size, (i + 1) * size)].join('\n')}\n`);
      return path;
    });
    const pooled = join(dir, 'pooled.csv');
    writeFileSync(pooled, `${lines.join('\n')}\n`);
    const args = ['--label', 'status', '--positive', '1', '--score', 'score'];
    local = await runJson('fedval-agent', ['eval-local', '--data', pooled, ...args]);
    workDir = join(dir, 'round');
    const simulated = await runJson<{ round: { round_id: string; study_id: string } }>('fedval', [
      'simulate',
      ...files.flatMap((path, i) => ['--site', `${SITES[i]}=${path}`]),
      ...args,
      '--no-dp',
      '--secure-aggregation',
      '--work-dir',
      workDir,
    ]);
    roundId = simulated.round.round_id;
    studyId = simulated.round.study_id;
    // What the colluding pair holds: the coordinator's database and the key holder's directory.
    const db = new DatabaseSync(join(workDir, 'coordinator-data', 'coordinator.sqlite'), { readOnly: true });
    try {
      for (const row of db.prepare('SELECT site_id, ciphertexts, attestation_json FROM round_contributions WHERE round_id = ?').all(roundId)) {
        const bytes = row.ciphertexts as Uint8Array;
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const frames: Uint8Array[] = [];
        for (let at = 0; at < bytes.byteLength; at += 4 + view.getUint32(at)) frames.push(bytes.slice(at + 4, at + 4 + view.getUint32(at)));
        ciphertexts.set(row.site_id as string, frames);
        attestations.set(row.site_id as string, row.attestation_json === null ? null : resultAttestationSchema.parse(JSON.parse(row.attestation_json as string)));
      }
      const round = db.prepare('SELECT secagg_json FROM rounds WHERE id = ?').get(roundId) as { secagg_json: string };
      transcript = secaggTranscriptSchema.parse(JSON.parse(round.secagg_json));
      const study = db.prepare('SELECT metric_spec_json FROM studies WHERE id = ?').get(studyId) as { metric_spec_json: string };
      metricSpec = JSON.parse(study.metric_spec_json);
    } finally {
      db.close();
    }
    const keys = join(workDir, 'key-holder');
    const plan = validateBfvPlan(JSON.parse(readFileSync(join(keys, 'plan.json'), 'utf8')));
    context = await createHeContext(plan);
    secretKey = new Uint8Array(readFileSync(join(keys, 'secret.key')));
    t = BigInt(plan.plainModulus);
  }, 400_000);

  afterAll(() => context?.dispose());

  it('decrypts each single site to uniform noise mod t, which does not unpack into statistics', () => {
    expect([...ciphertexts.keys()].sort()).toEqual(SITES);
    for (const site of SITES) {
      const slots = decryptAggregateSlots(context, secretKey, sumOf([site]), 1);
      const statistic = chiSquareUniform(slots, t);
      expect(statistic, `${site}: χ² ${statistic.toFixed(1)} over ${slots.length} slots`).toBeLessThan(CHI2_15_CRITICAL);
      expect(() => decryptVector(context, secretKey, sumOf([site]), 1)).toThrow(/outside its range|more than its counters/);
    }
  });

  it('decrypts the sum of every proper subset of two sites to uniform noise', () => {
    for (const pair of [['site-a', 'site-b'], ['site-a', 'site-c'], ['site-b', 'site-c']]) {
      const slots = decryptAggregateSlots(context, secretKey, sumOf(pair), 2);
      expect(chiSquareUniform(slots, t), pair.join('+')).toBeLessThan(CHI2_15_CRITICAL);
    }
  });

  it('finds uniform noise in each single site and each proper subset even with the revealed self-mask seeds b_u subtracted', () => {
    // What the colluding pair rebuilds after the round: every survivor's b_u, from the shares the sites revealed.
    const shares = new Map<string, { x: number; y: bigint }[]>();
    for (const reveal of transcript.reveals) {
      for (const share of reveal.shares) {
        if (share.kind !== 'self_mask_seed') continue;
        shares.set(share.owner, [...(shares.get(share.owner) ?? []), decodeRevealedShare(share.share_base64)]);
      }
    }
    expect([...shares.keys()].sort()).toEqual(SITES);
    const selfSeed = new Map([...shares].map(([owner, owned]) => [owner, combineShares(owned, transcript.threshold)]));
    for (const subset of [['site-a'], ['site-b'], ['site-c'], ['site-a', 'site-b'], ['site-a', 'site-c'], ['site-b', 'site-c']]) {
      const slots = decryptAggregateSlots(context, secretKey, sumOf(subset), subset.length);
      // maskCorrection is −Σ PRG(b_u) mod t over the subset's self-mask seeds: added, it removes their self-masks.
      const correction = maskCorrection(slots.length, { selfSeeds: subset.map((site) => selfSeed.get(site)!), droppedPairs: [] }, t);
      const unmasked = new BigInt64Array(slots.length);
      for (let i = 0; i < slots.length; i++) unmasked[i] = (((slots[i]! % t) + t + correction[i]!) % t);
      const statistic = chiSquareUniform(unmasked, t);
      expect(statistic, `${subset.join('+')} without its self-masks: χ² ${statistic.toFixed(1)} over ${slots.length} slots`).toBeLessThan(CHI2_15_CRITICAL);
    }
  });

  it('unmasks the sum of every survivor, with the shares the sites revealed, to exactly the pooled statistics', () => {
    const roster = parseRoster(readFileSync(join(workDir, 'key-holder', 'roster.json'), 'utf8'), 'roster.json');
    const plan = planUnmasking(transcript, { roster, studyId, roundId, attestations });
    expect(plan.ok, plan.ok ? '' : plan.problem).toBe(true);
    if (!plan.ok) return;
    expect(plan.survivors).toEqual(SITES);
    const slotUnmask = plan.slotUnmask(context.plan.ciphertextCount * context.plan.polyModulusDegree, t);
    const vector = decryptVector(context, secretKey, sumOf(SITES), 3, { slotUnmask });
    const released = finalizeRelease(createRelease(createStatisticsLayout(metricSpecSchema.parse(metricSpec)), null), vector, 3);
    expect(released.metrics).toEqual(local.metrics);
  });
});
