import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { selectModelBackend } from './backend.ts';
import { ModelsError } from './errors.ts';
import type { ModelsErrorCode } from './errors.ts';
import { loadModelBundle } from './load-bundle.ts';
import type { ModelBundleDescription } from './save-bundle.ts';
import { saveModelBundle } from './save-bundle.ts';

const DESCRIPTION: ModelBundleDescription = {
  name: 'tiny',
  version: '0.0.1',
  description: 'bundle integrity tests',
  inputs: [
    { kind: 'numeric', column: 'x', missing: 'exclude' },
    { kind: 'one_hot', column: 'c', categories: ['a', 'b', 'c'], missing: 'exclude', unknown: 'exclude' },
  ],
  output: { kind: 'probability', positive: 'event' },
};

const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

let root: string;
let dir: string;

async function rejectsWith(promise: Promise<unknown>, code: ModelsErrorCode, text?: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelsError);
  expect((error as ModelsError).code).toBe(code);
  if (text !== undefined) expect((error as ModelsError).message).toContain(text);
}

async function readManifest(): Promise<Record<string, unknown> & { files: { path: string; sha256: string }[] }> {
  return JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
}

async function writeManifest(manifest: unknown): Promise<void> {
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
}

beforeAll(async () => {
  await selectModelBackend('cpu');
});

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'fedval-models-'));
  dir = path.join(root, 'bundle');
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [4], activation: 'sigmoid' })] });
  await saveModelBundle(dir, model, DESCRIPTION);
  model.dispose();
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('loadModelBundle: a valid bundle', () => {
  it('loads, identifies the bundle by the SHA-256 of manifest.json, and lists its files with their hashes', async () => {
    const runner = await loadModelBundle(dir, { backend: 'cpu' });
    try {
      expect(runner.manifestSha256).toBe(sha256(await readFile(path.join(dir, 'manifest.json'))));
      expect(runner.backend).toEqual({ backend: 'cpu', skipped: [] });
      expect(runner.batchSize).toBe(16384);
      for (const file of runner.manifest.files) expect(file.sha256).toBe(sha256(await readFile(path.join(dir, file.path))));
      expect(runner.manifest.files.map((f) => f.path).sort()).toEqual(['model.json', 'weights.bin']);
    } finally {
      runner.dispose();
    }
  });
});

