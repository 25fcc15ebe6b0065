// postgres-throughput.ts — rows/s and peak memory of a site reading PostgreSQL, from the first byte to the statistics vector (prints JSON).
// Run: node tests/bench/postgres-throughput.ts [--rows 1000000] [--batch-rows 65536] [--repeat 1] [--baseline DIR] [--memory-rows N] [--fifo]
//   --baseline DIR     also measure another checkout (e.g. main before the COPY path) on the same table, in the same run
//   --memory-rows N    also read a table of N rows (the --rows table repeated) with `score`, for peak memory against --rows
//   --workloads A,B    measure only these workloads (default all: score, score_no_fingerprint, score_groups, model, model_onnx)
//   --model-threads N  run the models on N worker threads (limits.model_threads; default: the agent's, see the README)
//   --fifo             run each client process under SCHED_FIFO (`chrt -f 5`, needs CAP_SYS_NICE), and the server too: its
//                      postmaster is set to SCHED_FIFO after the table is loaded, so the backends it forks for the
//                      measurements inherit it (a client with the cores and a server without them measured the server)
// Workloads: --score (with and without the dataset fingerprint), with two --group columns, the Rotterdam TF.js model
// (model) and the ONNX gradient-boosted trees example (model_onnx), both on the agent's default model worker threads.
// A throwaway cluster (tests/helpers/postgres.ts) holds a table of --rows rows resampled from the bundled sites
// (tests/bench/site-data.ts). Each measurement runs in its own process (peak RSS is per process) through the read-only
// role over TCP, as a site does. Two floors read the same columns and do nothing else with them: `copy floor` receives
// the bytes of `COPY (SELECT …) TO STDOUT (FORMAT binary)` through the connector's transport (postgres-copy-out.ts),
// and `select floor` fetches a
// plain SELECT through pg-cursor (the driver's row path, the connector's transport before COPY); rows/s are given as
// ratios to both. `*_no_fingerprint` leaves out the digest of the rows (the dataset commitment).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ModelBundleDescription } from '@fedval/models';
import { parse as parseYaml } from 'yaml';
import { startTestPostgres } from '../helpers/postgres.ts';
import { writeSiteCsv } from './site-data.ts';
import { selectedWorkloads } from './workload-selection.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MODEL_DIR = join(REPO, 'examples/rotterdam/model');
const WORKLOADS = ['score', 'score_no_fingerprint', 'score_groups', 'model', 'model_onnx'] as const;
type Workload = (typeof WORKLOADS)[number] | 'floor' | 'copy_floor';

/** The columns each workload reads: its floor reads exactly these. */
const COLUMNS: Readonly<Record<(typeof WORKLOADS)[number], readonly string[]>> = {
  score: ['event5y', 'score'],
  score_no_fingerprint: ['event5y', 'score'],
  score_groups: ['event5y', 'score', 'meno', 'size'],
  model: ['event5y', 'age', 'meno', 'size', 'grade', 'nodes', 'pgr', 'er', 'hormon'],
  model_onnx: ['event5y', 'age', 'meno', 'size', 'grade', 'nodes', 'pgr', 'er', 'hormon'],
};

interface ChildRequest {
  /** Checkout whose site agent is measured. */
  root: string;
  url: string;
  /** Rows in the table. */
  rows: number;
  /** Table read: `site` (--rows rows) or `site_memory` (--memory-rows rows). */
  table: string;
  password: string;
  batchRows: number;
  workload: Workload;
  /** floor, copy_floor: the columns to read. */
  columns?: readonly string[];
  /** The ONNX bundle directory (model_onnx). */
  onnxBundle?: string;
  /** Model worker threads (--model-threads); the agent's default when absent. */
  modelThreads?: number;
}

