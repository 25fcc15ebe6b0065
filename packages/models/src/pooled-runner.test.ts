import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { sha256Hex } from './bundle-files.ts';
import { ModelsError } from './errors.ts';
import { buildFeatureMatrix } from './feature-matrix.ts';
import type { RawRow } from './feature-matrix.ts';
import { loadModelBundle } from './load-bundle.ts';
import type { ModelManifest } from './manifest.ts';
import type { PooledModelRunner } from './pooled-runner.ts';
import type { ModelBundleDescription } from './save-bundle.ts';
import { saveOnnxBundle } from './save-onnx-bundle.ts';

// The example gradient-boosted trees (examples/onnx) on the bundled Rotterdam rows: scored on worker threads, the
// scores are the calling thread's, bit for bit; errors keep their codes; a crash fails what was pending; close ends the threads.
const EXAMPLE = new URL('../../../examples/onnx/', import.meta.url);
const TFJS_BUNDLE = new URL('../../../examples/rotterdam/model', import.meta.url).pathname;
const onnx = new Uint8Array(readFileSync(new URL('models/gradient-boosting.onnx', EXAMPLE)));
const description = parseYaml(readFileSync(new URL('gradient-boosting.features.yaml', EXAMPLE), 'utf8')) as ModelBundleDescription;

function siteRows(): RawRow[] {
  const [header, ...lines] = readFileSync(new URL('../rotterdam/data/site-a.csv', EXAMPLE), 'utf8').trim().split('\n');
  const columns = (header as string).split(',');
  return lines.map((line) => Object.fromEntries(line.split(',').map((cell, i) => [columns[i] as string, cell])));
}

