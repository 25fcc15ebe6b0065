// End to end on PostgreSQL: a real coordinator process configured with `storage.postgres` (its password in a file) runs
// one round with two real agents to its result — every record in the database, none in SQLite — and a second
// coordinator on the same database refuses to start. (The encrypted path's records — contributions, public keys,
// enrollments, releases — are the storage conformance suite's, tests/integration/postgres-store.test.ts.)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { readAuditLog } from '@fedval/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectControlCharactersRefused } from '../../coordinator/src/test-support/control-character-requests.ts';
import { createCoordinatorRole } from '../helpers/coordinator-postgres.ts';
import type { CoordinatorRole } from '../helpers/coordinator-postgres.ts';
import { startDeployment, waitForRoundClosed, waitForSites } from '../helpers/deployment.ts';
import type { Deployment } from '../helpers/deployment.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import type { TestPostgres } from '../helpers/postgres.ts';
import { DATA_DIR, REPO_ROOT, runCli } from '../helpers/run-cli.ts';

const SITES = ['site-1', 'site-2'];
const DATABASE = 'coordinator';

/** Two site files from GBSG with a fixed, documented risk score. */
function writeSiteFiles(dir: string): string[] {
  const rows = parse(readFileSync(join(DATA_DIR, 'gbsg.csv')), { columns: true }) as Record<string, string>[];
  const lines = rows.map((row) => {
    const z = -2 + 0.04 * Number(row.nodes) + 0.3 * Number(row.grade) - 0.002 * Number(row.pgr) + 0.01 * Number(row.age);
    return `${row.status},${(1 / (1 + Math.exp(-z))).toFixed(6)}`;
  });
  return [lines.slice(0, 340), lines.slice(340)].map((part, i) => {
    const path = join(dir, `site-${i + 1}.csv`);
    writeFileSync(path, `status,score\n${part.join('\n')}\n`);
    return path;
  });
}

