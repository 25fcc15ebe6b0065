// load-bundle.ts — loads a verified model bundle from a directory into a ModelRunner.
import * as tf from '@tensorflow/tfjs';
import { selectModelBackend } from './backend.ts';
import { readVerifiedBundle } from './bundle-files.ts';
import { ModelsError } from './errors.ts';
import { featureWidth } from './manifest.ts';
import type { LoadModelBundleOptions } from './options.ts';
import { resolveLoadOptions } from './options.ts';
import type { ModelRunner } from './runner.ts';
import { TfjsModelRunner } from './runner.ts';
import { loadOnnxRunner } from './onnx-runner.ts';
import { bundleLoadHandler, isGraphModelJson } from './tfjs-io.ts';

type Shape = readonly (number | null | undefined)[] | undefined;

function describe(shape: Shape): string {
  return shape === undefined ? 'unknown' : `[${shape.map((d) => (d === null || d === undefined || d < 0 ? '?' : d)).join(', ')}]`;
}

/** Whether a batch-first model tensor shape can hold `[batch, width]` (unknown dimensions accepted). */
function fits(shape: Shape, width: number): boolean {
  if (shape === undefined) return true;
  const last = shape[shape.length - 1];
  const known = (d: number | null | undefined): d is number => typeof d === 'number' && d >= 0;
  if (shape.length === 1) return width === 1 || !known(shape[0]);
  return shape.length === 2 && (!known(last) || last === width);
}

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

  const backend = await selectModelBackend(resolved.backend);
  const { handler, modelJson } = bundleLoadHandler(bundle.files);
  let model: tf.LayersModel | tf.GraphModel;
  try {
    model = isGraphModelJson(modelJson) ? await tf.loadGraphModel(handler) : await tf.loadLayersModel(handler);
  } catch (error) {
    if (error instanceof ModelsError) throw error;
    throw new ModelsError('FEDVAL_ERR_MODELS_INVALID_MODEL', error instanceof Error ? error.message.split('\n', 1)[0] : undefined, { cause: error });
  }

  const width = featureWidth(manifest.inputs);
  const inputs = model.inputs;
  const outputs = model.outputs;
  const problems: string[] = [];
  if (inputs.length !== 1) problems.push(`model has ${inputs.length} inputs, expected 1`);
  else if (!fits(inputs[0]?.shape, width)) problems.push(`model input ${describe(inputs[0]?.shape)} does not take ${width} features`);
  if (outputs.length !== 1) problems.push(`model has ${outputs.length} outputs, expected 1`);
  else if (!fits(outputs[0]?.shape, 1)) problems.push(`model output ${describe(outputs[0]?.shape)} is not one probability per row`);
  if (problems.length > 0) {
    model.dispose();
    throw new ModelsError('FEDVAL_ERR_MODELS_SHAPE_MISMATCH', problems.join('; '));
  }

  return new TfjsModelRunner({
    model,
    manifest,
    manifestSha256: bundle.manifestSha256,
    backend,
    batchSize: resolved.batchSize,
    featureOptions,
  });
}
