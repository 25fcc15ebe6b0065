import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectModelBackend, wasmBinaryDirectory } from './backend.ts';
import { sha256Hex } from './bundle-files.ts';
import { ModelsError } from './errors.ts';
import { buildFeatureMatrix } from './feature-matrix.ts';
import type { RawRow } from './feature-matrix.ts';
import { loadModelBundle } from './load-bundle.ts';
import type { FeatureSpec, ModelManifest } from './manifest.ts';
import { featureWidth } from './manifest.ts';
import type { ModelRunner, PredictionChunk } from './runner.ts';
import { saveModelBundle } from './save-bundle.ts';

// Real rows: the Rotterdam tumour bank (examples/rotterdam/data, provenance in its PROVENANCE.md). The file has no quoted commas.
function readRotterdam(): Record<string, string>[] {
  const [header, ...lines] = readFileSync(new URL('../../../examples/rotterdam/data/rotterdam.csv', import.meta.url), 'utf8').trim().split('\n');
  const columns = (header as string).split(',').map((c) => c.replaceAll('"', ''));
  return lines.map((line) => {
    const cells = line.split(',').map((c) => c.replaceAll('"', ''));
    expect(cells.length).toBe(columns.length);
    return Object.fromEntries(columns.map((c, i) => [c, cells[i] as string]));
  });
}

/** Mulberry32 (Tommy Ettinger, public domain): a small seeded generator for test weights. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INPUTS: FeatureSpec[] = [
  { kind: 'numeric', column: 'age', standardize: { mean: 55, sd: 12 }, missing: 'exclude' },
  { kind: 'numeric', column: 'nodes', transform: 'log1p', standardize: { mean: 0.8, sd: 1 }, missing: 'exclude' },
  { kind: 'numeric', column: 'pgr', transform: 'sqrt', standardize: { mean: 5, sd: 4 }, missing: { impute: 0 } },
  { kind: 'one_hot', column: 'size', categories: ['<=20', '20-50', '>50'], missing: 'exclude', unknown: 'zeros' },
  { kind: 'one_hot', column: 'grade', categories: ['2', '3'], missing: 'zeros', unknown: 'exclude' },
  { kind: 'numeric', column: 'er', transform: 'log1p', standardize: { mean: 3, sd: 2 }, missing: 'exclude' },
];
const WIDTH = featureWidth(INPUTS);
const random = mulberry32(20240611);
const WEIGHTS = Array.from({ length: WIDTH }, () => 2 * random() - 1);
const BIAS = 0.3;

const isMissing = (cell: string | null | undefined): cell is null | undefined | '' | 'NA' => cell === null || cell === undefined || cell.trim() === '' || cell.trim() === 'NA';

/** The closed-form logistic model computed in float64 from the raw cells, independently of the package. */
function referenceScore(row: RawRow): number {
  const cell = (c: string): string | null | undefined => row[c];
  if (isMissing(cell('age')) || isMissing(cell('nodes')) || isMissing(cell('size')) || isMissing(cell('er'))) return Number.NaN;
  const grade = isMissing(cell('grade')) ? '' : cell('grade');
  if (grade !== '' && grade !== '2' && grade !== '3') return Number.NaN;
  const pgr = isMissing(cell('pgr')) ? 0 : Number(cell('pgr'));
  const x = [
    (Number(cell('age')) - 55) / 12,
    Math.log1p(Number(cell('nodes'))) - 0.8,
    (Math.sqrt(pgr) - 5) / 4,
    cell('size') === '<=20' ? 1 : 0,
    cell('size') === '20-50' ? 1 : 0,
    cell('size') === '>50' ? 1 : 0,
    grade === '2' ? 1 : 0,
    grade === '3' ? 1 : 0,
    (Math.log1p(Number(cell('er'))) - 3) / 2,
  ];
  const z = x.reduce((sum, xi, i) => sum + xi * (WEIGHTS[i] as number), BIAS);
  return 1 / (1 + Math.exp(-z));
}

const DESCRIPTION = {
  name: 'closed-form-logistic',
  version: '1',
  description: 'logistic regression with known weights',
  inputs: INPUTS,
  output: { kind: 'probability', positive: 'event' },
} as const;

