// model-worker.ts — the entry of one model worker thread: loads the model from the verified bytes it is given and scores the feature batches it is sent.
import { parentPort, workerData } from 'node:worker_threads';
import type { VerifiedBundle } from './bundle-files.ts';
import { ModelsError } from './errors.ts';
import { loadVerifiedBundle } from './load-bundle.ts';
import { runtimeErrorText } from './runtime-text.ts';
import type { LoadModelBundleOptions } from './options.ts';
import type { ModelRunner } from './runner.ts';

/** What the pool gives a worker at start: the verified bundle (bytes already checked by the pool's thread) and the options. */
export interface ModelWorkerInit {
  manifest: VerifiedBundle['manifest'];
  manifestBytes: Uint8Array;
  manifestSha256: string;
  files: [string, Uint8Array][];
  options: Readonly<LoadModelBundleOptions>;
}

/** A request: score `values` (row-major features, whole rows), or release the model and end the thread. */
export type ModelWorkerRequest = { kind: 'score'; id: number; values: Float32Array } | { kind: 'close' };

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
let runner: ModelRunner;
try {
  runner = await loadVerifiedBundle(
    { manifest: init.manifest, manifestBytes: init.manifestBytes, manifestSha256: init.manifestSha256, files: new Map(init.files) },
    // The pool's threads are the parallelism: one ONNX Runtime thread each unless onnxThreads says otherwise (two
    // intra-op threads per session cost a third more CPU time per row for the same trees on this 2-core machine).
    { ...init.options, workerThreads: 0, onnxThreads: init.options.onnxThreads || 1 },
  );
  port.postMessage({ kind: 'ready', backend: runner.backend } satisfies ModelWorkerReply);
} catch (error) {
  port.postMessage({ kind: 'load_failed', error: asWorkerError(error) } satisfies ModelWorkerReply);
  port.close();
}
// Requests are handled one at a time, in order: each is scored before the next is read from the port. `close` releases
// the runtime after the batch in hand and lets the thread end by itself: terminating a thread inside ONNX Runtime's
// native call aborted the whole process (onnxruntime-node 1.30: "terminate called after throwing Napi::Error").
let queue = Promise.resolve();
port.on('message', (request: ModelWorkerRequest) => {
  queue = queue.then(async () => {
    if (request.kind === 'close') {
      await runner.close();
      port.close();
      return;
    }
    try {
      const scores = await runner.predictFeatures(request.values);
      port.postMessage({ kind: 'scores', id: request.id, scores } satisfies ModelWorkerReply, [scores.buffer as ArrayBuffer]);
    } catch (error) {
      port.postMessage({ kind: 'failed', id: request.id, error: asWorkerError(error) } satisfies ModelWorkerReply);
    }
  });
});
