// site-throughput.ts — rows/s and peak memory of a site's data path (CSV and Parquet) from first byte to statistics vector (prints JSON).
// Run: node tests/bench/site-throughput.ts [--rows 1000000] [--memory-rows 10000000] [--baseline DIR] [--repeat 1] [--fifo]
//   --baseline DIR   also measure another checkout (e.g. main before a change) on the same files, in the same run, each
//                    workload's runs interleaved with this checkout's so both see the same machine load
//   --memory-rows N  also read an N-row CSV and Parquet with --score alone, for peak memory against --rows (0 = skip)
//   --workloads A,B  measure only these workloads (default all: floor, floor_sha256, score, score_groups, model, model_onnx;
//                    the byte-read floor is always measured)
//   --model-threads N run the models on N worker threads (limits.model_threads; default: the agent's, see the README)
//   --fifo           run each measurement under SCHED_FIFO (`chrt -f 5`, needs CAP_SYS_NICE): on a machine shared with
//                    other work, the measured process then has the cores while it runs (a quiet machine for its seconds)
// Each measurement runs in its own process (peak RSS is per process); rows/s are also given as a ratio to reading the
// file's bytes in the same run. Process start-up (module loading) and model loading are reported apart from the data path.
// Workloads: --score alone, with two --group columns, the Rotterdam TF.js model (model), and the ONNX gradient-boosted
// trees example (model_onnx: examples/onnx/models/gradient-boosting.onnx packed into a bundle for the run).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ModelBundleDescription } from '@fedval/models';
import { parse as parseYaml } from 'yaml';
import { writeSiteCsv } from './site-data.ts';
import { selectedWorkloads } from './workload-selection.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MODEL_DIR = join(REPO, 'examples/rotterdam/model');
const WORKLOADS = ['floor', 'floor_sha256', 'score', 'score_groups', 'model', 'model_onnx'] as const;
type Workload = (typeof WORKLOADS)[number];

interface ChildRequest {
  root: string;
  file: string;
  workload: Workload;
  /** The ONNX bundle directory (model_onnx). */
  onnxBundle?: string;
  /** Model worker threads (--model-threads); the agent's default when absent. */
  modelThreads?: number;
}

interface ChildResult {
  /** Module loading after process start, ms. */
  startupMs: number;
  /** Loading the model bundle, ms (model workload only). */
  modelLoadMs: number | null;
  /** First byte read to finished statistics vector, ms. */
  dataPathMs: number;
  /** CPU time of the whole process (every thread: JavaScript, the engine's, the model runtime's) over the data path, ms. */
  dataPathCpuMs: number;
  rows: number;
  peakRssMiB: number;
  vectorSha256: string | null;
}

