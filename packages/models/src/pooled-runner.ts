// pooled-runner.ts — a ModelRunner whose batches are scored on a pool of model worker threads, several at once.
import type { VerifiedBundle } from './bundle-files.ts';
import { ModelsError } from './errors.ts';
import type { FeatureMatrix } from './feature-matrix.ts';
import { FEATURE_EXCLUSIONS } from './feature-matrix.ts';
import { ModelWorkerPool } from './model-worker-pool.ts';
import type { LoadModelBundleOptions } from './options.ts';
import type { PredictionChunk, RunnerBackendSelection } from './runner.ts';
import { BatchedModelRunner } from './runner.ts';

/** Starts `resolved.workerThreads` workers on the verified bundle and returns a runner that scores on them. */
export async function loadPooledRunner(bundle: VerifiedBundle, resolved: Readonly<LoadModelBundleOptions> & { workerThreads: number }): Promise<PooledModelRunner> {
  const pool = await ModelWorkerPool.start(bundle, resolved, resolved.workerThreads);
  return new PooledModelRunner({
    pool,
    manifest: bundle.manifest,
    manifestSha256: bundle.manifestSha256,
    batchSize: resolved.batchSize,
    featureOptions: { missingTokens: resolved.missingTokens },
  });
}

/**
 * Scores on worker threads. `predictMatrix` sends every `batchSize` rows of the matrix to the pool before it waits, and
 * copies the rows it sends before it returns its promise: the caller may reuse the matrix's buffers at once, and may
 * have several calls pending (one per worker keeps every worker busy while the caller reads the next rows).
 */
export class PooledModelRunner extends BatchedModelRunner {
  readonly backend: RunnerBackendSelection;
  override readonly concurrency: number;
  readonly #pool: ModelWorkerPool;
  #disposed = false;

  constructor(init: ConstructorParameters<typeof BatchedModelRunner>[0] & { pool: ModelWorkerPool }) {
    super(init);
    this.#pool = init.pool;
    this.backend = init.pool.backend;
    // One batch per worker, and one more being read meanwhile.
    this.concurrency = init.pool.workers.length + 1;
  }

  /** The pool (tests stop one of its threads to see a crash handled). */
  get pool(): ModelWorkerPool {
    return this.#pool;
  }

  protected release(): void {
    this.#disposed = true;
    void this.#pool.terminate();
  }

  override async close(): Promise<void> {
    this.dispose();
    await this.#pool.terminate();
  }

  protected infer(values: Float32Array): Promise<Float32Array> {
    return this.#pool.infer(values.slice());
  }

  override predictMatrix(matrix: FeatureMatrix, rowCount: number): Promise<PredictionChunk> {
    if (this.#disposed) return Promise.reject(new ModelsError('FEDVAL_ERR_MODELS_RUNNER_DISPOSED'));
    const { width, rowIndex } = matrix;
    const k = this.outputWidth;
    const scores = new Float32Array(rowCount * k).fill(Number.NaN);
    // Copied now: the rows and their indices, so the caller may reuse the matrix as soon as this returns.
    const rows = rowIndex.slice();
    const parts: Promise<void>[] = [];
    for (let start = 0; start < rows.length; start += this.batchSize) {
      const count = Math.min(this.batchSize, rows.length - start);
      parts.push(
        this.#pool.infer(matrix.values.slice(start * width, (start + count) * width)).then((batch) => {
          if (batch.length !== count * k) throw new ModelsError('FEDVAL_ERR_MODELS_SHAPE_MISMATCH', 'a worker returned another number of scores than the rows it was sent'); // the number is not named: a graph can make it depend on the data
          if (k === 1) for (let i = 0; i < count; i++) scores[rows[start + i]!] = batch[i]!;
          else for (let i = 0; i < count; i++) scores.set(batch.subarray(i * k, (i + 1) * k), rows[start + i]! * k);
        }),
      );
    }
    // `excluded` is read from the matrix only if the caller asks (a columnar caller reads `matrix.reasons`): a copy of
    // the typed reasons is kept for that, not one object per row.
    const reasons = matrix.reasons?.slice();
    const excluded = reasons === undefined ? matrix.excluded : null;
    return Promise.all(parts).then(() => ({
      scores,
      get excluded() {
        return excluded ?? Array.from(reasons!, (r) => (r === 0 ? null : FEATURE_EXCLUSIONS[r - 1]!));
      },
    }));
  }
}
