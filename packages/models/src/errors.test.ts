import { describe, expect, it } from 'vitest';
import { MODELS_ERROR_MESSAGES, ModelsError } from './errors.ts';

describe('ModelsError', () => {
  it('has exactly the published codes (codes are public API: add, never rename or reuse)', () => {
    expect(Object.keys(MODELS_ERROR_MESSAGES)).toEqual([
      'FEDVAL_ERR_MODELS_INVALID_OPTIONS',
      'FEDVAL_ERR_MODELS_MANIFEST_UNREADABLE',
      'FEDVAL_ERR_MODELS_MANIFEST_NOT_JSON',
      'FEDVAL_ERR_MODELS_INVALID_MANIFEST',
      'FEDVAL_ERR_MODELS_UNSUPPORTED_FORMAT',
      'FEDVAL_ERR_MODELS_UNSAFE_PATH',
      'FEDVAL_ERR_MODELS_FILE_UNREADABLE',
      'FEDVAL_ERR_MODELS_FILE_TOO_LARGE',
      'FEDVAL_ERR_MODELS_BUNDLE_TOO_LARGE',
      'FEDVAL_ERR_MODELS_HASH_MISMATCH',
      'FEDVAL_ERR_MODELS_UNLISTED_FILE',
      'FEDVAL_ERR_MODELS_INVALID_MODEL',
      'FEDVAL_ERR_MODELS_SHAPE_MISMATCH',
      'FEDVAL_ERR_MODELS_BACKEND_UNAVAILABLE',
      'FEDVAL_ERR_MODELS_MISSING_COLUMNS',
      'FEDVAL_ERR_MODELS_INFERENCE_FAILED',
      'FEDVAL_ERR_MODELS_RUNNER_DISPOSED',
      'FEDVAL_ERR_MODELS_WRITE_FAILED',
      'FEDVAL_ERR_MODELS_INPUT_TYPE',
      'FEDVAL_ERR_MODELS_ZIPMAP_OUTPUT',
      'FEDVAL_ERR_MODELS_OUTPUT_AMBIGUOUS',
      'FEDVAL_ERR_MODELS_OUTPUT_NOT_FOUND',
      'FEDVAL_ERR_MODELS_WORKER_FAILED',
    ]);
  });

  it('carries its code, the short message with the detail, and the cause', () => {
    const cause = new Error('disk');
    const error = new ModelsError('FEDVAL_ERR_MODELS_HASH_MISMATCH', 'weights.bin', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ModelsError');
    expect(error.code).toBe('FEDVAL_ERR_MODELS_HASH_MISMATCH');
    expect(error.message).toBe('bundle file does not match its SHA-256 in the manifest: weights.bin');
    expect(error.cause).toBe(cause);
    expect(new ModelsError('FEDVAL_ERR_MODELS_RUNNER_DISPOSED').message).toBe('model runner has been disposed');
  });
});
