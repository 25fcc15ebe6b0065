// model-worker.ts — the entry of one model worker thread: loads the model from the shared verified bytes it is sent and scores the feature batches it is sent.
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
 * The verified bundle files in one SharedArrayBuffer, shared by every worker (not copied into each), with each file's
 * path, offset and length. A worker copies a file out only while its runtime loads it, and keeps no reference after.
 */
export interface SharedBundleFiles {
  bytes: SharedArrayBuffer;
  index: [path: string, offset: number, length: number][];
}

/**
 * A request: load the model (the first, once), score `values` (row-major features, whole rows), or release the model
 * and end the thread.
 */
export type ModelWorkerRequest = { kind: 'load'; files: SharedBundleFiles } | { kind: 'score'; id: number; values: Float32Array } | { kind: 'close' };

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

/** Loads the model from the shared files; the copies made for the runtime are garbage once this returns. */
async function load(shared: SharedBundleFiles): Promise<void> {
  try {
    // A private copy of each file: TextDecoder and the runtimes refuse views of shared memory.
    const files = new Map(shared.index.map(([path, offset, length]) => [path, new Uint8Array(shared.bytes, offset, length).slice()] as const));
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
