import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveMetricSpec } from '@fedval/metrics';
import { saveOnnxBundle } from '@fedval/models';
import type { ModelBundleDescription } from '@fedval/models';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { openDataFile } from './data-sources/open-data-source.ts';
import { evaluateDataset } from './evaluation.ts';
import type { EvaluationSpec } from './evaluation.ts';
import { loadLocalModelScorer } from './model-scorer.ts';

// A model run on worker threads (model.threads) gives the statistics vector of the main thread, byte for byte, with
// many batches in flight and subgroup levels found during the read; a read that fails releases nothing and ends the threads.
const REPO = new URL('../../', import.meta.url);
const TFJS_BUNDLE = new URL('examples/rotterdam/model', REPO).pathname;
const log = pino({ level: 'silent' });
const label = { column: 'event5y', positive: '1', negative: '0' };
const spec: EvaluationSpec = { ...resolveMetricSpec({ task: 'binary', groups: [] }), groups: [{ column: 'meno' }, { column: 'size' }] };

let root: string;
let csv: string;
let onnxBundle: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'fedval-model-threads-'));
  // The three bundled sites under one header: 2982 real rows, some with missing cells.
  const [header, ...rest] = ['site-a.csv', 'site-b.csv', 'site-c.csv'].map((name) => readFileSync(new URL(`examples/rotterdam/data/${name}`, REPO), 'utf8').trim().split('\n'));
  csv = path.join(root, 'sites.csv');
  await writeFile(csv, `${[header![0], ...header!.slice(1), ...rest.flatMap((lines) => lines.slice(1))].join('\n')}\n`);
  onnxBundle = path.join(root, 'gbt');
  const description = parseYaml(readFileSync(new URL('examples/onnx/gradient-boosting.features.yaml', REPO), 'utf8')) as ModelBundleDescription;
  await saveOnnxBundle(onnxBundle, new Uint8Array(readFileSync(new URL('examples/onnx/models/gradient-boosting.onnx', REPO))), description);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function vectorSha256(bundle: string, threads: number): Promise<{ sha256: string; included: number }> {
  const scorer = await loadLocalModelScorer(bundle, log, { batchRows: 128, threads });
  try {
    const outcome = await evaluateDataset({ source: openDataFile(csv, { batchRows: 300 }), spec, label, scorer });
    return { sha256: createHash('sha256').update(new Uint8Array(outcome.vector.buffer, outcome.vector.byteOffset, outcome.vector.byteLength)).digest('hex'), included: outcome.included };
  } finally {
    await scorer.close?.();
  }
}

describe('model worker threads', () => {
  // TF.js on one worker (loading TF.js is the slow part of this file), the trees on two.
  it.each([
    ['TF.js', () => TFJS_BUNDLE, 1],
    ['ONNX', () => onnxBundle, 2],
  ])('give the %s model the vector of the main thread, byte for byte', async (_name, bundle, threads) => {
    const inline = await vectorSha256(bundle(), 0);
    expect(inline.included).toBeGreaterThan(2000);
    expect(await vectorSha256(bundle(), threads)).toEqual(inline);
  });

  it('release nothing when the read fails, and end when the scorer is closed', async () => {
    const broken = path.join(root, 'broken.csv');
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    lines.splice(2500, 0, '1,2,3'); // a short row near the end: found after many batches were sent to the workers
    await writeFile(broken, `${lines.join('\n')}\n`);
    const scorer = await loadLocalModelScorer(onnxBundle, log, { batchRows: 128, threads: 2 });
    const failed = await evaluateDataset({ source: openDataFile(broken, { batchRows: 300 }), spec, label, scorer }).then(
      () => expect.unreachable('a malformed file must fail the read'),
      (error: unknown) => error as { code?: string },
    );
    expect(failed.code).toBe('FEDVAL_ERR_AGENT_DATA_MALFORMED');
    await scorer.close!(); // resolves once every worker thread has exited (the vitest worker would otherwise stay alive)
  });
});
