// study-key-statement.ts — the key holder's signed statement binding a study to its BFV public key, plan, release minimum and roster; sites verify it against the key holder keys they pinned.
import { listProblems } from '@fedval/schema';
import { z } from 'zod';
import { canonicalJsonBytes } from './canonical-json.ts';
import { isHex32, sha256Hex } from './digest.ts';
import { fromBase64Strict, toBase64 } from './encoding.ts';
import { TrustError } from './errors.ts';
import type { PrivateKeyInput } from './identity.ts';
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES, publicKeyFingerprint, publicKeyOf, sign, verify } from './identity.ts';

/** Domain-separation string of a study key statement (see AUTH_DOMAIN in signed-payloads.ts). */
export const STUDY_KEY_DOMAIN = 'fedval/v1/study-key';
/** Most rostered sites a statement names (as the key holder's roster file allows). */
export const MAX_STATEMENT_SITES = 1024;

const ID = /^[A-Za-z0-9._:-]{1,128}$/; // as @fedval/protocol ids
const must = (what: string) => ({ error: `must be ${what}` });
const idField = z.string(must('1-128 letters, digits or . _ : -')).regex(ID, must('1-128 letters, digits or . _ : -'));
const sha256Field = z.string(must('a lowercase hex SHA-256')).refine(isHex32, must('a lowercase hex SHA-256'));
const base64Of = (bytes: number, what: string) =>
  z.string(must(`${what} in base64`)).refine((value) => fromBase64Strict(value, bytes) !== undefined, must(`${bytes} bytes (${what}) in base64`));

/**
 * What the key holder states when it makes a study's keys: this study's BFV public key (by SHA-256 of its serialized
 * bytes) under this plan (SHA-256 of the canonical plan, @fedval/he planSha256), released only to sums of at least
 * `minSites` distinct sites of this roster. Sites check it before encrypting anything; the secure-aggregation work
 * uses its roster as the authentic list of peers.
 */
export const studyKeyStatementSchema = z.strictObject({
  studyId: idField,
  /** SHA-256 (hex) of the canonical BFV plan (@fedval/he planSha256). */
  planSha256: sha256Field,
  /** SHA-256 (hex) of the serialized BFV public key, exactly the bytes tasks carry. */
  publicKeySha256: sha256Field,
  /** The release minimum the key holder enforces: fewest distinct rostered sites in a decrypted sum. */
  minSites: z.int(must('an integer ≥ 1')).min(1, must('an integer ≥ 1')).max(MAX_STATEMENT_SITES, must(`at most ${MAX_STATEMENT_SITES}`)),
  /** The pinned roster: each site with the SHA-256 fingerprint of its enrolled Ed25519 key (as `fedval sites list` shows it), sorted by site id. */
  roster: z
    .array(z.strictObject({ siteId: idField, fingerprint: sha256Field }, must('an object')), must('an array'))
    .min(1, must('at least one site'))
    .max(MAX_STATEMENT_SITES, must(`at most ${MAX_STATEMENT_SITES} sites`))
    .refine((sites) => sites.every((site, i) => i === 0 || (sites[i - 1] as { siteId: string }).siteId < site.siteId), must('sorted by siteId, each site once')),
  /** SHA-256 (hex) of the key holder's pinned roster file (canonical JSON), as its trail records it. */
  rosterSha256: sha256Field,
  /** When the key holder signed it, epoch ms. */
  issuedAt: z.int(must('epoch milliseconds')).nonnegative(must('epoch milliseconds')),
  /**
   * The statement's version for this study: 1 at `fedval keys init`, one more at each `fedval keys roster`. A site keeps
   * the highest version it has verified per study and refuses older ones, so a coordinator cannot replay a statement
   * with a roster the privacy officer replaced.
   */
  version: z.int(must('an integer ≥ 1')).min(1, must('an integer ≥ 1')).max(Number.MAX_SAFE_INTEGER, must('a safe integer')),
}, must('an object'));
export type StudyKeyStatement = Readonly<z.output<typeof studyKeyStatementSchema>>;

/** A statement as it travels (REST, storage, every BFV task): the statement, the signer's raw public key, the signature. */
export const signedStudyKeyStatementSchema = z.strictObject({
  statement: studyKeyStatementSchema,
  /** The key holder's raw Ed25519 public key, base64 (sites compare its fingerprint to the ones they pinned). */
  keyHolderPublicKey: base64Of(ED25519_PUBLIC_KEY_BYTES, 'a raw Ed25519 public key'),
  /** Ed25519 signature of studyKeyStatementPayload(statement), base64. */
  signature: base64Of(ED25519_SIGNATURE_BYTES, 'an Ed25519 signature'),
}, must('an object'));
export type SignedStudyKeyStatement = Readonly<z.output<typeof signedStudyKeyStatementSchema>>;

/** A statement that verified under a pinned key: what a site may rely on. */
export interface VerifiedStudyKeyStatement extends Omit<StudyKeyStatement, 'roster'> {
  readonly roster: readonly Readonly<{ siteId: string; fingerprint: string }>[];
  /** SHA-256 fingerprint of the key holder key that signed it (one of the pinned ones). */
  readonly keyHolderFingerprint: string;
}

