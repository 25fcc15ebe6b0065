// save-onnx-bundle.ts — packs an exported ONNX file and its feature description into a (signed) `onnx` model bundle.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST_FILE, sha256Hex } from './bundle-files.ts';
import { ModelsError } from './errors.ts';
import type { ModelManifest } from './manifest.ts';
import { ONNX_MODEL_FILE, parseModelManifest } from './manifest.ts';
import { loadOnnxRunner } from './onnx-runner.ts';
import type { ModelBundleDescription } from './save-bundle.ts';

/** Options of `saveOnnxBundle`. */
export interface SaveOnnxBundleOptions {
  /** Returns the manifest's `signature` member for the unsigned manifest (e.g. @fedval/trust `signManifest`). Default: unsigned. */
  sign?: (unsigned: ModelManifest) => NonNullable<ModelManifest['signature']>;
}

/**
 * Writes `model.onnx` and its `manifest.json` (format `onnx`, the file's SHA-256, and the sponsor's signature when
 * `options.sign` is given) to `dir`. Before writing anything it validates the manifest and loads the graph in ONNX
 * Runtime, so a graph whose inputs or outputs do not match the description is refused with the same coded error a
 * site would get. Returns the manifest as written.
 */
export async function saveOnnxBundle(dir: string, onnx: Uint8Array, description: ModelBundleDescription, options: SaveOnnxBundleOptions = {}): Promise<ModelManifest> {
  let manifest = parseModelManifest({
    manifestVersion: 1,
    ...description,
    format: 'onnx',
    files: [{ path: ONNX_MODEL_FILE, sha256: sha256Hex(onnx) }],
  });
  const runner = await loadOnnxRunner(
    { manifest, manifestBytes: new Uint8Array(0), manifestSha256: '', files: new Map([[ONNX_MODEL_FILE, onnx]]) },
    { batchSize: 1, threads: 1, featureOptions: { missingTokens: [] } },
  );
  runner.dispose();
  if (options.sign) manifest = parseModelManifest({ ...manifest, signature: options.sign(manifest) });
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, ONNX_MODEL_FILE), onnx);
    await writeFile(path.join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  } catch (error) {
    throw new ModelsError('FEDVAL_ERR_MODELS_WRITE_FAILED', (error as NodeJS.ErrnoException).code, { cause: error });
  }
  return manifest;
}
