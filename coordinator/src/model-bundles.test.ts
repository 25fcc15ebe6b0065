import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CoordinatorError } from './errors.ts';
import { isSafeBundlePath, modelScorer, registerModelBundle } from './model-bundles.ts';
import type { ModelUpload } from './model-bundles.ts';
import { BundleFileStore } from './storage/bundle-files.ts';
import { openSqliteStore } from './storage/sqlite-store.ts';
import type { SqliteCoordinatorStore } from './storage/sqlite-store.ts';

const sha = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');
const b64 = (data: string): string => Buffer.from(data).toString('base64');

function bundle(files: Record<string, string>, extra: Record<string, unknown> = {}): ModelUpload {
  const manifest = {
    manifestVersion: 1,
    name: 'toy',
    version: '1.0.0',
    format: 'tfjs',
    files: Object.entries(files).map(([path, data]) => ({ path, sha256: sha(data) })),
    ...extra,
  };
  return { manifest_json: JSON.stringify(manifest, null, 2), files: Object.entries(files).map(([path, data]) => ({ path, data_base64: b64(data) })) };
}

async function codeOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (error) {
    if (error instanceof CoordinatorError) return error.code;
    throw error;
  }
  return 'none';
}

let dir: string;
let store: SqliteCoordinatorStore;
let files: BundleFileStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fedval-coord-models-'));
  store = openSqliteStore(dir);
  files = new BundleFileStore(dir);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('bundle file paths', () => {
  it('accept plain relative paths and refuse traversal, absolute and odd paths', () => {
    for (const ok of ['model.json', 'weights/group1-shard1of1.bin', 'a_b-c.d']) expect(isSafeBundlePath(ok)).toBe(true);
    for (const bad of ['', '/etc/passwd', '../x', 'a/../b', './a', 'a//b', 'a/', 'C:\\x', 'a\\b', '.hidden', 'a/\0b', 'x'.repeat(513)]) {
      expect(isSafeBundlePath(bad)).toBe(false);
    }
  });
});

describe('registerModelBundle', () => {
  it('stores a verified bundle under the SHA-256 of the manifest bytes and rebuilds it for a task', async () => {
    const upload = bundle({ 'model.json': '{"modelTopology":{}}', 'weights/w.bin': 'binary-weights' });
    const { model, created } = await registerModelBundle(upload, store, files, 1000);
    expect(created).toBe(true);
    expect(model.id).toBe(sha(upload.manifest_json));
    expect(model.files).toEqual([
      { path: 'model.json', sha256: sha('{"modelTopology":{}}'), bytes: 20 },
      { path: 'weights/w.bin', sha256: sha('binary-weights'), bytes: 14 },
    ]);
    expect(await store.getModel(model.id)).toEqual(model);
    expect((await registerModelBundle(upload, store, files, 2000)).created).toBe(false);

    const scorer = await modelScorer(model, files);
    if (scorer.kind !== 'model') throw new Error('expected a model scorer');
    expect(scorer.bundleSha256).toBe(model.id);
    expect(scorer.files.map((f) => f.path)).toEqual(['manifest.json', 'model.json', 'weights/w.bin']);
    expect(Buffer.from(scorer.files[0]?.data ?? []).toString()).toBe(upload.manifest_json);
    expect(Buffer.from(scorer.files[2]?.data ?? []).toString()).toBe('binary-weights');
  });

  it('refuses a file whose bytes do not match the manifest, a missing, extra or duplicate file, and bad base64', async () => {
    const good = bundle({ 'model.json': 'm', 'w.bin': 'w' });
    const tampered = { ...good, files: [{ path: 'model.json', data_base64: b64('m') }, { path: 'w.bin', data_base64: b64('W') }] };
    expect(await codeOf(registerModelBundle(tampered, store, files, 0))).toBe('FEDVAL_ERR_COORD_MODEL_FILES');
    expect(await codeOf(registerModelBundle({ ...good, files: good.files.slice(0, 1) }, store, files, 0))).toBe('FEDVAL_ERR_COORD_MODEL_FILES');
    const extra = { ...good, files: [...good.files, { path: 'other.bin', data_base64: b64('o') }] };
    expect(await codeOf(registerModelBundle(extra, store, files, 0))).toBe('FEDVAL_ERR_COORD_MODEL_FILES');
    const duplicate = { ...good, files: [...good.files, good.files[0] as ModelUpload['files'][number]] };
    expect(await codeOf(registerModelBundle(duplicate, store, files, 0))).toBe('FEDVAL_ERR_COORD_MODEL_FILES');
    const badBase64 = { ...good, files: [{ path: 'model.json', data_base64: 'bQ=$' }, good.files[1] as ModelUpload['files'][number]] };
    expect(await codeOf(registerModelBundle(badBase64, store, files, 0))).toBe('FEDVAL_ERR_COORD_MODEL_FILES');
  });

  it('refuses path traversal in the manifest or the upload, and an invalid manifest', async () => {
    expect(await codeOf(registerModelBundle(bundle({ '../escape.bin': 'x' }), store, files, 0))).toBe('FEDVAL_ERR_COORD_UNSAFE_PATH');
    const good = bundle({ 'model.json': 'm' });
    const traversal = { ...good, files: [{ path: '/abs/model.json', data_base64: b64('m') }] };
    expect(await codeOf(registerModelBundle(traversal, store, files, 0))).toBe('FEDVAL_ERR_COORD_UNSAFE_PATH');
    expect(await codeOf(registerModelBundle({ manifest_json: '{not json', files: [] }, store, files, 0))).toBe('FEDVAL_ERR_COORD_INVALID_MANIFEST');
    expect(await codeOf(registerModelBundle(bundle({ 'model.json': 'm' }, { format: 'pickle' }), store, files, 0))).toBe('FEDVAL_ERR_COORD_INVALID_MANIFEST');
  });
});
