// OMOP CDM on a real PostgreSQL: a bundled validation cohort loaded into OMOP tables by examples/omop/load-omop.ts,
// read back by the example's cohort query through the agent's PostgreSQL source, gives exactly the statistics of the
// CSV it was loaded from; and in a simulated round where one site reads OMOP and two read CSV, `--no-dp` equals
// eval-local on the pooled rows.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { loadOmop } from '../../examples/omop/load-omop.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import type { TestPostgres } from '../helpers/postgres.ts';
import { DATA_DIR, REPO_ROOT, runCli, runJson } from '../helpers/run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-omop-'));
const model = join(REPO_ROOT, 'examples/rotterdam/model');
const siteA = join(DATA_DIR, 'site-a.csv');
let db: TestPostgres;
let omopConfig: string;

beforeAll(async () => {
  db = await startTestPostgres({ database: 'fedval_omop' });
  const persons = await loadOmop(db.admin, readFileSync(siteA, 'utf8'), { schema: 'cdm', grant: db.reader });
  expect(persons).toBe(1815);
  writeFileSync(join(dir, 'reader.password'), `${db.readerPassword}\n`);
  // The example's own configuration, pointed at the throwaway server (its query file is the committed cohort.sql).
  const example = readFileSync(join(REPO_ROOT, 'examples/omop/site-omop.yaml'), 'utf8');
  const { postgres } = (await import('yaml')).parse(example).data as { postgres: Record<string, unknown> };
  expect(postgres.query_file).toBe('./cohort.sql');
  omopConfig = join(dir, 'site-omop.yaml');
  writeFileSync(
    omopConfig,
    toYaml({
      coordinator: 'ws://127.0.0.1:1/ws',
      site_id: 'site-omop',
      token: 'a-long-enough-token-1234',
      data: {
        postgres: { url: db.readerUrl, password_file: './reader.password', query_file: join(REPO_ROOT, 'examples/omop/cohort.sql') },
        label: { column: 'event5y', positive: '1', negative: '0' },
      },
      data_dir: './data',
    }),
  );
}, 120_000);

afterAll(async () => {
  await db?.stop();
});

