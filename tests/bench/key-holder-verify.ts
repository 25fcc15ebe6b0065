// key-holder-verify.ts — what verifying, instead of trusting, the coordinator costs the key holder: checking every
// site's signed contribution record against the roster (Ed25519 + SHA-256 of the ciphertexts) and adding the
// ciphertexts itself, against decrypting an aggregate it is given; for 3 and 100 sites, as ratios within one run.
// Run: node tests/bench/key-holder-verify.ts [repetitions]   (prints one JSON document)
import { createHash } from 'node:crypto';
import { verifyContributions } from '@fedval/cli';
import type { Roster } from '@fedval/cli';
import { createHeContext, decryptVector, EncryptedSum, generateKeyPair, planBfvParameters, planSha256, VectorEncryptor } from '@fedval/he';
import { createStatisticsLayout, resolveMetricSpec } from '@fedval/metrics';
import { contributionDigest } from '@fedval/protocol';
import type { RoundContribution } from '@fedval/protocol';
import { createNonce, generateSiteIdentity, signResult } from '@fedval/trust';

const repetitions = Number(process.argv[2] ?? 5);
const SITE_COUNTS = [3, 100];
const metricSpec = { task: 'binary', bins: 1000, threshold: 0.5 } as const;
const layout = createStatisticsLayout(resolveMetricSpec(metricSpec));
const plan = planBfvParameters({ vectorLength: layout.length, maxSites: Math.max(...SITE_COUNTS), maxAbsPerSite: 100_000 });
const context = await createHeContext(plan);
const keys = generateKeyPair(context);
const publicKeySha256 = createHash('sha256').update(keys.publicKey).digest('hex');
const studyId = '00000000-0000-4000-8000-000000000001';
const roundId = '00000000-0000-4000-8000-000000000002';
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const time = (work: () => void): number => {
  const started = performance.now();
  work();
  return performance.now() - started;
};

const results: Record<string, unknown> = {};
for (const sites of SITE_COUNTS) {
  // n sites, each with an Ed25519 key in the roster, a contribution (random counts) and its signed record.
  const encryptor = new VectorEncryptor(context, keys.publicKey);
  const now = Date.now();
  const rosterSites = new Map<string, { fingerprint: string; publicKey: string | null }>();
  const served: RoundContribution[] = [];
  for (let i = 0; i < sites; i += 1) {
    const identity = generateSiteIdentity();
    const siteId = `site-${i}`;
    rosterSites.set(siteId, { fingerprint: identity.fingerprint, publicKey: identity.publicKey });
    const vector = Float64Array.from({ length: layout.length }, () => Math.floor(Math.random() * 50));
    const ciphertexts = encryptor.encrypt(vector).ciphertexts.map((bytes) => new Uint8Array(bytes));
    const fields = { studyId, roundId, siteId, contributionSha256: contributionDigest({ kind: 'bfv', ciphertexts }).sha256, nonce: createNonce(), sentAt: now, publicKeySha256, planSha256: planSha256(plan) };
    served.push({
      site_id: siteId,
      ciphertexts_base64: ciphertexts.map((bytes) => Buffer.from(bytes).toString('base64')),
      record: {
        study_id: studyId, round_id: roundId, site_id: siteId, contribution_sha256: fields.contributionSha256, nonce: fields.nonce, sent_at: now,
        attestation_sha256: null, public_key_sha256: publicKeySha256, plan_sha256: fields.planSha256, signature_base64: Buffer.from(signResult(identity.privateKeyPem, fields)).toString('base64'),
      },
      attestation: null,
      public_key: identity.publicKey,
      received_at: new Date(now).toISOString(),
    });
  }
  encryptor.dispose();
  const roster: Roster = { sites: rosterSites, sha256: '0'.repeat(64), canonical: '' };
  const verifyMs: number[] = [];
  const sumMs: number[] = [];
  const decryptMs: number[] = [];
  // One warm-up pass (JIT, SEAL's first use) that is not measured, then `repetitions` measured ones.
  for (let r = -1; r < repetitions; r += 1) {
    let accepted: ReturnType<typeof verifyContributions>['accepted'] = [];
    verifyMs.push(
      time(() => {
        const verification = verifyContributions(served, {
          roster, studyId, publicKeySha256, planSha256: planSha256(plan), privacy: null, roundId, window: { openedAt: now - 1000, closedAt: now + 1000 }, used: [], now: now + 2000, maxRecordAgeMs: 86_400_000, maxClockSkewMs: 300_000,
        });
        if (verification.accepted.length !== sites) throw new Error(`verified ${verification.accepted.length} of ${sites}`);
        accepted = verification.accepted;
      }),
    );
    let aggregate: ReturnType<EncryptedSum['toEncryptedVector']> | undefined;
    sumMs.push(
      time(() => {
        const sum = new EncryptedSum(context);
        for (const contribution of accepted) sum.add({ ciphertexts: contribution.ciphertexts });
        aggregate = sum.toEncryptedVector();
      }),
    );
    decryptMs.push(time(() => void decryptVector(context, keys.secretKey, aggregate!, sites)));
    if (r < 0) [verifyMs, sumMs, decryptMs].forEach((list) => list.pop());
  }
  const verify = median(verifyMs);
  const sum = median(sumMs);
  const decrypt = median(decryptMs);
  results[`${sites}_sites`] = {
    median_ms: { verify_records: verify, own_homomorphic_sum: sum, decrypt_given_aggregate: decrypt },
    ratio_verify_to_decrypt: verify / decrypt,
    ratio_sum_to_decrypt: sum / decrypt,
    ratio_verification_total_to_decrypt: (verify + sum) / decrypt,
    ms_per_site: { verify_records: verify / sites, own_homomorphic_sum: sum / sites },
    ciphertext_bytes_per_site: served[0]!.ciphertexts_base64.reduce((total, text) => total + Buffer.from(text, 'base64').byteLength, 0),
  };
}
context.dispose();
process.stdout.write(
  `${JSON.stringify(
    {
      bench: 'key-holder-verify',
      scenario: `binary metric spec, 1000 bins (${layout.length} entries), BFV n=${plan.polyModulusDegree}, ${plan.ciphertextCount} ciphertext(s) per site; verification = Ed25519 signature + SHA-256 of the ciphertexts + roster/round/window/duplicate checks per record; own sum = @fedval/he EncryptedSum; decrypt = decryptVector of the aggregate`,
      repetitions,
      ...results,
    },
    null,
    2,
  )}\n`,
);
