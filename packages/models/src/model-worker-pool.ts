// model-worker-pool.ts — a pool of model worker threads: each loads the model from the verified bundle bytes moved to it; feature batches go to the least busy one.
import { Worker } from 'node:worker_threads';
import type { VerifiedBundle } from './bundle-files.ts';
import type { ModelsErrorCode } from './errors.ts';
import { MODELS_ERROR_MESSAGES, ModelsError } from './errors.ts';
import type { BundleFilesTransfer, ModelWorkerError, ModelWorkerInit, ModelWorkerReply, ModelWorkerRequest } from './model-worker.ts';
import type { LoadModelBundleOptions } from './options.ts';
import { runtimeErrorText } from './runtime-text.ts';
import type { RunnerBackendSelection } from './runner.ts';

interface PendingBatch {
  resolve(scores: Float32Array): void;
  reject(error: Error): void;
}

interface PoolWorker {
  readonly thread: Worker;
  /** Resolves when the thread has exited. */
  readonly exited: Promise<void>;
  readonly pending: Map<number, PendingBatch>;
}

/**
 * Packs the verified files into one new ArrayBuffer for one worker, to be moved to it (transferred, not cloned). Made
 * just before that worker starts, so no copy waits for a thread and the caller keeps none.
 */
function packBundleFiles(files: ReadonlyMap<string, Uint8Array>): BundleFilesTransfer {
  const total = [...files.values()].reduce((n, bytes) => n + bytes.byteLength, 0);
  const bytes = new ArrayBuffer(total);
  const view = new Uint8Array(bytes);
  const index: BundleFilesTransfer['index'] = [];
  let offset = 0;
  for (const [path, file] of files) {
    view.set(file, offset);
    index.push([path, offset, file.byteLength]);
    offset += file.byteLength;
  }
  return { bytes, index };
}

function spawnWorker(init: ModelWorkerInit, bundleFiles: ReadonlyMap<string, Uint8Array>): PoolWorker {
  const thread = new Worker(new URL('./model-worker.ts', import.meta.url), { workerData: init });
  // Moved in a message, not put in workerData (a thread keeps its workerData for its life): the worker drops the bytes
  // once its runtime has loaded them.
  const files = packBundleFiles(bundleFiles);
  thread.postMessage({ kind: 'load', files } satisfies ModelWorkerRequest, [files.bytes]);
  return { thread, exited: new Promise<void>((resolve) => thread.once('exit', () => resolve())), pending: new Map() };
}

function fromWorker(error: ModelWorkerError): ModelsError {
  const code = (Object.hasOwn(MODELS_ERROR_MESSAGES, error.code) ? error.code : 'FEDVAL_ERR_MODELS_INFERENCE_FAILED') as ModelsErrorCode;
  return new ModelsError(code, error.detail);
}

/** Asks a worker to release its model and end; terminates it if it has not exited after `graceMs`. */
async function stopWorker({ thread, exited }: PoolWorker, graceMs: number): Promise<void> {
  thread.postMessage({ kind: 'close' } satisfies ModelWorkerRequest);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), graceMs);
  });
  if ((await Promise.race([exited, late])) === 'late') await thread.terminate();
  clearTimeout(timer);
  await exited;
}

/** Resolves with the backend a new worker loaded the model on, or rejects with the coded error it met loading it. */
function workerReady(thread: Worker): Promise<RunnerBackendSelection> {
  return new Promise<RunnerBackendSelection>((resolve, reject) => {
    const onExit = (code: number) => reject(new ModelsError('FEDVAL_ERR_MODELS_WORKER_FAILED', `a model worker thread exited while loading (code ${code})`));
    const onError = (error: Error) => reject(new ModelsError('FEDVAL_ERR_MODELS_WORKER_FAILED', runtimeErrorText(error)));
    thread.once('exit', onExit);
    thread.once('error', onError);
    thread.once('message', (reply: ModelWorkerReply) => {
      thread.off('exit', onExit);
      thread.off('error', onError);
      if (reply.kind === 'ready') resolve(reply.backend);
      else reject(reply.kind === 'load_failed' ? fromWorker(reply.error) : new ModelsError('FEDVAL_ERR_MODELS_WORKER_FAILED', 'unexpected first message'));
    });
  });
}

/**
 * Worker threads that score feature batches, each with its own model runtime (an ONNX Runtime session, or TF.js with
 * its own WASM instance) loaded from the bytes the caller already verified: nothing is read from disk again. A worker
 * that crashes or exits fails every batch still pending on any worker (FEDVAL_ERR_MODELS_WORKER_FAILED) and the pool
 * terminates the others; nothing partial is returned.
 */