/** A converted-graph (GraphModel) form of the same model, written by hand: sigmoid(x·W + b). */
async function writeGraphBundle(dir: string): Promise<void> {
  const dim = (...sizes: number[]): { dim: { size: string }[] } => ({ dim: sizes.map((s) => ({ size: String(s) })) });
  const modelJson = {
    format: 'graph-model',
    generatedBy: 'hand-written test fixture',
    convertedBy: null,
    modelTopology: {
      node: [
        { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dim(-1, WIDTH) } } },
        { name: 'w', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dim(WIDTH, 1) } } } },
        { name: 'b', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dim(1) } } } },
        { name: 'logit', op: 'MatMul', input: ['x', 'w'], attr: { T: { type: 'DT_FLOAT' }, transpose_a: { b: false }, transpose_b: { b: false } } },
        { name: 'z', op: 'AddV2', input: ['logit', 'b'], attr: { T: { type: 'DT_FLOAT' } } },
        { name: 'p', op: 'Sigmoid', input: ['z'], attr: { T: { type: 'DT_FLOAT' } } },
      ],
      library: {},
      versions: { producer: 1 },
    },
    weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'w', shape: [WIDTH, 1], dtype: 'float32' }, { name: 'b', shape: [1], dtype: 'float32' }] }],
  };
  const modelBytes = new TextEncoder().encode(JSON.stringify(modelJson));
  const weightBytes = new Uint8Array(Float32Array.from([...WEIGHTS, BIAS]).buffer);
  const manifest: ModelManifest = {
    manifestVersion: 1,
    ...DESCRIPTION,
    inputs: [...INPUTS],
    format: 'tfjs',
    files: [
      { path: 'model.json', sha256: sha256Hex(modelBytes) },
      { path: 'weights.bin', sha256: sha256Hex(weightBytes) },
    ],
  };
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'model.json'), modelBytes);
  await writeFile(path.join(dir, 'weights.bin'), weightBytes);
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
}

let root: string;
let rows: RawRow[];
let reference: number[];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'fedval-runner-'));
  await selectModelBackend('cpu');
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [WIDTH], activation: 'sigmoid' })] });
  const [kernel, bias] = [tf.tensor2d(WEIGHTS, [WIDTH, 1]), tf.tensor1d([BIAS])];
  model.setWeights([kernel, bias]);
  await saveModelBundle(path.join(root, 'layers'), model, DESCRIPTION);
  tf.dispose([kernel, bias]);
  model.dispose();
  await writeGraphBundle(path.join(root, 'graph'));

  rows = readRotterdam();
  // Damage some rows so that every exclusion and imputation rule is exercised.
  const edits: [number, string, string | null][] = [
    [3, 'age', 'NA'],
    [10, 'nodes', ''],
    [11, 'size', 'huge'],
    [12, 'grade', '1'],
    [13, 'grade', 'NA'],
    [14, 'pgr', null],
    [15, 'er', 'n/a'],
    [16, 'size', ' '],
  ];
  rows = rows.map((r, i) => {
    const edit = edits.filter(([at]) => at === i);
    return edit.length === 0 ? r : { ...r, ...Object.fromEntries(edit.map(([, c, v]) => [c, v])) };
  });
  reference = rows.map(referenceScore);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function chunked<T>(items: readonly T[], sizes: readonly number[]): T[][] {
  const chunks: T[][] = [];
  let at = 0;
  for (let i = 0; at < items.length; i++) {
    const size = sizes[i % sizes.length] as number;
    chunks.push(items.slice(at, at + size));
    at += size;
  }
  return chunks;
}

async function collect(runner: ModelRunner, chunks: readonly RawRow[][]): Promise<PredictionChunk[]> {
  async function* stream(): AsyncGenerator<RawRow[]> {
    for (const chunk of chunks) yield chunk;
  }
  const out: PredictionChunk[] = [];
  for await (const result of runner.predict(stream())) out.push(result);
  return out;
}

function expectMatchesReference(scores: ArrayLike<number>, excluded: readonly (string | null)[], offset = 0): void {
  for (let i = 0; i < scores.length; i++) {
    const expected = reference[offset + i] as number;
    if (Number.isNaN(expected)) {
      expect(scores[i]).toBeNaN();
      expect(excluded[i]).not.toBeNull();
    } else {
      expect(excluded[i]).toBeNull();
      expect(Math.abs((scores[i] as number) - expected)).toBeLessThan(1e-5);
    }
  }
}

