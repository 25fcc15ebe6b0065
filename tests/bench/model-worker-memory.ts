// model-worker-memory.ts — RSS of one process that loads a 95 MiB ONNX model (a 25M-float Gather table) on N model worker
// threads, after load and after 200 batches of 16,384 rows. Run: node --expose-gc tests/bench/model-worker-memory.ts [N, default 2]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelBundle, saveOnnxBundle } from '@fedval/models';
import { gatherByFeatureModel } from '../helpers/onnx-graph.ts';
const dir = join(await mkdtemp(join(tmpdir(), 'fedval-mem-')), 'b');
{
  const onnx = gatherByFeatureModel(new Float32Array(25_000_000).fill(0.5));
  await saveOnnxBundle(dir, onnx, { name: 'big', version: '1', description: 'x', inputs: [{ kind: 'numeric', column: 'x', missing: 'exclude' }], output: { kind: 'probability', positive: 'e' } });
}
const gc = (globalThis as { gc?: () => void }).gc!;
gc();
const before = process.memoryUsage().rss;
const runner = await loadModelBundle(dir, { workerThreads: Number(process.argv[2] ?? 2) });
for (let i = 0; i < 5; i += 1) {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 200));
}
const after = process.memoryUsage().rss;
const values = new Float32Array(16384).fill(1);
for (let i = 0; i < 200; i += 1) await runner.predictFeatures(values);
for (let i = 0; i < 5; i += 1) {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 200));
}
const scored = process.memoryUsage().rss;
console.log(JSON.stringify({ bench: 'model-worker-memory', workers: runner.concurrency - 1, rssBeforeMiB: Math.round(before / 2 ** 20), rssLoadedMiB: Math.round(after / 2 ** 20), growthMiB: Math.round((after - before) / 2 ** 20), rssAfter200BatchesMiB: Math.round(scored / 2 ** 20), cpuUserMs: Math.round(process.cpuUsage().user / 1000) }));
await runner.close();
await rm(join(dir, '..'), { recursive: true, force: true });
