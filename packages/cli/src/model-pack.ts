// model-pack.ts — `fedval models pack`: an exported ONNX file and its feature description (YAML) made into a (signed) bundle.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_BUNDLE_LIMITS, MANIFEST_FILE, saveOnnxBundle } from '@fedval/models';
import type { ModelBundleDescription, ModelManifest } from '@fedval/models';
import { loadPrivateKey, sha256Hex, signManifest, verifyManifestSignature } from '@fedval/trust';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CliError } from './errors.ts';

/** Options of `fedval models pack`. */
export interface ModelPackOptions {
  /** The exported ONNX graph (one float32 [batch, features] input). */
  onnx: string;
  /** YAML: name, version, description, inputs (the manifest's features, in the graph's input order), output. */
  features: string;
  /** A new or empty directory for model.onnx and manifest.json. */
  out: string;
  /** The sponsor's Ed25519 private key (PKCS#8 PEM, mode 0600); the manifest is unsigned without it. */
  sign?: string | undefined;
}

/** What `models pack` made. */
export interface PackedModel {
  /** SHA-256 of manifest.json as written: the id `models register` and sites use. */
  modelId: string;
  manifest: ModelManifest;
  /** SHA-256 fingerprint of the signing key (for sites' policy.trusted_sponsor_keys); null when unsigned. */
  signerFingerprint: string | null;
}

/** Keys of the manifest that packing fills in: a description that sets them is refused rather than overridden. */
const PACKED_KEYS = ['manifestVersion', 'files', 'signature'] as const;

const descriptionDocument = z.record(z.string(), z.unknown());

function modelError(detail: string, cause?: unknown): CliError {
  const code = cause instanceof Error && 'code' in cause && typeof cause.code === 'string' ? `${cause.code}: ` : '';
  return new CliError('FEDVAL_ERR_CLI_MODEL', `${detail}${cause instanceof Error ? `: ${code}${cause.message}` : ''}`, { cause });
}

async function readDescription(file: string): Promise<ModelBundleDescription> {
  let document: Record<string, unknown>;
  try {
    document = descriptionDocument.parse(parseYaml(await readFile(file, 'utf8')));
  } catch (cause) {
    throw modelError(`${file} is not a YAML mapping`, cause);
  }
  const packed = PACKED_KEYS.filter((key) => key in document);
  if (packed.length > 0) throw new CliError('FEDVAL_ERR_CLI_USAGE', `${file}: ${packed.join(', ')} are written by models pack, not given`);
  if ('format' in document && document['format'] !== 'onnx') throw new CliError('FEDVAL_ERR_CLI_USAGE', `${file}: format must be onnx (or left out)`);
  const { format: _format, ...description } = document;
  // saveOnnxBundle validates the whole manifest (@fedval/models modelManifestSchema), listing every problem.
  return description as ModelBundleDescription;
}

async function readOnnx(file: string): Promise<Uint8Array> {
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new Error('not a regular file');
    if (info.size > DEFAULT_BUNDLE_LIMITS.maxFileBytes) throw new Error(`${info.size} bytes, above the ${DEFAULT_BUNDLE_LIMITS.maxFileBytes}-byte limit sites apply`);
    return new Uint8Array(await readFile(file));
  } catch (cause) {
    throw modelError(`${file} cannot be read`, cause);
  }
}

async function checkOutDirectory(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw modelError(`--out ${dir} cannot be read`, cause);
  }
  if (entries.length > 0) throw new CliError('FEDVAL_ERR_CLI_USAGE', `--out ${dir} is not empty (it holds ${entries.includes(MANIFEST_FILE) ? 'a bundle' : `${entries.length} entries`}): give a new or empty directory`);
}

/**
 * Packs an ONNX bundle: checks the graph against the description in ONNX Runtime (the checks a site makes at load),
 * writes model.onnx and manifest.json (with the file's SHA-256 and, with `sign`, the sponsor's Ed25519 signature)
 * into a new or empty directory, and returns the model id.
 */
export async function packOnnxModel(options: ModelPackOptions): Promise<PackedModel> {
  const description = await readDescription(options.features);
  const onnx = await readOnnx(options.onnx);
  await checkOutDirectory(options.out);
  let sign: ((unsigned: ModelManifest) => NonNullable<ModelManifest['signature']>) | undefined;
  if (options.sign !== undefined) {
    let key: ReturnType<typeof loadPrivateKey>;
    try {
      key = loadPrivateKey(options.sign);
    } catch (cause) {
      throw new CliError('FEDVAL_ERR_CLI_KEYS_MISSING', `--sign ${options.sign}: ${(cause as { code?: string }).code ?? 'unreadable'}`, { cause });
    }
    sign = (unsigned) => signManifest(unsigned, key);
  }
  let manifest: ModelManifest;
  try {
    manifest = await saveOnnxBundle(options.out, onnx, description, sign ? { sign } : {});
  } catch (cause) {
    throw modelError(`${options.onnx} with ${options.features}`, cause);
  }
  const written = await readFile(join(options.out, MANIFEST_FILE));
  const signerFingerprint = manifest.signature ? verifyManifestSignature(JSON.parse(written.toString('utf8')) as Record<string, unknown>) : null;
  return { modelId: sha256Hex(written), manifest, signerFingerprint };
}
