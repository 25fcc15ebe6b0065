// signed-payloads.ts — the records a site signs (connection challenges, results with their attestation, enrollments) as schemas, and their canonical bytes under domain-separation strings.
import { listProblems } from '@fedval/schema';
import { z } from 'zod';
import { auditHeadSchema } from './audit-anchors.ts';
import { canonicalJsonBytes } from './canonical-json.ts';
import { isHex32, sha256Hex } from './digest.ts';
import type { RandomBytes } from './encoding.ts';
import { drawBytes, fromBase64Strict, systemRandomBytes, toBase64 } from './encoding.ts';
import { TrustError } from './errors.ts';
import type { PrivateKeyInput, PublicKeyInput } from './identity.ts';
import { sign, verify } from './identity.ts';
import { integerIn, isFunction, resolveOptions } from './options.ts';
import type { ReplayGuard } from './replay-guard.ts';

/**
 * Domain-separation strings: the first member of every signed payload says what it is, so a signature made for one
 * purpose can never be presented as another (the practice of RFC 8032 §8.3 / Ed25519ctx, at the message level).
 */
export const AUTH_DOMAIN = 'fedval/v1/auth';
export const RESULT_DOMAIN = 'fedval/v1/result';
export const ENROLL_DOMAIN = 'fedval/v1/enroll';
/** Random bytes in a challenge or result nonce. */
export const NONCE_BYTES = 32;

const ID = /^[A-Za-z0-9._:-]{1,128}$/; // as @fedval/protocol ids
const PURPOSE = /^[a-z][a-z0-9_.-]{0,63}$/;
const MAX_AUDIENCE_LENGTH = 2048; // characters
const HOUR_MS = 60 * 60 * 1000;

const must = (what: string) => ({ error: `must be ${what}` });
const idField = z.string(must('1-128 letters, digits or . _ : -')).regex(ID, must('1-128 letters, digits or . _ : -'));
const epochMsField = z.int(must('epoch milliseconds')).nonnegative(must('epoch milliseconds'));
const sha256Field = z.string(must('a lowercase hex SHA-256')).refine(isHex32, must('a lowercase hex SHA-256'));
const nonceField = z.string(must(`${NONCE_BYTES} bytes in base64`)).refine((value) => fromBase64Strict(value, NONCE_BYTES) !== undefined, must(`${NONCE_BYTES} bytes in base64`));

/** What the coordinator sends a connecting agent: sign it to prove you hold the site's key, now, for this coordinator. */
export const authChallengeSchema = z.strictObject({
  /** 32 random bytes, base64. */
  nonce: nonceField,
  /** When the coordinator issued it, epoch ms. */
  issuedAt: epochMsField,
  /** The coordinator's identity as agents are configured with it (its URL). Agents sign only their own coordinator's challenges. */
  audience: z.string(must(`1-${MAX_AUDIENCE_LENGTH} characters`)).min(1, must(`1-${MAX_AUDIENCE_LENGTH} characters`)).max(MAX_AUDIENCE_LENGTH, must(`1-${MAX_AUDIENCE_LENGTH} characters`)),
}, must('an object'));
export type AuthChallenge = Readonly<z.output<typeof authChallengeSchema>>;

/**
 * What a site signs with each result, its contribution record: the signature travels next to the result message, and
 * the coordinator keeps it with the ciphertexts so that the key holder can check it against the roster it pinned.
 * `studyId`: the study the round belongs to, so a record is never valid for another study's decryption.
 */
