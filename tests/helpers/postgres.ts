// postgres.ts — a throwaway PostgreSQL cluster for tests and benchmarks: initdb in a temporary directory, a free
// loopback port, its unix socket in that directory, run as an unprivileged account when the tests run as root.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const INSTALL = 'sudo apt-get install postgresql  (the PostgreSQL tests start a throwaway cluster with its initdb and pg_ctl; set FEDVAL_PG_BIN to use another bin directory)';

/** A running throwaway cluster. `readerUrl` has no password: the reader's password is `readerPassword`. */
export interface TestPostgres {
  /** Directory holding the cluster, its socket and its log; removed by stop(). */
  dir: string;
  port: number;
  database: string;
  /** The read-only login role sites are told to use. */
  reader: string;
  readerPassword: string;
  /** postgres://reader@127.0.0.1:port/database (password not included). */
  readerUrl: string;
  /** A connected superuser client over the unix socket, for setting up tables; closed by stop(). */
  admin: pg.Client;
  /** Runs SQL as the superuser. */
  sql(text: string, values?: unknown[]): Promise<pg.QueryResult>;
  /** Grants the reader SELECT on every table of the public schema (call after creating tables). */
  grantReader(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The bin directory of the newest PostgreSQL installed (Debian: /usr/lib/postgresql/<major>/bin), or FEDVAL_PG_BIN;
 * throws a sentence saying how to install it when there is none: a test that needs it fails, never skips.
 */
export function requirePostgresBin(): string {
  const fromEnv = process.env.FEDVAL_PG_BIN;
  if (fromEnv) {
    if (existsSync(join(fromEnv, 'initdb'))) return fromEnv;
    throw new Error(`FEDVAL_PG_BIN=${fromEnv} holds no initdb. Install PostgreSQL with: ${INSTALL}`);
  }
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (majors.length === 0) throw new Error(`this test needs PostgreSQL (${root}/<version>/bin/initdb), which is not installed. Install it with: ${INSTALL}`);
  return join(root, majors[0]!, 'bin');
}

/** PostgreSQL refuses to run as root: as root, the cluster runs as Debian's `postgres` account, else `nobody`. */
function clusterAccount(): { name: string; uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  for (const name of ['postgres', 'nobody']) {
    const found = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    if (found.status !== 0) continue;
    const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    return { name, uid: Number(found.stdout.trim()), gid: Number(gid.stdout.trim()) };
  }
  throw new Error('running as root, and neither a postgres nor a nobody account exists to run PostgreSQL as');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface TestPostgresOptions {
  /** Database created for the test. Default 'fedval'. */
  database?: string;
  /** Extra postgresql.conf lines (e.g. `statement_timeout = 100`). */
  conf?: string[];
}

/** Starts a throwaway cluster with a database, a superuser reachable over the socket and a read-only password role. */
export async function startTestPostgres(options: TestPostgresOptions = {}): Promise<TestPostgres> {
  const bin = requirePostgresBin();
  const account = clusterAccount();
  const dir = mkdtempSync(join(tmpdir(), 'fedval-pg-'));
  const data = join(dir, 'data');
  const run = (program: string, args: string[]): void => {
    const command = account ? ['runuser', ['-u', account.name, '--', join(bin, program), ...args]] as const : [join(bin, program), args] as const;
    execFileSync(command[0], [...command[1]], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  };
  if (account) {
    chownSync(dir, account.uid, account.gid);
    chmodSync(dir, 0o755);
  }
  const superuser = 'fedval_admin';
  const database = options.database ?? 'fedval';
  const reader = 'fedval_reader';
  const readerPassword = randomBytes(18).toString('base64url');
  try {
    // Local (socket) connections trust the OS account; TCP needs a SCRAM password: the sites' path is the tested one.
    run('initdb', ['-D', data, '-U', superuser, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync']);
    const conf = ['fsync = off', 'synchronous_commit = off', 'full_page_writes = off', 'shared_buffers = 32MB', 'max_connections = 30', ...(options.conf ?? [])];
    writeFileSync(join(data, 'postgresql.auto.conf'), `${conf.join('\n')}\n`);
    if (account) chownSync(join(data, 'postgresql.auto.conf'), account.uid, account.gid);
  } catch (cause) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${String((cause as { stderr?: unknown }).stderr ?? cause)}`, { cause });
  }
  let port = 0;
  for (let attempt = 0; ; attempt += 1) {
    port = await freePort();
    try {
      run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '30', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, 'start']);
      break;
    } catch (cause) {
      if (attempt >= 2) {
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`pg_ctl start failed: ${String((cause as { stderr?: unknown }).stderr ?? cause)}`, { cause });
      }
    }
  }
  let stopped = false;
  const stopCluster = (): void => {
    if (stopped) return;
    stopped = true;
    process.off('exit', stopCluster);
    try {
      run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  // A test process that dies without calling stop() still takes its cluster with it.
  process.on('exit', stopCluster);
  let admin: pg.Client | undefined;
  try {
    const bootstrap = new pg.Client({ host: dir, port, user: superuser, database: 'postgres' });
    await bootstrap.connect();
    await bootstrap.query(`CREATE DATABASE ${database}`);
    await bootstrap.query(`CREATE ROLE ${reader} LOGIN PASSWORD '${readerPassword}'`);
    await bootstrap.end();
    admin = new pg.Client({ host: dir, port, user: superuser, database });
    await admin.connect();
    // The role a site is advised to use: may read, may not write, and its sessions start read-only.
    await admin.query(`REVOKE CREATE ON SCHEMA public FROM PUBLIC; GRANT USAGE ON SCHEMA public TO ${reader}; ALTER ROLE ${reader} SET default_transaction_read_only = on`);
  } catch (error) {
    await admin?.end().catch(() => undefined);
    stopCluster();
    throw error;
  }
  const client = admin;
  return {
    dir,
    port,
    database,
    reader,
    readerPassword,
    readerUrl: `postgres://${reader}@127.0.0.1:${port}/${database}`,
    admin: client,
    sql: (text, values) => client.query(text, values),
    grantReader: async () => {
      await client.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${reader}`);
    },
    stop: async () => {
      await client.end().catch(() => undefined);
      stopCluster();
    },
  };
}

