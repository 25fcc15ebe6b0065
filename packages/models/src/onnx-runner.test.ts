import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { sha256Hex } from './bundle-files.ts';
import { ModelsError } from './errors.ts';
import type { RawRow } from './feature-matrix.ts';
import { buildFeatureMatrix } from './feature-matrix.ts';
import { loadModelBundle } from './load-bundle.ts';
import type { ModelManifest } from './manifest.ts';
import type { ModelBundleDescription } from './save-bundle.ts';
import { saveOnnxBundle } from './save-onnx-bundle.ts';

// Real models fitted with scikit-learn on the bundled Rotterdam development rows and written as ONNX graphs by
// examples/onnx/build-models.py; sklearn-predictions.json holds scikit-learn's own predict_proba on every site row
// (regenerated and compared by packages/models/references/check.sh).
const EXAMPLE = new URL('../../../examples/onnx/', import.meta.url);
const SITES = ['site-a.csv', 'site-b.csv', 'site-c.csv'] as const;
const TOLERANCE = 1e-6;

interface Reference {
  rows: Record<string, number>;
  models: Record<string, Record<string, (number | number[])[]>>;
}
const reference = JSON.parse(readFileSync(new URL('models/sklearn-predictions.json', EXAMPLE), 'utf8')) as Reference;

/** The site files have no quoted cells; `NA` and empty cells stay as text for the feature matrix to read as missing. */
function readSite(file: string): Record<string, string>[] {
  const [header, ...lines] = readFileSync(new URL(`../rotterdam/data/${file}`, EXAMPLE), 'utf8').trim().split('\n');
  const columns = (header as string).split(',');
  return lines.map((line) => Object.fromEntries(line.split(',').map((cell, i) => [columns[i] as string, cell])));
}

function model(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`models/${name}.onnx`, EXAMPLE)));
}

function description(name: string): ModelBundleDescription {
  return parseYaml(readFileSync(new URL(`${name}.features.yaml`, EXAMPLE), 'utf8')) as ModelBundleDescription;
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'fedval-onnx-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let bundles = 0;
async function bundle(onnx: Uint8Array, desc: ModelBundleDescription): Promise<string> {
  const dir = path.join(root, `bundle-${bundles++}`);
  await saveOnnxBundle(dir, onnx, desc);
  return dir;
}

/** Writes a bundle directly (no packing checks), for graphs packing would refuse. */
async function rawBundle(onnx: Uint8Array, desc: ModelBundleDescription): Promise<string> {
  const dir = path.join(root, `raw-${bundles++}`);
  const manifest: ModelManifest = { manifestVersion: 1, ...desc, format: 'onnx', files: [{ path: 'model.onnx', sha256: sha256Hex(onnx) }] };
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'model.onnx'), onnx);
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
  return dir;
}

