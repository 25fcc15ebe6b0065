// open-data-source.ts — picks the connector for a site's configured data (data.path CSV, data.parquet, data.postgres) or a file named on the command line.
import { basename, extname } from 'node:path';
import { AgentError } from '../errors.ts';
import { createCsvSource } from './csv-source.ts';
import type { DataSource, DataSourceLimits } from './data-source.ts';
import type { DuckDbEngineOptions } from './duckdb-table-reader.ts';
import { createParquetSource } from './parquet-source.ts';
import { openConfiguredPostgres, postgresDataName } from './postgres-config.ts';
import type { PostgresDataConfig } from './postgres-config.ts';

/** The `data` section of the agent configuration, as far as the connectors need it. */
export interface DataConfig {
  readonly path?: string | undefined;
  readonly parquet?: string | undefined;
  readonly postgres?: PostgresDataConfig | undefined;
  readonly delimiter?: string | undefined;
  readonly columns?: Readonly<Record<string, string>> | undefined;
}

export type SourceOptions = Omit<DataSourceLimits, 'columns'> & DuckDbEngineOptions;

/** The connector for the configured data. */
export function openDataSource(data: DataConfig, options: SourceOptions = {}): DataSource {
  if (data.postgres !== undefined) return openConfiguredPostgres(data.postgres, data.columns, { batchRows: options.batchRows, maxRows: options.maxRows });
  if (data.parquet !== undefined) return createParquetSource({ ...options, path: data.parquet, columns: data.columns });
  if (data.path !== undefined) return createCsvSource({ ...options, path: data.path, delimiter: data.delimiter, columns: data.columns });
  throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', 'data: exactly one of data.path (a CSV file), data.parquet (a Parquet file) or data.postgres is required');
}

/** The connector for a file named on the command line: `.parquet` (or `.parq`) is Parquet, anything else CSV. */
export function openDataFile(path: string, options: SourceOptions & { delimiter?: string | undefined; columns?: Readonly<Record<string, string>> | undefined } = {}): DataSource {
  return isParquetPath(path) ? createParquetSource({ ...options, path }) : createCsvSource({ ...options, path });
}

export function isParquetPath(path: string): boolean {
  return ['.parquet', '.parq'].includes(extname(path).toLowerCase());
}

/** Base name of the configured data (for the dataset id and the commitment record); never a full path, URL password or query. */
export function dataSourceName(data: DataConfig): string {
  if (data.postgres !== undefined) return postgresDataName(data.postgres);
  return basename(data.parquet ?? data.path ?? 'data');
}
