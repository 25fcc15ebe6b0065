import { describe, expect, it } from 'vitest';
import { ModelsError } from './errors.ts';
import { checkManifestColumns, featureWidth, parseModelManifest, requiredColumns } from './manifest.ts';

const HASH = 'a'.repeat(64);

function validManifest(): Record<string, unknown> {
  return {
    manifestVersion: 1,
    name: 'demo',
    version: '1.0.0',
    description: 'a test model',
    format: 'tfjs',
    inputs: [
      { kind: 'numeric', column: 'age', standardize: { mean: 50, sd: 10 }, missing: 'exclude' },
      { kind: 'numeric', column: 'nodes', transform: 'log1p', missing: { impute: 0 } },
      { kind: 'one_hot', column: 'size', categories: ['<=20', '20-50', '>50'], missing: { impute: '<=20' }, unknown: 'zeros' },
      { kind: 'numeric', column: 'age', transform: 'sqrt', missing: 'exclude' },
    ],
    output: { kind: 'probability', positive: 'recurrence within 5 years' },
    files: [
      { path: 'model.json', sha256: HASH },
      { path: 'shards/weights.bin', sha256: 'b'.repeat(64) },
    ],
  };
}

function problemsOf(value: unknown): string {
  try {
    parseModelManifest(value);
  } catch (error) {
    expect(error).toBeInstanceOf(ModelsError);
    expect((error as ModelsError).code).toBe('FEDVAL_ERR_MODELS_INVALID_MANIFEST');
    return (error as ModelsError).message;
  }
  throw new Error('manifest was accepted');
}

describe('parseModelManifest', () => {
  it('accepts a complete manifest and returns it unchanged', () => {
    const manifest = validManifest();
    expect(parseModelManifest(manifest)).toEqual(manifest);
  });

  it('accepts the reserved Ed25519 signature field', () => {
    const signed = { ...validManifest(), signature: { algorithm: 'ed25519', publicKey: 'AAAA', value: 'BBBB==' } };
    expect(parseModelManifest(signed).signature?.algorithm).toBe('ed25519');
    expect(problemsOf({ ...validManifest(), signature: { algorithm: 'rsa', publicKey: 'AAAA', value: '!!' } })).toMatch(/signature\.algorithm.*signature\.value: expected base64/);
  });

  it('lists every problem of a malformed manifest in one error', () => {
    const bad = validManifest();
    bad.name = '';
    bad.format = 'pickle';
    bad.extra = true;
    bad.output = { kind: 'logit', positive: 'x' };
    bad.inputs = [
      { kind: 'numeric', column: 'age', standardize: { mean: 50, sd: 0 }, missing: 'exclude' },
      { kind: 'numeric', column: 'pgr', missing: { imputed: 0 } },
      { kind: 'one_hot', column: 'size', categories: ['a', 'a'], missing: 'exclude', unknown: 'zeros' },
      { kind: 'one_hot', column: 'size', categories: ['a', 'b'], missing: { impute: 'c' }, unknown: 'error' },
      { kind: 'spline', column: 'age' },
    ];
    bad.files = [{ path: 'model.json', sha256: 'ABC' }];
    const message = problemsOf(bad);
    for (const expected of [
      '(root): Unrecognized key: "extra"',
      ': name: Too small',
      'format: Invalid option',
      "output.kind: Invalid discriminator value. Expected 'probability' | 'class_probabilities'",
      'inputs[0].standardize.sd: ',
      'inputs[1].missing: expected "exclude" or { "impute": <number> }',
      'inputs[2].categories: categories must be unique',
      'inputs[3].unknown: Invalid option',
      'inputs[4].kind: Invalid discriminator value',
      'files[0].sha256: expected a lowercase hex SHA-256 digest',
    ]) {
      expect(message).toContain(expected);
    }
  });

  it('rejects an imputed category that is not a category, duplicate files and a tfjs bundle without model.json', () => {
    const a = validManifest();
    (a.inputs as Record<string, unknown>[])[2]!.missing = { impute: 'huge' };
    expect(problemsOf(a)).toContain('inputs[2].missing.impute: imputed category is not one of the categories');
    const b = validManifest();
    b.files = [
      { path: 'weights.bin', sha256: HASH },
      { path: 'weights.bin', sha256: HASH },
    ];
    expect(problemsOf(b)).toContain('files: file paths must be unique');
    expect(problemsOf(b)).toContain('files: a tfjs bundle must list model.json');
  });

  it('rejects what is not an object at all', () => {
    expect(problemsOf(null)).toContain('(root): ');
    expect(problemsOf([1])).toContain('(root): ');
  });
});

describe('columns of a manifest', () => {
  const manifest = parseModelManifest(validManifest());

  it('counts one input per numeric feature and one per one-hot category', () => {
    expect(featureWidth(manifest.inputs)).toBe(1 + 1 + 3 + 1);
  });

  it('lists each needed column once, in manifest order', () => {
    expect(requiredColumns(manifest)).toEqual(['age', 'nodes', 'size']);
  });

  it('accepts data that has every needed column, in any order, with extra columns', () => {
    expect(() => checkManifestColumns(manifest, ['event5y', 'size', 'nodes', 'pid', 'age'])).not.toThrow();
  });

  it('names every missing column in one coded error', () => {
    let caught: unknown;
    try {
      checkManifestColumns(manifest, ['age', 'Size']);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ModelsError);
    expect((caught as ModelsError).code).toBe('FEDVAL_ERR_MODELS_MISSING_COLUMNS');
    expect((caught as ModelsError).message).toBe('data lacks columns the model needs: "nodes", "size"');
  });
});
