// onnx-site-throughput.ts — a site's throughput with a model on a large CSV and Parquet file: `fedval-agent eval-local --model`
// with the ONNX gradient-boosted-trees bundle and with the Rotterdam TF.js bundle, as a real process, against the floor of
// reading the file's bytes in the same run; peak memory from /proc (Linux). Prints JSON.
// Run: node tests/bench/onnx-site-throughput.ts [--rows N]   (default 1,000,000 rows: site-a rows repeated)
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { saveOnnxBundle } from '@fedval/models';
import type { ModelBundleDescription } from '@fedval/models';
import { parse as parseYaml } from 'yaml';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const AGENT = join(REPO, 'site-agent/src/main.ts');
const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000000' } } });
const totalRows = Number(values.rows);

const work = mkdtempSync(join(tmpdir(), 'fedval-onnx-throughput-'));

/** Writes `rows` data rows (the bundled site-a rows, repeated) and returns the file. */
async function writeCsv(name: string, rows: number): Promise<string> {
  const [header, ...lines] = readFileSync(join(REPO, 'examples/rotterdam/data/site-a.csv'), 'utf8').trim().split('\n');
  const path = join(work, name);
  const out = createWriteStream(path);
  const block = 10_000;
  out.write(`${header}\n`);
  for (let written = 0; written < rows; written += block) {
    const count = Math.min(block, rows - written);
    let text = '';
    for (let i = 0; i < count; i++) text += `${lines[(written + i) % lines.length]}\n`;
    if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  return path;
}

/** The same rows as a Parquet file next to the CSV (DuckDB's COPY, zstd). */
async function toParquet(csv: string): Promise<string> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const parquet = csv.replace(/\.csv$/, '.parquet');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const quote = (text: string): string => `'${text.replaceAll("'", "''")}'`;
  await connection.run(`COPY (SELECT * FROM read_csv(${quote(csv)})) TO ${quote(parquet)} (FORMAT parquet, COMPRESSION zstd)`);
  connection.closeSync();
  instance.closeSync();
  return parquet;
}

/** Seconds to stream every byte of the file (the floor any reader of it pays). */
async function byteReadSeconds(path: string): Promise<number> {
  const start = performance.now();
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) bytes += (chunk as Buffer).length;
  if (bytes === 0) throw new Error('empty file');
  return (performance.now() - start) / 1000;
}

/** Runs eval-local as a process: wall seconds and peak resident memory (VmHWM, polled from /proc). */
async function evalLocal(data: string, model: string): Promise<{ seconds: number; peakMiB: number | null }> {
  const start = performance.now();
  const child = spawn(process.execPath, [AGENT, 'eval-local', '--data', data, '--label', 'event5y', '--model', model, '--json'], {
    cwd: REPO,
    env: { ...process.env, FEDVAL_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let peakKiB: number | null = null;
  const poll = setInterval(() => {
    readFile(`/proc/${child.pid}/status`, 'utf8').then(
      (status) => {
        const kib = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
        if (Number.isFinite(kib)) peakKiB = Math.max(peakKiB ?? 0, kib);
      },
      () => undefined,
    );
  }, 50);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearInterval(poll);
  if (code !== 0) throw new Error(`eval-local exited ${code}: ${stderr.trim().split('\n').pop()}`);
  return { seconds: (performance.now() - start) / 1000, peakMiB: peakKiB === null ? null : Math.round(peakKiB / 1024) };
}

const results: Record<string, unknown>[] = [];
try {
  const gbt = join(work, 'gbt-bundle');
  const description = parseYaml(readFileSync(join(REPO, 'examples/onnx/gradient-boosting.features.yaml'), 'utf8')) as ModelBundleDescription;
  await saveOnnxBundle(gbt, new Uint8Array(readFileSync(join(REPO, 'examples/onnx/models/gradient-boosting.onnx'))), description);
  const models = { 'onnx gradient-boosted trees': gbt, 'tfjs rotterdam logistic': join(REPO, 'examples/rotterdam/model') };
  const big = await writeCsv('big.csv', totalRows);
  const tiny = await writeCsv('tiny.csv', 10);
  const files = { csv: { big, tiny }, parquet: { big: await toParquet(big), tiny: await toParquet(tiny) } };
  for (const [format, { big: data, tiny: small }] of Object.entries(files)) for (const [model, dir] of Object.entries(models)) {
    const byteSeconds = await byteReadSeconds(data);
    // Start-up (process, imports, model load) measured on a 10-row file, reported separately and subtracted.
    const startup = await evalLocal(small, dir);
    const run = await evalLocal(data, dir);
    const dataSeconds = Math.max(run.seconds - startup.seconds, 1e-9);
    results.push({
      format,
      model,
      rows: totalRows,
      startupSeconds: Number(startup.seconds.toFixed(3)),
      totalSeconds: Number(run.seconds.toFixed(3)),
      rowsPerSecond: Math.round(totalRows / dataSeconds),
      byteReadRowsPerSecond: Math.round(totalRows / byteSeconds),
      ratioToByteRead: Number((byteSeconds / dataSeconds).toFixed(4)),
      peakMiB: run.peakMiB,
    });
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify({ benchmark: 'onnx-site-throughput', path: 'CSV and Parquet, eval-local process', node: process.version, results }, null, 2)}\n`);