if (process.argv[2] === '--child') {
  process.stdout.write(`${JSON.stringify(await child(JSON.parse(process.argv[3]!) as ChildRequest))}\n`);
  process.exit(0);
}

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    'memory-rows': { type: 'string', default: '0' },
    baseline: { type: 'string' },
    repeat: { type: 'string', default: '1' },
    fifo: { type: 'boolean', default: false },
    workloads: { type: 'string' },
    'model-threads': { type: 'string' },
  },
});
const rows = Number(values.rows);
const memoryRows = Number(values['memory-rows']);
const repeat = Number(values.repeat);
const selected = selectedWorkloads(values.workloads, WORKLOADS);
const modelThreads = values['model-threads'] === undefined ? {} : { modelThreads: Number(values['model-threads']) };
const dir = mkdtempSync(join(tmpdir(), 'fedval-site-throughput-'));
try {
  const csv = join(dir, `site-${rows}.csv`);
  const bytes = await writeSiteCsv(csv, rows);
  const parquet = join(dir, `site-${rows}.parquet`);
  await toParquet(csv, parquet);
  const onnxBundle = join(dir, 'gbt-bundle');
  const description = parseYaml(readFileSync(join(REPO, 'examples/onnx/gradient-boosting.features.yaml'), 'utf8')) as ModelBundleDescription;
  // Imported here, not at the top: a child measuring --score must not load the model runtimes (peak memory).
  const { saveOnnxBundle } = await import('@fedval/models');
  await saveOnnxBundle(onnxBundle, new Uint8Array(readFileSync(join(REPO, 'examples/onnx/models/gradient-boosting.onnx'))), description);
  const implementations = [{ name: 'after', root: REPO }, ...(values.baseline ? [{ name: 'before', root: resolve(values.baseline) }] : [])];
  const results: Record<string, unknown>[] = [];
  // Implementations and repeats are interleaved workload by workload (after, before, after, before, …), so that both
  // see the same machine load; the best of `repeat` runs is kept, and the floor is the best byte read of the file.
  for (const [format, file] of [['csv', csv], ['parquet', parquet]] as const) {
    const floor = best(repeat, () => run({ root: REPO, file, workload: 'floor' }));
    const floorRowsPerSecond = Math.round(floor.rows / (floor.dataPathMs / 1000));
    for (const workload of selected) {
      const measured = new Map<string, ChildResult[]>();
      for (let r = 0; r < repeat; r += 1) {
        for (const implementation of implementations) {
          if (format === 'parquet' && implementation.name === 'before' && !existsSync(join(implementation.root, 'site-agent/src/data-sources/parquet-source.ts'))) continue;
          const result = workload === 'floor' ? floor : run({ root: implementation.root, file, workload, onnxBundle, ...modelThreads });
          measured.set(implementation.name, [...(measured.get(implementation.name) ?? []), result]);
        }
      }
      for (const implementation of implementations) {
        const runs = measured.get(implementation.name);
        if (!runs) continue;
        const result = runs.reduce((a, b) => (b.dataPathMs < a.dataPathMs ? b : a));
        const rowsPerSecond = Math.round(result.rows / (result.dataPathMs / 1000));
        results.push({
          implementation: implementation.name,
          format,
          workload,
          rows: result.rows,
          fileBytes: statSync(file).size,
          dataPathMs: Math.round(result.dataPathMs),
          dataPathCpuMs: Math.round(result.dataPathCpuMs),
          rowsPerSecond,
          ratioToByteReadFloor: Number((rowsPerSecond / floorRowsPerSecond).toFixed(3)),
          startupMs: Math.round(result.startupMs),
          modelLoadMs: result.modelLoadMs === null ? null : Math.round(result.modelLoadMs),
          peakRssMiB: result.peakRssMiB,
          vectorSha256: result.vectorSha256,
        });
      }
    }
  }
  const memory: Record<string, unknown>[] = [];
  if (memoryRows > 0) {
    const bigCsv = join(dir, `site-${memoryRows}.csv`);
    await writeSiteCsv(bigCsv, memoryRows);
    const bigParquet = join(dir, `site-${memoryRows}.parquet`);
    await toParquet(bigCsv, bigParquet);
    for (const [format, small, big] of [['csv', csv, bigCsv], ['parquet', parquet, bigParquet]] as const) {
      const a = run({ root: REPO, file: small, workload: 'score' });
      const b = run({ root: REPO, file: big, workload: 'score' });
      memory.push({
        format,
        workload: 'score',
        [`peakRssMiB_${rows}`]: a.peakRssMiB,
        [`peakRssMiB_${memoryRows}`]: b.peakRssMiB,
        ratio: Number((b.peakRssMiB / a.peakRssMiB).toFixed(3)),
        [`rowsPerSecond_${memoryRows}`]: Math.round(b.rows / (b.dataPathMs / 1000)),
      });
    }
  }
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: 'site-throughput',
        node: process.version,
        cpus: cpus().length,
        rows,
        fifo: values.fifo,
        csvBytes: bytes,
        note: 'dataPathMs: first byte read to finished statistics vector, in one process per measurement; dataPathCpuMs: CPU time of all its threads over the same span (less sensitive to other load on the machine than wall time); startupMs (module loading) and modelLoadMs apart. floor: read the file bytes; floor_sha256: read and hash them (what the dataset commitment costs). Runs of this checkout and --baseline alternate workload by workload.',
        results,
        memory,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function run(request: ChildRequest): ChildResult {
  const command = [process.execPath, fileURLToPath(import.meta.url), '--child', JSON.stringify(request)];
  // Under SCHED_FIFO a process that never blocks would keep the cores from everything else, this parent included: a
  // watchdog at a higher FIFO priority (it sleeps until then) kills a measurement still running after 10 minutes.
  if (values.fifo) command.unshift('chrt', '-f', '10', 'timeout', '-s', 'KILL', '600', 'chrt', '-f', '5');
  const child = spawnSync(command[0]!, command.slice(1), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 16 * 1024 * 1024,
  });
  if (child.status !== 0) throw new Error(`${request.workload} on ${request.file} failed: ${child.stderr.slice(-2000)}`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!) as ChildResult;
}

