// postgres-config.ts — the PostgreSQL source built from the site configuration's `data.postgres`: the password read from
// a file or the environment at each open (never kept in the configuration), a data-free name for commitments.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { describePostgresUrl, resolvePostgresPassword } from '@fedval/postgres';
import type { AgentConfig } from '../config.ts';
import { AgentError } from '../errors.ts';
import { createPostgresSource } from './postgres-source.ts';
import type { DataSource, DataSourceLimits } from './data-source.ts';

/** `data.postgres` of a resolved configuration (file paths absolute). */
export type PostgresDataConfig = NonNullable<AgentConfig['data']['postgres']>;

/** `postgres:<user@host:port/database>/<table>` (`…/query` for a query): names the data without a password or the query text. */
export function postgresDataName(postgres: PostgresDataConfig): string {
  return `postgres:${describePostgresUrl(postgres.url)}/${postgres.table ?? 'query'}`;
}

/** The role's password from password_file (first line) or password_env; undefined when neither is configured. */
export function readPostgresPassword(postgres: PostgresDataConfig, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const resolved = resolvePostgresPassword(postgres, 'data.postgres', env);
  if (!resolved.ok) throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', resolved.problem);
  return resolved.password;
}

/** The configured PostgreSQL source. `data.postgres.batch_rows` overrides the agent's batch size for this source. */
export function openConfiguredPostgres(
  postgres: PostgresDataConfig,
  columns: Readonly<Record<string, string>> | undefined,
  limits: Omit<DataSourceLimits, 'columns'> = {},
  env: NodeJS.ProcessEnv = process.env,
): DataSource {
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
    columns,
    batchRows: postgres.batch_rows ?? limits.batchRows,
    maxRows: limits.maxRows,
    statementTimeoutMs: postgres.statement_timeout_ms,
    connectTimeoutMs: postgres.connect_timeout_ms,
  });
}
