import { describe, expect, it } from 'vitest';
import { HE_ERROR_MESSAGES, HeError } from './errors.ts';

describe('errors', () => {
  it('pins the public error codes', () => {
    expect(Object.keys(HE_ERROR_MESSAGES).sort()).toEqual([
      'FEDVAL_ERR_HE_CIPHERTEXT_CORRUPT',
      'FEDVAL_ERR_HE_CIPHERTEXT_COUNT',
      'FEDVAL_ERR_HE_CIPHERTEXT_MALFORMED',
      'FEDVAL_ERR_HE_CIPHERTEXT_SIZE',
      'FEDVAL_ERR_HE_CONTRIBUTION_COUNT',
      'FEDVAL_ERR_HE_DECRYPTION_FAILED',
      'FEDVAL_ERR_HE_DISPOSED',
      'FEDVAL_ERR_HE_INVALID_PLAN',
      'FEDVAL_ERR_HE_INVALID_REQUEST',
      'FEDVAL_ERR_HE_KEY_MALFORMED',
      'FEDVAL_ERR_HE_KEY_MISMATCH',
      'FEDVAL_ERR_HE_NO_PARAMETERS',
      'FEDVAL_ERR_HE_PLAN_MISMATCH',
      'FEDVAL_ERR_HE_SEAL_CONTEXT',
      'FEDVAL_ERR_HE_SEAL_FAILURE',
      'FEDVAL_ERR_HE_SEAL_UNAVAILABLE',
      'FEDVAL_ERR_HE_TOO_MANY_CONTRIBUTIONS',
      'FEDVAL_ERR_HE_VALUE_OUT_OF_RANGE',
      'FEDVAL_ERR_HE_VECTOR_LENGTH',
    ]);
  });

  it('carries its code, a detail after the message and the cause', () => {
    const cause = new Error('inner');
    const error = new HeError('FEDVAL_ERR_HE_CIPHERTEXT_SIZE', '3 bytes', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('HeError');
    expect(error.code).toBe('FEDVAL_ERR_HE_CIPHERTEXT_SIZE');
    expect(error.message).toBe('ciphertext has the wrong size: 3 bytes');
    expect(error.cause).toBe(cause);
    expect(new HeError('FEDVAL_ERR_HE_NO_PARAMETERS').message).toBe(HE_ERROR_MESSAGES.FEDVAL_ERR_HE_NO_PARAMETERS);
  });
});
