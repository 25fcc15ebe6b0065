// coordinator-check.ts — `fedval-coordinator check`: the configuration, storage, TLS files and listen port checked before going live.
import { createServer } from 'node:net';
import { loadCoordinatorConfig } from './config.ts';
import type { CoordinatorConfig } from './config.ts';
import { acquireDataDirLock } from './storage/data-dir-lock.ts';
import { openCoordinatorStore } from './storage/open-store.ts';
import { loadTlsServerOptions } from './tls.ts';

/** One line of the check's report. */
export interface CoordinatorCheckLine {
  check: 'config' | 'storage' | 'tls_files' | 'listen';
  status: 'ok' | 'fail' | 'skipped';
  detail: string;
  /** What to do about a failure. */
  fix?: string;
  code?: string;
}

const codeOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

/** Runs every check in order; with an invalid configuration the others are `skipped`. Creates data_dir and its database as `start` would; changes nothing else. */
export async function runCoordinatorChecks(configPath: string): Promise<CoordinatorCheckLine[]> {
  let config: CoordinatorConfig;
  try {
    config = loadCoordinatorConfig(configPath);
  } catch (error) {
    return [
      { check: 'config', status: 'fail', detail: (error as Error).message, fix: 'correct the configuration file (README, "Coordinator configuration")', ...withCode(error) },
      ...(['storage', 'tls_files', 'listen'] as const).map((check) => ({ check, status: 'skipped' as const, detail: 'no valid configuration' })),
    ];
  }
  const lines: CoordinatorCheckLine[] = [{ check: 'config', status: 'ok', detail: `${config.sites.length} site(s), data_dir ${config.data_dir}` }];
  lines.push(await checkStorage(config));
  try {
    const tls = loadTlsServerOptions(config.tls);
    lines.push({ check: 'tls_files', status: 'ok', detail: tls ? `tls.cert and tls.key match${config.tls?.client_ca ? ', tls.client_ca read (mutual TLS)' : ''}` : 'none configured: serve behind a TLS proxy or set tls' });
  } catch (error) {
    lines.push({ check: 'tls_files', status: 'fail', detail: (error as Error).message, fix: 'point tls.cert and tls.key at readable PEM files, the key of the certificate', ...withCode(error) });
  }
  lines.push(await checkListen(config.listen.host, config.listen.port));
  return lines;
}

function withCode(error: unknown): { code?: string } {
  const code = codeOf(error);
  return code === undefined ? {} : { code };
}

/** The data directory can be taken (no other coordinator holds it) and its database opens at a schema this coordinator reads. */
async function checkStorage(config: CoordinatorConfig): Promise<CoordinatorCheckLine> {
  let lock;
  try {
    lock = acquireDataDirLock(config.data_dir);
  } catch (error) {
    const fix = codeOf(error) === 'FEDVAL_ERR_COORD_DATA_DIR_LOCKED' ? 'a coordinator runs on this data_dir: stop it first, or check another data_dir' : 'make data_dir writable by the coordinator user';
    return { check: 'storage', status: 'fail', detail: (error as Error).message, fix, ...withCode(error) };
  }
  let opened: ReturnType<typeof openCoordinatorStore> | undefined;
  try {
    opened = openCoordinatorStore(config);
    await opened.ready;
    return {
      check: 'storage',
      status: 'ok',
      detail: config.storage?.postgres ? `PostgreSQL ${opened.description.replace(/^postgres:/, '')} connects, its lock is free and its schema is current` : `SQLite database in ${config.data_dir} opens`,
    };
  } catch (error) {
    return { check: 'storage', status: 'fail', detail: (error as Error).message, fix: storageFix(config, codeOf(error)), ...withCode(error) };
  } finally {
    await opened?.store.close();
    lock.release();
  }
}

/** What to do about a storage failure. */
function storageFix(config: CoordinatorConfig, code: string | undefined): string {
  if (!config.storage?.postgres) return 'check the permissions and free space of data_dir, and the coordinator version';
  switch (code) {
    case 'FEDVAL_ERR_COORD_DATABASE_LOCKED':
      return 'a coordinator runs on this database: stop it first, or check another database';
    case 'FEDVAL_ERR_COORD_DATABASE_UNREACHABLE':
      return 'check storage.postgres.url (host, port, sslmode) and that the server accepts connections from here';
    case 'FEDVAL_ERR_COORD_DATABASE_AUTH':
      return 'check the role in storage.postgres.url and its password (password_file or password_env), and pg_hba.conf';
    case 'FEDVAL_ERR_COORD_CONFIG':
      return 'make storage.postgres.password_file readable, or set the variable storage.postgres.password_env names';
    default:
      return 'check that the role may create tables in the database, and the coordinator version';
  }
}

/** The listen address and port can be bound now (then released at once). Port 0 (any free port) always passes. */
function checkListen(host: string, port: number): Promise<CoordinatorCheckLine> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      const fix =
        error.code === 'EADDRINUSE' ? 'another process listens there: stop it or change listen.port' : error.code === 'EACCES' ? 'ports below 1024 need privileges: use a port above 1023 behind a proxy' : 'check listen.host is an address of this machine';
      resolve({ check: 'listen', status: 'fail', detail: `${host}:${port}: ${error.code ?? error.message}`, fix });
    });
    server.listen({ host, port, exclusive: true }, () => {
      server.close(() => resolve({ check: 'listen', status: 'ok', detail: `${host}:${port} is free` }));
    });
  });
}

/** The report as printed: one line per check, `ok`/`FAIL`/`skip`, the detail, and for a failure what to do. */
export function formatCoordinatorCheckLines(lines: readonly CoordinatorCheckLine[]): string {
  const label = { ok: 'ok  ', fail: 'FAIL', skipped: 'skip' } as const;
  return lines.map((line) => `${label[line.status]}  ${line.check.padEnd(10)} ${line.detail}${line.fix ? ` — ${line.fix}` : ''}\n`).join('');
}
