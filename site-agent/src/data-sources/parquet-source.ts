// parquet-source.ts — a site's Parquet file as typed column batches, read by DuckDB's Parquet reader.
import { basename } from 'node:path';
import { AgentError } from '../errors.ts';
import type { ColumnRequest, DataSource, DataSourceLimits, ReadRequest, ScoreHistogramRequest } from './data-source.ts';
import { countScoreHistogram } from './duckdb-score-histogram.ts';
import { describeRelation, openDuckDbEngine, sqlString, streamRelation } from './duckdb-table-reader.ts';
import type { DuckDbEngine, DuckDbEngineOptions, RelationColumn } from './duckdb-table-reader.ts';
import { fileIdentity } from './file-fingerprint.ts';
import { guardFileCount, guardFileRead, requirePlainFileName, requireStudyColumns, studyNames } from './file-source.ts';

export interface ParquetSourceOptions extends DataSourceLimits, DuckDbEngineOptions {
  readonly path: string;
}

/**
 * Parquet connector. Columns keep their Parquet types: a numeric request reads numbers (NULL and NaN are missing),
 * a text column read as numbers is checked cell by cell against DECIMAL_PATTERN; a categorical request reads text
 * (trimmed; MISSING_TOKENS are missing), integers as decimal digits, floating values in JavaScript's shortest form.
 * A truncated or non-Parquet file is FEDVAL_ERR_AGENT_DATA_MALFORMED before any batch.
 */
export function createParquetSource(options: ParquetSourceOptions): DataSource {
  requirePlainFileName(options.path);
  const relation = `read_parquet(${sqlString(options.path)})`;
  const schema = async (engine: DuckDbEngine) => {
    await fileIdentity(options.path);
    const described = await describeRelation(engine, relation, parquetError);
    return { described, names: studyNames(described.map((column) => column.name), options.columns) };
  };
  return {
    description: `parquet ${basename(options.path)}`,
    async columnNames() {
      const engine = await openDuckDbEngine(options, 'stream');
      try {
        return (await schema(engine)).names;
      } finally {
        engine.close();
      }
    },
    read(request: ReadRequest) {
      return guardFileRead(options.path, request, async function* () {
        const engine = await openDuckDbEngine(options, 'stream');
        try {
          const { described, names } = await schema(engine);
          requireStudyColumns(names, request.columns, options.columns);
          const columns = request.columns.map((c) => {
            const column = described[names.indexOf(c.name)]!;
            return { request: c, relationName: column.name, type: column.type };
          });
          yield* streamRelation({ engine, relation, columns, batchRows: options.batchRows, maxRows: options.maxRows, signal: request.signal, describeError: parquetError });
        } finally {
          engine.close();
        }
      });
    },
    countScoreHistogram(request: ScoreHistogramRequest) {
      return guardFileCount(options.path, request, async () => {
        const engine = await openDuckDbEngine(options);
        try {
          const { described, names } = await schema(engine);
          const score: ColumnRequest = { name: request.score, kind: 'numeric' };
          requireStudyColumns(names, [...request.columns, score], options.columns);
          const column = (c: ColumnRequest): RelationColumn => {
            const found = described[names.indexOf(c.name)]!;
            return { request: c, relationName: found.name, type: found.type };
          };
          return await countScoreHistogram({
            ...request,
            engine,
            relation,
            columns: request.columns.map(column),
            score: column(score),
            maxRows: options.maxRows,
            describeError: parquetError,
          });
        } finally {
          engine.close();
        }
      });
    },
    async close() {},
  };
}

function parquetError(error: unknown): AgentError {
  if (error instanceof AgentError) return error;
  const message = String((error as Error)?.message ?? '');
  if (/No files found|Cannot open file|No such file/i.test(message)) return new AgentError('FEDVAL_ERR_AGENT_DATA_NOT_FOUND', 'the data file cannot be opened');
  if (/magic|too small|truncated|footer|metadata|Invalid Input|Corrupt|IO Error/i.test(message)) {
    return new AgentError('FEDVAL_ERR_AGENT_DATA_MALFORMED', 'not a Parquet file, or the file is truncated or corrupt');
  }
  return new AgentError('FEDVAL_ERR_AGENT_DATA_MALFORMED', 'the Parquet file cannot be read');
}
