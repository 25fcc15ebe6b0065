// runner.ts — scores streamed chunks of raw rows with a loaded model in large batches (the TF.js runner is in tfjs-load.ts).
import type { BackendSelection, ModelBackend } from './backend.ts';
import { ModelsError } from './errors.ts';
import type { FeatureExclusion, FeatureMatrix, FeatureMatrixOptions, RawRow } from './feature-matrix.ts';
import { buildFeatureMatrix } from './feature-matrix.ts';
import type { ModelManifest } from './manifest.ts';
import { featureWidth, outputWidth } from './manifest.ts';

/** Scores for one input chunk, aligned with its rows. */
export interface PredictionChunk {
  /**
   * Row-major, `outputWidth` per row: the probability of the positive class (binary models) or of each class in the
   * manifest's order (multiclass models); NaN for excluded rows.
   */
  scores: Float32Array;
  /** Per row: null when scored, otherwise why not. */
  excluded: (FeatureExclusion | null)[];
}

/** The runtime a runner scores with: a TF.js backend, or ONNX Runtime's CPU provider. */
export type RunnerBackend = ModelBackend | 'onnxruntime';

/** The runtime in use and why faster ones were skipped (for the caller to log). */
export interface RunnerBackendSelection {
  backend: RunnerBackend;
  skipped: BackendSelection['skipped'];
}

/** A loaded, verified model ready to score data. */
export interface ModelRunner {
  readonly manifest: ModelManifest;
  /** Lowercase hex SHA-256 of the bundle's `manifest.json`; identifies the exact bundle. */
  readonly manifestSha256: string;
  /** The runtime in use (a TF.js backend, or onnxruntime) and why faster ones were skipped. */
  readonly backend: RunnerBackendSelection;
  /** Rows per inference call. */
  readonly batchSize: number;
  /** Scores per row: 1 for a probability output, the number of classes for class probabilities. */
  readonly outputWidth: number;
  /**
   * Scores a stream of row chunks: yields one PredictionChunk per input chunk, in order. Rows of
   * consecutive chunks are gathered into batches of `batchSize`, so chunk size does not limit speed.
   */
  predict(chunks: AsyncIterable<readonly RawRow[]> | Iterable<readonly RawRow[]>): AsyncGenerator<PredictionChunk>;
  /** Scores one array of rows. */
  predictRows(rows: readonly RawRow[]): Promise<PredictionChunk>;
  /**
   * Scores rows already encoded as the manifest's features (row-major, `featureWidth(manifest.inputs)` values per
   * row, as `buildFeatureMatrix` makes them), in batches of `batchSize`; returns `outputWidth` scores per row.
   */
  predictFeatures(values: Float32Array): Promise<Float32Array>;
  /** Scores an input matrix already built (e.g. by buildFeatureMatrixFromColumns) for `rowCount` input rows. */
  predictMatrix(matrix: FeatureMatrix, rowCount: number): Promise<PredictionChunk>;
  /**
   * `predictMatrix` calls that may usefully be pending at once: 1 on the calling thread; one more than its worker threads
   * for a pooled runner (whose `predictMatrix` copies what it needs before it returns, see PooledModelRunner).
   */
  readonly concurrency: number;
  /** Frees the model's weights; the runner cannot be used afterwards. */
  dispose(): void;
  /** Disposes and waits until the runtime is released (a pooled runner's worker threads have exited). */
  close(): Promise<void>;
}

interface PendingChunk {
  matrix: FeatureMatrix;
  scores: Float32Array;
  /** Included rows scored so far. */
  done: number;
}

/**
 * The batching every runner shares: encodes each chunk's rows with the manifest's features, gathers the included rows
 * of consecutive chunks into batches of `batchSize`, and scatters each batch's scores back to their rows. A runtime
 * only supplies `infer`.
 */
export abstract class BatchedModelRunner implements ModelRunner {
  readonly manifest: ModelManifest;
  readonly manifestSha256: string;
  abstract readonly backend: RunnerBackendSelection;
  readonly batchSize: number;
  readonly outputWidth: number;
  readonly concurrency: number = 1;
  readonly #width: number;
  readonly #featureOptions: FeatureMatrixOptions;
  #disposed = false;

  constructor(init: { manifest: ModelManifest; manifestSha256: string; batchSize: number; featureOptions: FeatureMatrixOptions }) {
    this.manifest = init.manifest;
    this.manifestSha256 = init.manifestSha256;
    this.batchSize = init.batchSize;
    this.#featureOptions = init.featureOptions;
    this.#width = featureWidth(init.manifest.inputs);
    this.outputWidth = outputWidth(init.manifest.output);
  }

  /** Scores `n` rows of `width` features (row-major); returns `n × outputWidth` scores. */
  protected abstract infer(values: Float32Array, n: number, width: number): Promise<Float32Array>;

  /** Frees the runtime's resources (called once). */
  protected abstract release(): void;

