// options.ts — options of loadModelBundle: defaults, validation, freezing.
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import type { ModelBackend } from './backend.ts';
import { MODEL_BACKENDS } from './backend.ts';
import type { BundleLimits } from './bundle-files.ts';
import { DEFAULT_BUNDLE_LIMITS } from './bundle-files.ts';
import { ModelsError } from './errors.ts';
import type { FeatureMatrixOptions } from './feature-matrix.ts';
import { DEFAULT_FEATURE_MATRIX_OPTIONS } from './feature-matrix.ts';

/** Options of `loadModelBundle`. */
export interface LoadModelBundleOptions extends BundleLimits, FeatureMatrixOptions {
  /** TF.js backend to use, or 'auto' for the fastest that loads (tensorflow, then wasm, then cpu). Default 'auto'. */
  backend: ModelBackend | 'auto';
  /** Rows per inference call; rows of small chunks are gathered up to this. Default 16384 rows. */
  batchSize: number;
  /** ONNX bundles: ONNX Runtime intra-op threads; 0 lets ONNX Runtime choose (one per physical core). Default 0. */
  onnxThreads: number;
  /**
   * Worker threads that run the model, each with its own runtime loaded from the verified bytes; batches are scored on
   * them in parallel while the caller reads the next rows. 0 runs the model on the calling thread. 'auto': ONNX bundles
   * on AUTO_WORKER_THREADS (the available cores, at most 4), TF.js bundles on the calling thread (measured faster there:
   * packages/models/README.md, *Worker threads*). Default 0.
   */
  workerThreads: number | 'auto';
  /**
   * Cap of worker threads × model bytes (the bundle's files, manifest excluded): each worker's runtime holds its own copy
   * of the model, so fewer workers start than `workerThreads` asks when their copies would exceed this; none (the
   * calling thread) when even one would. Default 1 GiB.
   */
  maxWorkerModelBytes: number;
}

export const DEFAULT_LOAD_MODEL_BUNDLE_OPTIONS: Readonly<LoadModelBundleOptions> = Object.freeze({
  ...DEFAULT_BUNDLE_LIMITS,
  ...DEFAULT_FEATURE_MATRIX_OPTIONS,
  backend: 'auto',
  batchSize: 16384, // rows
  onnxThreads: 0, // threads; 0 = ONNX Runtime's choice
  workerThreads: 0, // threads; 0 = the calling thread
  maxWorkerModelBytes: 1024 * 1024 * 1024, // 1 GiB over all workers
});

const MAX_BATCH_SIZE = 4 * 1024 * 1024; // rows
const MAX_ONNX_THREADS = 1024; // threads
const MAX_WORKER_THREADS = 64; // threads

/** `workerThreads: 'auto'` for an ONNX bundle: the available cores, at most 4. */
export const AUTO_WORKER_THREADS = Math.min(4, availableParallelism());

const positiveBytes = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const optionsSchema = z.strictObject({
  backend: z.enum(['auto', ...MODEL_BACKENDS]),
  batchSize: z.number().int().min(1).max(MAX_BATCH_SIZE),
  onnxThreads: z.number().int().min(0).max(MAX_ONNX_THREADS),
  workerThreads: z.union([z.number().int().min(0).max(MAX_WORKER_THREADS), z.literal('auto')]),
  maxManifestBytes: positiveBytes,
  maxFileBytes: positiveBytes,
  maxBundleBytes: positiveBytes,
  maxWorkerModelBytes: positiveBytes,
  missingTokens: z.array(z.string()).readonly(),
});

/**
 * The worker threads a bundle of `modelBytes` runs on: `requested`, fewer when `requested × modelBytes` would exceed
 * `maxWorkerModelBytes` (0, the calling thread, when one worker would).
 */
export function cappedWorkerThreads(requested: number, modelBytes: number, maxWorkerModelBytes: number): number {
  return Math.min(requested, Math.floor(maxWorkerModelBytes / Math.max(1, modelBytes)));
}

/** Merges `options` over the defaults, validates once (every problem in one error) and freezes. */
export function resolveLoadOptions(options: Partial<LoadModelBundleOptions> = {}): Readonly<LoadModelBundleOptions> {
  const result = optionsSchema.safeParse({ ...DEFAULT_LOAD_MODEL_BUNDLE_OPTIONS, ...options });
  if (!result.success) {
    const problems = result.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message));
    throw new ModelsError('FEDVAL_ERR_MODELS_INVALID_OPTIONS', problems.join('; '));
  }
  return Object.freeze({ ...result.data, missingTokens: Object.freeze([...result.data.missingTokens]) });
}
