import { describe, expect, it } from 'vitest';
import { SECAGG_ERROR_MESSAGES, SecaggError } from './errors.ts';

describe('SecaggError', () => {
  it('has exactly the published codes (codes are public API: add, never rename or reuse)', () => {
    expect(Object.keys(SECAGG_ERROR_MESSAGES)).toEqual([
      'FEDVAL_ERR_SECAGG_INVALID_ARGUMENT',
      'FEDVAL_ERR_SECAGG_INVALID_KEY',
      'FEDVAL_ERR_SECAGG_LOW_ORDER_KEY',
      'FEDVAL_ERR_SECAGG_INVALID_MODULUS',
      'FEDVAL_ERR_SECAGG_INVALID_THRESHOLD',
      'FEDVAL_ERR_SECAGG_TOO_FEW_SHARES',
      'FEDVAL_ERR_SECAGG_INVALID_SHARE',
      'FEDVAL_ERR_SECAGG_DUPLICATE_SHARE',
      'FEDVAL_ERR_SECAGG_INCONSISTENT_SHARES',
      'FEDVAL_ERR_SECAGG_SEALED_SHARES_INVALID',
      'FEDVAL_ERR_SECAGG_INCONSISTENT_SETS',
      'FEDVAL_ERR_SECAGG_LIVE_SITE_REPORTED_DROPPED',
      'FEDVAL_ERR_SECAGG_TOO_FEW_SURVIVORS',
      'FEDVAL_ERR_SECAGG_CONTRADICTS_REVEALED',
    ]);
  });

  it('carries its code, the short message with the detail, and the cause', () => {
    const cause = new Error('openssl');
    const error = new SecaggError('FEDVAL_ERR_SECAGG_LOW_ORDER_KEY', 'peer site-b', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('SecaggError');
    expect(error.code).toBe('FEDVAL_ERR_SECAGG_LOW_ORDER_KEY');
    expect(error.message).toBe('key agreement gave the all-zero secret (a low-order public key): peer site-b');
    expect(error.cause).toBe(cause);
    expect(new SecaggError('FEDVAL_ERR_SECAGG_TOO_FEW_SHARES').message).toBe('fewer shares than the threshold');
  });
});