interface ChildResult {
  startupMs: number;
  modelLoadMs: number | null;
  /** Query sent to finished statistics vector (floor: to the last row read), ms. */
  dataPathMs: number;
  /** CPU time of this (client) process over the data path, user + system, ms: less sensitive to a loaded machine. */
  clientCpuMs: number;
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
    'batch-rows': { type: 'string', default: '65536' },
    repeat: { type: 'string', default: '1' },
    baseline: { type: 'string' },
    'memory-rows': { type: 'string' },
    fifo: { type: 'boolean', default: false },
    workloads: { type: 'string' },
    'model-threads': { type: 'string' },
  },
});
const rows = Number(values.rows);
const batchRows = Number(values['batch-rows']);
const repeat = Number(values.repeat);
const selected = selectedWorkloads(values.workloads, WORKLOADS);
const modelThreads = values['model-threads'] === undefined ? {} : { modelThreads: Number(values['model-threads']) };
const dir = mkdtempSync(join(tmpdir(), 'fedval-pg-throughput-'));
const db = await startTestPostgres({ database: 'bench' });
try {
  const csv = join(dir, 'site.csv');
  await writeSiteCsv(csv, rows);
  // The server reads the file itself (COPY FROM a file): its account must be able to reach it.
  chmodSync(dir, 0o755);
  chmodSync(csv, 0o644);
  const loadStarted = performance.now();
  await db.sql('CREATE TABLE site (age int, meno int, size text, grade int, nodes int, pgr int, er int, hormon int, event5y int, score float8)');
  await db.sql(`COPY site FROM '${csv.replaceAll("'", "''")}' WITH (FORMAT csv, HEADER true)`);
  await db.sql('ANALYZE site');
  await db.grantReader();
  const loadMs = performance.now() - loadStarted;
  if (values.fifo) {
    const postmaster = readFileSync(join(db.dir, 'data', 'postmaster.pid'), 'utf8').split('\n', 1)[0]!;
    const set = spawnSync('chrt', ['-f', '-p', '5', postmaster], { encoding: 'utf8' });
    if (set.status !== 0) throw new Error(`chrt -f -p 5 ${postmaster} failed: ${set.stderr}`);
  }
  const tableBytes = Number((await db.sql(`SELECT pg_table_size('site') AS bytes`)).rows[0].bytes);
  const onnxBundle = join(dir, 'gbt-bundle');
  const description = parseYaml(readFileSync(join(REPO, 'examples/onnx/gradient-boosting.features.yaml'), 'utf8')) as ModelBundleDescription;
  const { saveOnnxBundle } = await import('@fedval/models');
  await saveOnnxBundle(onnxBundle, new Uint8Array(readFileSync(join(REPO, 'examples/onnx/models/gradient-boosting.onnx'))), description);
  const request = { url: db.readerUrl, password: db.readerPassword, batchRows, rows, root: REPO, table: 'site', onnxBundle, ...modelThreads };
  const implementations = [{ name: 'after', root: REPO }, ...(values.baseline ? [{ name: 'before', root: resolve(values.baseline) }] : [])];
  const floors = new Map<string, { select: ChildResult; copy: ChildResult }>();
  const rate = (result: ChildResult) => Math.round(result.rows / (result.dataPathMs / 1000));
  const results = selected.flatMap((workload) => {
    const columns = COLUMNS[workload];
    const key = columns.join(',');
    if (!floors.has(key)) {
      floors.set(key, { select: best(repeat, () => run({ ...request, workload: 'floor', columns })), copy: best(repeat, () => run({ ...request, workload: 'copy_floor', columns })) });
    }
    const floor = floors.get(key)!;
    return implementations.map(({ name, root }) => {
      const result = best(repeat, () => run({ ...request, root, workload }));
      const rowsPerSecond = rate(result);
      return {
        source: 'postgres',
        implementation: name,
        workload,
        columns: columns.length,
        rows: result.rows,
        dataPathMs: Math.round(result.dataPathMs),
        rowsPerSecond,
        clientCpuMs: result.clientCpuMs,
        copyFloorClientCpuMs: floor.copy.clientCpuMs,
        copyFloorRowsPerSecond: rate(floor.copy),
        ratioToCopyFloor: Number((rowsPerSecond / rate(floor.copy)).toFixed(3)),
        selectFloorRowsPerSecond: rate(floor.select),
        ratioToSelectFloor: Number((rowsPerSecond / rate(floor.select)).toFixed(3)),
        startupMs: Math.round(result.startupMs),
        modelLoadMs: result.modelLoadMs === null ? null : Math.round(result.modelLoadMs),
        peakRssMiB: result.peakRssMiB,
        copyFloorPeakRssMiB: floor.copy.peakRssMiB,
        selectFloorPeakRssMiB: floor.select.peakRssMiB,
        vectorSha256: result.vectorSha256,
      };
    });
  });
  let memory: { rows: number; rowsPerSecond: number; peakRssMiB: number; peakRssMiBAtRows: number; ratio: number } | null = null;
  const memoryRows = values['memory-rows'] ? Number(values['memory-rows']) : 0;
  if (memoryRows > 0) {
    const copies = Math.ceil(memoryRows / rows);
    await db.sql(`CREATE TABLE site_memory AS SELECT site.* FROM site, generate_series(1, ${copies})`);
    await db.grantReader();
    const big = best(repeat, () => run({ ...request, rows: rows * copies, table: 'site_memory', workload: 'score' }));
    const small = results.find((r) => r.implementation === 'after' && r.workload === 'score') ?? { peakRssMiB: best(repeat, () => run({ ...request, workload: 'score' })).peakRssMiB };
    memory = { rows: rows * copies, rowsPerSecond: rate(big), peakRssMiB: big.peakRssMiB, peakRssMiBAtRows: small.peakRssMiB, ratio: Number((big.peakRssMiB / small.peakRssMiB).toFixed(3)) };
  }
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: 'postgres-throughput',
        node: process.version,
        cpus: cpus().length,
        rows,
        batchRows,
        tableBytes,
        loadMs: Math.round(loadMs),
        note:
          'dataPathMs: connection opened to finished statistics vector, one process per measurement, over TCP loopback with the read-only role in a READ ONLY transaction; startupMs (module loading) and modelLoadMs apart. copy floor: the bytes of COPY (SELECT the same columns) TO STDOUT (FORMAT binary) received and discarded; select floor: the same SELECT through pg and pg-cursor, rows discarded. score and the others include the dataset fingerprint (SHA-256 of the rows read) unless named *_no_fingerprint. implementation before: the --baseline checkout.',
        results,
        memory,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await db.stop();
  rmSync(dir, { recursive: true, force: true });
}

