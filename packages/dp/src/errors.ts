// errors.ts — every error @fedval/dp throws or returns, each with a stable public code.
export const DP_ERROR_MESSAGES = {
  FEDVAL_ERR_DP_INVALID_ARGUMENT: 'invalid argument',
  FEDVAL_ERR_DP_INVALID_SEED: 'a seeded random source needs a non-empty seed',
  FEDVAL_ERR_DP_NOT_SAFE_INTEGER: 'statistics value is not a safe integer',
  FEDVAL_ERR_DP_NOISE_OVERFLOW: 'noisy value left the safe integer range',
  FEDVAL_ERR_DP_BLOCK_OUT_OF_RANGE: 'noise block lies outside the statistics vector',
  FEDVAL_ERR_DP_OVERLAPPING_BLOCKS: 'noise blocks overlap',
  FEDVAL_ERR_DP_INCOMPLETE_COVERAGE: 'the noise plan leaves part of the statistics vector without noise',
  FEDVAL_ERR_DP_TREE_SHAPE: 'node vector does not match the tree shape',
  FEDVAL_ERR_DP_SKELLAM_SHARE_TOO_LARGE: 'Skellam share too large to sample exactly in reasonable time; use distributed-discrete-gaussian for this block',
  FEDVAL_ERR_DP_QUORUM_BELOW_MINIMUM: 'fewer sites contributed noise shares than the plan requires',
  FEDVAL_ERR_DP_INVALID_BUDGET: 'invalid privacy budget',
  FEDVAL_ERR_DP_BUDGET_EXCEEDED: 'the dataset privacy budget does not cover this charge',
  FEDVAL_ERR_DP_ROUND_BUDGET_EXCEEDED: 'the per-round privacy budget does not cover this charge',
} as const;

export type DpErrorCode = keyof typeof DP_ERROR_MESSAGES;

export class DpError extends Error {
  readonly code: DpErrorCode;
  constructor(code: DpErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${DP_ERROR_MESSAGES[code]}: ${detail}` : DP_ERROR_MESSAGES[code], options);
    this.name = 'DpError';
    this.code = code;
  }
}
