// contribution-verification.ts — the key holder's check of each contribution the coordinator serves: signed by a key of
// the pinned roster, for this study and round, fresh, once. Pure: the roster, the used records and the clock are passed in.
import { createHash } from 'node:crypto';
import { contributionDigest } from '@fedval/protocol';
import type { RoundContribution } from '@fedval/protocol';
import { attestationSha256, publicKeyFingerprint, resultSignaturePayload, verify } from '@fedval/trust';
import type { Roster } from './roster.ts';

/** Why one contribution was refused; each is written to the key holder's trail with the site it names. */
export const CONTRIBUTION_REFUSAL_REASONS = [
  'unsigned', // no signed record: a site authenticated by a pre-shared token has no key, so it can never be verified
  'unknown_site', // the site is not in the pinned roster
  'unknown_key', // the record's key is not the one the roster pins for the site
  'bad_signature', // the signature does not verify over the record
  'wrong_study', // a record of another study
  'wrong_round', // a record of another round
  'wrong_site', // the record names another site than the one it is served as
  'digest_mismatch', // the ciphertexts served are not the ones the site signed (or the attestation differs)
  'wrong_key', // encrypted under another public key than the key holder's own (or the record does not say which)
  'wrong_plan', // encrypted under another plan than the key holder's own (or the record does not say which)
  'wrong_privacy', // the signed attestation's privacy (ρ, ε, the sites its noise share was sized for) is not the release the key holder rebuilds
  'stale', // signed outside the round's window, or longer ago than the key holder accepts
  'duplicate_site', // a second contribution of a site already counted
  'duplicate_record', // the same signed record served twice
  'replayed', // a record already used in an earlier decryption
  'invalid_ciphertext', // @fedval/he refused to add the ciphertexts
  'not_a_survivor', // secure aggregation: not in the survivor set the sites signed, so its masks cannot be removed
] as const;
export type ContributionRefusalReason = (typeof CONTRIBUTION_REFUSAL_REASONS)[number];

/** A record already used by an earlier decryption, as kept in the key directory. */
export interface UsedRecord {
  record_sha256: string;
  site_id: string;
  nonce: string;
  round_id: string;
  /**
   * SHA-256 of the sorted `site:contribution SHA-256` pairs of the decryption that used it: repeating that exact sum
   * is no replay, whatever the signatures; any other combination would let the differences isolate one site.
   */
  set_sha256: string;
  /** SHA-256 of the contribution (its ciphertexts as the site signed them). */
  contribution_sha256: string;
}

export interface VerificationContext {
  roster: Roster;
  /** The study of the key directory (written by `fedval keys init`), never the coordinator's claim. */
  studyId: string;
  /** SHA-256 (hex) of the key directory's own public key: a record signed for another key is refused. */
  publicKeySha256: string;
  /** SHA-256 (hex) of the key directory's own plan (@fedval/he planSha256): a record signed for another plan is refused. */
  planSha256: string;
  /**
   * The privacy every counted site must attest, from the release the key holder rebuilds (null: no DP release, and a
   * record attesting privacy is refused). `minSites`: the sites each noise share was sized for.
   */
  privacy: { rho: number; epsilon: number; minSites: number } | null;
  roundId: string;
  /** The round's window as served: records signed outside [opened − skew, closed + skew] are stale. Epoch ms. */
  window: { openedAt: number; closedAt: number };
  /** Records used by earlier decryptions. */
  used: readonly UsedRecord[];
  /** Clock, epoch ms. */
  now: number;
  /** Oldest record accepted, in ms before now. */
  maxRecordAgeMs: number;
  /** Clock skew tolerated between a site and the coordinator or the key holder, in ms. */
  maxClockSkewMs: number;
}

export interface AcceptedContribution {
  siteId: string;
  ciphertexts: Uint8Array[];
  recordSha256: string;
  /** SHA-256 of the ciphertexts, as the site signed it. */
  contributionSha256: string;
  nonce: string;
  attestation: RoundContribution['attestation'];
}

export interface ContributionRefusal {
  siteId: string;
  reason: ContributionRefusalReason;
  detail: string;
  recordSha256: string | null;
}

export interface ContributionVerification {
  accepted: AcceptedContribution[];
  refused: ContributionRefusal[];
  /** SHA-256 of the sorted hashes of the records that passed every check but the replay check: names this decryption. */
  setSha256: string;
}