describe('loadModelBundle: integrity', () => {
  it('refuses a weights file whose bytes changed, naming the file', async () => {
    const weights = await readFile(path.join(dir, 'weights.bin'));
    weights[0] = (weights[0] ?? 0) ^ 1;
    await writeFile(path.join(dir, 'weights.bin'), weights);
    await rejectsWith(loadModelBundle(dir), 'FEDVAL_ERR_MODELS_HASH_MISMATCH', 'weights.bin has sha256');
  });

  it('refuses a model.json whose bytes changed, naming the file', async () => {
    const modelJson = await readFile(path.join(dir, 'model.json'), 'utf8');
    await writeFile(path.join(dir, 'model.json'), modelJson.replace('"sigmoid"', '"linear"'));
    await rejectsWith(loadModelBundle(dir), 'FEDVAL_ERR_MODELS_HASH_MISMATCH', 'model.json has sha256');
  });

  it('refuses listed paths that leave the bundle directory, even when the hash matches', async () => {
    const secret = new TextEncoder().encode('outside');
    await writeFile(path.join(root, 'secret.bin'), secret);
    const original = await readManifest();
    for (const unsafe of ['../secret.bin', `${root}/secret.bin`, 'a/../../secret.bin', './weights.bin', 'a//b', '..\\secret.bin', 'C:\\secret.bin']) {
      await writeManifest({ ...original, files: [...original.files, { path: unsafe, sha256: sha256(secret) }] });
      await rejectsWith(loadModelBundle(dir), 'FEDVAL_ERR_MODELS_UNSAFE_PATH', JSON.stringify(unsafe));
    }
  });

  it('refuses a symbolic link inside the bundle that points outside it', async () => {
    const secret = new TextEncoder().encode('outside');
    await writeFile(path.join(root, 'secret.bin'), secret);
    await symlink(path.join(root, 'secret.bin'), path.join(dir, 'extra.bin'));
    const manifest = await readManifest();
    manifest.files.push({ path: 'extra.bin', sha256: sha256(secret) });
    await writeManifest(manifest);
    await rejectsWith(loadModelBundle(dir), 'FEDVAL_ERR_MODELS_UNSAFE_PATH', 'extra.bin resolves outside the bundle');
  });

  it('refuses weight shards that model.json names but the manifest does not list', async () => {
    const weights = await readFile(path.join(dir, 'weights.bin'));
    await writeFile(path.join(dir, 'other.bin'), weights);
    const modelJson = (await readFile(path.join(dir, 'model.json'), 'utf8')).replace('"weights.bin"', '"other.bin"');
    await writeFile(path.join(dir, 'model.json'), modelJson);
    const manifest = await readManifest();
    manifest.files = manifest.files.map((f) => (f.path === 'model.json' ? { path: f.path, sha256: sha256(modelJson) } : f));
    await writeManifest(manifest);
    await rejectsWith(loadModelBundle(dir), 'FEDVAL_ERR_MODELS_UNLISTED_FILE', 'other.bin');
  });

  it('refuses weight shard paths in model.json that leave the bundle', async () => {
    const modelJson = (await readFile(path.join(dir, 'model.json'), 'utf8')).replace('"weights.bin"', '"../weights.bin"');
    await writeFile(path.join(dir, 'model.json'), modelJson);
    const manifest = await readManifest();
    manifest.files = manifest.files.map((f) => (f.path === 'model.json' ? { path: f.path, sha256: sha256(modelJson) } : f));
    await writeManifest(manifest);
    await rejectsWith(loadModelBundle(dir), 'FEDVAL_ERR_MODELS_UNSAFE_PATH', '../weights.bin');
  });

  it('refuses a listed file that does not exist', async () => {
    const manifest = await readManifest();
    manifest.files.push({ path: 'gone.bin', sha256: 'a'.repeat(64) });
    await writeManifest(manifest);
    await rejectsWith(loadModelBundle(dir), 'FEDVAL_ERR_MODELS_FILE_UNREADABLE', 'gone.bin (ENOENT)');
  });
});

