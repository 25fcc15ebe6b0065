// model-worker.ts — the entry of one model worker thread: loads the model from the verified bytes moved to it and scores the feature batches it is sent.
import { parentPort, workerData } from 'node:worker_threads';
import type { VerifiedBundle } from './bundle-files.ts';
import { ModelsError } from './errors.ts';
import { loadVerifiedBundle } from './load-bundle.ts';
import { runtimeErrorText } from './runtime-text.ts';
import type { LoadModelBundleOptions } from './options.ts';
import type { ModelRunner } from './runner.ts';

/** What the pool gives a worker at start (kept by the thread for its life, so the model's files are not in it). */
export interface ModelWorkerInit {
  manifest: VerifiedBundle['manifest'];
  manifestBytes: Uint8Array;
  manifestSha256: string;
  options: Readonly<LoadModelBundleOptions>;
}

/**
 * The verified bundle files packed in one ArrayBuffer moved (transferred, not cloned) to one worker, with each file's
 * path, offset and length. Not a SharedArrayBuffer: ONNX Runtime and TextDecoder refuse views of shared memory, so each
 * worker would copy it out again. The worker keeps no reference once its runtime has loaded the model.
 */
export interface BundleFilesTransfer {
  bytes: ArrayBuffer;
  index: [path: string, offset: number, length: number][];
}

/**
 * A request: load the model (the first, once), score `values` (row-major features, whole rows), or release the model
 * and end the thread.
 */
export type ModelWorkerRequest = { kind: 'load'; files: BundleFilesTransfer } | { kind: 'score'; id: number; values: Float32Array } | { kind: 'close' };

/** A coded error as it crosses the thread boundary (code and detail only: never a stack, never data). */
export interface ModelWorkerError {
  code: string;
  detail: string | undefined;
}

/** A worker's messages: ready (or why it could not load), then one reply per request. */
export type ModelWorkerReply =
  | { kind: 'ready'; backend: ModelRunner['backend'] }
  | { kind: 'load_failed'; error: ModelWorkerError }
  | { kind: 'scores'; id: number; scores: Float32Array }
  | { kind: 'failed'; id: number; error: ModelWorkerError };

function asWorkerError(error: unknown): ModelWorkerError {
  if (error instanceof ModelsError) return { code: error.code, detail: error.detail };
  return { code: 'FEDVAL_ERR_MODELS_INFERENCE_FAILED', detail: runtimeErrorText(error) };
}

const port = parentPort!;
const init = workerData as ModelWorkerInit;
let runner: ModelRunner | undefined;

/** Loads the model from the files it was moved; they are garbage once this returns (the runtime holds its own copy). */
async function load(moved: BundleFilesTransfer): Promise<void> {
  try {
    const files = new Map(moved.index.map(([path, offset, length]) => [path, new Uint8Array(moved.bytes, offset, length)] as const));
    runner = await loadVerifiedBundle(
      { manifest: init.manifest, manifestBytes: init.manifestBytes, manifestSha256: init.manifestSha256, files },
      // The pool's threads are the parallelism: one ONNX Runtime thread each unless onnxThreads says otherwise (two
      // intra-op threads per session cost a third more CPU time per row for the same trees on this 2-core machine).
      { ...init.options, workerThreads: 0, onnxThreads: init.options.onnxThreads || 1 },
    );
    port.postMessage({ kind: 'ready', backend: runner.backend } satisfies ModelWorkerReply);
  } catch (error) {
    port.postMessage({ kind: 'load_failed', error: asWorkerError(error) } satisfies ModelWorkerReply);
    port.close();
  }
}

// Requests are handled one at a time, in order: each is scored before the next is read from the port. `close` releases
// the runtime after the batch in hand and lets the thread end by itself: terminating a thread inside ONNX Runtime's
// native call aborted the whole process (onnxruntime-node 1.30: "terminate called after throwing Napi::Error").
let queue = Promise.resolve();
port.on('message', (request: ModelWorkerRequest) => {
  queue = queue.then(async () => {
    if (request.kind === 'load') return load(request.files);
    if (request.kind === 'close') {
      await runner?.close();
      port.close();
      return;
    }
    try {
      if (runner === undefined) throw new ModelsError('FEDVAL_ERR_MODELS_RUNNER_DISPOSED');
      const scores = await runner.predictFeatures(request.values);
      port.postMessage({ kind: 'scores', id: request.id, scores } satisfies ModelWorkerReply, [scores.buffer as ArrayBuffer]);
    } catch (error) {
      port.postMessage({ kind: 'failed', id: request.id, error: asWorkerError(error) } satisfies ModelWorkerReply);
    }
  });
});
