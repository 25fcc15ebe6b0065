// Issue 14's acceptance round, with real processes and a real PostgreSQL: one `fedval simulate` round with a signed ONNX
// gradient-boosted-trees bundle where site A reads OMOP CDM tables on PostgreSQL (examples/omop), site B a CSV file and
// site C a Parquet file; `--no-dp` equals `fedval-agent eval-local` on the pooled rows, and a DP round of the same shape
// is released with noisy metrics, wider intervals and the ε spent and left per site (differential privacy end to end).
// The pooled rows are those of the three bundled site files, so the exact round is also the signed ONNX bundle's
// federated round (tests/integration/onnx-model.test.ts packs it), and the DP round the noisy round that
// tests/integration/privacy.test.ts once ran beside an exact one of its own: each round is run once, here.
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { loadOmop } from '../../examples/omop/load-omop.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import type { TestPostgres } from '../helpers/postgres.ts';
import { DATA_DIR, REPO_ROOT, runCli, runJson } from '../helpers/run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-mixed-'));
const EXAMPLE = join(REPO_ROOT, 'examples/onnx');
const [siteA, siteB, siteC] = ['site-a.csv', 'site-b.csv', 'site-c.csv'].map((name) => join(DATA_DIR, name)) as [string, string, string];
const parquetC = join(dir, 'site-c.parquet');
const bundle = join(dir, 'gbt');
let db: TestPostgres;
let omopConfig: string;
const noDpWorkDir = join(dir, 'no-dp');
interface ExactRound {
  local: { metrics: Record<string, unknown> };
  federated: { metrics: Record<string, unknown>; round: { contributions: number }; privacy: { dp: unknown } };
}
let exactRun: Promise<ExactRound> | undefined;

/** The three sites' `--site` arguments: OMOP on PostgreSQL (site-a's patients), CSV (site-b), Parquet (site-c). */
const siteArguments = (): string[] => ['--site', `omop=${omopConfig}`, '--site', `csv=${siteB}`, '--site', `parquet=${parquetC}`];
const evaluation = ['--label', 'event5y', '--negative', '0', '--group', 'meno'];

beforeAll(async () => {
  db = await startTestPostgres({ database: 'fedval_omop' });
  // Site A: the bundled cohort loaded into OMOP tables by the example's loader, read back by its committed cohort query.
  expect(await loadOmop(db.admin, readFileSync(siteA, 'utf8'), { schema: 'cdm', grant: db.reader })).toBe(1815);
  writeFileSync(join(dir, 'reader.password'), `${db.readerPassword}\n`);
  omopConfig = join(dir, 'site-omop.yaml');
  writeFileSync(
    omopConfig,
    toYaml({
      coordinator: 'ws://127.0.0.1:1/ws',
      site_id: 'omop',
      data: {
        postgres: { url: db.readerUrl, password_file: './reader.password', query_file: join(REPO_ROOT, 'examples/omop/cohort.sql') },
        label: { column: 'event5y', positive: '1', negative: '0' },
      },
      data_dir: './data',
    }),
  );
  // Site C: a Parquet copy of site-c.csv made by the example's own tool (typed columns, NULL for empty cells).
  const made = await runNode(['examples/rotterdam/data/make-parquet.ts', '--csv', siteC, '--out', parquetC]);
  expect(made.code, made.stderr).toBe(0);
  // The sponsor's model: the ONNX gradient-boosted trees, packed and signed with the published EXAMPLE sponsor key.
  const key = join(dir, 'sponsor.key');
  copyFileSync(join(REPO_ROOT, 'examples/rotterdam/sponsor-example.key'), key);
  chmodSync(key, 0o600);
  const packed = await runJson<{ signer_fingerprint: string | null }>('fedval', [
    'models', 'pack', '--onnx', join(EXAMPLE, 'models/gradient-boosting.onnx'), '--features', join(EXAMPLE, 'gradient-boosting.features.yaml'), '--out', bundle, '--sign', key,
  ]);
  expect(packed.signer_fingerprint).toMatch(/^[0-9a-f]{64}$/);
}, 180_000);

