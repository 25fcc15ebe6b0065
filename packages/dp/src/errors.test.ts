// The error codes of @fedval/dp are public API: this list may only grow.
import { describe, expect, it } from 'vitest';
import { DP_ERROR_MESSAGES, DpError } from './errors.ts';

describe('DpError', () => {
  it('pins the list of codes', () => {
    expect(Object.keys(DP_ERROR_MESSAGES)).toEqual([
      'FEDVAL_ERR_DP_INVALID_ARGUMENT',
      'FEDVAL_ERR_DP_INVALID_SEED',
      'FEDVAL_ERR_DP_NOT_SAFE_INTEGER',
      'FEDVAL_ERR_DP_NOISE_OVERFLOW',
      'FEDVAL_ERR_DP_BLOCK_OUT_OF_RANGE',
      'FEDVAL_ERR_DP_OVERLAPPING_BLOCKS',
      'FEDVAL_ERR_DP_INCOMPLETE_COVERAGE',
      'FEDVAL_ERR_DP_TREE_SHAPE',
      'FEDVAL_ERR_DP_SKELLAM_SHARE_TOO_LARGE',
      'FEDVAL_ERR_DP_QUORUM_BELOW_MINIMUM',
      'FEDVAL_ERR_DP_INVALID_BUDGET',
      'FEDVAL_ERR_DP_BUDGET_EXCEEDED',
      'FEDVAL_ERR_DP_ROUND_BUDGET_EXCEEDED',
    ]);
  });

  it('carries its code, a short message with optional detail, and the cause', () => {
    const cause = new Error('inner');
    const error = new DpError('FEDVAL_ERR_DP_TREE_SHAPE', 'expected 7 nodes', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('DpError');
    expect(error.code).toBe('FEDVAL_ERR_DP_TREE_SHAPE');
    expect(error.message).toBe('node vector does not match the tree shape: expected 7 nodes');
    expect(error.cause).toBe(cause);
    expect(new DpError('FEDVAL_ERR_DP_INVALID_SEED').message).toBe(DP_ERROR_MESSAGES.FEDVAL_ERR_DP_INVALID_SEED);
  });
});