/** What the verifier requires the statement to say: the task's study, and (for a BFV task) its plan and key bytes. */
export interface StudyKeyExpectation {
  studyId: string;
  /** SHA-256 (hex) of the task's canonical plan; checked when given. */
  planSha256?: string | undefined;
  /** SHA-256 (hex) of the task's public key bytes; checked when given. */
  publicKeySha256?: string | undefined;
}

function invalid(problems: string[]): never {
  throw new TrustError('FEDVAL_ERR_TRUST_INVALID_PAYLOAD', `key statement: ${problems.join('; ')}`);
}

/** The bytes the key holder signs: canonical JSON (RFC 8785) of `{ domain: 'fedval/v1/study-key', ...statement }`. */
export function studyKeyStatementPayload(statement: StudyKeyStatement): Uint8Array {
  const parsed = studyKeyStatementSchema.safeParse(statement);
  if (!parsed.success) invalid(listProblems(parsed.error));
  return canonicalJsonBytes({ domain: STUDY_KEY_DOMAIN, ...parsed.data });
}

/**
 * The SHA-256 (hex) of a signed statement as a whole: of the canonical JSON (RFC 8785) of `{ statement,
 * keyHolderPublicKey, signature }`. A task names its round's statement by this digest instead of carrying it (its
 * roster grows with the network: 1,000 sites make ~100 kB); a site fetches a statement it has not verified once, and
 * refuses one whose digest is not the task's. Throws FEDVAL_ERR_TRUST_INVALID_PAYLOAD for anything but a signed statement.
 */
export function studyKeyStatementSha256(signed: unknown): string {
  const parsed = signedStudyKeyStatementSchema.safeParse(signed);
  if (!parsed.success) invalid(listProblems(parsed.error));
  return sha256Hex(canonicalJsonBytes(parsed.data));
}

/** Key holder side: signs `statement` with its Ed25519 key. */
export function signStudyKeyStatement(privateKey: PrivateKeyInput, statement: StudyKeyStatement): SignedStudyKeyStatement {
  const signature = sign(privateKey, studyKeyStatementPayload(statement));
  return Object.freeze({ statement, keyHolderPublicKey: publicKeyOf(privateKey), signature: toBase64(signature) });
}

/**
 * The fingerprint (SHA-256 hex of the raw key) of a pinned key holder key, given either as that fingerprint (64
 * lowercase hex, as `fedval keys show` prints it) or as the raw 32-byte key in base64. Throws
 * FEDVAL_ERR_TRUST_INVALID_PUBLIC_KEY for anything else.
 */
export function pinnedKeyFingerprint(pinned: string): string {
  if (isHex32(pinned)) return pinned;
  return publicKeyFingerprint(pinned);
}

/**
 * Site side: checks `signed` (anything received) and returns the verified statement, or throws:
 * FEDVAL_ERR_TRUST_INVALID_PAYLOAD (not a signed statement), FEDVAL_ERR_TRUST_KEY_HOLDER_NOT_PINNED (no pinned key,
 * or signed by a key that is not pinned), FEDVAL_ERR_TRUST_SIGNATURE_INVALID, FEDVAL_ERR_TRUST_STATEMENT_MISMATCH (it
 * is about another study, plan or public key than `expected`). The signature is checked before anything it says is
 * compared, so a mismatch is reported only for an authentic statement.
 */
export function verifyStudyKeyStatement(signed: unknown, pinnedKeyHolderKeys: readonly string[], expected: StudyKeyExpectation): VerifiedStudyKeyStatement {
  if (pinnedKeyHolderKeys.length === 0) throw new TrustError('FEDVAL_ERR_TRUST_KEY_HOLDER_NOT_PINNED', 'no key holder key is pinned');
  const pinned = new Set(pinnedKeyHolderKeys.map(pinnedKeyFingerprint));
  const parsed = signedStudyKeyStatementSchema.safeParse(signed);
  if (!parsed.success) invalid(listProblems(parsed.error));
  const { statement, keyHolderPublicKey, signature } = parsed.data;
  const keyHolderFingerprint = publicKeyFingerprint(keyHolderPublicKey);
  if (!pinned.has(keyHolderFingerprint)) throw new TrustError('FEDVAL_ERR_TRUST_KEY_HOLDER_NOT_PINNED', `signed by key ${keyHolderFingerprint}`);
  if (!verify(keyHolderPublicKey, studyKeyStatementPayload(statement), fromBase64Strict(signature, ED25519_SIGNATURE_BYTES) as Uint8Array)) {
    throw new TrustError('FEDVAL_ERR_TRUST_SIGNATURE_INVALID', 'study key statement');
  }
  const mismatches: string[] = [];
  if (statement.studyId !== expected.studyId) mismatches.push('studyId');
  if (expected.planSha256 !== undefined && statement.planSha256 !== expected.planSha256) mismatches.push('planSha256');
  if (expected.publicKeySha256 !== undefined && statement.publicKeySha256 !== expected.publicKeySha256) mismatches.push('publicKeySha256');
  if (mismatches.length > 0) throw new TrustError('FEDVAL_ERR_TRUST_STATEMENT_MISMATCH', `the task's ${mismatches.join(', ')} differ from the key holder's statement`);
  return Object.freeze({ ...statement, roster: Object.freeze(statement.roster.map((site) => Object.freeze({ ...site }))), keyHolderFingerprint });
}
