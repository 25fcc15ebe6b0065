// tfjs-io.ts — TF.js IOHandlers over bundle files held in memory, so no model load touches the file system or tfjs-node.
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { checkBundlePath } from './bundle-files.ts';
import { ModelsError } from './errors.ts';
import { TFJS_MODEL_FILE } from './manifest.ts';

/** The single weights file a saved bundle uses. */
export const TFJS_WEIGHTS_FILE = 'weights.bin';

function parseModelJson(bytes: Uint8Array | undefined): tf.io.ModelJSON {
  if (bytes === undefined) throw new ModelsError('FEDVAL_ERR_MODELS_UNLISTED_FILE', TFJS_MODEL_FILE);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new ModelsError('FEDVAL_ERR_MODELS_INVALID_MODEL', `${TFJS_MODEL_FILE} is not valid JSON`, { cause: error });
  }
  if (typeof json !== 'object' || json === null || typeof (json as { modelTopology?: unknown }).modelTopology !== 'object') {
    throw new ModelsError('FEDVAL_ERR_MODELS_INVALID_MODEL', `${TFJS_MODEL_FILE} has no modelTopology`);
  }
  return json as tf.io.ModelJSON;
}

/** Whether a parsed `model.json` holds a GraphModel (converted TensorFlow graph) rather than a LayersModel. */
export function isGraphModelJson(modelJson: tf.io.ModelJSON): boolean {
  return modelJson.format === 'graph-model' || 'node' in (modelJson.modelTopology as object);
}

/**
 * A load handler for the `model.json` of verified bundle files. Weight shard paths are resolved
 * against `model.json`'s directory and must be files the manifest lists (and so were hash-checked).
 */
export function bundleLoadHandler(files: ReadonlyMap<string, Uint8Array>): { handler: tf.io.IOHandler; modelJson: tf.io.ModelJSON } {
  const modelJson = parseModelJson(files.get(TFJS_MODEL_FILE));
  const handler: tf.io.IOHandler = {
    load: () =>
      tf.io.getModelArtifactsForJSON(modelJson, async (weightsManifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const shards: ArrayBuffer[] = [];
        for (const group of weightsManifest) {
          specs.push(...group.weights);
          for (const shard of group.paths) {
            const listed = checkBundlePath(path.posix.normalize(path.posix.join(path.posix.dirname(TFJS_MODEL_FILE), shard)));
            const bytes = files.get(listed);
            if (bytes === undefined) throw new ModelsError('FEDVAL_ERR_MODELS_UNLISTED_FILE', listed);
            shards.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
          }
        }
        return [specs, tf.io.concatenateArrayBuffers(shards)];
      }),
  };
  return { handler, modelJson };
}

/** Serializes a LayersModel into bundle files: `model.json` and one `weights.bin`. */
export async function serializeLayersModel(model: tf.LayersModel): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: [TFJS_WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
      };
      if (artifacts.trainingConfig !== undefined) modelJson.trainingConfig = artifacts.trainingConfig;
      files.set(TFJS_MODEL_FILE, new TextEncoder().encode(`${JSON.stringify(modelJson)}\n`));
      files.set(TFJS_WEIGHTS_FILE, new Uint8Array(weights));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  return files;
}