function best(times: number, measure: () => ChildResult): ChildResult {
  let fastest: ChildResult | null = null;
  for (let i = 0; i < times; i += 1) {
    const result = measure();
    if (!fastest || result.dataPathMs < fastest.dataPathMs) fastest = result;
  }
  return fastest!;
}

async function toParquet(csv: string, parquet: string): Promise<void> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const quote = (text: string): string => `'${text.replaceAll("'", "''")}'`;
  await connection.run(`COPY (SELECT * FROM read_csv(${quote(csv)})) TO ${quote(parquet)} (FORMAT parquet, COMPRESSION zstd)`);
  connection.closeSync();
  instance.closeSync();
}

/** One measurement in this process: load the implementation, run the workload, report times and peak RSS. */
async function child(request: ChildRequest): Promise<ChildResult> {
  const started = performance.now();
  const rowsOf = (path: string): number => Number(path.match(/site-(\d+)\./)![1]);
  if (request.workload === 'floor' || request.workload === 'floor_sha256') {
    const t = performance.now();
    const cpu = process.cpuUsage();
    const hash = request.workload === 'floor_sha256' ? createHash('sha256') : null;
    for await (const chunk of createReadStream(request.file, { highWaterMark: 1 << 20 })) hash?.update(chunk as Buffer);
    hash?.digest();
    return { startupMs: started, modelLoadMs: null, dataPathMs: performance.now() - t, dataPathCpuMs: cpuMs(cpu), rows: rowsOf(request.file), peakRssMiB: peakRss(), vectorSha256: null };
  }
  const agent = (path: string) => import(join(request.root, 'site-agent/src', path));
  const columnar = existsSync(join(request.root, 'site-agent/src/data-sources/data-source.ts'));
  const { evaluateDataset } = await agent('evaluation.ts');
  const { scoreColumnScorer } = await agent('scorers.ts');
  const { loadLocalModelScorer } = await agent('model-scorer.ts');
  const { discoverGroupLevels } = await agent('group-levels.ts');
  const { resolveMetricSpec } = await import(join(request.root, 'packages/metrics/src/index.ts'));
  const openFile = columnar ? (await agent('data-sources/open-data-source.ts')).openDataFile : null;
  const startupMs = performance.now();
  let modelLoadMs: number | null = null;
  const silent = { info() {}, warn() {}, error() {}, debug() {} };
  let scorer;
  if (request.workload === 'model' || request.workload === 'model_onnx') {
    const t = performance.now();
    scorer = await loadLocalModelScorer(request.workload === 'model' ? MODEL_DIR : request.onnxBundle, silent, request.modelThreads === undefined ? {} : { threads: request.modelThreads });
    modelLoadMs = performance.now() - t;
  } else {
    scorer = scoreColumnScorer('score');
  }
  const label = { column: 'event5y', positive: '1' };
  const groups = request.workload === 'score_groups' ? [{ column: 'meno' }, { column: 'size' }] : [];
  const t = performance.now();
  const cpu = process.cpuUsage();
  let outcome;
  if (columnar) {
    const spec = { ...resolveMetricSpec({ task: 'binary', groups: [] }), groups };
    outcome = await evaluateDataset({ source: openFile(request.file), spec, label, scorer });
  } else {
    // The row-object path: eval-local finds categorical levels with a read of its own before the evaluation.
    const source = { path: request.file };
    const levels = await discoverGroupLevels(source, groups);
    outcome = await evaluateDataset({ source, spec: resolveMetricSpec({ task: 'binary', groups: levels }), label, scorer });
  }
  const dataPathMs = performance.now() - t;
  const dataPathCpuMs = cpuMs(cpu);
  await scorer.close?.(); // a model's worker threads end before the process does
  const vectorSha256 = createHash('sha256').update(new Uint8Array(outcome.vector.buffer, outcome.vector.byteOffset, outcome.vector.byteLength)).digest('hex');
  return { startupMs, modelLoadMs, dataPathMs, dataPathCpuMs, rows: rowsOf(request.file), peakRssMiB: peakRss(), vectorSha256 };
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

function peakRss(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}
