// load-bundle.ts — loads a verified model bundle from a directory into a ModelRunner (on this thread or on worker threads).
import type { VerifiedBundle } from './bundle-files.ts';
import { readVerifiedBundle } from './bundle-files.ts';
import { ModelsError } from './errors.ts';
import type { LoadModelBundleOptions } from './options.ts';
import { AUTO_WORKER_THREADS, cappedWorkerThreads, resolveLoadOptions } from './options.ts';
import type { ModelRunner } from './runner.ts';
import { loadOnnxRunner } from './onnx-runner.ts';

/**
 * Loads the bundle in `dir`: validates `manifest.json`, reads every listed file within the size
 * limits and checks its SHA-256, then loads the model from the verified bytes (never from the file
 * system again). A `tfjs` bundle: selects the TF.js backend, loads without tfjs-node, and checks that
 * the model's input width matches the manifest's features and that it has one probability output.
 * An `onnx` bundle: an ONNX Runtime CPU session, checked as `loadOnnxRunner` says. With `workerThreads` ≥ 1 the
 * model runs on that many worker threads (see `ModelWorkerPool`), each loading it from its own moved copy of the verified
 * bytes, and no more than `maxWorkerModelBytes` allows.
 */
export async function loadModelBundle(dir: string, options: Partial<LoadModelBundleOptions> = {}): Promise<ModelRunner> {
  const resolved = resolveLoadOptions(options);
  const bundle = await readVerifiedBundle(dir, resolved);
  const requested = resolved.workerThreads === 'auto' ? (bundle.manifest.format === 'onnx' ? AUTO_WORKER_THREADS : 0) : resolved.workerThreads;
  const modelBytes = [...bundle.files.values()].reduce((n, bytes) => n + bytes.byteLength, 0);
  const workers = cappedWorkerThreads(requested, modelBytes, resolved.maxWorkerModelBytes);
  if (workers > 0) return (await import('./pooled-runner.ts')).loadPooledRunner(bundle, { ...resolved, workerThreads: workers });
  return loadVerifiedBundle(bundle, resolved);
}

/** Loads a verified bundle's model on the calling thread (a worker thread calls this with the bytes it was sent). */
export async function loadVerifiedBundle(bundle: VerifiedBundle, resolved: Readonly<LoadModelBundleOptions>): Promise<ModelRunner> {
  const { manifest } = bundle;
  const featureOptions = { missingTokens: resolved.missingTokens };
  if (manifest.format === 'onnx') return loadOnnxRunner(bundle, { batchSize: resolved.batchSize, threads: resolved.onnxThreads, featureOptions });
  if (manifest.format !== 'tfjs') throw new ModelsError('FEDVAL_ERR_MODELS_UNSUPPORTED_FORMAT', manifest.format);

  return (await import('./tfjs-load.ts')).loadTfjsRunner(bundle, resolved, featureOptions);
}
