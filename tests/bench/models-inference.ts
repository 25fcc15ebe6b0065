// models-inference.ts — rows/s of the example model bundle at small vs large batches on the wasm and cpu backends (prints JSON).
// Run: node tests/bench/models-inference.ts [--rows N]
import { buildFeatureMatrix, loadModelBundle } from '@fedval/models';
import type { ModelBackend } from '@fedval/models';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CHUNK_ROWS, exampleRows, rowsPerSecond } from './example-rows.ts';

const MODEL_DIR = fileURLToPath(new URL('../../examples/rotterdam/model/', import.meta.url));
const BATCH_SIZES = [32, 16384] as const;
const BACKENDS: readonly ModelBackend[] = ['wasm', 'cpu'];

const { values } = parseArgs({ options: { rows: { type: 'string', default: '131072' } } });
const totalRows = Number(values.rows);

const { rows, chunks } = exampleRows(totalRows);

const results: Record<string, unknown>[] = [];
for (const backend of BACKENDS) {
  for (const batchSize of BATCH_SIZES) {
    const runner = await loadModelBundle(MODEL_DIR, { backend, batchSize });
    const rate = await rowsPerSecond(async () => {
      for await (const chunk of runner.predict(chunks)) if (chunk.scores.length === 0) throw new Error('empty chunk');
    }, rows.length);
    results.push({ backend, batchSize, rows: rows.length, rowsPerSecond: rate });
    runner.dispose();
  }
}
const runner = await loadModelBundle(MODEL_DIR, { backend: 'cpu' });
const preprocessing = await rowsPerSecond(async () => {
  for (const chunk of chunks) buildFeatureMatrix(runner.manifest.inputs, chunk);
}, rows.length);
runner.dispose();

process.stdout.write(
  `${JSON.stringify({ benchmark: 'models-inference', model: runner.manifest.name, node: process.version, chunkRows: CHUNK_ROWS, results, preprocessingRowsPerSecond: preprocessing }, null, 2)}\n`,
);
