// @fedval/trust — identities, signatures, tamper-evident audit trails and dataset commitments, on node:crypto alone.
export { canonicalJson, canonicalJsonBytes } from './canonical-json.ts';
export type { JsonValue } from './canonical-json.ts';
export { sha256Hex } from './digest.ts';
export { AUDIT_GENESIS_HASH, auditEntrySchema, formatAuditEntry, hashAuditEntry, isRoundEntry } from './audit-entry.ts';
export type { AuditEntry, AuditEvent, AuditHead } from './audit-entry.ts';
export { AuditLog, DEFAULT_AUDIT_LOG_OPTIONS, quarantineTornTail } from './audit-log.ts';
export type { AuditLogOptions, TornTailQuarantine } from './audit-log.ts';
export { auditHead, DEFAULT_AUDIT_READ_OPTIONS, readAuditLog, verifyAuditLog } from './audit-chain.ts';
export type { AuditBreakReason, AuditReadOptions, AuditVerification, ReadAuditLogOptions } from './audit-chain.ts';
export {
  auditHeadDetails, auditHeadSchema, conflictingAnchors, isAuditHead, parseAuditAnchor, parseAuditAnchors, recordedAuditHeads,
} from './audit-anchors.ts';
export type { AnchoredParty } from './audit-anchors.ts';
export { CONTRIBUTION_RECEIVED, CONTRIBUTION_SENT, crossCheckRound } from './audit-cross-check.ts';
export type { RoundDiscrepancy } from './audit-cross-check.ts';
export {
  generateSiteIdentity, privateKeyFromSeed, publicKeyFingerprint, publicKeyOf, sign, verify,
} from './identity.ts';
export type { PrivateKeyInput, PublicKeyInput, SiteIdentity } from './identity.ts';
export { loadPrivateKey, savePrivateKey } from './key-file.ts';
export {
  AUTH_DOMAIN, RESULT_DOMAIN, DEFAULT_CHALLENGE_OPTIONS, createChallenge, createNonce, challengeSignaturePayload,
  signChallenge, verifyChallengeResponse, resultSignaturePayload, signResult, verifySignedResult,
  ENROLL_DOMAIN, enrollmentSignaturePayload, signEnrollment, verifyEnrollment, attestationSha256,
  authChallengeSchema, signedResultFieldsSchema, enrollmentFieldsSchema, privacyAttestationSchema, resultAttestationSchema,
} from './signed-payloads.ts';
export type {
  AuthChallenge, ChallengeOptions, EnrollmentFields, SignedResultFields, PrivacyAttestation, ResultAttestation,
} from './signed-payloads.ts';
export {
  SECAGG_DOMAINS, MAX_SECAGG_SITES, keyAdvertisementSchema, survivorSignatureSchema, revealedShareSchema, shareRevealSchema,
  secaggRecordPayload, signSecaggRecord, verifySecaggRecord, encodeRevealedShare, decodeRevealedShare,
} from './secure-aggregation-records.ts';
export type { KeyAdvertisement, SurvivorSignature, RevealedShare, ShareReveal } from './secure-aggregation-records.ts';
export {
  MAX_STATEMENT_SITES, STUDY_KEY_DOMAIN, pinnedKeyFingerprint, signedStudyKeyStatementSchema, signStudyKeyStatement, studyKeyStatementPayload,
  studyKeyStatementSchema, studyKeyStatementSha256, verifyStudyKeyStatement,
} from './study-key-statement.ts';
export type { SignedStudyKeyStatement, StudyKeyExpectation, StudyKeyStatement, VerifiedStudyKeyStatement } from './study-key-statement.ts';
export {
  MAX_RELEASE_SITES, newSitePrivacySalt, RELEASE_DOMAIN, RELEASE_MEANING, releasedDocumentSha256, releaseStatementPayload, releaseStatementSchema, signedReleaseStatementSchema,
  sitePrivacyCommitment,
  signReleaseStatement, verifyReleaseStatement,
} from './release-statement.ts';
export type { ReleaseStatement, SignedReleaseStatement } from './release-statement.ts';
export { EVIDENCE_DOMAIN, evidencePayload, evidenceSignatureSchema, signEvidence, verifyEvidence } from './evidence-signature.ts';
export type { EvidenceSignature } from './evidence-signature.ts';
export { DEFAULT_REPLAY_GUARD_OPTIONS, ReplayGuard } from './replay-guard.ts';
export type { ReplayGuardOptions } from './replay-guard.ts';
export { manifestSigningPayload, signManifest, verifyManifestSignature } from './manifest-signature.ts';
export type { ManifestSignature } from './manifest-signature.ts';
export { commitToFingerprint, fingerprintFile, verifyCommitment } from './dataset-commitment.ts';
export type { DatasetCommitment } from './dataset-commitment.ts';
export { generateToken, hashToken, tokensEqual } from './tokens.ts';
export type { RandomBytes } from './encoding.ts';
export { TRUST_ERROR_MESSAGES, TrustError } from './errors.ts';
export type { TrustErrorCode } from './errors.ts';
