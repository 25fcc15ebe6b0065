import { createHash } from 'node:crypto';
import type { RoundContribution } from '@fedval/protocol';
import { attestationSha256, createNonce, generateSiteIdentity, signResult } from '@fedval/trust';
import type { SiteIdentity } from '@fedval/trust';
import { describe, expect, it } from 'vitest';
import { verifyContributions } from './contribution-verification.ts';
import type { VerificationContext } from './contribution-verification.ts';
import { parseRoster } from './roster.ts';

const STUDY = '11111111-1111-4111-8111-111111111111';
const ROUND = '22222222-2222-4222-8222-222222222222';
const NOW = 1_790_000_000_000;
const sites: Record<string, SiteIdentity> = { a: generateSiteIdentity(), b: generateSiteIdentity(), c: generateSiteIdentity() };
const roster = parseRoster(JSON.stringify({ sites: Object.entries(sites).map(([site_id, identity]) => ({ site_id, fingerprint: identity.fingerprint })) }), 'test');
const KEY_SHA256 = 'f'.repeat(64); // SHA-256 of the key holder's BFV public key (any value: only equality matters)
const PLAN_SHA256 = 'c'.repeat(64); // SHA-256 of the key holder's canonical plan (likewise)
const context: VerificationContext = {
  roster, studyId: STUDY, publicKeySha256: KEY_SHA256, planSha256: PLAN_SHA256, privacy: null, roundId: ROUND, window: { openedAt: NOW - 60_000, closedAt: NOW }, used: [], now: NOW + 1000, maxRecordAgeMs: 86_400_000, maxClockSkewMs: 300_000,
};

/** A contribution as a site signs it: ciphertext bytes (here arbitrary), the SHA-256 of them, a signed record. */
function contribution(site: string, options: { bytes?: number[]; study?: string; round?: string; sentAt?: number; key?: SiteIdentity; attestation?: RoundContribution['attestation']; publicKeySha256?: string | null; planSha256?: string | null } = {}): RoundContribution {
  const publicKeySha256 = options.publicKeySha256 === undefined ? KEY_SHA256 : options.publicKeySha256;
  const planSha256 = options.planSha256 === undefined ? PLAN_SHA256 : options.planSha256;
  const bytes = Buffer.from(options.bytes ?? [1, 2, 3, site.charCodeAt(0)]);
  const key = options.key ?? sites[site]!;
  const attestation = options.attestation ?? null;
  const fields = {
    studyId: options.study ?? STUDY, roundId: options.round ?? ROUND, siteId: site, contributionSha256: createHash('sha256').update(bytes).digest('hex'),
    nonce: createNonce(), sentAt: options.sentAt ?? NOW - 1000, ...(attestation ? { attestationSha256: attestationSha256(attestation as never) } : {}),
    ...(publicKeySha256 !== null ? { publicKeySha256 } : {}),
    ...(planSha256 !== null ? { planSha256 } : {}),
  };
  return {
    site_id: site,
    ciphertexts_base64: [bytes.toString('base64')],
    record: {
      study_id: fields.studyId, round_id: fields.roundId, site_id: site, contribution_sha256: fields.contributionSha256, nonce: fields.nonce, sent_at: fields.sentAt,
      attestation_sha256: fields.attestationSha256 ?? null, public_key_sha256: publicKeySha256, plan_sha256: planSha256, signature_base64: Buffer.from(signResult(key.privateKeyPem, fields)).toString('base64'),
    },
    attestation,
    public_key: key.publicKey,
    received_at: new Date(NOW).toISOString(),
  };
}
const reasons = (served: RoundContribution[], overrides: Partial<VerificationContext> = {}) => {
  const result = verifyContributions(served, { ...context, ...overrides });
  return { accepted: result.accepted.map((item) => item.siteId), refused: result.refused.map((item) => `${item.siteId}:${item.reason}`) };
};

