// save-bundle.ts — writes a TF.js LayersModel and its manifest (with file hashes) as a model bundle directory.
import type * as tf from '@tensorflow/tfjs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST_FILE, sha256Hex } from './bundle-files.ts';
import { ModelsError } from './errors.ts';
import type { ModelManifest } from './manifest.ts';
import { featureWidth, parseModelManifest } from './manifest.ts';

/** What the author of a bundle states; `manifestVersion`, `format` and `files` are filled in on saving. */
export type ModelBundleDescription = Omit<ModelManifest, 'manifestVersion' | 'format' | 'files' | 'signature'>;

/**
 * Writes `model` to `dir` as `model.json` + `weights.bin`, then `manifest.json` listing both with
 * their SHA-256. The model must take `featureWidth(description.inputs)` inputs. Returns the manifest.
 */
export async function saveModelBundle(dir: string, model: tf.LayersModel, description: ModelBundleDescription): Promise<ModelManifest> {
  const width = featureWidth(description.inputs);
  const inputShape = model.inputs[0]?.shape;
  if (model.inputs.length !== 1 || inputShape?.[inputShape.length - 1] !== width) {
    throw new ModelsError('FEDVAL_ERR_MODELS_SHAPE_MISMATCH', `model input does not take ${width} features`);
  }
  const files = await (await import('./tfjs-io.ts')).serializeLayersModel(model); // TF.js's IO, loaded on use
  const manifest = parseModelManifest({
    manifestVersion: 1,
    ...description,
    format: 'tfjs',
    files: [...files].map(([file, bytes]) => ({ path: file, sha256: sha256Hex(bytes) })),
  });
  try {
    await mkdir(dir, { recursive: true });
    for (const [file, bytes] of files) await writeFile(path.join(dir, file), bytes);
    await writeFile(path.join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  } catch (error) {
    throw new ModelsError('FEDVAL_ERR_MODELS_WRITE_FAILED', (error as NodeJS.ErrnoException).code, { cause: error });
  }
  return manifest;
}
