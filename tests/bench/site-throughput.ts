// site-throughput.ts — rows/s and peak memory of a site's data path (CSV and Parquet) from first byte to statistics vector (prints JSON).
// Run: node tests/bench/site-throughput.ts [--rows 1000000] [--memory-rows 10000000] [--baseline DIR] [--repeat 1]
//   --baseline DIR   also measure another checkout (e.g. main before the columnar path) on the same CSV, in the same run
//   --memory-rows N  also read an N-row CSV and Parquet with --score alone, for peak memory against --rows (0 = skip)
// Each measurement runs in its own process (peak RSS is per process); rows/s are also given as a ratio to reading the
// file's bytes in the same run. Process start-up (module loading) and model loading are reported apart from the data path.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeSiteCsv } from './site-data.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MODEL_DIR = join(REPO, 'examples/rotterdam/model');
const WORKLOADS = ['floor', 'floor_sha256', 'score', 'score_groups', 'model'] as const;
type Workload = (typeof WORKLOADS)[number];

interface ChildRequest {
  root: string;
  file: string;
  workload: Workload;
}

interface ChildResult {
  /** Module loading after process start, ms. */
  startupMs: number;
  /** Loading the model bundle, ms (model workload only). */
  modelLoadMs: number | null;
  /** First byte read to finished statistics vector, ms. */
  dataPathMs: number;
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
  },
});
const rows = Number(values.rows);
const memoryRows = Number(values['memory-rows']);
const repeat = Number(values.repeat);
const dir = mkdtempSync(join(tmpdir(), 'fedval-site-throughput-'));
try {
  const csv = join(dir, `site-${rows}.csv`);
  const bytes = await writeSiteCsv(csv, rows);
  const parquet = join(dir, `site-${rows}.parquet`);
  await toParquet(csv, parquet);
  const implementations = [{ name: 'after', root: REPO }, ...(values.baseline ? [{ name: 'before', root: resolve(values.baseline) }] : [])];
  const results: Record<string, unknown>[] = [];
  for (const implementation of implementations) {
    for (const [format, file] of [['csv', csv], ['parquet', parquet]] as const) {
      if (format === 'parquet' && implementation.name === 'before') continue; // the row-object path reads CSV only
      const floor = best(repeat, () => run({ root: implementation.root, file, workload: 'floor' }));
      for (const workload of WORKLOADS) {
        const result = workload === 'floor' ? floor : best(repeat, () => run({ root: implementation.root, file, workload }));
        const rowsPerSecond = Math.round(result.rows / (result.dataPathMs / 1000));
        const floorRowsPerSecond = Math.round(floor.rows / (floor.dataPathMs / 1000));
        results.push({
          implementation: implementation.name,
          format,
          workload,
          rows: result.rows,
          fileBytes: statSync(file).size,
          dataPathMs: Math.round(result.dataPathMs),
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
        csvBytes: bytes,
        note: 'dataPathMs: first byte read to finished statistics vector, in one process per measurement; startupMs (module loading) and modelLoadMs apart. floor: read the file bytes; floor_sha256: read and hash them (what the dataset commitment costs).',
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
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify(request)], {
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
    const hash = request.workload === 'floor_sha256' ? createHash('sha256') : null;
    for await (const chunk of createReadStream(request.file, { highWaterMark: 1 << 20 })) hash?.update(chunk as Buffer);
    hash?.digest();
    return { startupMs: started, modelLoadMs: null, dataPathMs: performance.now() - t, rows: rowsOf(request.file), peakRssMiB: peakRss(), vectorSha256: null };
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
  if (request.workload === 'model') {
    const t = performance.now();
    scorer = await loadLocalModelScorer(MODEL_DIR, silent);
    modelLoadMs = performance.now() - t;
  } else {
    scorer = scoreColumnScorer('score');
  }
  const label = { column: 'event5y', positive: '1' };
  const groups = request.workload === 'score_groups' ? [{ column: 'meno' }, { column: 'size' }] : [];
  const t = performance.now();
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
  const vectorSha256 = createHash('sha256').update(new Uint8Array(outcome.vector.buffer, outcome.vector.byteOffset, outcome.vector.byteLength)).digest('hex');
  return { startupMs, modelLoadMs, dataPathMs, rows: rowsOf(request.file), peakRssMiB: peakRss(), vectorSha256 };
}

function peakRss(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}
