// open-store.ts — the store a configuration names: SQLite in data_dir (the default) or PostgreSQL (`storage.postgres`).
import { describePostgresUrl, resolvePostgresPassword } from '@fedval/postgres';
import type { CoordinatorConfig } from '../config.ts';
import { CoordinatorError } from '../errors.ts';
import { openPostgresStore } from './postgres-store.ts';
import { DATABASE_FILE, openSqliteStore } from './sqlite-store.ts';
import type { CoordinatorStore } from './store.ts';

export interface OpenedStore {
  store: CoordinatorStore;
  /** Settles when the store can be used (PostgreSQL: connected, locked, migrated); rejects with the coded error that prevents it. */
  ready: Promise<void>;
  /** Where the records are, for logs and the audit trail: never a password. */
  description: string;
}

export interface OpenStoreOptions {
  /** Environment the password variable (storage.postgres.password_env) is read from. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** PostgreSQL only: called once if the connection holding the coordinator's advisory lock is lost. */
  onLockLost?: (error: CoordinatorError) => void;
}

/** Opens the configured store. The password is read now, handed to the driver, and kept nowhere else. */
export function openCoordinatorStore(config: CoordinatorConfig, options: OpenStoreOptions = {}): OpenedStore {
  const postgres = config.storage?.postgres;
  if (postgres === undefined) {
    return { store: openSqliteStore(config.data_dir), ready: Promise.resolve(), description: `sqlite:${DATABASE_FILE}` };
  }
  const password = resolvePostgresPassword(postgres, 'storage.postgres', options.env);
  if (!password.ok) throw new CoordinatorError('FEDVAL_ERR_COORD_CONFIG', password.problem);
  const store = openPostgresStore({
    url: postgres.url,
    password: password.password,
    poolSize: postgres.pool_size,
    statementTimeoutMs: postgres.statement_timeout_ms,
    connectTimeoutMs: postgres.connect_timeout_ms,
    lockCheckMs: postgres.lock_check_ms,
    onLockLost: options.onLockLost,
  });
  return { store, ready: store.ready(), description: `postgres:${describePostgresUrl(postgres.url)}` };
}