export class ModelWorkerPool {
  readonly backend: RunnerBackendSelection;
  /** The threads (exposed for tests that stop one to check what the pool does then). */
  readonly workers: readonly PoolWorker[];
  #nextId = 0;
  #failure: ModelsError | null = null;
  #closed = false;
  #stopped: Promise<void> = Promise.resolve();

  private constructor(workers: PoolWorker[], backend: RunnerBackendSelection) {
    this.workers = workers;
    this.backend = backend;
    for (const worker of workers) {
      worker.thread.on('message', (reply: ModelWorkerReply) => this.#settle(worker, reply));
      worker.thread.on('error', (error) => this.#fail(error));
      worker.thread.on('exit', (code) => {
        if (!this.#closed) this.#fail(new Error(`a model worker thread exited (code ${code})`));
      });
    }
  }

  /** Starts `count` workers and waits until each has loaded the model; a load error is the coded error the worker met. */
  static async start(bundle: VerifiedBundle, options: Readonly<LoadModelBundleOptions>, count: number): Promise<ModelWorkerPool> {
    const init: ModelWorkerInit = {
      manifest: bundle.manifest,
      manifestBytes: bundle.manifestBytes,
      manifestSha256: bundle.manifestSha256,
      options,
    };
    // The first worker loads alone, the others once it is ready: two runtimes compiling at once on a machine with few
    // cores (TF.js's WebAssembly, under SCHED_FIFO as the throughput bench runs) did not finish loading.
    const workers: PoolWorker[] = [];
    const results: RunnerBackendSelection[] = [];
    try {
      workers.push(spawnWorker(init, bundle.files));
      results.push(await workerReady(workers[0]!.thread));
      for (let i = 1; i < count; i += 1) workers.push(spawnWorker(init, bundle.files));
      results.push(...(await Promise.all(workers.slice(1).map((worker) => workerReady(worker.thread)))));
    } catch (error) {
      await Promise.all(workers.map((worker) => stopWorker(worker, 10_000)));
      throw error;
    }
    return new ModelWorkerPool(workers, results[0]!);
  }

  /** Scores whole rows of features on the least busy worker. `values` is moved to the worker (its buffer is detached). */
  infer(values: Float32Array): Promise<Float32Array> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closed) return Promise.reject(new ModelsError('FEDVAL_ERR_MODELS_RUNNER_DISPOSED'));
    let worker = this.workers[0]!;
    for (const candidate of this.workers) if (candidate.pending.size < worker.pending.size) worker = candidate;
    const id = this.#nextId++;
    return new Promise<Float32Array>((resolve, reject) => {
      worker.pending.set(id, { resolve, reject });
      worker.thread.postMessage({ kind: 'score', id, values } satisfies ModelWorkerRequest, [values.buffer as ArrayBuffer]);
    });
  }

  /**
   * Stops every worker and resolves when all have exited (pending batches fail with FEDVAL_ERR_MODELS_RUNNER_DISPOSED).
   * Each worker finishes the batch in hand, releases its runtime and ends; one still running after `graceMs` is
   * terminated. Safe to call more than once.
   */
  terminate(graceMs = 10_000): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#rejectAll(new ModelsError('FEDVAL_ERR_MODELS_RUNNER_DISPOSED'));
      this.#stopped = Promise.all(this.workers.map((worker) => stopWorker(worker, graceMs))).then(() => undefined);
    }
    return this.#stopped;
  }

  #settle(worker: PoolWorker, reply: ModelWorkerReply): void {
    if (reply.kind !== 'scores' && reply.kind !== 'failed') return;
    const batch = worker.pending.get(reply.id);
    if (!batch) return;
    worker.pending.delete(reply.id);
    if (reply.kind === 'scores') batch.resolve(reply.scores);
    else batch.reject(fromWorker(reply.error));
  }

  #fail(cause: Error): void {
    if (this.#failure || this.#closed) return;
    // No cause: a worker's uncaught error is the runtime's text, which can carry a patient's value (see runtimeErrorText).
    this.#failure = new ModelsError('FEDVAL_ERR_MODELS_WORKER_FAILED', runtimeErrorText(cause));
    this.#rejectAll(this.#failure);
    this.#closed = true;
    this.#stopped = Promise.all(this.workers.map((worker) => stopWorker(worker, 10_000))).then(() => undefined);
  }

  #rejectAll(error: ModelsError): void {
    for (const worker of this.workers) {
      for (const batch of worker.pending.values()) batch.reject(error);
      worker.pending.clear();
    }
  }
}