let root: string;
let bundle: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'fedval-pooled-'));
  bundle = path.join(root, 'gbt');
  await saveOnnxBundle(bundle, onnx, description);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<ModelsError> {
  const error = await promise.then(
    () => expect.unreachable('expected a ModelsError'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelsError);
  return error as ModelsError;
}

describe('a model runner on worker threads', () => {
  it('scores exactly as the calling thread does, with several matrices pending at once', async () => {
    const rows = siteRows();
    rows[450] = { ...rows[450], age: '' }; // a missing feature: the row is excluded, the others keep their places
    rows[600] = { ...rows[600], size: 'huge' }; // an unknown category
    const inline = await loadModelBundle(bundle, { batchSize: 97 });
    const pooled = (await loadModelBundle(bundle, { batchSize: 97, workerThreads: 2 })) as PooledModelRunner;
    try {
      expect(pooled.backend.backend).toBe('onnxruntime');
      expect(pooled.concurrency).toBe(3);
      const chunks = [rows.slice(0, 400), rows.slice(400, 401), rows.slice(401)];
      const matrices = chunks.map((chunk) => buildFeatureMatrix(inline.manifest.inputs, chunk, { missingTokens: ['', 'NA'] }));
      const expected = [];
      for (const [i, matrix] of matrices.entries()) expected.push(await inline.predictMatrix(matrix, chunks[i]!.length));
      // All sent before any is awaited; each call copies its rows, so the matrices are overwritten at once.
      const pending = matrices.map((matrix, i) => pooled.predictMatrix(matrix, chunks[i]!.length));
      for (const matrix of matrices) matrix.values.fill(-1);
      const got = await Promise.all(pending);
      for (const [i, chunk] of got.entries()) {
        expect(chunk.scores).toEqual(expected[i]!.scores);
        expect(chunk.excluded).toEqual(expected[i]!.excluded);
      }
      expect([got[2]!.excluded[450 - 401], got[2]!.excluded[600 - 401]]).toEqual(['missing_features', 'invalid_features']);
    } finally {
      inline.dispose();
      await pooled.close();
    }
  });

  it("gives a worker's errors their codes and messages, as on the calling thread", async () => {
    const inline = await loadModelBundle(bundle);
    const pooled = (await loadModelBundle(bundle, { workerThreads: 1 })) as PooledModelRunner;
    try {
      const ragged = new Float32Array(15); // 1.5 rows of 10 features
      const here = await rejection(inline.predictFeatures(ragged));
      const there = await rejection(pooled.pool.infer(ragged.slice()));
      expect(there.code).toBe('FEDVAL_ERR_MODELS_SHAPE_MISMATCH');
      expect(there.message).toBe(here.message);
    } finally {
      inline.dispose();
      await pooled.close();
    }
    // A model that does not fit its manifest is refused at load, by the workers, with the load's own code.
    const narrow: ModelManifest = { manifestVersion: 1, ...description, inputs: description.inputs.slice(1), format: 'onnx', files: [{ path: 'model.onnx', sha256: sha256Hex(onnx) }] };
    const dir = path.join(root, 'narrow');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'model.onnx'), onnx);
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(narrow));
    const inlineLoad = await rejection(loadModelBundle(dir));
    const pooledLoad = await rejection(loadModelBundle(dir, { workerThreads: 2 }));
    expect(pooledLoad.code).toBe('FEDVAL_ERR_MODELS_SHAPE_MISMATCH');
    expect(pooledLoad.message).toBe(inlineLoad.message);
  });

  it('fails every pending batch with FEDVAL_ERR_MODELS_WORKER_FAILED when a worker dies, and stops the others', async () => {
    // The TF.js example bundle: its WebAssembly can be stopped mid-batch (ONNX Runtime's native call cannot: the pool
    // asks a worker to end after its batch instead, which the other cases exercise).
    const pooled = (await loadModelBundle(TFJS_BUNDLE, { batchSize: 64, workerThreads: 2 })) as PooledModelRunner;
    const threads = pooled.pool.workers.map((worker) => worker.thread);
    const exited = threads.map((thread) => once(thread, 'exit'));
    const rows = siteRows();
    const matrix = buildFeatureMatrix(pooled.manifest.inputs, rows, { missingTokens: ['', 'NA'] });
    const scoring = pooled.predictMatrix(matrix, rows.length); // batches of 64 rows on both workers
    await threads[0]!.terminate(); // as if the thread had crashed
    const error = await rejection(scoring);
    expect(error.code).toBe('FEDVAL_ERR_MODELS_WORKER_FAILED');
    await Promise.all(exited); // the other worker was stopped too
    expect((await rejection(pooled.predictMatrix(matrix, rows.length))).code).toBe('FEDVAL_ERR_MODELS_WORKER_FAILED');
    await pooled.close();
  });

  it('ends its threads on close, and refuses work afterwards', async () => {
    const pooled = (await loadModelBundle(bundle, { workerThreads: 2 })) as PooledModelRunner;
    const exited = pooled.pool.workers.map((worker) => once(worker.thread, 'exit'));
    const rows = siteRows().slice(0, 50);
    const matrix = buildFeatureMatrix(pooled.manifest.inputs, rows, { missingTokens: ['', 'NA'] });
    const pending = rejection(pooled.predictMatrix(matrix, rows.length));
    await pooled.close();
    await Promise.all(exited);
    expect((await pending).code).toBe('FEDVAL_ERR_MODELS_RUNNER_DISPOSED');
    expect((await rejection(pooled.predictMatrix(matrix, rows.length))).code).toBe('FEDVAL_ERR_MODELS_RUNNER_DISPOSED');
  });

  it("runs ONNX bundles on the cores and TF.js on the calling thread with 'auto', and refuses a bad count", async () => {
    const onnxAuto = await loadModelBundle(bundle, { workerThreads: 'auto' });
    const tfjsAuto = await loadModelBundle(TFJS_BUNDLE, { workerThreads: 'auto' });
    try {
      expect(onnxAuto.concurrency).toBe(Math.min(4, availableParallelism()) + 1);
      expect(tfjsAuto.concurrency).toBe(1);
    } finally {
      await onnxAuto.close();
      await tfjsAuto.close();
    }
    for (const workerThreads of [-1, 65, 1.5]) {
      expect((await rejection(loadModelBundle(bundle, { workerThreads }))).code).toBe('FEDVAL_ERR_MODELS_INVALID_OPTIONS');
    }
  });

  it('starts no more workers than maxWorkerModelBytes allows (each holds a copy of the model), and scores the same', async () => {
    const rows = siteRows().slice(0, 200);
    const modelBytes = onnx.byteLength; // the bundle's only file besides the manifest
    const inline = await loadModelBundle(bundle, { batchSize: 64 });
    const two = await loadModelBundle(bundle, { batchSize: 64, workerThreads: 3, maxWorkerModelBytes: 2 * modelBytes + 1 });
    const none = await loadModelBundle(bundle, { batchSize: 64, workerThreads: 3, maxWorkerModelBytes: modelBytes - 1 });
    try {
      expect(two.concurrency).toBe(3); // two workers, and one batch being read
      expect(none.concurrency).toBe(1); // the calling thread: not even one worker's copy fits
      const matrix = () => buildFeatureMatrix(inline.manifest.inputs, rows, { missingTokens: ['', 'NA'] });
      const expected = (await inline.predictMatrix(matrix(), rows.length)).scores;
      expect((await two.predictMatrix(matrix(), rows.length)).scores).toEqual(expected);
      expect((await none.predictMatrix(matrix(), rows.length)).scores).toEqual(expected);
    } finally {
      await Promise.all([inline.close(), two.close(), none.close()]);
    }
    for (const maxWorkerModelBytes of [0, -1, 1.5]) {
      expect((await rejection(loadModelBundle(bundle, { workerThreads: 2, maxWorkerModelBytes }))).code).toBe('FEDVAL_ERR_MODELS_INVALID_OPTIONS');
    }
  });
});
