// The coordinator's PostgreSQL store on a real throwaway server: the storage conformance suite SQLite passes, then what
// only PostgreSQL has — the advisory lock that keeps a second coordinator off the database (and what happens when the
// connection holding it is lost), connection and authentication failures as coded errors that never hold the
// password, and migrations that are idempotent, versioned and all-or-nothing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCoordinatorChecks } from '../../coordinator/src/coordinator-check.ts';
import { POSTGRES_MIGRATIONS, SCHEMA_VERSION_TABLE } from '../../coordinator/src/storage/postgres-migrations.ts';
import pg from 'pg';
import { postgresClientConfig } from '../../coordinator/src/storage/postgres-connection.ts';
import { openPostgresStore } from '../../coordinator/src/storage/postgres-store.ts';
import type { PostgresCoordinatorStore, PostgresStoreOptions } from '../../coordinator/src/storage/postgres-store.ts';
import { describeStoreConformance, pendingSites, study } from '../../coordinator/src/test-support/store-conformance.ts';
import { createCoordinatorRole } from '../helpers/coordinator-postgres.ts';
import type { CoordinatorRole } from '../helpers/coordinator-postgres.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { tcpProxy } from '../helpers/tcp-proxy.ts';
import type { TcpProxy } from '../helpers/tcp-proxy.ts';
import type { TestPostgres } from '../helpers/postgres.ts';

let server: TestPostgres;
let role: CoordinatorRole;
let databases = 0;
let database = '';

