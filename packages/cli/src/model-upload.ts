// model-upload.ts — the body of `POST /api/models` built from a model bundle directory, checked here before it is sent.
import { DEFAULT_BUNDLE_LIMITS, readVerifiedBundle } from '@fedval/models';
import type { ModelManifest } from '@fedval/models';
import type { ModelUploadRequest } from '@fedval/protocol';
import { CliError } from './errors.ts';

/**
 * Reads `dir/manifest.json` and every file it lists, checks each file's SHA-256 against the manifest (@fedval/models),
 * and returns the upload: the manifest text exactly as read (its SHA-256 is the model id) and every file in base64.
 */
export async function readModelUpload(dir: string): Promise<{ upload: ModelUploadRequest; manifest: ModelManifest; modelId: string }> {
  let bundle: Awaited<ReturnType<typeof readVerifiedBundle>>;
  try {
    bundle = await readVerifiedBundle(dir, DEFAULT_BUNDLE_LIMITS);
  } catch (cause) {
    const code = cause instanceof Error && 'code' in cause && typeof cause.code === 'string' ? `${cause.code}: ` : '';
    throw new CliError('FEDVAL_ERR_CLI_MODEL', `${dir}: ${code}${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  const files = bundle.manifest.files.map((file) => ({ path: file.path, data_base64: Buffer.from(bundle.files.get(file.path)!).toString('base64') }));
  return {
    upload: { manifest_json: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bundle.manifestBytes), files },
    manifest: bundle.manifest,
    modelId: bundle.manifestSha256,
  };
}
