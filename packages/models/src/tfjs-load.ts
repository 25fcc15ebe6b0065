// tfjs-load.ts — a verified TF.js bundle into a runner (TfjsModelRunner): backend, model from the verified bytes, shape checks. Loaded with TF.js, on demand.
import * as tf from '@tensorflow/tfjs';
import type { VerifiedBundle } from './bundle-files.ts';
import { ModelsError } from './errors.ts';
import type { FeatureMatrixOptions } from './feature-matrix.ts';
import { featureWidth } from './manifest.ts';
import type { LoadModelBundleOptions } from './options.ts';
import type { BackendSelection } from './backend.ts';
import { ensureBackend, selectModelBackend } from './backend.ts';
import type { ModelManifest } from './manifest.ts';
import { BatchedModelRunner } from './runner.ts';
import { runtimeErrorText } from './runtime-text.ts';
import { bundleLoadHandler, isGraphModelJson } from './tfjs-io.ts';

type TfModel = tf.LayersModel | tf.GraphModel;

/** A runner scoring with a TF.js model on the backend it was loaded with. */
export class TfjsModelRunner extends BatchedModelRunner {
  readonly backend: BackendSelection;
  readonly #model: TfModel;

  constructor(init: {
    model: TfModel;
    manifest: ModelManifest;
    manifestSha256: string;
    backend: BackendSelection;
    batchSize: number;
    featureOptions: FeatureMatrixOptions;
  }) {
    super(init);
    this.#model = init.model;
    this.backend = init.backend;
  }

  protected release(): void {
    this.#model.dispose();
  }

  protected async infer(values: Float32Array, n: number, width: number): Promise<Float32Array> {
    await ensureBackend(this.backend.backend);
    let output: tf.Tensor | undefined;
    try {
      output = tf.tidy(() => {
        const x = tf.tensor2d(values, [n, width]);
        // LayersModel.predict would re-split the batch into slices of 32 rows; predictOnBatch does not.
        const y = this.#model instanceof tf.LayersModel ? this.#model.predictOnBatch(x) : this.#model.predict(x);
        const first = Array.isArray(y) ? y[0] : y instanceof tf.Tensor ? y : Object.values(y)[0];
        if (first === undefined) throw new Error('the model returned no output');
        return first.reshape([n]).toFloat();
      });
      return (await output.data()) as Float32Array;
    } catch (error) {
      // No cause: the runtime's own text can carry a patient's value (see runtimeErrorText).
      throw new ModelsError('FEDVAL_ERR_MODELS_INFERENCE_FAILED', runtimeErrorText(error));
    } finally {
      output?.dispose();
    }
  }
}

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

/** Loads a `tfjs` bundle's model: selects the TF.js backend, loads without tfjs-node, checks one input of the features' width and one probability output. */
export async function loadTfjsRunner(bundle: VerifiedBundle, resolved: LoadModelBundleOptions, featureOptions: FeatureMatrixOptions): Promise<TfjsModelRunner> {
  const { manifest } = bundle;
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
