// errors.ts — every error @fedval/he throws, each with a stable public code.
export const HE_ERROR_MESSAGES = {
  FEDVAL_ERR_HE_INVALID_REQUEST: 'invalid BFV parameter request',
  FEDVAL_ERR_HE_NO_PARAMETERS: 'no BFV parameters fit the requested vector',
  FEDVAL_ERR_HE_INVALID_PLAN: 'BFV plan is invalid',
  FEDVAL_ERR_HE_SEAL_UNAVAILABLE: 'node-seal could not be loaded',
  FEDVAL_ERR_HE_SEAL_CONTEXT: 'SEAL rejected the encryption parameters',
  FEDVAL_ERR_HE_SEAL_FAILURE: 'a SEAL operation failed',
  FEDVAL_ERR_HE_DISPOSED: 'used after dispose()',
  FEDVAL_ERR_HE_KEY_MALFORMED: 'key bytes are not a SEAL key',
  FEDVAL_ERR_HE_KEY_MISMATCH: 'key does not belong to these encryption parameters',
  FEDVAL_ERR_HE_VECTOR_LENGTH: 'vector length does not match the plan',
  FEDVAL_ERR_HE_VALUE_OUT_OF_RANGE: 'a vector entry is outside the bound the plan allows',
  FEDVAL_ERR_HE_CIPHERTEXT_COUNT: 'wrong number of ciphertexts for the plan',
  FEDVAL_ERR_HE_CIPHERTEXT_SIZE: 'ciphertext has the wrong size',
  FEDVAL_ERR_HE_CIPHERTEXT_MALFORMED: 'ciphertext header is invalid',
  FEDVAL_ERR_HE_CIPHERTEXT_CORRUPT: 'ciphertext content is corrupt',
  FEDVAL_ERR_HE_PLAN_MISMATCH: 'ciphertext was made under a different plan',
  FEDVAL_ERR_HE_TOO_MANY_CONTRIBUTIONS: 'more contributions than the plan allows',
  FEDVAL_ERR_HE_CONTRIBUTION_COUNT: 'aggregate does not hold the stated number of contributions',
  FEDVAL_ERR_HE_DECRYPTION_FAILED: 'decryption failed: wrong secret key or damaged aggregate',
} as const;

export type HeErrorCode = keyof typeof HE_ERROR_MESSAGES;

export class HeError extends Error {
  readonly code: HeErrorCode;
  constructor(code: HeErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${HE_ERROR_MESSAGES[code]}: ${detail}` : HE_ERROR_MESSAGES[code], options);
    this.name = 'HeError';
    this.code = code;
  }
}