async function rejectsWith(promise: Promise<unknown>, code: string, fragment?: string): Promise<ModelsError> {
  const error = await promise.then(
    () => expect.unreachable('expected a ModelsError'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelsError);
  expect((error as ModelsError).code).toBe(code);
  if (fragment !== undefined) expect((error as ModelsError).message).toContain(fragment);
  return error as ModelsError;
}

/** Splits rows into uneven chunks so batches span chunk boundaries. */
function* chunked(rows: readonly RawRow[], size: number): Generator<readonly RawRow[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

describe.each(['logistic-regression', 'gradient-boosting', 'mlp'])('ONNX %s bundle', (name) => {
  it("scores every bundled site row as scikit-learn's predict_proba does, within 1e-6", async () => {
    const runner = await loadModelBundle(await bundle(model(name), description(name)), { batchSize: 700 });
    try {
      expect(runner.backend.backend).toBe('onnxruntime');
      expect(runner.outputWidth).toBe(1);
      for (const site of SITES) {
        const rows = readSite(site);
        expect(rows.length).toBe(reference.rows[site]);
        const expected = reference.models[name]![site] as number[];
        const scores: number[] = [];
        for await (const chunk of runner.predict(chunked(rows, 333))) {
          expect(chunk.excluded.every((reason) => reason === null)).toBe(true);
          scores.push(...chunk.scores);
        }
        expect(scores.length).toBe(expected.length);
        const worst = Math.max(...scores.map((s, i) => Math.abs(s - (expected[i] as number))));
        expect(worst).toBeLessThan(TOLERANCE);
      }
    } finally {
      runner.dispose();
    }
  });
});

describe('ONNX multiclass bundle', () => {
  it("gives one probability per class in the manifest's class order, as scikit-learn's predict_proba, within 1e-6", async () => {
    const runner = await loadModelBundle(await bundle(model('multiclass'), description('multiclass')));
    try {
      expect(runner.outputWidth).toBe(3);
      for (const site of SITES) {
        const chunk = await runner.predictRows(readSite(site));
        const expected = (reference.models['multiclass']![site] as number[][]).flat();
        expect(chunk.scores.length).toBe(expected.length);
        const worst = Math.max(...Array.from(chunk.scores, (s, i) => Math.abs(s - (expected[i] as number))));
        expect(worst).toBeLessThan(TOLERANCE);
      }
    } finally {
      runner.dispose();
    }
  });

  it('refuses a graph with two float outputs when the manifest names none, and a name the graph lacks', async () => {
    const { tensor: _named, ...unnamed } = description('multiclass').output as Extract<ModelManifest['output'], { kind: 'class_probabilities' }>;
    await rejectsWith(saveOnnxBundle(path.join(root, 'ambiguous'), model('multiclass'), { ...description('multiclass'), output: unnamed }), 'FEDVAL_ERR_MODELS_OUTPUT_AMBIGUOUS', 'logits, probabilities');
    await rejectsWith(
      loadModelBundle(await rawBundle(model('multiclass'), { ...description('multiclass'), output: { ...unnamed, tensor: 'scores' } })),
      'FEDVAL_ERR_MODELS_OUTPUT_NOT_FOUND',
      'logits, probabilities',
    );
  });

  it('refuses class probabilities whose width is not the number of classes', async () => {
    const fourClasses = { ...description('multiclass'), output: { kind: 'class_probabilities' as const, classes: ['a', 'b', 'c', 'd'], tensor: 'probabilities' } };
    await rejectsWith(loadModelBundle(await rawBundle(model('multiclass'), fourClasses)), 'FEDVAL_ERR_MODELS_SHAPE_MISMATCH', '[batch, 4]');
  });
});

describe('ONNX bundles that do not match their manifest are refused at load, before any data', () => {
  it('a ZipMap output: the error says to export without ZipMap', async () => {
    const error = await rejectsWith(loadModelBundle(await rawBundle(model('zipmap'), description('logistic-regression'))), 'FEDVAL_ERR_MODELS_ZIPMAP_OUTPUT', 'output_probability');
    expect(error.message).toContain('"zipmap": False');
    await rejectsWith(saveOnnxBundle(path.join(root, 'zipmap'), model('zipmap'), description('logistic-regression')), 'FEDVAL_ERR_MODELS_ZIPMAP_OUTPUT');
  });

  it('a graph taking another number of features', async () => {
    await rejectsWith(loadModelBundle(await rawBundle(model('wrong-width'), description('logistic-regression'))), 'FEDVAL_ERR_MODELS_SHAPE_MISMATCH', 'does not take [batch, 10]');
    // Ten binary features, seven multiclass ones: the same graph against the other manifest.
    await rejectsWith(loadModelBundle(await rawBundle(model('logistic-regression'), { ...description('multiclass'), output: description('mlp').output })), 'FEDVAL_ERR_MODELS_SHAPE_MISMATCH', 'does not take [batch, 7]');
  });

  it('a graph with a float64 input, and one with two inputs', async () => {
    await rejectsWith(loadModelBundle(await rawBundle(model('double-input'), description('logistic-regression'))), 'FEDVAL_ERR_MODELS_INPUT_TYPE', 'float64');
    await rejectsWith(loadModelBundle(await rawBundle(model('two-inputs'), description('logistic-regression'))), 'FEDVAL_ERR_MODELS_SHAPE_MISMATCH', '2 inputs (float_input, extra)');
  });

  it('bytes that are not an ONNX graph, and a model.onnx changed after packing', async () => {
    await rejectsWith(loadModelBundle(await rawBundle(new TextEncoder().encode('not a graph'), description('mlp'))), 'FEDVAL_ERR_MODELS_INVALID_MODEL', 'model.onnx');
    const dir = await bundle(model('mlp'), description('mlp'));
    await writeFile(path.join(dir, 'model.onnx'), model('logistic-regression'));
    await rejectsWith(loadModelBundle(dir), 'FEDVAL_ERR_MODELS_HASH_MISMATCH', 'model.onnx');
  });

  it('a graph whose weights are ONNX external data (a path outside the verified bytes) is refused, nothing read', async () => {
    // The fixtures point at /etc/hostname, absolutely and by climbing out of the working directory: a bundle must
    // not make a site read its own files into a model. The graph is loaded from the hash-checked bytes alone.
    for (const fixture of ['external-absolute', 'external-relative']) {
      await rejectsWith(loadModelBundle(await rawBundle(model(fixture), description('logistic-regression'))), 'FEDVAL_ERR_MODELS_INVALID_MODEL', 'External data');
    }
  });

  it('a manifest of format onnx that does not list model.onnx', async () => {
    const dir = await bundle(model('mlp'), description('mlp'));
    const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as ModelManifest;
    await writeFile(path.join(dir, 'graph.onnx'), model('mlp'));
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ ...manifest, files: [{ path: 'graph.onnx', sha256: manifest.files[0]!.sha256 }] }));
    await rejectsWith(loadModelBundle(dir), 'FEDVAL_ERR_MODELS_INVALID_MANIFEST', 'an onnx bundle must list model.onnx');
  });
});

