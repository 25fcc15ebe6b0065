// model-scorer.ts — scores rows with a model bundle: received with a task (written to the site's cache, verified) or local.
import { createHash } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { loadModelBundle, requiredColumns as modelColumns } from '@fedval/models';
import type { ModelRunner } from '@fedval/models';
import type { Scorer } from '@fedval/protocol';
import type { Logger } from 'pino';
import { AgentError } from './errors.ts';
import type { RowScorer, ScoreExclusion } from './scorers.ts';

type ModelTaskScorer = Extract<Scorer, { kind: 'model' }>;

/** Writes a bundle received with a task into `<dataDir>/models/<sha256>/` after checking its manifest hash, then loads it. */
export async function materializeModelScorer(scorer: ModelTaskScorer, dataDir: string, log: Logger, batchRows: number): Promise<RowScorer> {
  const manifest = scorer.files.find((file) => file.path === 'manifest.json');
  if (!manifest) throw new AgentError('FEDVAL_ERR_AGENT_MODEL', 'bundle has no manifest.json');
  const announced = scorer.bundleSha256;
  if (createHash('sha256').update(manifest.data).digest('hex') !== announced) {
    throw new AgentError('FEDVAL_ERR_AGENT_MODEL_HASH', 'manifest.json does not hash to the announced bundle id');
  }
  const root = resolve(dataDir, 'models');
  const target = join(root, announced);
  const staging = `${target}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  for (const file of scorer.files) {
    const path = resolve(staging, file.path);
    if (!path.startsWith(`${staging}${sep}`)) throw new AgentError('FEDVAL_ERR_AGENT_MODEL', 'bundle file path escapes the bundle');
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, file.data);
  }
  await rm(target, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  await rename(staging, target);
  return loadLocalModelScorer(target, log, batchRows);
}

/** Loads and verifies a model bundle directory (every file's SHA-256 is checked by @fedval/models). */
export async function loadLocalModelScorer(dir: string, log: Logger, batchRows = 16_384): Promise<RowScorer> {
  let runner: ModelRunner;
  try {
    runner = await loadModelBundle(dir, { batchSize: batchRows });
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new AgentError('FEDVAL_ERR_AGENT_MODEL', `${code ?? 'load failed'}: ${(error as Error).message}`, { cause: error });
  }
  log.info(
    { model: runner.manifest.name, version: runner.manifest.version, bundleSha256: runner.manifestSha256, backend: runner.backend.backend },
    'model loaded',
  );
  return modelRowScorer(runner);
}

function modelRowScorer(runner: ModelRunner): RowScorer {
  const columns = modelColumns(runner.manifest);
  return {
    requiredColumns: columns,
    description: `model ${runner.manifest.name} ${runner.manifest.version} (${runner.backend.backend})`,
    async score(rows) {
      const chunk = await runner.predictRows(rows);
      return {
        scores: Float64Array.from(chunk.scores),
        width: 1,
        // A feature value the model cannot read is missing information for that patient.
        excluded: chunk.excluded.map((reason): ScoreExclusion | null => (reason ? 'missing_features' : null)),
      };
    },
  };
}