describe('verifyContributions', () => {
  it('accepts one contribution per rostered site signed by its pinned key', () => {
    expect(reasons([contribution('a'), contribution('b'), contribution('c', { attestation: { dataset_commitment: 'd'.repeat(64), audit_head: { seq: 3, hash: 'e'.repeat(64) } } })])).toEqual({ accepted: ['a', 'b', 'c'], refused: [] });
  });

  it('refuses unsigned, unrostered, wrongly keyed, modified and misdirected records, each with its reason', () => {
    const unsigned = { ...contribution('a'), record: null };
    const sybil = generateSiteIdentity();
    const unknownSite = { ...contribution('a', { key: sybil }), site_id: 'fake', record: { ...contribution('a', { key: sybil }).record!, site_id: 'fake' } };
    const otherKey = contribution('b', { key: generateSiteIdentity() });
    const swapped = { ...contribution('c'), ciphertexts_base64: [Buffer.from([0, 0, 0]).toString('base64')] };
    const edited = contribution('c');
    edited.record = { ...edited.record!, sent_at: edited.record!.sent_at + 1 };
    expect(reasons([unsigned, unknownSite, otherKey, swapped, edited]).refused).toEqual(['a:unsigned', 'fake:unknown_site', 'b:unknown_key', 'c:digest_mismatch', 'c:bad_signature']);
    expect(reasons([contribution('a', { study: '33333333-3333-4333-8333-333333333333' }), contribution('b', { round: '44444444-4444-4444-8444-444444444444' })]).refused).toEqual(['a:wrong_study', 'b:wrong_round']);
    const relabelled = contribution('a');
    expect(reasons([{ ...relabelled, site_id: 'b' }]).refused).toEqual(['b:wrong_site']);
  });

  it("refuses a record encrypted under another public key than the key holder's, or naming none", () => {
    // A coordinator that substituted its own key: the site signed that key's SHA-256, which is not this key holder's.
    expect(reasons([contribution('a', { publicKeySha256: 'e'.repeat(64) }), contribution('b', { publicKeySha256: null }), contribution('c')])).toEqual({ accepted: ['c'], refused: ['a:wrong_key', 'b:wrong_key'] });
    // Changing the key hash the site signed breaks its signature.
    const edited = contribution('a');
    edited.record = { ...edited.record!, public_key_sha256: 'e'.repeat(64) };
    expect(reasons([edited], { publicKeySha256: 'e'.repeat(64) }).refused).toEqual(['a:bad_signature']);
  });

  it("refuses a record encrypted under another plan than the key holder's, or naming none (the reason goes to the trail)", () => {
    expect(reasons([contribution('a', { planSha256: 'e'.repeat(64) }), contribution('b', { planSha256: null }), contribution('c')])).toEqual({ accepted: ['c'], refused: ['a:wrong_plan', 'b:wrong_plan'] });
    const refusal = verifyContributions([contribution('b', { planSha256: null })], context).refused[0];
    expect(refusal?.detail).toBe('the record does not name the plan it was encrypted under');
  });

  it('counts a site only when its signed attestation states the privacy of the release the key holder rebuilds', () => {
    const head = { dataset_commitment: 'd'.repeat(64), audit_head: { seq: 3, hash: 'e'.repeat(64) } };
    const budget = { delta: 1e-6, epsilon_spent: 1, epsilon_remaining: 9, epsilon_total: 10 };
    const expected = { rho: 0.02, epsilon: 1, minSites: 3 };
    const attested = (privacy: Record<string, number> | undefined) => ({ ...head, ...(privacy ? { privacy: { ...budget, ...privacy } } : {}) }) as RoundContribution['attestation'];
    const served = [
      contribution('a', { attestation: attested({ rho: 0.02, epsilon: 1, min_sites: 3 }) }),
      // The review's attack: tasks sized each share for 10 sites while the decryption floor is 3.
      contribution('b', { attestation: attested({ rho: 0.02, epsilon: 1, min_sites: 10 }) }),
      contribution('c', { attestation: attested({ rho: 0.02, epsilon: 1 }) }), // an agent that does not say
    ];
    expect(reasons(served, { privacy: expected })).toEqual({ accepted: ['a'], refused: ['b:wrong_privacy', 'c:wrong_privacy'] });
    expect(reasons([contribution('a', { attestation: attested({ rho: 0.01, epsilon: 0.7, min_sites: 3 }) }), contribution('b', { attestation: attested(undefined) })], { privacy: expected }).refused).toEqual(['a:wrong_privacy', 'b:wrong_privacy']);
    // A round served as exact while the site attests a private release (or the reverse) is refused too.
    expect(reasons([contribution('a', { attestation: attested({ rho: 0.02, epsilon: 1, min_sites: 3 }) })], { privacy: null }).refused).toEqual(['a:wrong_privacy']);
  });

  it('refuses a record signed outside the round window or too long ago', () => {
    expect(reasons([contribution('a', { sentAt: NOW - 3_600_000 })]).refused).toEqual(['a:stale']);
    expect(reasons([contribution('a')], { now: NOW + 2 * 86_400_000 }).refused).toEqual(['a:stale']);
  });

  it('counts a site once: the same record twice, or a second record of the site', () => {
    const a = contribution('a');
    expect(reasons([a, a, a])).toEqual({ accepted: ['a'], refused: ['a:duplicate_record', 'a:duplicate_record'] });
    expect(reasons([contribution('a'), contribution('a', { bytes: [9] })])).toEqual({ accepted: ['a'], refused: ['a:duplicate_site'] });
  });

  it('refuses records used by an earlier, different decryption; the same decryption again is no replay', () => {
    const served = [contribution('a'), contribution('b'), contribution('c')];
    const first = verifyContributions(served, context);
    const used = first.accepted.map((item) => ({ record_sha256: item.recordSha256, site_id: item.siteId, nonce: item.nonce, round_id: ROUND, set_sha256: first.setSha256, contribution_sha256: item.contributionSha256 }));
    expect(reasons(served, { used }).accepted).toEqual(['a', 'b', 'c']);
    expect(reasons(served.slice(0, 2), { used })).toEqual({ accepted: [], refused: ['a:replayed', 'b:replayed'] });
  });

  it('refuses a freshly signed record of a contribution already used in another combination (a task re-sent to collect new signatures)', () => {
    const [a, b, c] = [contribution('a'), contribution('b'), contribution('c')];
    const first = verifyContributions([a, b, c], context);
    const used = first.accepted.map((item) => ({ record_sha256: item.recordSha256, site_id: item.siteId, nonce: item.nonce, round_id: ROUND, set_sha256: first.setSha256, contribution_sha256: item.contributionSha256 }));
    // The same ciphertexts, signed again with new nonces (as an agent does when the coordinator sends the task again).
    const resigned = (served: RoundContribution) => contribution(served.site_id, { bytes: [...Buffer.from(served.ciphertexts_base64[0]!, 'base64')] });
    // The same sum again, whatever the signatures: nothing new is learned.
    expect(reasons([resigned(a), resigned(b), resigned(c)], { used }).accepted).toEqual(['a', 'b', 'c']);
    // A different combination of contributions already used: the differences of the sums would isolate one site.
    expect(reasons([resigned(a), resigned(b)], { used })).toEqual({ accepted: [], refused: ['a:replayed', 'b:replayed'] });
  });
});