afterAll(async () => {
  await db?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs a TypeScript script of the repository with this Node, as a user would. */
async function runNode(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

/**
 * The exact round (`--no-dp`) and eval-local on the pooled rows, run once: checked by the first test, and the reference
 * of the DP round's noise in the second (which runs it if the first was filtered out).
 */
function exactRound(): Promise<ExactRound> {
  exactRun ??= (async () => {
    const [first, ...rest] = [siteA, siteB, siteC].map((path) => readFileSync(path, 'utf8').trimEnd().split('\n'));
    const pooled = join(dir, 'pooled.csv');
    writeFileSync(pooled, `${[...first!, ...rest.flatMap((lines) => lines.slice(1))].join('\n')}\n`);
    // A second subgroup with age cut points: subgroups of both kinds scored by the ONNX bundle.
    const grouped = [...evaluation, '--group', 'age:50,65'];
    // eval-local runs while the simulation starts its processes: the two are independent.
    const [local, federated] = await Promise.all([
      runJson('fedval-agent', ['eval-local', '--data', pooled, '--model', bundle, ...grouped]),
      runJson<ExactRound['federated']>('fedval', ['simulate', ...siteArguments(), '--model', bundle, '--no-dp', '--work-dir', noDpWorkDir, ...grouped]),
    ]);
    return { local, federated };
  })();
  return exactRun;
}

describe('one round over PostgreSQL (OMOP), CSV and Parquet sites with an ONNX model', () => {
  it('simulate --no-dp equals eval-local on the pooled rows', async () => {
    const { local, federated } = await exactRound();
    expect(federated.metrics).toEqual(local.metrics);
    expect(federated.round.contributions).toBe(3);
    expect(federated.privacy.dp).toBeNull();
    // Every row with an outcome is scored (examples/onnx/README.md): 1694 at site A, 169 at B, 239 at C.
    expect(local.metrics.n).toBe(1694 + 169 + 239);
    expect(local.metrics.roc_auc).toBeGreaterThan(0.6);
    // Each site read its own kind of source: the generated site configurations' data sections say which.
    const dataOf = (site: string) => (parseYaml(readFileSync(join(noDpWorkDir, 'sites', site, 'site.yaml'), 'utf8')) as { data: Record<string, unknown> }).data;
    expect(Object.keys(dataOf('omop'))).toContain('postgres');
    expect(dataOf('csv').path).toBe(siteB);
    expect(dataOf('parquet').parquet).toBe(parquetC);
    expect(dataOf('parquet').path).toBeUndefined();
  }, 300_000);

  it('a DP round needs --expected-patients (simulate does not count Parquet or database rows), then is released', async () => {
    const refused = await runCli('fedval', ['simulate', ...siteArguments(), '--model', bundle, ...evaluation]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('FEDVAL_ERR_CLI_USAGE');
    expect(refused.stderr).toContain('--expected-patients');
    expect(refused.stderr).toContain('omop, parquet');

    // No subgroup: the whole budget goes to the overall metrics compared with the exact round's below.
    const overall = evaluation.filter((arg) => arg !== '--group' && arg !== 'meno');
    const released = await runJson<{
      metrics: Record<string, unknown>;
      round: { state: string; contributions: number };
      privacy: {
        dp: { epsilon: number; delta: number; blocks: { sigma: number }[]; sites: { site_id: string; epsilon_spent: number; epsilon_remaining: number }[] } | null;
        encryption: { scheme: string } | null;
      };
    }>('fedval', ['simulate', ...siteArguments(), '--model', bundle, '--epsilon', '1', '--delta', '1e-6', '--expected-patients', '2100', ...overall]);
    expect(released.round.state).toBe('aggregated');
    expect(released.round.contributions).toBe(3);
    expect(released.privacy.dp?.epsilon).toBeCloseTo(1, 6);
    expect(released.privacy.dp?.sites.map((site) => site.site_id).sort()).toEqual(['csv', 'omop', 'parquet']);
    for (const site of released.privacy.dp?.sites ?? []) expect(site.epsilon_spent).toBeGreaterThan(0);
    expect(typeof released.metrics.roc_auc).toBe('number');

    // Noisy metrics with wider intervals, and ε spent and left per site.
    const dp = released.privacy.dp!;
    expect(dp).toMatchObject({ epsilon: expect.any(Number), delta: 1e-6, rho: expect.any(Number), mechanism: expect.any(String) });
    expect(dp.epsilon).toBeLessThanOrEqual(1);
    expect(dp.blocks.length).toBeGreaterThan(0);
    for (const block of dp.blocks) expect(block.sigma).toBeGreaterThan(0);
    expect(dp.sites).toHaveLength(3);
    for (const site of dp.sites) {
      expect(site.epsilon_spent).toBeGreaterThan(0);
      expect(site.epsilon_remaining).toBeGreaterThan(0);
    }
    expect(released.privacy.encryption?.scheme).toBe('bfv');
    const noisy = released.metrics as { roc_auc: number; roc_auc_ci95: [number, number] };
    const reference = (await exactRound()).federated.metrics as { roc_auc: number; roc_auc_ci95: [number, number] };
    expect(Math.abs(noisy.roc_auc - reference.roc_auc)).toBeLessThan(0.05);
    const width = (metrics: { roc_auc_ci95: [number, number] }) => metrics.roc_auc_ci95[1] - metrics.roc_auc_ci95[0];
    expect(width(noisy)).toBeGreaterThanOrEqual(width(reference));
  }, 300_000);
});
