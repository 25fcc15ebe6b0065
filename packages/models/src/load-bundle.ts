// load-bundle.ts — loads a verified model bundle from a directory into a ModelRunner.
import { readVerifiedBundle } from './bundle-files.ts';
import { ModelsError } from './errors.ts';
import type { LoadModelBundleOptions } from './options.ts';
import { resolveLoadOptions } from './options.ts';
import type { ModelRunner } from './runner.ts';
import { loadOnnxRunner } from './onnx-runner.ts';

/**
 * Loads the bundle in `dir`: validates `manifest.json`, reads every listed file within the size
 * limits and checks its SHA-256, then loads the model from the verified bytes (never from the file
 * system again). A `tfjs` bundle: selects the TF.js backend, loads without tfjs-node, and checks that
 * the model's input width matches the manifest's features and that it has one probability output.
 * An `onnx` bundle: an ONNX Runtime CPU session, checked as `loadOnnxRunner` says.
 */
export async function loadModelBundle(dir: string, options: Partial<LoadModelBundleOptions> = {}): Promise<ModelRunner> {
  const resolved = resolveLoadOptions(options);
  const bundle = await readVerifiedBundle(dir, resolved);
  const { manifest } = bundle;
  const featureOptions = { missingTokens: resolved.missingTokens };
  if (manifest.format === 'onnx') return loadOnnxRunner(bundle, { batchSize: resolved.batchSize, threads: resolved.onnxThreads, featureOptions });
  if (manifest.format !== 'tfjs') throw new ModelsError('FEDVAL_ERR_MODELS_UNSUPPORTED_FORMAT', manifest.format);

  return (await import('./tfjs-load.ts')).loadTfjsRunner(bundle, resolved, featureOptions);
}