describe('a coordinator on PostgreSQL', () => {
  let server: TestPostgres;
  let role: CoordinatorRole;
  let deployment: Deployment;
  let storageYaml: string;
  let files: string[];

  beforeAll(async () => {
    server = await startTestPostgres();
    role = await createCoordinatorRole(server);
    const url = await role.createDatabase(DATABASE);
    const secrets = mkdtempSync(join(tmpdir(), 'fedval-pg-secret-'));
    writeFileSync(join(secrets, 'coordinator-pg.password'), `${role.password}\n`, { mode: 0o600 });
    storageYaml = `storage: { postgres: { url: "${url}", password_file: ${join(secrets, 'coordinator-pg.password')}, pool_size: 4 } }`;
    deployment = await startDeployment(SITES, { coordinatorYaml: [storageYaml] });
    files = writeSiteFiles(deployment.dir);
    // Two sites: their administrators accept a release minimum of 2 (the default policy.min_sites is 3).
    for (const [i, site] of SITES.entries()) deployment.startAgent(site, files[i]!, { label: 'status', policy: 'min_sites: 2' });
    await waitForSites(deployment, SITES);
  }, 60_000);

  afterAll(async () => {
    await deployment?.stop();
    await server?.stop();
  });

  it('refuses a control character in any free-text field with a coded 400, never a 500 from PostgreSQL (which refuses U+0000 in text)', async () => {
    await expectControlCharactersRefused(deployment.api, SITES, ['\u0000', '\u001f', '\u007f']);
    // The web console's round page looks the id up in the store too: not found (404), never a 500.
    const login = await fetch(`${deployment.url}/console/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: deployment.apiTokens.auditor }),
      redirect: 'manual',
    });
    expect(login.status).toBe(303);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const page = await fetch(`${deployment.url}/console/rounds/a%00b`, { headers: { cookie } });
    expect(page.status).toBe(404);
    expect(await page.text()).toContain('FEDVAL_ERR_COORD_ROUND_NOT_FOUND');
  });

  it('runs a round to its result with every record in PostgreSQL', async () => {
    const study = await deployment.api('POST', '/api/studies', {
      name: 'on postgres',
      score_column: 'score',
      metric_spec: { bins: 50, threshold: 0.3 },
      sites: SITES,
      quorum: 2,
      contribution: 'plaintext',
      release: { min_sites: 2 },
    });
    expect(study.status, JSON.stringify(study.body)).toBe(201);
    const round = await deployment.api('POST', `/api/studies/${study.body.study_id as string}/rounds`);
    expect(round.status, JSON.stringify(round.body)).toBe(201);
    const roundId = round.body.round_id as string;
    const closed = await waitForRoundClosed(deployment, roundId);
    expect(closed).toMatchObject({ state: 'aggregated', contributions: 2 });
    const released = closed.result as { metrics: Record<string, unknown> };

    // The released metrics are those of the three files pooled, computed locally by eval-local.
    const pooled = join(deployment.dir, 'pooled.csv');
    writeFileSync(pooled, `status,score\n${files.flatMap((file) => readFileSync(file, 'utf8').trimEnd().split('\n').slice(1)).join('\n')}\n`);
    const local = await runCli('fedval-agent', ['eval-local', '--data', pooled, '--label', 'status', '--score', 'score', '--threshold', '0.3', '--bins', '50', '--json']);
    expect(local.code, local.stderr).toBe(0);
    expect(released.metrics).toEqual(JSON.parse(local.stdout).metrics);

    // Everything the coordinator keeps is in the database; the data directory holds no SQLite database.
    const rows = async (sql: string, values?: unknown[]) => (await role.sql(DATABASE, sql, values)).rows;
    expect(await rows('SELECT state, contributions, octet_length(aggregate) > 0 AS summed, result_json IS NOT NULL AS finalized FROM rounds WHERE id = $1', [roundId])).toEqual([
      { state: 'aggregated', contributions: 2, summed: true, finalized: true },
    ]);
    expect(await rows(`SELECT site_id, status, contribution_sha256 IS NOT NULL AS hashed FROM round_sites WHERE round_id = $1 ORDER BY site_id`, [roundId])).toEqual(
      SITES.map((site) => ({ site_id: site, status: 'contributed', hashed: true })),
    );
    expect((await rows('SELECT id FROM sites ORDER BY id')).map((row) => row.id)).toEqual(SITES);
    expect(existsSync(join(deployment.coordinatorDataDir, 'coordinator.sqlite'))).toBe(false);

    // The audit trail names where the records are, never the password.
    const trail = readFileSync(join(deployment.coordinatorDataDir, 'audit.jsonl'), 'utf8');
    expect(trail).not.toContain(role.password);
    const loaded = readAuditLog(join(deployment.coordinatorDataDir, 'audit.jsonl')).entries.find((entry) => entry.action === 'config.loaded');
    expect(loaded?.details.storage).toBe(`postgres:${role.role}@127.0.0.1:${server.port}/${DATABASE}`);
  }, 60_000);

  /** A coordinator configuration of its own (data directory, no agents) on the same database. */
  function writeOwnConfig(): string {
    const dir = mkdtempSync(join(tmpdir(), 'fedval-pg-coordinator-'));
    const config = join(dir, 'coordinator.yaml');
    writeFileSync(config, ['listen: { host: 127.0.0.1, port: 0 }', `data_dir: ${join(dir, 'data')}`, 'sites:', `  - { id: site-1, token_sha256: ${'a'.repeat(64)} }`, storageYaml].join('\n'));
    return config;
  }

  /** Starts `fedval-coordinator start`; `output` collects its stdout and stderr, `exited` its exit status. */
  function startCoordinator(config: string): { output: () => string; listening: Promise<void>; exited: Promise<number | null>; stop: () => Promise<number | null> } {
    const child = spawn(process.execPath, ['coordinator/src/main.ts', 'start', '--config', config], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let onListening: () => void = () => undefined;
    const listening = new Promise<void>((resolve) => (onListening = resolve));
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('"event":"listening"')) onListening();
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const stop = (): Promise<number | null> => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    };
    return { output: () => output, listening, exited, stop };
  }

  it('refuses a second coordinator on the same database (check and start), naming the lock and not the password', async () => {
    const config = writeOwnConfig();
    // `fedval-coordinator check` says so before anyone tries to start it.
    const check = await runCli('fedval-coordinator', ['check', '--config', config, '--json']);
    expect(check.code).toBe(1);
    const storage = (JSON.parse(check.stdout) as { checks: { check: string; status: string; code?: string; fix?: string }[] }).checks.find((line) => line.check === 'storage');
    expect(storage).toMatchObject({ status: 'fail', code: 'FEDVAL_ERR_COORD_DATABASE_LOCKED', fix: expect.stringContaining('a coordinator runs on this database') });
    expect(check.stdout + check.stderr).not.toContain(role.password);

    const second = startCoordinator(config);
    expect(await second.exited).toBe(1);
    expect(second.output()).toContain('FEDVAL_ERR_COORD_DATABASE_LOCKED');
    expect(second.output()).not.toContain('"event":"listening"');
    expect(second.output()).not.toContain(role.password);
    // The first one is untouched.
    expect((await deployment.api('GET', '/api/sites')).status).toBe(200);
  }, 30_000);

  it('stops with exit status 1 when it loses the connection holding its lock, and its successor takes the database', async () => {
    await deployment.stop(); // SIGTERM: the lock goes with its session
    const config = writeOwnConfig();
    const successor = startCoordinator(config);
    await successor.listening;
    // The server ends the lock's session (as a failover or a network cut would).
    await server.sql(`SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()`);
    expect(await successor.exited).toBe(1);
    expect(successor.output()).toContain('lost the PostgreSQL advisory lock; stopping');
    expect(successor.output()).toContain('FEDVAL_ERR_COORD_DATABASE_LOCKED');
    expect(successor.output()).not.toContain(role.password);
    // The lock went with it: the next coordinator starts on the same records.
    const next = startCoordinator(config);
    await next.listening;
    expect((await role.sql(DATABASE, 'SELECT count(*)::int AS n FROM rounds')).rows).toEqual([{ n: 1 }]);
    expect(await next.stop()).toBe(0);
  }, 30_000);
});
