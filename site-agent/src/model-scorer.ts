// model-scorer.ts — scores rows with a model bundle: received with a task (hash and signature checked, cached) or local.
import { createHash } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { buildFeatureMatrixFromColumns, createFeatureCodeCache, featureColumnKinds, loadModelBundle, MANIFEST_FILE, parseModelManifest } from '@fedval/models';
import type { ModelManifest, ModelRunner } from '@fedval/models';
import { verifyManifestSignature } from '@fedval/trust';
import type { Scorer } from '@fedval/protocol';
import type { Logger } from 'pino';
import { AgentError } from './errors.ts';
import { columnKey } from './data-sources/data-source.ts';
import type { BatchColumn, ColumnRequest } from './data-sources/data-source.ts';
import { EXCLUDED_MISSING_FEATURES } from './scorers.ts';
import type { RowScorer } from './scorers.ts';

type ModelTaskScorer = Extract<Scorer, { kind: 'model' }>;

/** A bundle received with a task, written to the site's cache after its manifest hash and signature were checked. */
export interface ReceivedBundle {
  /** `<dataDir>/models/<bundleSha256>/`. */
  dir: string;
  bundleSha256: string;
  manifest: ModelManifest;
  /** SHA-256 fingerprint of the verified signer's public key; null when the manifest is unsigned. */
  signerFingerprint: string | null;
}

/**
 * Checks that manifest.json hashes to the announced bundle id, that it is a valid manifest, and that its sponsor
 * signature (when present) verifies; then writes the bundle into `<dataDir>/models/<sha256>/`, where it stays for the
 * site admin to review. The other files' hashes are checked against the manifest when the bundle is loaded.
 */
export async function receiveModelBundle(scorer: ModelTaskScorer, dataDir: string): Promise<ReceivedBundle> {
  const manifestFile = scorer.files.find((file) => file.path === MANIFEST_FILE);
  if (!manifestFile) throw new AgentError('FEDVAL_ERR_AGENT_MODEL', 'bundle has no manifest.json');
  const announced = scorer.bundleSha256;
  if (createHash('sha256').update(manifestFile.data).digest('hex') !== announced) {
    throw new AgentError('FEDVAL_ERR_AGENT_MODEL_HASH', 'manifest.json does not hash to the announced bundle id');
  }
  let raw: unknown;
  let manifest: ModelManifest;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(manifestFile.data));
    manifest = parseModelManifest(raw);
  } catch (cause) {
    throw new AgentError('FEDVAL_ERR_AGENT_MODEL', `manifest.json: ${(cause as { code?: string }).code ?? 'not UTF-8 JSON'}`, { cause });
  }
  let signerFingerprint: string | null = null;
  // parseModelManifest accepted it, so it is an object; the signature covers all of it, as sent.
  if (isJsonObject(raw) && raw['signature'] !== undefined) {
    try {
      signerFingerprint = verifyManifestSignature(raw);
    } catch (cause) {
      throw new AgentError('FEDVAL_ERR_AGENT_MODEL_SIGNATURE', (cause as { code?: string }).code ?? 'signature check failed', { cause });
    }
  }
  const root = resolve(dataDir, 'models');
  const target = join(root, announced);
  const staging = `${target}.partial-${process.pid}`;
  const paths = scorer.files.map((file) => resolve(staging, file.path));
  if (paths.some((path) => !path.startsWith(`${staging}${sep}`))) throw new AgentError('FEDVAL_ERR_AGENT_MODEL', 'bundle file path escapes the bundle');
  await rm(staging, { recursive: true, force: true });
  for (const [i, file] of scorer.files.entries()) {
    await mkdir(dirname(paths[i]!), { recursive: true });
    await writeFile(paths[i]!, file.data);
  }
  await rm(target, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  await rename(staging, target);
  return { dir: target, bundleSha256: announced, manifest, signerFingerprint };
}

/** How a local model runs. */
export interface ModelScorerOptions {
  /** Rows per inference call. Default 16,384 rows. */
  batchRows?: number | undefined;
  /**
   * Worker threads that run the model (each loads it from the verified bytes), scoring batches while the next rows are
   * read; 0 runs it on the agent's main thread. Default: ONNX bundles on the available cores (at most 4), TF.js
   * bundles on the main thread (@fedval/models `workerThreads: 'auto'`).
   */
  threads?: number | undefined;
  /** The SHA-256 the bundle's manifest.json must still have (a cached bundle verified on receipt). */
  expectedSha256?: string | undefined;
}

/** Loads and verifies a model bundle directory (every file's SHA-256 is checked by @fedval/models). Close the scorer when done. */
export async function loadLocalModelScorer(dir: string, log: Logger, options: ModelScorerOptions = {}): Promise<RowScorer> {
  let runner: ModelRunner;
  try {
    runner = await loadModelBundle(dir, { batchSize: options.batchRows ?? 16_384, workerThreads: options.threads ?? 'auto' });
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new AgentError('FEDVAL_ERR_AGENT_MODEL', `${code ?? 'load failed'}: ${(error as Error).message}`, { cause: error });
  }
  if (options.expectedSha256 !== undefined && runner.manifestSha256 !== options.expectedSha256) {
    await runner.close();
    throw new AgentError('FEDVAL_ERR_AGENT_MODEL_HASH', 'the cached manifest.json changed after it was verified');
  }
  log.info(
    { model: runner.manifest.name, version: runner.manifest.version, bundleSha256: runner.manifestSha256, backend: runner.backend.backend, threads: runner.concurrency > 1 ? runner.concurrency - 1 : 0 },
    'model loaded',
  );
  return modelRowScorer(runner);
}

function modelRowScorer(runner: ModelRunner): RowScorer {
  const { output } = runner.manifest;
  const kinds = featureColumnKinds(runner.manifest.inputs);
  const requests = kinds.map(({ column, kind }): ColumnRequest => ({ name: column, kind }));
  const keys = requests.map(columnKey);
  let cache = createFeatureCodeCache({ reuseBuffers: true });
  return {
    requests,
    description: `model ${runner.manifest.name} ${runner.manifest.version} (${runner.backend.backend})`,
    ...(output.kind === 'class_probabilities' ? { classes: output.classes } : {}),
    concurrency: runner.concurrency,
    score(batch) {
      // The matrix's buffers are reused by the next batch: the runner takes its rows before this returns (a pooled
      // runner copies them when called; one on this thread scores them before the next batch is read).
      if (batch.restart) cache = createFeatureCodeCache({ reuseBuffers: true });
      const matrix = buildFeatureMatrixFromColumns(runner.manifest.inputs, (j) => batch.columns.get(keys[j]!) as BatchColumn, batch.rowCount, cache);
      const scoring = runner.predictMatrix(matrix, batch.rowCount);
      // A feature value the model cannot read is missing information for that patient.
      let excluded: Uint8Array | null = null;
      if (matrix.rowIndex.length < batch.rowCount) {
        excluded = new Uint8Array(batch.rowCount);
        const reasons = matrix.reasons!;
        for (let i = 0; i < batch.rowCount; i += 1) if (reasons[i] !== 0) excluded[i] = EXCLUDED_MISSING_FEATURES;
      }
      return scoring.then((chunk) => ({ scores: new Float64Array(chunk.scores), width: runner.outputWidth, excluded }));
    },
    close: () => runner.close(),
  };
}

function isJsonObject(value: unknown): value is { readonly [key: string]: unknown } {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
