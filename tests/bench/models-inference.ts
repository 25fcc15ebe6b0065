// models-inference.ts — rows/s of the example model bundle at small vs large batches on the wasm and cpu backends (prints JSON).
// Run: node tests/bench/models-inference.ts [--rows N]
import { buildFeatureMatrix, loadModelBundle } from '@fedval/models';
import type { ModelBackend, RawRow } from '@fedval/models';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const MODEL_DIR = fileURLToPath(new URL('../../examples/rotterdam/model/', import.meta.url));
const SITE_CSV = new URL('../../examples/rotterdam/data/site-a.csv', import.meta.url);
const BATCH_SIZES = [32, 16384] as const;
const BACKENDS: readonly ModelBackend[] = ['wasm', 'cpu'];

const { values } = parseArgs({ options: { rows: { type: 'string', default: '131072' } } });
const totalRows = Number(values.rows);

// site-a.csv is written by prepare-sites.ts: a header and plain unquoted cells.
const [header, ...lines] = readFileSync(SITE_CSV, 'utf8').trim().split('\n');
const columns = (header as string).split(',');
const siteRows: RawRow[] = lines.map((line) => {
  const cells = line.split(',');
  return Object.fromEntries(columns.map((c, i) => [c, cells[i] ?? null]));
});
const rows: RawRow[] = Array.from({ length: totalRows }, (_, i) => siteRows[i % siteRows.length] as RawRow);
const CHUNK_ROWS = 4096;
const chunks: RawRow[][] = [];
for (let i = 0; i < rows.length; i += CHUNK_ROWS) chunks.push(rows.slice(i, i + CHUNK_ROWS));

/** Best of three timed runs after one warm-up. */
async function rowsPerSecond(run: () => Promise<void>, rowCount: number): Promise<number> {
  await run();
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    await run();
    best = Math.min(best, performance.now() - start);
  }
  return Math.round(rowCount / (best / 1000));
}

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
