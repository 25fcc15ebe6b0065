// release-statement.ts — the key holder's electronic signature on a release: what was released, by whom, when, and what the signature means (21 CFR 11.50).
import { randomBytes } from 'node:crypto';
import { listProblems } from '@fedval/schema';
import { z } from 'zod';
import { auditHeadSchema } from './audit-anchors.ts';
import { canonicalJsonBytes } from './canonical-json.ts';
import type { JsonValue } from './canonical-json.ts';
import { isHex32, sha256Hex } from './digest.ts';
import { fromBase64Strict, toBase64 } from './encoding.ts';
import { TrustError } from './errors.ts';
import type { PrivateKeyInput } from './identity.ts';
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES, publicKeyFingerprint, publicKeyOf, sign, verify } from './identity.ts';
import { pinnedKeyFingerprint } from './study-key-statement.ts';

/** Domain-separation string of a release statement (see AUTH_DOMAIN in signed-payloads.ts). */
export const RELEASE_DOMAIN = 'fedval/v1/release';
/** The meaning of the key holder's release signature, as 21 CFR 11.50(a)(3) asks a signed record to state. */
export const RELEASE_MEANING = 'approved for release';
/** Most sites a release statement lists. */
export const MAX_RELEASE_SITES = 1024;

const ID = /^[A-Za-z0-9._:-]{1,128}$/;
const must = (what: string) => ({ error: `must be ${what}` });
const idField = z.string(must('1-128 letters, digits or . _ : -')).regex(ID, must('1-128 letters, digits or . _ : -'));
const sha256Field = z.string(must('a lowercase hex SHA-256')).refine(isHex32, must('a lowercase hex SHA-256'));
const isoTimeField = z.iso.datetime(must('an ISO 8601 UTC time'));

/**
 * What the key holder signs when it releases a round: SHA-256 digests (of canonical JSON, RFC 8785) of the released
 * metrics, of the aggregate privacy block and of the per-site privacy reports (kept apart, so a sponsor who never sees
 * a per-site number can still check the rest), the study's parameters as the key holder was shown them, each counted
 * site's dataset commitment, the audit-trail heads the release was made from, and the signer's name, the time and the
 * meaning of the signature (21 CFR 11.50: printed name, date and time, meaning).
 */
export const releaseStatementSchema = z.strictObject({
  studyId: idField,
  roundId: idField,
  studyName: z.string(must('a string')).max(256, must('at most 256 characters')),
  /** The model id (SHA-256 of the bundle's manifest.json) the study names; null when sites read scores from a column. */
  modelId: sha256Field.nullable(),
  /** SHA-256 of the canonical study metric spec the key holder verified the contributions against (the protocol parameters). */
  metricSpecSha256: sha256Field,
  /** SHA-256 of the canonical resolved privacy spec the key holder verified the contributions against; null for a study without differential privacy. */
  privacySpecSha256: sha256Field.nullable(),
  /** The release minimum this decryption applied (fewest distinct rostered sites). */
  minSites: z.int(must('an integer ≥ 1')).min(1, must('an integer ≥ 1')),
  /** SHA-256 of the canonical released metrics report. */
  metricsSha256: sha256Field,
  /** SHA-256 of the canonical released privacy block without the per-site reports (`dp.sites` removed). */
  privacySha256: sha256Field,
  /**
   * Salted commitment to the per-site privacy reports, {@link sitePrivacyCommitment}: SHA-256 of the canonical
   * `{ salt, sites }` with the random salt released beside `dp.sites` (and stripped with them); null when there are none.
   */
  sitePrivacySha256: sha256Field.nullable(),
  /** The sites whose verified contributions were summed, sorted. */
  sites: z.array(idField).min(1).max(MAX_RELEASE_SITES),
  /** Each summed site's dataset commitment (SHA-256 of salt ‖ fingerprint, from its signed attestation); null when it sent none. */
  datasetCommitments: z.array(z.strictObject({ siteId: idField, commitment: sha256Field.nullable() })).max(MAX_RELEASE_SITES),
  roundCreatedAt: isoTimeField,
  roundClosedAt: isoTimeField,
  /** SHA-256 of the roster the key holder pinned. */
  rosterSha256: sha256Field,
  /** The key holder's own trail head once it recorded the decryption (before the release). */
  keyHolderAuditHead: auditHeadSchema,
  /** The coordinator's trail head it returned with the contributions the key holder verified. */
  coordinatorAuditHead: auditHeadSchema,
  /** The software that made the release, `fedval <version>`. */
  software: z.string(must('a string')).min(1).max(128),
  /** The releasing person's printed name (21 CFR 11.50(a)(1)). */
  signerName: z.string(must('a name')).min(1, must('a name')).max(200, must('at most 200 characters')),
  /** When the release was signed, ISO 8601 UTC (21 CFR 11.50(a)(2)). */
  signedAt: isoTimeField,
  /** The meaning of the signature (21 CFR 11.50(a)(3)). */
  meaning: z.literal(RELEASE_MEANING),
}, must('an object'));
export type ReleaseStatement = z.output<typeof releaseStatementSchema>;