export const signedResultFieldsSchema = z.strictObject({
  studyId: idField,
  roundId: idField,
  siteId: idField,
  /** SHA-256 (hex) of the contribution's bytes as sent, as in the site's `contribution.sent` audit entry. */
  contributionSha256: sha256Field,
  /** 32 random bytes, base64 (createNonce). */
  nonce: nonceField,
  /** When the site sent it, epoch ms. */
  sentAt: epochMsField,
  /** Optional: SHA-256 (hex) of the canonical JSON of what the site attests with the result (privacy spent, dataset commitment). */
  attestationSha256: sha256Field.optional(),
  /** BFV contributions: SHA-256 (hex) of the public key the site encrypted under; the key holder refuses any other. */
  publicKeySha256: sha256Field.optional(),
  /** BFV contributions: SHA-256 (hex) of the canonical plan (@fedval/he planSha256) the site encrypted under. */
  planSha256: sha256Field.optional(),
}, must('an object'));
export type SignedResultFields = Readonly<z.input<typeof signedResultFieldsSchema>>;

/** What a site signs to enroll its key: proof that it holds the private key of the public key it registers. */
export const enrollmentFieldsSchema = z.strictObject({
  siteId: idField,
  /** The raw Ed25519 public key being enrolled, base64. */
  publicKey: z.string(must('a raw Ed25519 public key in base64')).length(44, must('a raw Ed25519 public key in base64')),
  /** SHA-256 (hex) of the one-time enrollment token presented with it. */
  enrollmentTokenSha256: sha256Field,
}, must('an object'));
export type EnrollmentFields = Readonly<z.output<typeof enrollmentFieldsSchema>>;

const finiteNumber = z.number(must('a finite number')).refine(Number.isFinite, must('a finite number'));

/** The privacy figures a site reports with its result: its own budget, never data. */
export const privacyAttestationSchema = z.strictObject({
  rho: finiteNumber,
  /** ε of the round assuming the other sites' noise shares are honest. */
  epsilon: finiteNumber,
  /** ε of the site's own noise share alone, if every other party colludes (absent from agents before issue 12). */
  own_share_epsilon: finiteNumber.optional(),
  /**
   * How many sites' noise shares make the full noise: the site's share was sized for sums of at least this many sites
   * (1 when each site adds the full noise). The key holder refuses to count a share sized for more sites than it
   * requires in a decrypted sum. Absent from agents before issue 12's review fixes.
   */
  min_sites: z.int(must('an integer ≥ 1')).min(1, must('an integer ≥ 1')).optional(),
  delta: finiteNumber,
  epsilon_spent: finiteNumber,
  epsilon_remaining: finiteNumber,
  epsilon_total: finiteNumber,
}, must('an object'));
export type PrivacyAttestation = z.output<typeof privacyAttestationSchema>;

/**
 * What a site attests with each result, signed through {@link attestationSha256}: the privacy it
 * spent (under DP), its dataset commitment (SHA-256 of salt ‖ fingerprint) and the head of its own
 * audit log after the `contribution.sent` entry, so an auditor can anchor the site's log.
 */
export const resultAttestationSchema = z.strictObject({
  privacy: privacyAttestationSchema.optional(),
  dataset_commitment: sha256Field,
  audit_head: auditHeadSchema,
  /**
   * Under secure aggregation (Bonawitz et al., CCS 2017): the threshold of the round and the peers this site's pairwise
   * masks were agreed with (sorted site ids), so the key holder knows which masks a dropped peer leaves to remove.
   */
  secure_aggregation: z.strictObject({ threshold: z.int().min(2), peers: z.array(idField).max(1000) }, must('an object')).optional(),
}, must('an object'));
export type ResultAttestation = z.output<typeof resultAttestationSchema>;

function problemsOf(schema: z.ZodType, value: unknown): string[] {
  const result = schema.safeParse(value);
  return result.success ? [] : listProblems(result.error);
}

export interface ChallengeOptions {
  /** How long a challenge stays answerable after issue, in ms. Default 60,000 (1 min). */
  maxAgeMs: number;
  /** Clock in epoch ms. Default Date.now. */
  now: () => number;
}

export const DEFAULT_CHALLENGE_OPTIONS: Readonly<ChallengeOptions> = Object.freeze({
  maxAgeMs: 60 * 1000, // 1 min
  now: () => Date.now(),
});

