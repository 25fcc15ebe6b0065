import { describe, expect, it } from 'vitest';
import { TRUST_ERROR_MESSAGES, TrustError } from './errors.ts';

describe('TrustError', () => {
  it('has exactly the published codes (codes are public API: add, never rename or reuse)', () => {
    expect(Object.keys(TRUST_ERROR_MESSAGES)).toEqual([
      'FEDVAL_ERR_TRUST_INVALID_OPTIONS',
      'FEDVAL_ERR_TRUST_NOT_CANONICAL_JSON',
      'FEDVAL_ERR_TRUST_INVALID_DIGEST',
      'FEDVAL_ERR_TRUST_INVALID_AUDIT_EVENT',
      'FEDVAL_ERR_TRUST_AUDIT_UNREADABLE',
      'FEDVAL_ERR_TRUST_AUDIT_BROKEN',
      'FEDVAL_ERR_TRUST_AUDIT_TORN_TAIL',
      'FEDVAL_ERR_TRUST_AUDIT_ALREADY_OPEN',
      'FEDVAL_ERR_TRUST_AUDIT_CLOSED',
      'FEDVAL_ERR_TRUST_AUDIT_MODIFIED',
      'FEDVAL_ERR_TRUST_AUDIT_WRITE_FAILED',
      'FEDVAL_ERR_TRUST_INVALID_ANCHOR',
      'FEDVAL_ERR_TRUST_KEY_EXISTS',
      'FEDVAL_ERR_TRUST_KEY_UNREADABLE',
      'FEDVAL_ERR_TRUST_KEY_PERMISSIONS',
      'FEDVAL_ERR_TRUST_KEY_INVALID',
      'FEDVAL_ERR_TRUST_KEY_WRITE_FAILED',
      'FEDVAL_ERR_TRUST_INVALID_PUBLIC_KEY',
      'FEDVAL_ERR_TRUST_SIGNATURE_MALFORMED',
      'FEDVAL_ERR_TRUST_SIGNATURE_INVALID',
      'FEDVAL_ERR_TRUST_UNSIGNED',
      'FEDVAL_ERR_TRUST_INVALID_PAYLOAD',
      'FEDVAL_ERR_TRUST_CHALLENGE_EXPIRED',
      'FEDVAL_ERR_TRUST_TIMESTAMP_OUTSIDE_WINDOW',
      'FEDVAL_ERR_TRUST_REPLAYED',
      'FEDVAL_ERR_TRUST_REPLAY_GUARD_FULL',
      'FEDVAL_ERR_TRUST_FILE_UNREADABLE',
      'FEDVAL_ERR_TRUST_KEY_HOLDER_NOT_PINNED',
      'FEDVAL_ERR_TRUST_STATEMENT_MISMATCH',
    ]);
  });

  it('carries its code, the short message with the detail, and the cause', () => {
    const cause = new Error('disk');
    const error = new TrustError('FEDVAL_ERR_TRUST_AUDIT_BROKEN', 'audit.jsonl line 3', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('TrustError');
    expect(error.code).toBe('FEDVAL_ERR_TRUST_AUDIT_BROKEN');
    expect(error.message).toBe('audit log hash chain is broken: audit.jsonl line 3');
    expect(error.cause).toBe(cause);
    expect(new TrustError('FEDVAL_ERR_TRUST_REPLAYED').message).toBe('nonce was already used');
  });
});
