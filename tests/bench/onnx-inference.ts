// onnx-inference.ts — rows/s of the ONNX example models (logistic regression, gradient-boosted trees, MLP, multinomial) at several batch sizes,
// from raw rows (features encoded, then scored) and from encoded features (the model alone); prints JSON.
// Run: node tests/bench/onnx-inference.ts [--rows N] [--threads T]   (T: ONNX Runtime intra-op threads, 0 = its choice; default 1)
import { buildFeatureMatrix, loadModelBundle, saveOnnxBundle } from '@fedval/models';
import type { ModelBundleDescription } from '@fedval/models';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CHUNK_ROWS, exampleRows, rowsPerSecond } from './example-rows.ts';
import { parse as parseYaml } from 'yaml';

const EXAMPLE = new URL('../../examples/onnx/', import.meta.url);
const MODELS = ['logistic-regression', 'gradient-boosting', 'mlp', 'multiclass'] as const;
const BATCH_SIZES = [32, 1024, 16384, 65536] as const;

const { values } = parseArgs({ options: { rows: { type: 'string', default: '131072' }, threads: { type: 'string', default: '1' } } });
const totalRows = Number(values.rows);
const threads = Number(values.threads);

const { rows, chunks } = exampleRows(totalRows);

const work = mkdtempSync(join(tmpdir(), 'fedval-onnx-bench-'));
const results: Record<string, unknown>[] = [];
try {
  for (const model of MODELS) {
    const dir = join(work, model);
    const description = parseYaml(readFileSync(new URL(`${model}.features.yaml`, EXAMPLE), 'utf8')) as ModelBundleDescription;
    await saveOnnxBundle(dir, new Uint8Array(readFileSync(new URL(`models/${model}.onnx`, EXAMPLE))), description);
    const preprocessing = await rowsPerSecond(async () => {
      for (const chunk of chunks) buildFeatureMatrix(description.inputs, chunk);
    }, rows.length);
    // The model alone: rows already encoded as features (what a columnar data path hands the runner).
    const features = buildFeatureMatrix(description.inputs, rows).values;
    for (const batchSize of BATCH_SIZES) {
      const runner = await loadModelBundle(dir, { batchSize, onnxThreads: threads });
      const rate = await rowsPerSecond(async () => {
        for await (const chunk of runner.predict(chunks)) if (chunk.scores.length === 0) throw new Error('empty chunk');
      }, rows.length);
      const inference = await rowsPerSecond(async () => {
        if ((await runner.predictFeatures(features)).length === 0) throw new Error('no scores');
      }, rows.length);
      results.push({ model, batchSize, rows: rows.length, rowsPerSecond: rate, inferenceRowsPerSecond: inference, preprocessingRowsPerSecond: preprocessing });
      runner.dispose();
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

process.stdout.write(
  `${JSON.stringify({ benchmark: 'onnx-inference', runtime: 'onnxruntime-node (CPU)', node: process.version, threads, chunkRows: CHUNK_ROWS, results }, null, 2)}\n`,
);