/** A release statement as it travels (release request, stored result, evidence bundle). */
export const signedReleaseStatementSchema = z.strictObject({
  statement: releaseStatementSchema,
  /** The key holder's raw Ed25519 public key, base64. */
  keyHolderPublicKey: z.string().refine((value) => fromBase64Strict(value, ED25519_PUBLIC_KEY_BYTES) !== undefined, must('a raw Ed25519 public key in base64')),
  /** Ed25519 signature of releaseStatementPayload(statement), base64. */
  signature: z.string().refine((value) => fromBase64Strict(value, ED25519_SIGNATURE_BYTES) !== undefined, must('an Ed25519 signature in base64')),
}, must('an object'));
export type SignedReleaseStatement = z.output<typeof signedReleaseStatementSchema>;

/** SHA-256 (hex) of the canonical JSON (RFC 8785) of a released document: how a statement names what it covers. */
export function releasedDocumentSha256(document: unknown): string {
  return sha256Hex(canonicalJsonBytes(document as JsonValue));
}

/** A fresh random salt for {@link sitePrivacyCommitment}: 32 bytes from the CSPRNG, lowercase hex. */
export function newSitePrivacySalt(): string {
  return randomBytes(32).toString('hex');
}

/**
 * The key holder's commitment to the per-site privacy reports: SHA-256 of canonical JSON (RFC 8785) of `{ salt, sites }`.
 * Salted (a hiding commitment, Halevi & Micali, CRYPTO 1996) because the reports are small guessable numbers and
 * sponsors, who may not see them, see the signed statement: an unsalted hash would let them test guesses offline.
 */
export function sitePrivacyCommitment(salt: string, sites: unknown): string {
  return releasedDocumentSha256({ salt, sites });
}

/** The bytes the key holder signs: canonical JSON of `{ domain: 'fedval/v1/release', ...statement }`. */
export function releaseStatementPayload(statement: ReleaseStatement): Uint8Array {
  const parsed = releaseStatementSchema.safeParse(statement);
  if (!parsed.success) throw new TrustError('FEDVAL_ERR_TRUST_INVALID_PAYLOAD', `release statement: ${listProblems(parsed.error).join('; ')}`);
  return canonicalJsonBytes({ domain: RELEASE_DOMAIN, ...parsed.data } as JsonValue);
}

/** Key holder side: signs a release statement with its Ed25519 key. */
export function signReleaseStatement(privateKey: PrivateKeyInput, statement: ReleaseStatement): SignedReleaseStatement {
  const signature = sign(privateKey, releaseStatementPayload(statement));
  return { statement, keyHolderPublicKey: publicKeyOf(privateKey), signature: toBase64(signature) };
}

/**
 * Checks a signed release statement (anything received) and returns it with the signer's fingerprint, or throws
 * FEDVAL_ERR_TRUST_INVALID_PAYLOAD (not a signed statement), FEDVAL_ERR_TRUST_SIGNATURE_INVALID, or
 * FEDVAL_ERR_TRUST_KEY_HOLDER_NOT_PINNED when `pinnedKeyHolderKeys` is given and the signer is none of them.
 */
export function verifyReleaseStatement(signed: unknown, pinnedKeyHolderKeys?: readonly string[]): { statement: ReleaseStatement; keyHolderFingerprint: string; signed: SignedReleaseStatement } {
  const parsed = signedReleaseStatementSchema.safeParse(signed);
  if (!parsed.success) throw new TrustError('FEDVAL_ERR_TRUST_INVALID_PAYLOAD', `release statement: ${listProblems(parsed.error).join('; ')}`);
  const { statement, keyHolderPublicKey, signature } = parsed.data;
  if (!verify(keyHolderPublicKey, releaseStatementPayload(statement), fromBase64Strict(signature, ED25519_SIGNATURE_BYTES) as Uint8Array)) {
    throw new TrustError('FEDVAL_ERR_TRUST_SIGNATURE_INVALID', 'release statement');
  }
  const keyHolderFingerprint = publicKeyFingerprint(keyHolderPublicKey);
  if (pinnedKeyHolderKeys !== undefined && !pinnedKeyHolderKeys.map(pinnedKeyFingerprint).includes(keyHolderFingerprint)) {
    throw new TrustError('FEDVAL_ERR_TRUST_KEY_HOLDER_NOT_PINNED', `the release is signed by key ${keyHolderFingerprint}`);
  }
  return { statement, keyHolderFingerprint, signed: parsed.data };
}