function run(request: ChildRequest): ChildResult {
  const command = [process.execPath, fileURLToPath(import.meta.url), '--child', JSON.stringify(request)];
  // Under SCHED_FIFO a process that never blocks would keep the cores from everything else, this parent included: a
  // watchdog at a higher FIFO priority (it sleeps until then) kills a measurement still running after 10 minutes.
  if (values.fifo) command.unshift('chrt', '-f', '10', 'timeout', '-s', 'KILL', '600', 'chrt', '-f', '5');
  const child = spawnSync(command[0]!, command.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 * 1024 * 1024 });
  if (child.status !== 0) throw new Error(`${request.workload} failed: ${child.stderr.slice(-2000)}`);
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

/** One measurement in this process. */
async function child(request: ChildRequest): Promise<ChildResult> {
  const started = performance.now();
  const agent = (path: string) => import(join(request.root, 'site-agent/src', path));
  if (request.workload === 'copy_floor') {
    const pg = (await import('pg')).default;
    const { CopyOutStream } = await import(join(REPO, 'site-agent/src/data-sources/postgres-copy-out.ts'));
    const { parseIntoClientConfig } = await import('pg-connection-string');
    const startupMs = performance.now();
    const t = performance.now();
    const cpu = process.cpuUsage();
    const client = new pg.Client({ ...parseIntoClientConfig(request.url), password: request.password });
    await client.connect();
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const stream = client.query(new CopyOutStream(`COPY (SELECT ${request.columns!.map((name) => `"${name}"`).join(', ')} FROM ${request.table}) TO STDOUT (FORMAT binary)`));
    let bytes = 0;
    for await (const chunk of stream) bytes += (chunk as Buffer).length;
    await client.query('ROLLBACK');
    await client.end();
    if (bytes === 0) throw new Error('no COPY data');
    return { startupMs: startupMs - started, modelLoadMs: null, dataPathMs: performance.now() - t, clientCpuMs: cpuMs(cpu), rows: request.rows, peakRssMiB: peakRss(), vectorSha256: null };
  }
  const { createPostgresSource } = await agent('data-sources/postgres-source.ts');
  if (request.workload === 'floor') {
    const pg = (await import('pg')).default;
    const Cursor = (await import('pg-cursor')).default;
    const { parseIntoClientConfig } = await import('pg-connection-string');
    const startupMs = performance.now();
    const t = performance.now();
    const cpu = process.cpuUsage();
    const client = new pg.Client({ ...parseIntoClientConfig(request.url), password: request.password, types: { getTypeParser: () => (value: string) => value } });
    await client.connect();
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const cursor = client.query(new Cursor(`SELECT ${request.columns!.map((name) => `"${name}"`).join(', ')} FROM ${request.table}`, [], { rowMode: 'array' }));
    let total = 0;
    for (;;) {
      const batch = await cursor.read(request.batchRows);
      if (batch.length === 0) break;
      total += batch.length;
    }
    await cursor.close();
    await client.query('ROLLBACK');
    await client.end();
    return { startupMs: startupMs - started, modelLoadMs: null, dataPathMs: performance.now() - t, clientCpuMs: cpuMs(cpu), rows: total, peakRssMiB: peakRss(), vectorSha256: null };
  }
  const { evaluateDataset } = await agent('evaluation.ts');
  const { scoreColumnScorer } = await agent('scorers.ts');
  const { loadLocalModelScorer } = await agent('model-scorer.ts');
  const { resolveMetricSpec } = await import(join(request.root, 'packages/metrics/src/index.ts'));
  const startupMs = performance.now() - started;
  let modelLoadMs: number | null = null;
  const silent = { info() {}, warn() {}, error() {}, debug() {}, child: () => silent };
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
  const spec = { ...resolveMetricSpec({ task: 'binary', groups: [] }), groups };
  const source = createPostgresSource({ url: request.url, password: request.password, table: request.table, batchRows: request.batchRows });
  const fingerprint = request.workload === 'score_no_fingerprint' ? undefined : createHash('sha256');
  const t = performance.now();
  const cpu = process.cpuUsage();
  const outcome = await evaluateDataset({ source, spec, label, scorer, fingerprint: fingerprint ? (bytes: Uint8Array) => fingerprint.update(bytes) : undefined });
  fingerprint?.digest('hex');
  const dataPathMs = performance.now() - t;
  const clientCpuMs = cpuMs(cpu);
  await scorer.close?.(); // a model's worker threads end before the process does
  const vector = outcome.vector as Float64Array;
  const vectorSha256 = createHash('sha256').update(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength)).digest('hex');
  return { startupMs, modelLoadMs, dataPathMs, clientCpuMs, rows: request.rows, peakRssMiB: peakRss(), vectorSha256 };
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return Math.round((used.user + used.system) / 1000);
}

function peakRss(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}
