// site-data.ts — what the site's configuration names as its data: a short name for commitments and the ledger, and the
// PostgreSQL source built from `data.postgres` (its password read from a file or the environment at each read, never kept).
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { AgentConfig } from '../config.ts';
import { AgentError } from '../errors.ts';
import { createPostgresSource, describePostgresUrl } from './postgres-source.ts';
import type { DataSource } from './data-source.ts';

type PostgresConfig = NonNullable<AgentConfig['data']['postgres']>;

/**
 * A data-free name of the configured data, recorded with each dataset commitment and in the default dataset id: the
 * file's base name, or `postgres:<user@host:port/database>/<table>` (`…/query` for a query).
 */
export function siteDataName(config: Pick<AgentConfig, 'data'>): string {
  const { path, postgres } = config.data;
  if (postgres) return `postgres:${describePostgresUrl(postgres.url)}/${postgres.table ?? 'query'}`;
  return basename(path ?? '');
}

/** The ledger's dataset id when `privacy.dataset_id` is not set. */
export function defaultDatasetId(config: Pick<AgentConfig, 'data' | 'site_id' | 'privacy'>): string {
  return config.privacy.dataset_id ?? `${config.site_id}:${siteDataName(config)}`;
}

/** The role's password from password_file (first line) or password_env; undefined when neither is configured. */
export function readPostgresPassword(postgres: PostgresConfig, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (postgres.password_file !== undefined) {
    let text: string;
    try {
      text = readFileSync(postgres.password_file, 'utf8');
    } catch (cause) {
      throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', `data.postgres.password_file: cannot read ${basename(postgres.password_file)}`, { cause });
    }
    const password = text.split(/\r?\n/, 1)[0] ?? '';
    if (password === '') throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', 'data.postgres.password_file: the first line is empty');
    return password;
  }
  if (postgres.password_env !== undefined) {
    const password = env[postgres.password_env];
    if (!password) throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', `data.postgres.password_env: ${postgres.password_env} is not set`);
    return password;
  }
  return undefined;
}

/** The configured PostgreSQL source; limits default to the agent's (`limits.batch_rows`, `limits.max_rows`). */
export function openPostgresSource(config: Pick<AgentConfig, 'data' | 'limits'>, env: NodeJS.ProcessEnv = process.env): DataSource {
  const postgres = config.data.postgres;
  if (!postgres) throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', 'data.postgres is not configured');
  let query = postgres.query;
  if (postgres.query_file !== undefined) {
    try {
      query = readFileSync(postgres.query_file, 'utf8');
    } catch (cause) {
      throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', `data.postgres.query_file: cannot read ${basename(postgres.query_file)}`, { cause });
    }
  }
  return createPostgresSource({
    url: postgres.url,
    password: readPostgresPassword(postgres, env),
    query,
    table: postgres.table,
    columns: config.data.columns,
    batchRows: postgres.batch_rows ?? config.limits.batch_rows,
    maxRows: config.limits.max_rows,
    statementTimeoutMs: postgres.statement_timeout_ms,
    connectTimeoutMs: postgres.connect_timeout_ms,
  });
}