beforeAll(async () => {
  server = await startTestPostgres();
  role = await createCoordinatorRole(server);
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

/** Opens a store on `name` as the coordinator role and waits until it is connected, locked and migrated. */
async function openOn(name: string, options: Partial<PostgresStoreOptions> = {}): Promise<PostgresCoordinatorStore> {
  const store = openPostgresStore({ url: role.url(name), password: role.password, poolSize: 4, ...options });
  try {
    await store.ready();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/** Server processes of coordinator connections on a database. */
async function coordinatorBackends(name: string): Promise<number> {
  const { rows } = await server.sql(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'fedval-coordinator'`, [name]);
  return (rows[0] as { n: number }).n;
}

/** Ends every coordinator connection on a database from the server side, as a crash or a failover does, and waits until they are gone. */
async function terminateCoordinator(name: string, only: 'all' | 'lock' = 'all'): Promise<void> {
  const lockFilter = only === 'lock' ? `AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory')` : '';
  await server.sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'fedval-coordinator' ${lockFilter}`, [name]);
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    const { rows } = await server.sql(`SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND d.datname = $1`, [name]);
    if ((rows[0] as { n: number }).n === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('the coordinator connections did not end');
}

async function freshDatabase(): Promise<string> {
  databases += 1;
  database = `coord_${databases}`;
  await role.createDatabase(database);
  return database;
}

/** The conformance suite's database, emptied before each test (a new schema: cheaper than a new database, which checkpoints). */
const CONFORMANCE = 'coord_conformance';

describeStoreConformance('PostgreSQL', {
  async reset() {
    if (database !== CONFORMANCE) {
      database = CONFORMANCE;
      await role.createDatabase(CONFORMANCE);
    }
    await role.sql(CONFORMANCE, 'DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  },
  open: () => openOn(database),
  async crash() {
    await terminateCoordinator(database);
  },
  async setStudyColumn(column, value, studyId) {
    await role.sql(database, `UPDATE studies SET ${column} = $1 WHERE id = $2`, [value, studyId]);
  },
  async setSchemaVersion(version) {
    await role.sql(database, `UPDATE ${SCHEMA_VERSION_TABLE} SET version = $1`, [version]);
  },
  async cleanup() {
    // The next reset() empties the database; the server goes with the test file.
  },
});

describe('PostgresCoordinatorStore', () => {
  it('holds an advisory lock for as long as it is open: a second coordinator on the database is refused, one on another database is not', async () => {
    const name = await freshDatabase();
    const first = await openOn(name);
    const refused = await openOn(name).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toMatchObject({ code: 'FEDVAL_ERR_COORD_DATABASE_LOCKED' });
    expect((refused as Error).message).toMatch(/server process \d+ \(fedval-coordinator\) holds the advisory lock/);
    // The refused one left nothing behind: only the first one's lock connection (and the pool's) remain.
    await first.createStudy({ ...study, modelId: null, scoreColumn: 'score' });

    const other = await freshDatabase();
    const elsewhere = await openOn(other);
    await elsewhere.close();

    await first.close();
    expect(await coordinatorBackends(name)).toBe(0);
    const next = await openOn(name);
    expect((await next.getStudy(study.id))?.id).toBe(study.id);
    await next.close();
  });

  it('fails closed when the connection holding the lock is lost: every later operation is refused, and another coordinator may take over', async () => {
    const name = await freshDatabase();
    const lost: string[] = [];
    const store = await openOn(name, { onLockLost: (error) => lost.push(error.code) });
    await store.createStudy({ ...study, modelId: null, scoreColumn: 'score' });
    await terminateCoordinator(name, 'lock');
    const until = Date.now() + 5_000;
    while (lost.length === 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(lost).toEqual(['FEDVAL_ERR_COORD_DATABASE_LOCKED']);
    // The pool's connections still work, but a store without its lock must not write beside a successor.
    await expect(store.createRound({ id: 'r', studyId: study.id, state: 'dispatched', createdAt: 1, deadlineAt: 2, sites: pendingSites(['a'], 1) })).rejects.toMatchObject({
      code: 'FEDVAL_ERR_COORD_DATABASE_LOCKED',
    });
    await expect(store.getStudy(study.id)).rejects.toMatchObject({ code: 'FEDVAL_ERR_COORD_DATABASE_LOCKED' });
    const successor = await openOn(name);
    expect(await successor.getRound('r')).toBeUndefined();
    await successor.close();
    await store.close();
  });

  const LOCK_CHECK_MS = 250;
  /**
   * Runs `test` on a store of a fresh database reaching the server through a TCP proxy, checking its lock every
   * `LOCK_CHECK_MS`; `lost` collects why it lost it. Proxy connection 0 holds the lock, 1 is the pool's.
   */
  async function throughProxy(test: (context: { store: PostgresCoordinatorStore; proxy: TcpProxy; name: string; lost: string[] }) => Promise<void>): Promise<void> {
    const name = await freshDatabase();
    const proxy = tcpProxy(server.port);
    const lost: string[] = [];
    const url = `postgres://${role.role}@127.0.0.1:${await proxy.port}/${name}`;
    const store = openPostgresStore({ url, password: role.password, poolSize: 1, lockCheckMs: LOCK_CHECK_MS, onLockLost: (error) => lost.push(error.message) });
    try {
      await store.ready();
      await store.createStudy({ ...study, modelId: null, scoreColumn: 'score' }); // opens the pool's connection
      await test({ store, proxy, name, lost });
    } finally {
      await proxy.close();
      await store.close();
    }
  }
  /** Milliseconds until `lost` has an entry (at most 5 s). */
  async function untilLost(lost: string[]): Promise<number> {
    const since = Date.now();
    while (lost.length === 0 && Date.now() - since < 5_000) await new Promise((resolve) => setTimeout(resolve, 10));
    return Date.now() - since;
  }
  // A check starts at most one interval after the loss and times out one interval later; the rest is slack for a loaded machine.
  const WITHIN_TWO_CHECKS_MS = 2 * LOCK_CHECK_MS + 1_250;

  it('notices within two checks a lock lost behind a partition: the server ended the session, the coordinator heard nothing', async () => {
    await throughProxy(async ({ store, proxy, name, lost }) => {
      // A failover or partition: the lock's session ends on the server (the lock is free for a successor), and neither
      // its close nor anything else reaches the coordinator; keep-alive would take seconds at best, hours by default.
      proxy.partition();
      await terminateCoordinator(name, 'lock');
      const elapsed = await untilLost(lost);
      expect(lost).toEqual([expect.stringMatching(new RegExp(`: the advisory lock check on its connection got no answer within ${LOCK_CHECK_MS} ms; restart the coordinator$`))]);
      expect(elapsed).toBeLessThan(WITHIN_TWO_CHECKS_MS);
      await expect(store.getStudy(study.id)).rejects.toMatchObject({ code: 'FEDVAL_ERR_COORD_DATABASE_LOCKED' });
      const successor = await openOn(name);
      await successor.close();
    });
  });

  it('fails closed when its lock connection answers from a session that does not hold the lock (a transaction-mode pooler)', async () => {
    await throughProxy(async ({ store, proxy, lost }) => {
      expect(proxy.connections).toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 2 * LOCK_CHECK_MS)); // checks pass while the session is its own
      expect(lost).toEqual([]);
      // The lock connection's queries now reach the pool's (idle) server session, as a pooler handing out any session would.
      proxy.reroute(0, 1);
      const elapsed = await untilLost(lost);
      expect(lost).toEqual([expect.stringMatching(/: the connection holding the advisory lock no longer holds it; restart the coordinator$/)]);
      expect(elapsed).toBeLessThan(WITHIN_TWO_CHECKS_MS);
      await expect(store.createRound({ id: 'r', studyId: study.id, state: 'dispatched', createdAt: 1, deadlineAt: 2, sites: pendingSites(['a'], 1) })).rejects.toMatchObject({
        code: 'FEDVAL_ERR_COORD_DATABASE_LOCKED',
      });
    });
  });

  it('answers an unreachable server, a wrong password and a missing one with coded errors that never hold the password', async () => {
    const name = await freshDatabase();
    const lockLost: string[] = [];
    const errorOf = (options: Partial<PostgresStoreOptions> & { url?: string }) =>
      openOn(name, { ...options, onLockLost: (error) => lockLost.push(error.code) }).then(
        () => {
          throw new Error('expected the store to be refused');
        },
        (error: unknown) => error as Error & { code: string },
      );
    const secret = `not-${role.password}`;
    const closedPort = await errorOf({ url: `postgres://${role.role}@127.0.0.1:1/${name}`, password: secret, connectTimeoutMs: 2_000 });
    expect(closedPort.code).toBe('FEDVAL_ERR_COORD_DATABASE_UNREACHABLE');
    const wrong = await errorOf({ password: secret });
    expect(wrong.code).toBe('FEDVAL_ERR_COORD_DATABASE_AUTH');
    const none = await errorOf({ password: undefined });
    expect(none.code).toBe('FEDVAL_ERR_COORD_DATABASE_AUTH');
    for (const error of [closedPort, wrong, none]) {
      // Neither the message nor anything the error carries (its cause chain, serialized) holds the password.
      let text = `${error.message} ${JSON.stringify(error)}`;
      for (let cause: unknown = error.cause; cause; cause = (cause as { cause?: unknown }).cause) text += ` ${String((cause as Error).message)} ${JSON.stringify(cause)}`;
      expect(text).not.toContain(secret);
      expect(text).not.toContain(role.password);
    }
    expect(lockLost).toEqual([]); // a store that never held the lock never reports losing it
    // A store that could not open refuses operations with the same code instead of hanging.
    const unopened = openPostgresStore({ url: role.url(name), password: secret });
    await expect(unopened.siteKeys()).rejects.toMatchObject({ code: 'FEDVAL_ERR_COORD_DATABASE_AUTH' });
    await unopened.close();
  });

  it('migrates once to the current version with bytea columns, is idempotent on every start, and applies a failing migration not at all', async () => {
    const name = await freshDatabase();
    for (let start = 0; start < 3; start += 1) await (await openOn(name)).close();
    const version = await role.sql(name, `SELECT version FROM ${SCHEMA_VERSION_TABLE}`);
    expect(version.rows).toEqual([{ version: POSTGRES_MIGRATIONS.length }]);
    const binary = await role.sql(name, `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' AND data_type = 'bytea' ORDER BY 1, 2`);
    expect(binary.rows).toEqual([
      { table_name: 'round_contributions', column_name: 'ciphertexts' },
      { table_name: 'rounds', column_name: 'aggregate' },
      { table_name: 'rounds', column_name: 'encrypted_aggregate' },
      { table_name: 'studies', column_name: 'public_key' },
    ]);

    // A database where the first migration cannot run (a table of that name exists): refused, rolled back whole.
    const blocked = await freshDatabase();
    await role.sql(blocked, 'CREATE TABLE rounds (id text)');
    await expect(openOn(blocked)).rejects.toMatchObject({ code: 'FEDVAL_ERR_COORD_STORAGE', message: expect.stringContaining('migration to schema version 1 failed') });
    const tables = await role.sql(blocked, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`);
    expect(tables.rows.map((row: { table_name: string }) => row.table_name)).toEqual([SCHEMA_VERSION_TABLE, 'rounds']);
    expect((await role.sql(blocked, `SELECT version FROM ${SCHEMA_VERSION_TABLE}`)).rows).toEqual([{ version: 0 }]);
  });

  it("opens sessions that commit durably and time statements out whatever the server's defaults (this cluster: synchronous_commit off)", async () => {
    const name = await freshDatabase();
    expect((await server.sql('SHOW synchronous_commit')).rows).toEqual([{ synchronous_commit: 'off' }]);
    const config = postgresClientConfig({ url: `${role.url(name)}?options=-c%20work_mem%3D8MB`, password: role.password, statementTimeoutMs: 1234 });
    // TCP keep-alive probes start after 10 s of silence, not after the operating system's default (Linux: 2 h).
    expect(config).toMatchObject({ keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
    const client = new pg.Client(config);
    await client.connect();
    try {
      const settings = await client.query(`SELECT current_setting('synchronous_commit') AS sync, current_setting('statement_timeout') AS timeout, current_setting('work_mem') AS work_mem, current_setting('application_name') AS app`);
      // The URL's own options are kept beside ours.
      expect(settings.rows).toEqual([{ sync: 'on', timeout: '1234ms', work_mem: '8MB', app: 'fedval-coordinator' }]);
    } finally {
      await client.end();
    }
  });

  it('`fedval-coordinator check` connects, takes and gives back the lock and migrates; a wrong password fails with what to check', async () => {
    const name = await freshDatabase();
    const dir = mkdtempSync(join(tmpdir(), 'fedval-pg-check-'));
    try {
      const write = (password: string): string => {
        writeFileSync(join(dir, 'pg.password'), `${password}\n`);
        const config = join(dir, 'coordinator.yaml');
        writeFileSync(config, [`data_dir: ${join(dir, 'data')}`, 'listen: { port: 0 }', `sites: [{ id: site-a, token_sha256: ${'a'.repeat(64)} }]`, `storage: { postgres: { url: "${role.url(name)}", password_file: pg.password } }`].join('\n'));
        return config;
      };
      const ok = (await runCoordinatorChecks(write(role.password))).find((line) => line.check === 'storage');
      expect(ok).toEqual({ check: 'storage', status: 'ok', detail: `PostgreSQL ${role.role}@127.0.0.1:${server.port}/${name} connects, its lock is free and its schema is current` });
      expect(await coordinatorBackends(name)).toBe(0); // the check let go of everything
      const refused = (await runCoordinatorChecks(write('wrong-password-value'))).find((line) => line.check === 'storage');
      expect(refused).toMatchObject({ status: 'fail', code: 'FEDVAL_ERR_COORD_DATABASE_AUTH', fix: expect.stringContaining('password_file or password_env') });
      expect(JSON.stringify(refused)).not.toContain('wrong-password-value');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