describe.each(['wasm', 'cpu'] as const)('ModelRunner on the %s backend', (backend) => {
  it.each(['layers', 'graph'])('scores real rows like the closed-form sigmoid(w·x + b) (%s model)', async (kind) => {
    const runner = await loadModelBundle(path.join(root, kind), { backend });
    try {
      expect(runner.backend.backend).toBe(backend);
      expect(tf.getBackend()).toBe(backend);
      const result = await runner.predictRows(rows);
      expect(result.scores.length).toBe(rows.length);
      expectMatchesReference(result.scores, result.excluded);
      expect(result.excluded.slice(3, 17)).toEqual([
        'missing_features', null, null, null, null, null, null, 'missing_features', null, 'invalid_features', null, null, 'invalid_features', 'missing_features',
      ]);
    } finally {
      runner.dispose();
    }
  });

  it('gathers small and uneven chunks into batches and returns one result per chunk, in order', async () => {
    const runner = await loadModelBundle(path.join(root, 'layers'), { backend, batchSize: 64 });
    try {
      const chunks = chunked(rows, [1, 0, 7, 130, 64, 3, 500]);
      const results = await collect(runner, chunks);
      expect(results.map((r) => r.scores.length)).toEqual(chunks.map((c) => c.length));
      expect(results.map((r) => r.excluded.length)).toEqual(chunks.map((c) => c.length));
      let offset = 0;
      for (const result of results) {
        expectMatchesReference(result.scores, result.excluded, offset);
        offset += result.scores.length;
      }
    } finally {
      runner.dispose();
    }
  });

  it('scores encoded feature rows (predictFeatures) in batches like the closed form', async () => {
    const runner = await loadModelBundle(path.join(root, 'layers'), { backend, batchSize: 100 });
    try {
      const matrix = buildFeatureMatrix(INPUTS, rows);
      const scores = await runner.predictFeatures(matrix.values);
      expect(scores.length).toBe(matrix.rowIndex.length);
      for (let k = 0; k < scores.length; k++) {
        expect(Math.abs((scores[k] as number) - (reference[matrix.rowIndex[k] as number] as number))).toBeLessThan(1e-5);
      }
    } finally {
      runner.dispose();
    }
  });

  it('keeps no tensors alive across batches', async () => {
    const runner = await loadModelBundle(path.join(root, 'layers'), { backend, batchSize: 100 });
    try {
      await runner.predictRows(rows.slice(0, 10));
      const before = tf.memory().numTensors;
      for (let round = 0; round < 3; round++) await collect(runner, chunked(rows, [250]));
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      runner.dispose();
    }
  });
});

describe('ModelRunner lifecycle', () => {
  it('switches back to its backend when something else changed the process-wide backend', async () => {
    const runner = await loadModelBundle(path.join(root, 'layers'), { backend: 'wasm' });
    try {
      await tf.setBackend('cpu');
      const result = await runner.predictRows(rows.slice(0, 50));
      expect(tf.getBackend()).toBe('wasm');
      expectMatchesReference(result.scores, result.excluded);
    } finally {
      runner.dispose();
    }
  });

  it('refuses to predict after dispose', async () => {
    const runner = await loadModelBundle(path.join(root, 'layers'), { backend: 'cpu' });
    runner.dispose();
    const error = await runner.predictRows(rows.slice(0, 1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelsError);
    expect((error as ModelsError).code).toBe('FEDVAL_ERR_MODELS_RUNNER_DISPOSED');
  });
});

describe('selectModelBackend', () => {
  it('initializes the WebAssembly backend from the .wasm files of @tensorflow/tfjs-backend-wasm', async () => {
    const dir = wasmBinaryDirectory();
    expect(dir.endsWith(path.sep)).toBe(true);
    expect(existsSync(path.join(dir, 'tfjs-backend-wasm.wasm'))).toBe(true);
    expect(await selectModelBackend('wasm')).toEqual({ backend: 'wasm', skipped: [] });
    expect(tf.getBackend()).toBe('wasm');
    const product = tf.tidy(() => tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6, 7, 8], [2, 2])).dataSync());
    expect(Array.from(product)).toEqual([19, 22, 43, 50]);
  });

  it('with auto, prefers tfjs-node, and otherwise falls back to wasm and says why', async () => {
    const nodeLoadable = await import('@tensorflow/tfjs-node').then(
      () => true,
      () => false,
    );
    const selection = await selectModelBackend('auto');
    if (nodeLoadable) {
      expect(selection).toEqual({ backend: 'tensorflow', skipped: [] });
    } else {
      expect(selection.backend).toBe('wasm');
      expect(selection.skipped).toHaveLength(1);
      expect(selection.skipped[0]?.backend).toBe('tensorflow');
      expect(selection.skipped[0]?.reason).toMatch(/^@tensorflow\/tfjs-node is not loadable/);
      const forced = await selectModelBackend('tensorflow').catch((e: unknown) => e);
      expect((forced as ModelsError).code).toBe('FEDVAL_ERR_MODELS_BACKEND_UNAVAILABLE');
    }
  });
});

describe('ModelRunner with interleaved predictions', () => {
  it('keeps two concurrent predict streams on one runner apart', async () => {
    const runner = await loadModelBundle(path.join(root, 'layers'), { backend: 'wasm', batchSize: 50 });
    try {
      const first = runner.predict(chunked(rows.slice(0, 600), [7, 33]));
      const second = runner.predict(chunked(rows.slice(600, 1200), [13, 41]));
      const results: [PredictionChunk[], PredictionChunk[]] = [[], []];
      for (;;) {
        const [a, b] = await Promise.all([first.next(), second.next()]);
        if (!a.done) results[0].push(a.value);
        if (!b.done) results[1].push(b.value);
        if (a.done && b.done) break;
      }
      for (const [k, offset] of [
        [0, 0],
        [1, 600],
      ] as const) {
        const scores = results[k].flatMap((r) => Array.from(r.scores));
        const excluded = results[k].flatMap((r) => r.excluded);
        expect(scores).toHaveLength(600);
        expectMatchesReference(scores, excluded, offset);
      }
    } finally {
      runner.dispose();
    }
  });
});
