// ONNX model bundles end to end, with real processes: `fedval models pack` makes a signed bundle from a scikit-learn
// model exported to ONNX (examples/onnx), `fedval simulate --no-dp` runs it at three sites through a real coordinator
// and real agents, and the result equals `fedval-agent eval-local` on the pooled rows. Bad exports are refused with
// coded errors by pack and by the agent. The signed gradient-boosted-trees bundle's round over the three bundled sites
// runs once, in tests/integration/mixed-sources.test.ts (the same rows, read from PostgreSQL, CSV and Parquet).
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DATA_DIR, REPO_ROOT, runCli, runJson } from '../helpers/run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-onnx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const EXAMPLE = join(REPO_ROOT, 'examples/onnx');
const SITE_FILES = ['site-a.csv', 'site-b.csv', 'site-c.csv'].map((name) => join(DATA_DIR, name));

/** The three site files concatenated under one header: the pooled rows. */
function pooledRows(): string {
  const [first, ...others] = SITE_FILES.map((path) => readFileSync(path, 'utf8').trimEnd().split('\n'));
  const pooled = join(dir, 'pooled.csv');
  writeFileSync(pooled, `${[...first!, ...others.flatMap((lines) => lines.slice(1))].join('\n')}\n`);
  return pooled;
}

/** The published EXAMPLE sponsor key, copied with the mode 0600 a private key file must have. */
function sponsorKey(): string {
  const key = join(dir, 'sponsor.key');
  copyFileSync(join(REPO_ROOT, 'examples/rotterdam/sponsor-example.key'), key);
  chmodSync(key, 0o600);
  return key;
}

interface Packed {
  model_id: string;
  dir: string;
  name: string;
  version: string;
  signer_fingerprint: string | null;
}

async function pack(model: string, out: string, sign?: string): Promise<Packed> {
  return runJson<Packed>('fedval', [
    'models',
    'pack',
    '--onnx',
    join(EXAMPLE, 'models', `${model}.onnx`),
    '--features',
    join(EXAMPLE, `${model}.features.yaml`),
    '--out',
    out,
    ...(sign ? ['--sign', sign] : []),
  ]);
}

describe('ONNX model bundles', () => {
  const pooled = pooledRows();

  it('a signed gradient-boosted-trees bundle: the model id is the manifest\'s digest, the manifest is signed', async () => {
    const bundle = join(dir, 'gbt');
    const packed = await pack('gradient-boosting', bundle, sponsorKey());
    expect(packed.model_id).toBe(createHash('sha256').update(readFileSync(join(bundle, 'manifest.json'))).digest('hex'));
    expect(packed.signer_fingerprint).toMatch(/^[0-9a-f]{64}$/);
    const manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')) as { format: string; signature?: unknown };
    expect(manifest.format).toBe('onnx');
    expect(manifest.signature).toBeDefined();
    // Its round over the three sites, equal to eval-local on the pooled rows (every row with an outcome scored, subgroups
    // meno and age:50,65, ROC AUC above 0.6): mixed-sources.test.ts, on a bundle packed and signed as here.
  }, 60_000);

  it('a multiclass (multinomial) bundle: simulate --no-dp equals eval-local; classes in another order are refused', async () => {
    const bundle = join(dir, 'multiclass');
    const packed = await pack('multiclass', bundle);
    expect(packed.signer_fingerprint).toBeNull();
    const args = ['--label', 'size', '--task', 'multiclass', '--classes', '<=20,20-50,>50', '--model', bundle, '--group', 'meno'];
    // eval-local runs while the simulation starts its processes: the two are independent.
    const [local, federated] = await Promise.all([
      runJson('fedval-agent', ['eval-local', '--data', pooled, ...args]),
      runJson('fedval', ['simulate', ...SITE_FILES.flatMap((path, i) => ['--site', `s${i}=${path}`]), '--no-dp', ...args]),
    ]);
    expect(federated.metrics).toEqual(local.metrics);
    expect(local.metrics.n).toBe(1815 + 290 + 396);

    const reordered = await runCli('fedval-agent', ['eval-local', '--data', pooled, '--label', 'size', '--task', 'multiclass', '--classes', '20-50,<=20,>50', '--model', bundle]);
    expect(reordered.code).not.toBe(0);
    expect(reordered.stderr).toContain('FEDVAL_ERR_AGENT_INVALID_TASK');
  }, 240_000);

  it('pack refuses a ZipMap export and a graph whose inputs do not match the features, writing nothing', async () => {
    const zipmap = await runCli('fedval', ['models', 'pack', '--onnx', join(EXAMPLE, 'models/zipmap.onnx'), '--features', join(EXAMPLE, 'logistic-regression.features.yaml'), '--out', join(dir, 'zipmap')]);
    expect(zipmap.code).not.toBe(0);
    expect(zipmap.stderr).toContain('FEDVAL_ERR_MODELS_ZIPMAP_OUTPUT');
    expect(zipmap.stderr).toContain('without ZipMap');
    const width = await runCli('fedval', ['models', 'pack', '--onnx', join(EXAMPLE, 'models/wrong-width.onnx'), '--features', join(EXAMPLE, 'logistic-regression.features.yaml'), '--out', join(dir, 'width')]);
    expect(width.code).not.toBe(0);
    expect(width.stderr).toContain('FEDVAL_ERR_MODELS_SHAPE_MISMATCH');
    expect(() => readFileSync(join(dir, 'zipmap', 'manifest.json'))).toThrow();
    expect(() => readFileSync(join(dir, 'width', 'manifest.json'))).toThrow();
  }, 120_000);

  it('the agent refuses a bundle whose graph does not match its manifest before reading any data', async () => {
    // A bundle made by hand (as a careless sponsor could): the multiclass graph under the binary features.
    const bundle = join(dir, 'mismatched');
    await pack('logistic-regression', bundle);
    const onnx = readFileSync(join(EXAMPLE, 'models/multiclass.onnx'));
    writeFileSync(join(bundle, 'model.onnx'), onnx);
    const manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')) as { files: { path: string; sha256: string }[] };
    manifest.files = [{ path: 'model.onnx', sha256: createHash('sha256').update(onnx).digest('hex') }];
    writeFileSync(join(bundle, 'manifest.json'), JSON.stringify(manifest));
    const run = await runCli('fedval-agent', ['eval-local', '--data', join(dir, 'no-such-file.csv'), '--label', 'event5y', '--model', bundle]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('FEDVAL_ERR_MODELS_SHAPE_MISMATCH');
  }, 120_000);
});
