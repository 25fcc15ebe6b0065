// The error codes are public API: this pins the list.
import { describe, expect, it } from 'vitest';
import { METRICS_ERROR_MESSAGES, MetricsError } from './errors.ts';

describe('MetricsError', () => {
  it('has exactly these codes', () => {
    expect(Object.keys(METRICS_ERROR_MESSAGES)).toEqual([
      'FEDVAL_ERR_METRICS_INVALID_SPEC',
      'FEDVAL_ERR_METRICS_TASK_MISMATCH',
      'FEDVAL_ERR_METRICS_GROUP_COUNT',
      'FEDVAL_ERR_METRICS_UNKNOWN_EXCLUSION',
      'FEDVAL_ERR_METRICS_VECTOR_LENGTH',
      'FEDVAL_ERR_METRICS_VECTOR_NOT_FINITE',
      'FEDVAL_ERR_METRICS_VECTOR_NOT_SAFE_INTEGER',
      'FEDVAL_ERR_METRICS_INVALID_NOISE',
      'FEDVAL_ERR_METRICS_INVALID_INPUT',
      'FEDVAL_ERR_METRICS_INVALID_GRID',
      'FEDVAL_ERR_METRICS_HORIZON_BEYOND_FOLLOW_UP',
    ]);
  });

  it('carries its code, a detail and a cause', () => {
    const cause = new Error('inner');
    const error = new MetricsError('FEDVAL_ERR_METRICS_VECTOR_LENGTH', 'expected 3 entries, got 2', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('MetricsError');
    expect(error.code).toBe('FEDVAL_ERR_METRICS_VECTOR_LENGTH');
    expect(error.message).toBe('statistics vector length does not match: expected 3 entries, got 2');
    expect(error.cause).toBe(cause);
    expect(new MetricsError('FEDVAL_ERR_METRICS_INVALID_INPUT').message).toBe('invalid input arrays');
  });
});