  async *predict(chunks: AsyncIterable<readonly RawRow[]> | Iterable<readonly RawRow[]>): AsyncGenerator<PredictionChunk> {
    this.#assertUsable();
    const pending: PendingChunk[] = [];
    const batch = { buffer: null as Float32Array | null };
    let queued = 0;
    for await (const rows of chunks) {
      const matrix = buildFeatureMatrix(this.manifest.inputs, rows, this.#featureOptions);
      pending.push({ matrix, scores: new Float32Array(rows.length * this.outputWidth).fill(Number.NaN), done: 0 });
      queued += matrix.rowIndex.length;
      while (queued >= this.batchSize) {
        await this.#scoreNext(pending, this.batchSize, batch);
        queued -= this.batchSize;
        yield* takeFinished(pending);
      }
      yield* takeFinished(pending);
    }
    if (queued > 0) await this.#scoreNext(pending, queued, batch);
    yield* takeFinished(pending);
  }

  async predictRows(rows: readonly RawRow[]): Promise<PredictionChunk> {
    const results: PredictionChunk[] = [];
    for await (const chunk of this.predict([rows])) results.push(chunk);
    return results[0] as PredictionChunk;
  }

  async predictFeatures(values: Float32Array): Promise<Float32Array> {
    this.#assertUsable();
    const width = this.#width;
    if (values.length % width !== 0) {
      throw new ModelsError('FEDVAL_ERR_MODELS_SHAPE_MISMATCH', `${values.length} feature values are not whole rows of ${width}`);
    }
    const n = values.length / width;
    const scores = new Float32Array(n * this.outputWidth);
    for (let start = 0; start < n; start += this.batchSize) {
      const count = Math.min(this.batchSize, n - start);
      scores.set(await this.infer(values.subarray(start * width, (start + count) * width), count, width), start * this.outputWidth);
      this.#assertUsable();
    }
    return scores;
  }

  async predictMatrix(matrix: FeatureMatrix, rowCount: number): Promise<PredictionChunk> {
    this.#assertUsable();
    const pending: PendingChunk[] = [{ matrix, scores: new Float32Array(rowCount * this.outputWidth).fill(Number.NaN), done: 0 }];
    const batch = { buffer: null as Float32Array | null };
    for (let left = matrix.rowIndex.length; left > 0; left -= this.batchSize) await this.#scoreNext(pending, Math.min(left, this.batchSize), batch);
    const scores = pending[0]!.scores;
    // `excluded` is read from the matrix only if the caller asks (a columnar caller reads `matrix.reasons`).
    return {
      scores,
      get excluded() {
        return matrix.excluded;
      },
    };
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.release();
  }

  async close(): Promise<void> {
    this.dispose();
  }

  #assertUsable(): void {
    if (this.#disposed) throw new ModelsError('FEDVAL_ERR_MODELS_RUNNER_DISPOSED');
  }

  /**
   * Scores the next `n` (≤ batchSize) unscored included rows across the pending chunks: in place when
   * they lie in one chunk, else gathered into the batch buffer of this predict call.
   */
  async #scoreNext(pending: PendingChunk[], n: number, batch: { buffer: Float32Array | null }): Promise<void> {
    this.#assertUsable();
    const width = this.#width;
    const segments: { chunk: PendingChunk; start: number; count: number; values: Float32Array }[] = [];
    let filled = 0;
    for (const chunk of pending) {
      if (filled === n) break;
      const available = chunk.matrix.rowIndex.length - chunk.done;
      if (available === 0) continue;
      const count = Math.min(available, n - filled);
      segments.push({ chunk, start: chunk.done, count, values: chunk.matrix.values.subarray(chunk.done * width, (chunk.done + count) * width) });
      filled += count;
    }
    let input = segments[0]?.values ?? new Float32Array(0);
    if (segments.length > 1) {
      batch.buffer ??= new Float32Array(this.batchSize * width);
      let at = 0;
      for (const { values } of segments) {
        batch.buffer.set(values, at);
        at += values.length;
      }
      input = batch.buffer.subarray(0, n * width);
    }
    const scores = await this.infer(input, n, width);
    this.#assertUsable();
    const k = this.outputWidth;
    let offset = 0;
    for (const { chunk, start, count } of segments) {
      const { rowIndex } = chunk.matrix;
      if (k === 1) {
        for (let i = 0; i < count; i++) chunk.scores[rowIndex[start + i] as number] = scores[offset + i] as number;
      } else {
        for (let i = 0; i < count; i++) chunk.scores.set(scores.subarray((offset + i) * k, (offset + i + 1) * k), (rowIndex[start + i] as number) * k);
      }
      chunk.done += count;
      offset += count;
    }
  }
}

function* takeFinished(pending: PendingChunk[]): Generator<PredictionChunk> {
  while (pending.length > 0 && pending[0]!.done === pending[0]!.matrix.rowIndex.length) {
    const { scores, matrix } = pending.shift() as PendingChunk;
    yield { scores, excluded: matrix.excluded };
  }
}