function check(problems: string[]): void {
  if (problems.length > 0) throw new TrustError('FEDVAL_ERR_TRUST_INVALID_PAYLOAD', problems.join('; '));
}

function challengeProblems(challenge: unknown): string[] {
  return problemsOf(authChallengeSchema, challenge);
}

function answerProblems(siteId: unknown, purpose: unknown): string[] {
  const problems: string[] = [];
  if (typeof siteId !== 'string' || !ID.test(siteId)) problems.push('siteId must be 1-128 letters, digits or . _ : -');
  if (typeof purpose !== 'string' || !PURPOSE.test(purpose)) problems.push('purpose must be a lowercase word such as connect or enroll');
  return problems;
}

/** A fresh nonce: 32 random bytes, base64. */
export function createNonce(randomBytes: RandomBytes = systemRandomBytes): string {
  return toBase64(drawBytes(randomBytes, NONCE_BYTES));
}

/** A new challenge for one connection attempt. Keep it with the connection and accept one answer at most. */
export function createChallenge(options: { audience: string; now?: () => number; randomBytes?: RandomBytes }): AuthChallenge {
  const challenge = Object.freeze({
    nonce: createNonce(options.randomBytes),
    issuedAt: (options.now ?? Date.now)(),
    audience: options.audience,
  });
  check(challengeProblems(challenge));
  return challenge;
}

/**
 * The bytes a site signs to answer `challenge`: canonical JSON of
 * `{ domain: 'fedval/v1/auth', audience, nonce, issuedAt, siteId, purpose }` (purpose: `connect`, `enroll`, …).
 */
export function challengeSignaturePayload(challenge: AuthChallenge, siteId: string, purpose: string): Uint8Array {
  check([...challengeProblems(challenge), ...answerProblems(siteId, purpose)]);
  const { nonce, issuedAt, audience } = challenge;
  return canonicalJsonBytes({ domain: AUTH_DOMAIN, audience, nonce, issuedAt, siteId, purpose });
}

/**
 * Agent side: signs `challenge` after checking it names the coordinator this agent is configured for, so a server
 * that relays another coordinator's challenge gets nothing usable (FEDVAL_ERR_TRUST_INVALID_PAYLOAD otherwise).
 */
export function signChallenge(
  privateKey: PrivateKeyInput,
  challenge: AuthChallenge,
  answer: { siteId: string; purpose: string; expectedAudience: string },
): Uint8Array {
  if (challenge?.audience !== answer.expectedAudience) {
    throw new TrustError('FEDVAL_ERR_TRUST_INVALID_PAYLOAD', 'audience: the challenge is not from the configured coordinator');
  }
  return sign(privateKey, challengeSignaturePayload(challenge, answer.siteId, answer.purpose));
}

/**
 * Coordinator side: checks an answer to a challenge it issued. Throws FEDVAL_ERR_TRUST_INVALID_PAYLOAD,
 * FEDVAL_ERR_TRUST_CHALLENGE_EXPIRED (older than maxAgeMs, or issued in the future), or
 * FEDVAL_ERR_TRUST_SIGNATURE_INVALID. Discard the challenge after one answer, valid or not.
 */
export function verifyChallengeResponse(
  response: { challenge: AuthChallenge; siteId: string; purpose: string; publicKey: PublicKeyInput; signature: Uint8Array },
  options?: Partial<ChallengeOptions>,
): void {
  const { maxAgeMs, now } = resolveOptions('challenge', DEFAULT_CHALLENGE_OPTIONS, options, {
    maxAgeMs: integerIn(1, HOUR_MS),
    now: isFunction,
  });
  const payload = challengeSignaturePayload(response.challenge, response.siteId, response.purpose);
  const age = now() - response.challenge.issuedAt;
  if (age < 0 || age > maxAgeMs) throw new TrustError('FEDVAL_ERR_TRUST_CHALLENGE_EXPIRED', `${age} ms after issue`);
  if (!verify(response.publicKey, payload, response.signature)) throw new TrustError('FEDVAL_ERR_TRUST_SIGNATURE_INVALID', 'challenge answer');
}

