// errors.ts — every error @fedval/metrics throws, each with a stable public code.
export const METRICS_ERROR_MESSAGES = {
  FEDVAL_ERR_METRICS_INVALID_SPEC: 'invalid metric spec',
  FEDVAL_ERR_METRICS_TASK_MISMATCH: 'the call does not match the task of the statistics layout',
  FEDVAL_ERR_METRICS_GROUP_COUNT: 'group values do not match the declared group columns',
  FEDVAL_ERR_METRICS_UNKNOWN_EXCLUSION: 'unknown exclusion reason',
  FEDVAL_ERR_METRICS_VECTOR_LENGTH: 'statistics vector length does not match',
  FEDVAL_ERR_METRICS_VECTOR_NOT_FINITE: 'statistics vector holds a non-finite entry',
  FEDVAL_ERR_METRICS_VECTOR_NOT_SAFE_INTEGER: 'statistics vector entry is not a safe integer',
  FEDVAL_ERR_METRICS_INVALID_NOISE: 'invalid noise options',
  FEDVAL_ERR_METRICS_INVALID_INPUT: 'invalid input arrays',
  FEDVAL_ERR_METRICS_INVALID_GRID: 'cannot fit a score grid',
  FEDVAL_ERR_METRICS_HORIZON_BEYOND_FOLLOW_UP: 'no patient is followed beyond the horizon: the metrics at the horizon are undefined',
} as const;

export type MetricsErrorCode = keyof typeof METRICS_ERROR_MESSAGES;

export class MetricsError extends Error {
  readonly code: MetricsErrorCode;
  /** What exactly is wrong, without the code's general message. */
  readonly detail: string | undefined;
  constructor(code: MetricsErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${METRICS_ERROR_MESSAGES[code]}: ${detail}` : METRICS_ERROR_MESSAGES[code], options);
    this.name = 'MetricsError';
    this.code = code;
    this.detail = detail;
  }
}
