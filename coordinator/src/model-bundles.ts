// model-bundles.ts — model bundle registration (manifest checks, per-file SHA-256) and the scorer a task carries.
import { createHash } from 'node:crypto';
import { MAX_BUNDLE_FILES } from '@fedval/protocol';
import type { ModelUploadRequest, Scorer } from '@fedval/protocol';
import { plainText } from '@fedval/schema';
import { z } from 'zod';
import { CoordinatorError } from './errors.ts';
import type { BundleFileStore } from './storage/bundle-files.ts';
import type { CoordinatorStore, ModelRecord } from './storage/store.ts';

/** File name of the manifest inside a bundle; its SHA-256 is the model id. */
export const MANIFEST_FILE = 'manifest.json';
// Most files a bundle may list besides the manifest (the task carries at most 256 files): the REST contract's limit.
export { MAX_BUNDLE_FILES };

const SAFE_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The manifest fields the coordinator relies on. The full schema belongs to @fedval/models and
 * is enforced by each site agent; other fields pass through untouched.
 */
const manifestSchema = z.looseObject({
  name: plainText(z.string().min(1).max(256)),
  version: plainText(z.string().min(1).max(256)),
  format: z.enum(['tfjs', 'onnx']),
  files: z
    .array(z.looseObject({ path: z.string().min(1).max(512), sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected a lowercase hex SHA-256') }))
    .min(1)
    .max(MAX_BUNDLE_FILES),
});

/** A model bundle upload: the body of `POST /api/models`. */
export type ModelUpload = ModelUploadRequest;

/** A relative path of plain segments: no absolute paths, no `.` or `..`, no backslashes. */
export function isSafeBundlePath(path: string): boolean {
  return path.length > 0 && path.length <= 512 && path.split('/').every((segment) => SAFE_SEGMENT.test(segment));
}

function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Verifies an upload against its manifest and stores it; returns the model and whether it was new. */
export async function registerModelBundle(
  upload: ModelUpload,
  store: CoordinatorStore,
  files: BundleFileStore,
  now: number,
): Promise<{ model: ModelRecord; created: boolean }> {
  const manifestBytes = Buffer.from(upload.manifest_json, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(upload.manifest_json);
  } catch {
    throw new CoordinatorError('FEDVAL_ERR_COORD_INVALID_MANIFEST', 'manifest_json is not valid JSON');
  }
  const result = manifestSchema.safeParse(parsed);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new CoordinatorError('FEDVAL_ERR_COORD_INVALID_MANIFEST', problems.join('; '));
  }
  const manifest = result.data;
  const listed = new Map<string, string>();
  for (const file of manifest.files) {
    if (!isSafeBundlePath(file.path) || file.path === MANIFEST_FILE) throw new CoordinatorError('FEDVAL_ERR_COORD_UNSAFE_PATH', JSON.stringify(file.path));
    if (listed.has(file.path)) throw new CoordinatorError('FEDVAL_ERR_COORD_INVALID_MANIFEST', `files: ${JSON.stringify(file.path)} is listed twice`);
    listed.set(file.path, file.sha256);
  }

  const received = new Map<string, Uint8Array>();
  for (const file of upload.files) {
    if (!isSafeBundlePath(file.path)) throw new CoordinatorError('FEDVAL_ERR_COORD_UNSAFE_PATH', JSON.stringify(file.path));
    if (received.has(file.path)) throw new CoordinatorError('FEDVAL_ERR_COORD_MODEL_FILES', `${JSON.stringify(file.path)} is uploaded twice`);
    if (file.data_base64.length % 4 !== 0 || !BASE64.test(file.data_base64)) {
      throw new CoordinatorError('FEDVAL_ERR_COORD_MODEL_FILES', `${JSON.stringify(file.path)} is not valid base64`);
    }
    const data = Buffer.from(file.data_base64, 'base64');
    if (file.path === MANIFEST_FILE) {
      // Tolerated when it is the very manifest sent as manifest_json.
      if (!data.equals(manifestBytes)) throw new CoordinatorError('FEDVAL_ERR_COORD_MODEL_FILES', 'manifest.json differs from manifest_json');
      continue;
    }
    const expected = listed.get(file.path);
    if (expected === undefined) throw new CoordinatorError('FEDVAL_ERR_COORD_MODEL_FILES', `${JSON.stringify(file.path)} is not listed in the manifest`);
    if (sha256Hex(data) !== expected) throw new CoordinatorError('FEDVAL_ERR_COORD_MODEL_FILES', `${JSON.stringify(file.path)} does not match its SHA-256 in the manifest`);
    received.set(file.path, data);
  }
  const missing = [...listed.keys()].filter((path) => !received.has(path));
  if (missing.length > 0) throw new CoordinatorError('FEDVAL_ERR_COORD_MODEL_FILES', `missing ${missing.map((p) => JSON.stringify(p)).join(', ')}`);

  const id = sha256Hex(manifestBytes);
  const existing = await store.getModel(id);
  if (existing) return { model: existing, created: false };
  for (const [path, data] of received) await files.put(listed.get(path) as string, data);
  await files.put(id, manifestBytes);
  const model: ModelRecord = {
    id,
    name: manifest.name,
    version: manifest.version,
    format: manifest.format,
    manifestJson: upload.manifest_json,
    files: manifest.files.map((file) => ({ path: file.path, sha256: file.sha256, bytes: (received.get(file.path) as Uint8Array).byteLength })),
    createdAt: now,
  };
  const created = await store.putModel(model);
  return { model, created };
}

/** The scorer a task carries for a model: every bundle file inline, manifest.json first. */
export async function modelScorer(model: ModelRecord, files: BundleFileStore): Promise<Scorer> {
  const bundle: { path: string; data: Uint8Array<ArrayBuffer> }[] = [{ path: MANIFEST_FILE, data: new Uint8Array(Buffer.from(model.manifestJson, 'utf8')) }];
  for (const file of model.files) bundle.push({ path: file.path, data: await files.get(file.sha256) });
  return { kind: 'model', bundleSha256: model.id, files: bundle };
}
