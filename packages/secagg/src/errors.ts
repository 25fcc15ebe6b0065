// errors.ts — every error @fedval/secagg throws, each with a stable public code.
export const SECAGG_ERROR_MESSAGES = {
  FEDVAL_ERR_SECAGG_INVALID_ARGUMENT: 'invalid secure-aggregation argument',
  FEDVAL_ERR_SECAGG_INVALID_KEY: 'not a raw 32-byte X25519 key',
  FEDVAL_ERR_SECAGG_LOW_ORDER_KEY: 'key agreement gave the all-zero secret (a low-order public key)',
  FEDVAL_ERR_SECAGG_INVALID_MODULUS: 'plaintext modulus must be an integer in [2, 2^64)',
  FEDVAL_ERR_SECAGG_INVALID_THRESHOLD: 'threshold is outside its allowed range',
  FEDVAL_ERR_SECAGG_TOO_FEW_SHARES: 'fewer shares than the threshold',
  FEDVAL_ERR_SECAGG_INVALID_SHARE: 'share is malformed (x outside [1, 65535] or y outside the field)',
  FEDVAL_ERR_SECAGG_DUPLICATE_SHARE: 'two shares have the same x',
  FEDVAL_ERR_SECAGG_INCONSISTENT_SHARES: 'shares do not lie on one polynomial of the threshold degree with a 32-byte secret',
  FEDVAL_ERR_SECAGG_SEALED_SHARES_INVALID: 'sealed shares do not open (wrong key, wrong binding or tampered)',
  FEDVAL_ERR_SECAGG_INCONSISTENT_SETS: 'the masked and dropped sets are inconsistent',
  FEDVAL_ERR_SECAGG_LIVE_SITE_REPORTED_DROPPED: 'this site is alive but was reported as dropped',
  FEDVAL_ERR_SECAGG_TOO_FEW_SURVIVORS: 'fewer masked sites than the threshold',
  FEDVAL_ERR_SECAGG_CONTRADICTS_REVEALED: 'request contradicts shares already revealed in this round',
} as const;

export type SecaggErrorCode = keyof typeof SECAGG_ERROR_MESSAGES;

export class SecaggError extends Error {
  readonly code: SecaggErrorCode;
  constructor(code: SecaggErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${SECAGG_ERROR_MESSAGES[code]}: ${detail}` : SECAGG_ERROR_MESSAGES[code], options);
    this.name = 'SecaggError';
    this.code = code;
  }
}