describe('OMOP CDM v5.4 on PostgreSQL', () => {
  it('the cohort query returns exactly the CSV the tables were loaded from', async () => {
    const result = await db.sql(`SET ROLE ${db.reader}; ${readFileSync(join(REPO_ROOT, 'examples/omop/cohort.sql'), 'utf8')}`);
    await db.sql('RESET ROLE');
    const rows = (Array.isArray(result) ? result.at(-1)! : result).rows as Record<string, unknown>[];
    const text = (value: unknown) => (value === null ? '' : String(value));
    const fromOmop = rows.map((row) => ['age', 'meno', 'size', 'grade', 'nodes', 'pgr', 'er', 'hormon', 'event5y'].map((column) => text(row[column])).join(','));
    const csv = readFileSync(siteA, 'utf8').trimEnd().split('\n');
    expect(csv[0]).toBe('age,meno,size,grade,nodes,pgr,er,hormon,event5y');
    expect(fromOmop).toEqual(csv.slice(1));
  });

  it('eval-local on the OMOP query gives the same statistics as on the CSV (model, subgroups)', async () => {
    const args = ['--label', 'event5y', '--negative', '0', '--model', model, '--group', 'meno', '--group', 'age:50,65', '--threshold', '0.3'];
    const fromCsv = await runJson('fedval-agent', ['eval-local', '--data', siteA, ...args]);
    const fromOmop = await runJson<{ metrics: Record<string, unknown>; source: { file: string } }>('fedval-agent', ['eval-local', '--config', omopConfig, ...args]);
    expect(fromOmop.metrics).toEqual(fromCsv.metrics);
    expect(fromOmop.source.file).toBe(`postgres:fedval_reader@127.0.0.1:${db.port}/fedval_omop/query`);
    expect(fromCsv.metrics.n).toBeGreaterThan(1500);
    expect((fromCsv.metrics.excluded as Record<string, number>).missing_label).toBeGreaterThan(0);
  }, 180_000);

  it('a wrong password fails eval-local with FEDVAL_ERR_AGENT_DB_AUTH and is never printed', async () => {
    const wrong = join(dir, 'wrong.yaml');
    writeFileSync(join(dir, 'wrong.password'), 'Not-The-Password-4711\n');
    writeFileSync(wrong, readFileSync(omopConfig, 'utf8').replace('./reader.password', './wrong.password'));
    const run = await runCli('fedval-agent', ['eval-local', '--config', wrong, '--label', 'event5y', '--model', model]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('FEDVAL_ERR_AGENT_DB_AUTH');
    expect(run.stderr + run.stdout).not.toContain('Not-The-Password-4711');
    expect(run.stderr + run.stdout).not.toContain(db.readerPassword);
  }, 60_000);

  it('in a round, a site whose database refuses its password refuses the task coded, charges nothing and sends nothing', async () => {
    const wrong = join(dir, 'round-wrong.yaml');
    writeFileSync(join(dir, 'wrong.password'), 'Not-The-Password-4711\n');
    writeFileSync(wrong, readFileSync(omopConfig, 'utf8').replace('./reader.password', './wrong.password'));
    const workDir = join(dir, 'round-wrong');
    // One other site beside the refusing one: the round needs both, and a third would contribute nothing more to check.
    const run = await runCli(
      'fedval',
      ['simulate', '--site', `omop=${wrong}`, '--site', `b=${join(DATA_DIR, 'site-b.csv')}`, '--work-dir', workDir, '--expected-patients', '2500', '--label', 'event5y', '--negative', '0', '--model', model, '--json'],
      { timeoutMs: 280_000 },
    );
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('omop: FEDVAL_ERR_AGENT_DB_AUTH');
    expect(run.stderr + run.stdout).not.toContain('Not-The-Password-4711');
    // The refusing site's own ledger: nothing spent, no round charged.
    const budget = await runJson<{ spent: { epsilon: number }; rounds: unknown[] }>('fedval-agent', ['budget', '--config', join(workDir, 'sites/omop/site.yaml')]);
    expect(budget.spent.epsilon).toBe(0);
    expect(budget.rounds).toEqual([]);
    // Its audit trail records the refusal and no contribution.
    const trail = readFileSync(join(workDir, 'sites/omop/data/audit.jsonl'), 'utf8');
    expect(trail).toContain('FEDVAL_ERR_AGENT_DB_AUTH');
    expect(trail).not.toContain('contribution.sent');
  }, 300_000);

  // The example model bundle's federated round over the three bundled sites (simulate-equals-local.test.ts points here).
  it('simulate --no-dp with an OMOP site and two CSV sites equals eval-local on the pooled rows', async () => {
    const others = ['site-b.csv', 'site-c.csv'].map((name) => join(DATA_DIR, name));
    const [first, ...rest] = [siteA, ...others].map((path) => readFileSync(path, 'utf8').trimEnd().split('\n'));
    const pooled = join(dir, 'pooled.csv');
    writeFileSync(pooled, `${[...first!, ...rest.flatMap((lines) => lines.slice(1))].join('\n')}\n`);
    const args = ['--label', 'event5y', '--negative', '0', '--model', model, '--group', 'meno'];
    // eval-local runs while the simulation starts its processes: the two are independent.
    const [local, federated] = await Promise.all([
      runJson('fedval-agent', ['eval-local', '--data', pooled, ...args]),
      runJson('fedval', ['simulate', '--site', `omop=${omopConfig}`, '--site', `b=${others[0]}`, '--site', `c=${others[1]}`, '--no-dp', ...args]),
    ]);
    expect(federated.metrics).toEqual(local.metrics);
    expect(local.metrics.n).toBeGreaterThan(2000);
    expect(local.metrics.roc_auc).toBeGreaterThan(0.55);
  }, 300_000);
});