/**
 * The bytes a site signs with a result: canonical JSON of
 * `{ domain: 'fedval/v1/result', studyId, roundId, siteId, contributionSha256, nonce, sentAt }`, plus `attestationSha256`,
 * `publicKeySha256` and `planSha256` when given.
 */
export function resultSignaturePayload(fields: SignedResultFields): Uint8Array {
  check(problemsOf(signedResultFieldsSchema, fields));
  const { studyId, roundId, siteId, contributionSha256, nonce, sentAt, attestationSha256, publicKeySha256, planSha256 } = fields;
  return canonicalJsonBytes({
    domain: RESULT_DOMAIN, studyId, roundId, siteId, contributionSha256, nonce, sentAt,
    ...(attestationSha256 !== undefined ? { attestationSha256 } : {}),
    ...(publicKeySha256 !== undefined ? { publicKeySha256 } : {}),
    ...(planSha256 !== undefined ? { planSha256 } : {}),
  });
}

/** The bytes a site signs to enroll: canonical JSON of `{ domain: 'fedval/v1/enroll', siteId, publicKey, enrollmentTokenSha256 }`. */
export function enrollmentSignaturePayload(fields: EnrollmentFields): Uint8Array {
  check(problemsOf(enrollmentFieldsSchema, fields));
  const { siteId, publicKey, enrollmentTokenSha256 } = fields;
  return canonicalJsonBytes({ domain: ENROLL_DOMAIN, siteId, publicKey, enrollmentTokenSha256 });
}

/** Agent side: signs the enrollment request with the new key. */
export function signEnrollment(privateKey: PrivateKeyInput, fields: EnrollmentFields): Uint8Array {
  return sign(privateKey, enrollmentSignaturePayload(fields));
}

/**
 * Coordinator side: whether `signature` proves possession of `fields.publicKey` for this enrollment. False for a key
 * that is not a valid Ed25519 point, a malformed payload or a wrong signature.
 */
export function verifyEnrollment(fields: EnrollmentFields, signature: Uint8Array): boolean {
  try {
    return verify(fields.publicKey, enrollmentSignaturePayload(fields), signature);
  } catch {
    return false;
  }
}

/** `attestationSha256` of a result: SHA-256 (hex) of the canonical JSON (RFC 8785) of what the site attests with it. */
export function attestationSha256(attestation: ResultAttestation): string {
  return sha256Hex(canonicalJsonBytes(attestation));
}

/** Agent side: the Ed25519 signature of resultSignaturePayload(fields). */
export function signResult(privateKey: PrivateKeyInput, fields: SignedResultFields): Uint8Array {
  return sign(privateKey, resultSignaturePayload(fields));
}

/**
 * Coordinator side: checks a result's signature under the site's enrolled key, then (only if it verifies) lets
 * `guard` refuse a replay. Throws FEDVAL_ERR_TRUST_INVALID_PAYLOAD, FEDVAL_ERR_TRUST_SIGNATURE_INVALID,
 * FEDVAL_ERR_TRUST_TIMESTAMP_OUTSIDE_WINDOW, FEDVAL_ERR_TRUST_REPLAYED or FEDVAL_ERR_TRUST_REPLAY_GUARD_FULL.
 */
export function verifySignedResult(fields: SignedResultFields, publicKey: PublicKeyInput, signature: Uint8Array, guard: ReplayGuard): void {
  if (!verify(publicKey, resultSignaturePayload(fields), signature)) throw new TrustError('FEDVAL_ERR_TRUST_SIGNATURE_INVALID', 'result');
  guard.accept(`${fields.siteId}/${fields.nonce}`, fields.sentAt);
}