describe('loadModelBundle: manifest problems', () => {
  it('reports a missing manifest, a manifest that is not JSON, and a malformed manifest with distinct codes', async () => {
    await rejectsWith(loadModelBundle(path.join(root, 'nowhere')), 'FEDVAL_ERR_MODELS_MANIFEST_UNREADABLE');
    await writeFile(path.join(dir, 'manifest.json'), '{"name": ');
    await rejectsWith(loadModelBundle(dir), 'FEDVAL_ERR_MODELS_MANIFEST_NOT_JSON');
    await writeManifest({ name: 'x', files: [] });
    await rejectsWith(loadModelBundle(dir), 'FEDVAL_ERR_MODELS_INVALID_MANIFEST', 'inputs: ');
  });

  it('refuses a manifest that lists itself', async () => {
    const manifest = await readManifest();
    manifest.files.push({ path: 'manifest.json', sha256: 'a'.repeat(64) });
    await writeManifest(manifest);
    await rejectsWith(loadModelBundle(dir), 'FEDVAL_ERR_MODELS_INVALID_MANIFEST', 'manifest.json cannot list itself');
  });

  it('refuses a TF.js bundle relabelled onnx (it lists no model.onnx), and ONNX-only outputs in a TF.js bundle', async () => {
    const manifest = await readManifest();
    await writeManifest({ ...manifest, format: 'onnx' });
    await rejectsWith(loadModelBundle(dir), 'FEDVAL_ERR_MODELS_INVALID_MANIFEST', 'an onnx bundle must list model.onnx');
    await writeManifest({ ...manifest, output: { kind: 'class_probabilities', classes: ['a', 'b', 'c'] } });
    await rejectsWith(loadModelBundle(dir), 'FEDVAL_ERR_MODELS_INVALID_MANIFEST', 'class_probabilities outputs and output.tensor are for onnx bundles');
  });

  it('refuses a manifest whose features do not match the model input width', async () => {
    const manifest = await readManifest();
    (manifest.inputs as unknown[]).push({ kind: 'numeric', column: 'y', missing: 'exclude' });
    await writeManifest(manifest);
    await rejectsWith(loadModelBundle(dir, { backend: 'cpu' }), 'FEDVAL_ERR_MODELS_SHAPE_MISMATCH', 'model input [?, 4] does not take 5 features');
  });

  it('refuses a model with more than one probability per row', async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [4], activation: 'softmax' })] });
    await saveModelBundle(dir, model, DESCRIPTION);
    model.dispose();
    await rejectsWith(loadModelBundle(dir, { backend: 'cpu' }), 'FEDVAL_ERR_MODELS_SHAPE_MISMATCH', 'model output [?, 2] is not one probability per row');
  });

  it('refuses a model.json that is not a TF.js model', async () => {
    const modelJson = '{"modelTopology": {"class_name": "Nonsense", "config": {}}, "weightsManifest": []}';
    await writeFile(path.join(dir, 'model.json'), modelJson);
    const manifest = await readManifest();
    manifest.files = manifest.files.map((f) => (f.path === 'model.json' ? { path: f.path, sha256: sha256(modelJson) } : f));
    await writeManifest(manifest);
    await rejectsWith(loadModelBundle(dir, { backend: 'cpu' }), 'FEDVAL_ERR_MODELS_INVALID_MODEL');
  });
});

describe('loadModelBundle: limits and options', () => {
  it('checks each file against maxFileBytes before reading it', async () => {
    const size = (await readFile(path.join(dir, 'model.json'))).length;
    await rejectsWith(loadModelBundle(dir, { maxFileBytes: size - 1 }), 'FEDVAL_ERR_MODELS_FILE_TOO_LARGE', `model.json has ${size} bytes, limit ${size - 1}`);
  });

  it('checks the manifest against maxManifestBytes', async () => {
    await rejectsWith(loadModelBundle(dir, { maxManifestBytes: 64 }), 'FEDVAL_ERR_MODELS_FILE_TOO_LARGE', 'manifest.json has');
  });

  it('checks the sum of all files against maxBundleBytes', async () => {
    const total = (await readFile(path.join(dir, 'model.json'))).length + (await readFile(path.join(dir, 'weights.bin'))).length;
    await rejectsWith(loadModelBundle(dir, { maxBundleBytes: total - 1 }), 'FEDVAL_ERR_MODELS_BUNDLE_TOO_LARGE');
    const runner = await loadModelBundle(dir, { maxBundleBytes: total, backend: 'cpu' });
    runner.dispose();
  });

  it('lists every invalid option in one error', async () => {
    const options = { batchSize: 0, backend: 'gpu', maxFileBytes: -1, colour: 'red' } as unknown as Parameters<typeof loadModelBundle>[1];
    const error = await loadModelBundle(dir, options).catch((e: unknown) => e);
    expect((error as ModelsError).code).toBe('FEDVAL_ERR_MODELS_INVALID_OPTIONS');
    for (const name of ['batchSize', 'backend', 'maxFileBytes', '"colour"']) expect((error as ModelsError).message).toContain(name);
  });
});

describe('saveModelBundle', () => {
  it('refuses a model whose input width differs from the described features', async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [3] })] });
    await rejectsWith(saveModelBundle(path.join(root, 'other'), model, DESCRIPTION), 'FEDVAL_ERR_MODELS_SHAPE_MISMATCH', 'does not take 4 features');
    model.dispose();
  });
});
