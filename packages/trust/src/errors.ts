// errors.ts — every error @fedval/trust throws, each with a stable public code.
export const TRUST_ERROR_MESSAGES = {
  FEDVAL_ERR_TRUST_INVALID_OPTIONS: 'invalid trust options',
  FEDVAL_ERR_TRUST_NOT_CANONICAL_JSON: 'value cannot be written as canonical JSON',
  FEDVAL_ERR_TRUST_INVALID_DIGEST: 'expected 64 lowercase hex digits (a SHA-256 digest or a 32-byte salt)',
  FEDVAL_ERR_TRUST_INVALID_AUDIT_EVENT: 'audit event is invalid',
  FEDVAL_ERR_TRUST_AUDIT_UNREADABLE: 'audit log cannot be opened or read',
  FEDVAL_ERR_TRUST_AUDIT_BROKEN: 'audit log hash chain is broken',
  FEDVAL_ERR_TRUST_AUDIT_TORN_TAIL: 'audit log ends with an incomplete line (a write was interrupted)',
  FEDVAL_ERR_TRUST_AUDIT_ALREADY_OPEN: 'audit log is already open in this process',
  FEDVAL_ERR_TRUST_AUDIT_CLOSED: 'audit log is closed',
  FEDVAL_ERR_TRUST_AUDIT_MODIFIED: 'audit log was changed by another writer since it was opened',
  FEDVAL_ERR_TRUST_AUDIT_WRITE_FAILED: 'audit entry could not be written durably',
  FEDVAL_ERR_TRUST_INVALID_ANCHOR: 'not an audit anchor (a head: seq and SHA-256 hash)',
  FEDVAL_ERR_TRUST_KEY_EXISTS: 'a key file already exists at this path',
  FEDVAL_ERR_TRUST_KEY_UNREADABLE: 'private key file cannot be read',
  FEDVAL_ERR_TRUST_KEY_PERMISSIONS: 'private key file is accessible by group or others (chmod 600 it)',
  FEDVAL_ERR_TRUST_KEY_INVALID: 'not an Ed25519 private key',
  FEDVAL_ERR_TRUST_KEY_WRITE_FAILED: 'private key file could not be written',
  FEDVAL_ERR_TRUST_INVALID_PUBLIC_KEY: 'not an Ed25519 public key (32 bytes, base64)',
  FEDVAL_ERR_TRUST_SIGNATURE_MALFORMED: 'signature is malformed',
  FEDVAL_ERR_TRUST_SIGNATURE_INVALID: 'signature does not verify',
  FEDVAL_ERR_TRUST_UNSIGNED: 'manifest carries no signature',
  FEDVAL_ERR_TRUST_INVALID_PAYLOAD: 'a field of the signed payload is invalid',
  FEDVAL_ERR_TRUST_CHALLENGE_EXPIRED: 'challenge is too old',
  FEDVAL_ERR_TRUST_TIMESTAMP_OUTSIDE_WINDOW: 'timestamp is outside the accepted window',
  FEDVAL_ERR_TRUST_REPLAYED: 'nonce was already used',
  FEDVAL_ERR_TRUST_REPLAY_GUARD_FULL: 'too many recent nonces to remember; refusing rather than forgetting',
  FEDVAL_ERR_TRUST_FILE_UNREADABLE: 'file cannot be read',
  FEDVAL_ERR_TRUST_KEY_HOLDER_NOT_PINNED: 'the study key statement is not signed by a pinned key holder key',
  FEDVAL_ERR_TRUST_STATEMENT_MISMATCH: 'the study key statement is about another study, plan or public key',
} as const;

export type TrustErrorCode = keyof typeof TRUST_ERROR_MESSAGES;

export class TrustError extends Error {
  readonly code: TrustErrorCode;
  constructor(code: TrustErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${TRUST_ERROR_MESSAGES[code]}: ${detail}` : TRUST_ERROR_MESSAGES[code], options);
    this.name = 'TrustError';
    this.code = code;
  }
}