const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

/** Why a contribution's attested privacy is not the release `expected`, or null when it is. */
function attestedPrivacyProblem(attestation: RoundContribution['attestation'], expected: VerificationContext['privacy']): string | null {
  const privacy = attestation?.privacy;
  if (expected === null) return privacy === undefined ? null : 'the site attests a private release; the round has none';
  if (privacy === undefined) return 'the site attests no private release';
  if (privacy.min_sites === undefined) return 'the site does not attest how many sites its noise share was sized for';
  if (privacy.min_sites !== expected.minSites) return `noise share sized for ${privacy.min_sites} sites, the release is sized for ${expected.minSites}`;
  if (privacy.rho !== expected.rho || privacy.epsilon !== expected.epsilon) return `attested ρ ${privacy.rho} (ε ${privacy.epsilon}), the release has ρ ${expected.rho} (ε ${expected.epsilon})`;
  return null;
}

/**
 * Checks every served contribution and keeps, per rostered site, at most one whose record is signed by the key the
 * roster pins, names this study, round and site, covers exactly the ciphertexts (and attestation) served, was signed
 * inside the round's window and not too long ago, and was not used by an earlier, different decryption.
 * Everything else is refused with its reason; nothing the coordinator says about counts or sites is used.
 */
export function verifyContributions(served: readonly RoundContribution[], context: VerificationContext): ContributionVerification {
  const accepted: AcceptedContribution[] = [];
  const refused: ContributionRefusal[] = [];
  const seenRecords = new Set<string>();
  const countedSites = new Set<string>();
  const usedByRecord = new Map(context.used.map((used) => [used.record_sha256, used]));
  const usedNonces = new Map(context.used.map((used) => [`${used.site_id}/${used.nonce}`, used]));
  // A site's contribution to a round, however often it was signed (an agent signs again when a task is sent again).
  const usedContributions = new Map(context.used.map((used) => [`${used.site_id}/${used.round_id}/${used.contribution_sha256}`, used]));
  const usedSiteRounds = new Map(context.used.map((used) => [`${used.site_id}/${used.round_id}`, used]));
  const candidates: { item: AcceptedContribution; refuse: (reason: ContributionRefusalReason, detail: string) => void }[] = [];
  for (const item of served) {
    const siteId = item.site_id;
    const record = item.record;
    let recordSha256: string | null = null;
    const refuse = (reason: ContributionRefusalReason, detail: string): void => {
      refused.push({ siteId, reason, detail, recordSha256 });
    };
    if (record === null) {
      refuse('unsigned', 'no signed contribution record (a token-authenticated site cannot be verified)');
      continue;
    }
    const pinned = context.roster.sites.get(siteId);
    if (pinned === undefined) {
      refuse('unknown_site', `${siteId} is not in the pinned roster`);
      continue;
    }
    if (record.site_id !== siteId) {
      refuse('wrong_site', `the record names ${record.site_id}`);
      continue;
    }
    // The key: the roster's own public key when it pins one, else the served key if its fingerprint is the pinned one.
    const publicKey = pinned.publicKey ?? item.public_key;
    let fingerprint: string | null = null;
    try {
      fingerprint = publicKey === null ? null : publicKeyFingerprint(publicKey);
    } catch {
      fingerprint = null;
    }
    if (publicKey === null || fingerprint !== pinned.fingerprint) {
      refuse('unknown_key', `the key served for ${siteId} is not the one the roster pins (${pinned.fingerprint.slice(0, 16)}…)`);
      continue;
    }
    const ciphertexts = item.ciphertexts_base64.map((text) => new Uint8Array(Buffer.from(text, 'base64')));
    const attestation = item.attestation;
    let payload: Uint8Array;
    try {
      payload = resultSignaturePayload({
        studyId: record.study_id,
        roundId: record.round_id,
        siteId: record.site_id,
        contributionSha256: record.contribution_sha256,
        nonce: record.nonce,
        sentAt: record.sent_at,
        ...(record.attestation_sha256 !== null ? { attestationSha256: record.attestation_sha256 } : {}),
        ...(record.public_key_sha256 != null ? { publicKeySha256: record.public_key_sha256 } : {}),
        ...(record.plan_sha256 != null ? { planSha256: record.plan_sha256 } : {}),
      });
    } catch (cause) {
      refuse('bad_signature', `malformed record: ${(cause as Error).message}`);
      continue;
    }
    recordSha256 = sha256(Buffer.concat([payload, Buffer.from(record.signature_base64, 'base64')]));
    if (!verify(publicKey, payload, new Uint8Array(Buffer.from(record.signature_base64, 'base64')))) {
      refuse('bad_signature', `the signature does not verify under ${siteId}'s pinned key`);
      continue;
    }
    if (record.study_id !== context.studyId) {
      refuse('wrong_study', `signed for study ${record.study_id}`);
      continue;
    }
    if (record.round_id !== context.roundId) {
      refuse('wrong_round', `signed for round ${record.round_id}`);
      continue;
    }
    // A site encrypts under the key its key holder's statement vouched for and signs that key's SHA-256: a record made
    // under any other key (one the coordinator substituted) is never summed, whatever else it says.
    if (record.public_key_sha256 !== context.publicKeySha256) {
      refuse('wrong_key', record.public_key_sha256 == null ? 'the record does not name the public key it was encrypted under' : 'encrypted under another public key than this key holder\'s');
      continue;
    }
    if (record.plan_sha256 !== context.planSha256) {
      refuse('wrong_plan', record.plan_sha256 == null ? 'the record does not name the plan it was encrypted under' : "encrypted under another plan than this key holder's");
      continue;
    }
    if (contributionDigest({ kind: 'bfv', ciphertexts }).sha256 !== record.contribution_sha256) {
      refuse('digest_mismatch', 'the ciphertexts served are not the ones the site signed');
      continue;
    }
    const attested = attestation === null ? null : attestationSha256(attestation);
    if (attested !== record.attestation_sha256) {
      refuse('digest_mismatch', 'the attestation served is not the one the site signed');
      continue;
    }
    // The noise the site added is what its signed attestation says: summed only when it is the release the key holder
    // decodes, so a coordinator cannot serve privacy settings that claim more noise than the sites' shares carry.
    const privacyProblem = attestedPrivacyProblem(attestation, context.privacy);
    if (privacyProblem !== null) {
      refuse('wrong_privacy', privacyProblem);
      continue;
    }
    const { openedAt, closedAt } = context.window;
    if (record.sent_at < openedAt - context.maxClockSkewMs || record.sent_at > closedAt + context.maxClockSkewMs) {
      refuse('stale', `signed at ${new Date(record.sent_at).toISOString()}, outside the round's window`);
      continue;
    }
    if (record.sent_at < context.now - context.maxRecordAgeMs || record.sent_at > context.now + context.maxClockSkewMs) {
      refuse('stale', `signed at ${new Date(record.sent_at).toISOString()}, older than the key holder accepts`);
      continue;
    }
    if (seenRecords.has(recordSha256)) {
      refuse('duplicate_record', 'the same signed record was served twice');
      continue;
    }
    seenRecords.add(recordSha256);
    if (countedSites.has(siteId)) {
      refuse('duplicate_site', `${siteId} is already counted in this decryption`);
      continue;
    }
    countedSites.add(siteId);
    candidates.push({ item: { siteId, ciphertexts, recordSha256, contributionSha256: record.contribution_sha256, nonce: record.nonce, attestation }, refuse });
  }
  const setSha256 = sha256(candidates.map((candidate) => `${candidate.item.siteId}:${candidate.item.contributionSha256}`).sort().join('\n'));
  for (const { item, refuse } of candidates) {
    const earlier =
      usedByRecord.get(item.recordSha256) ??
      usedNonces.get(`${item.siteId}/${item.nonce}`) ??
      usedContributions.get(`${item.siteId}/${context.roundId}/${item.contributionSha256}`) ??
      usedSiteRounds.get(`${item.siteId}/${context.roundId}`);
    // Repeating exactly the same sum reveals nothing new; any other reuse of a site's contribution (or of its round) is a replay.
    if (earlier !== undefined && earlier.set_sha256 !== setSha256) {
      refuse('replayed', `used by an earlier decryption of round ${earlier.round_id}`);
      continue;
    }
    accepted.push(item);
  }
  return { accepted, refused, setSha256 };
}