describe('parseRoster', () => {
  it('is canonical whatever the order, and refuses a public key that does not have the fingerprint given', () => {
    const [a, b] = [sites.a!, sites.b!];
    const one = parseRoster(`sites:\n  - { site_id: b, fingerprint: ${b.fingerprint} }\n  - { site_id: a, fingerprint: ${a.fingerprint}, public_key: "${a.publicKey}" }\n`, 'yaml');
    const two = parseRoster(JSON.stringify({ sites: [{ site_id: 'a', public_key: a.publicKey, fingerprint: a.fingerprint }, { site_id: 'b', fingerprint: b.fingerprint }] }), 'json');
    expect(one.sha256).toBe(two.sha256);
    expect(one.sha256).toBe(createHash('sha256').update(one.canonical).digest('hex'));
    expect(() => parseRoster(JSON.stringify({ sites: [{ site_id: 'a', fingerprint: b.fingerprint, public_key: a.publicKey }] }), 'x')).toThrow(/FEDVAL_ERR_CLI_ROSTER|fingerprint/);
    for (const bad of ['sites: []', 'sites: [{ site_id: a, fingerprint: ABC }]', `sites: [{ site_id: a, fingerprint: ${a.fingerprint} }, { site_id: a, fingerprint: ${a.fingerprint} }]`]) {
      expect(() => parseRoster(bad, 'x')).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_CLI_ROSTER' }));
    }
  });
});
