// run-all.ts — runs every benchmark of tests/bench one after the other (they compete for the CPU otherwise) and prints
// one JSON document: { machine, benches: { <name>: <its JSON output> } }. A bench that fails is reported, not hidden.
// Run: pnpm bench   (or: node tests/bench/run-all.ts [name ...] to run some only)
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

const BENCHES = [
  'models-inference',
  'onnx-inference',
  'onnx-site-throughput',
  'site-throughput',
  'postgres-throughput',
  'coordinator-store',
  'he-bench',
  'round-encryption',
  'trust-overhead',
  'preauth-memory',
  'key-holder-verify',
  'dp-sampler',
  'dp-release',
  'dp-utility',
  'dp-fairness',
  'grid-utility',
  'survival-dp',
  'secagg-primitives',
  'secagg-resume',
  'report',
] as const;

const chosen = process.argv.slice(2);
const unknown = chosen.filter((name) => !(BENCHES as readonly string[]).includes(name));
if (unknown.length > 0) {
  process.stderr.write(`run-all: unknown bench ${unknown.join(', ')}; one of ${BENCHES.join(', ')}\n`);
  process.exit(2);
}
const benches: Record<string, unknown> = {};
for (const name of chosen.length > 0 ? chosen : BENCHES) {
  process.stderr.write(`run-all: ${name}…\n`);
  const started = Date.now();
  const run = spawnSync(process.execPath, [fileURLToPath(new URL(`./${name}.ts`, import.meta.url))], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 });
  const seconds = (Date.now() - started) / 1000;
  try {
    benches[name] = { seconds, result: JSON.parse(run.stdout) as unknown };
  } catch {
    benches[name] = { seconds, failed: true, exit_code: run.status, stdout_tail: run.stdout.slice(-2000) };
  }
}
const machine = { node: process.version, cpus: cpus().length, cpu_model: cpus()[0]?.model ?? null, memory_gib: Math.round(totalmem() / 2 ** 30) };
process.stdout.write(`${JSON.stringify({ machine, benches }, null, 2)}\n`);