describe('ONNX runner rows', () => {
  it('excludes rows with missing or unreadable features (NaN score) and scores the others exactly as alone', async () => {
    const runner = await loadModelBundle(await bundle(model('gradient-boosting'), description('gradient-boosting')));
    try {
      const rows = readSite('site-b.csv').slice(0, 6);
      const broken = [{ ...rows[0]!, age: 'NA' }, rows[1]!, { ...rows[2]!, size: '>100' }, rows[3]!, { ...rows[4]!, nodes: 'many' }, rows[5]!];
      const chunk = await runner.predictRows(broken);
      expect(chunk.excluded).toEqual(['missing_features', null, 'invalid_features', null, 'invalid_features', null]);
      const expected = (reference.models['gradient-boosting']!['site-b.csv'] as number[]).slice(0, 6);
      for (const i of [1, 3, 5]) expect(Math.abs((chunk.scores[i] as number) - (expected[i] as number))).toBeLessThan(TOLERANCE);
      for (const i of [0, 2, 4]) expect(chunk.scores[i]).toBeNaN();
    } finally {
      runner.dispose();
    }
  });

  it('refuses to score after dispose', async () => {
    const runner = await loadModelBundle(await bundle(model('logistic-regression'), description('logistic-regression')));
    runner.dispose();
    await rejectsWith(runner.predictRows(readSite('site-c.csv')), 'FEDVAL_ERR_MODELS_RUNNER_DISPOSED');
  });

  it('signs the manifest it packs when given a signer, and keeps the signature through validation', async () => {
    const signature = { algorithm: 'ed25519' as const, publicKey: 'AAAA', value: 'BBBB' };
    const dir = path.join(root, 'signed');
    let signed: ModelManifest | undefined;
    const manifest = await saveOnnxBundle(dir, model('mlp'), description('mlp'), {
      sign: (unsigned) => {
        signed = unsigned;
        return signature;
      },
    });
    expect(signed?.signature).toBeUndefined();
    expect(manifest.signature).toEqual(signature);
    expect(JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'))).toEqual(manifest);
    expect(manifest.files).toEqual([{ path: 'model.onnx', sha256: sha256Hex(model('mlp')) }]);
  });
});

describe('ONNX runner on encoded features', () => {
  it('scores a feature matrix in batches as it scores the rows, and refuses values that are not whole rows', async () => {
    const runner = await loadModelBundle(await bundle(model('multiclass'), description('multiclass')), { batchSize: 100 });
    try {
      const rows = readSite('site-c.csv');
      const features = buildFeatureMatrix(runner.manifest.inputs, rows).values;
      const scores = await runner.predictFeatures(features);
      const expected = (reference.models['multiclass']!['site-c.csv'] as number[][]).flat();
      expect(scores.length).toBe(expected.length);
      expect(Math.max(...Array.from(scores, (s, i) => Math.abs(s - (expected[i] as number))))).toBeLessThan(TOLERANCE);
      await rejectsWith(runner.predictFeatures(features.subarray(0, 8)), 'FEDVAL_ERR_MODELS_SHAPE_MISMATCH', 'not whole rows of 7');
    } finally {
      runner.dispose();
    }
  });
});
