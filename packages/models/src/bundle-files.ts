// bundle-files.ts — reads a bundle's manifest and listed files from disk: safe paths, size limits, SHA-256 checks.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import path from 'node:path';
import { ModelsError } from './errors.ts';
import type { ModelManifest } from './manifest.ts';
import { parseModelManifest } from './manifest.ts';

export const MANIFEST_FILE = 'manifest.json';

/** Size limits applied before any byte of a bundle file is buffered. */
export interface BundleLimits {
  /** Largest accepted `manifest.json`. Default 1 MiB. */
  maxManifestBytes: number;
  /** Largest accepted single bundle file. Default 256 MiB. */
  maxFileBytes: number;
  /** Largest accepted sum of all listed files. Default 1 GiB. */
  maxBundleBytes: number;
}

export const DEFAULT_BUNDLE_LIMITS: Readonly<BundleLimits> = Object.freeze({
  maxManifestBytes: 1024 * 1024, // 1 MiB
  maxFileBytes: 256 * 1024 * 1024, // 256 MiB
  maxBundleBytes: 1024 * 1024 * 1024, // 1 GiB
});

/** A bundle whose every listed file was read and matched its manifest hash. */
export interface VerifiedBundle {
  manifest: ModelManifest;
  /** The `manifest.json` bytes as read (a coordinator names the model by their SHA-256). */
  manifestBytes: Uint8Array;
  /** Lowercase hex SHA-256 of the `manifest.json` bytes; it covers every file through their listed hashes. */
  manifestSha256: string;
  /** Listed path → verified bytes. */
  files: ReadonlyMap<string, Uint8Array>;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Checks that a listed path is a plain relative POSIX path: no absolute path, no `.`/`..` or empty
 * segment, no backslash or NUL. Returns it unchanged.
 */
export function checkBundlePath(listed: string): string {
  const segments = listed.split('/');
  const unsafe =
    listed.includes('\\') ||
    listed.includes('\0') ||
    path.posix.isAbsolute(listed) ||
    path.win32.isAbsolute(listed) ||
    segments.some((s) => s === '' || s === '.' || s === '..');
  if (unsafe) throw new ModelsError('FEDVAL_ERR_MODELS_UNSAFE_PATH', JSON.stringify(listed));
  return listed;
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException | undefined)?.code ?? 'unknown error';
}

/** Reads one file of the bundle, following symlinks only if they stay inside the bundle directory. */
async function readBundleFile(
  root: string,
  listed: string,
  maxBytes: number,
  remainingBundleBytes: number,
  unreadable: 'FEDVAL_ERR_MODELS_FILE_UNREADABLE' | 'FEDVAL_ERR_MODELS_MANIFEST_UNREADABLE',
): Promise<Uint8Array> {
  let real: string;
  try {
    real = await realpath(path.join(root, ...listed.split('/')));
  } catch (error) {
    throw new ModelsError(unreadable, `${listed} (${errorCode(error)})`, { cause: error });
  }
  if (!real.startsWith(root + path.sep)) throw new ModelsError('FEDVAL_ERR_MODELS_UNSAFE_PATH', `${listed} resolves outside the bundle`);
  let handle;
  try {
    handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    throw new ModelsError(unreadable, `${listed} (${errorCode(error)})`, { cause: error });
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new ModelsError(unreadable, `${listed} is not a regular file`);
    if (stats.size > maxBytes) throw new ModelsError('FEDVAL_ERR_MODELS_FILE_TOO_LARGE', `${listed} has ${stats.size} bytes, limit ${maxBytes}`);
    if (stats.size > remainingBundleBytes) throw new ModelsError('FEDVAL_ERR_MODELS_BUNDLE_TOO_LARGE', `reached at ${listed}`);
    const bytes = new Uint8Array(stats.size);
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled === bytes.length ? bytes : bytes.subarray(0, filled);
  } catch (error) {
    if (error instanceof ModelsError) throw error;
    throw new ModelsError(unreadable, `${listed} (${errorCode(error)})`, { cause: error });
  } finally {
    await handle.close();
  }
}

/** Reads `dir/manifest.json`, validates it, then reads and hash-checks every file it lists. */
export async function readVerifiedBundle(dir: string, limits: BundleLimits): Promise<VerifiedBundle> {
  let root: string;
  try {
    root = await realpath(dir);
  } catch (error) {
    throw new ModelsError('FEDVAL_ERR_MODELS_MANIFEST_UNREADABLE', `bundle directory (${errorCode(error)})`, { cause: error });
  }
  const manifestBytes = await readBundleFile(root, MANIFEST_FILE, limits.maxManifestBytes, Infinity, 'FEDVAL_ERR_MODELS_MANIFEST_UNREADABLE');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(manifestBytes));
  } catch (error) {
    throw new ModelsError('FEDVAL_ERR_MODELS_MANIFEST_NOT_JSON', undefined, { cause: error });
  }
  const manifest = parseModelManifest(json);

  for (const file of manifest.files) {
    checkBundlePath(file.path);
    if (file.path === MANIFEST_FILE) throw new ModelsError('FEDVAL_ERR_MODELS_INVALID_MANIFEST', 'files: manifest.json cannot list itself');
  }
  const files = new Map<string, Uint8Array>();
  let total = 0;
  for (const file of manifest.files) {
    const bytes = await readBundleFile(root, file.path, limits.maxFileBytes, limits.maxBundleBytes - total, 'FEDVAL_ERR_MODELS_FILE_UNREADABLE');
    total += bytes.length;
    const actual = sha256Hex(bytes);
    if (actual !== file.sha256) {
      throw new ModelsError('FEDVAL_ERR_MODELS_HASH_MISMATCH', `${file.path} has sha256 ${actual}, manifest lists ${file.sha256}`);
    }
    files.set(file.path, bytes);
  }
  return { manifest, manifestBytes, manifestSha256: sha256Hex(manifestBytes), files };
}
