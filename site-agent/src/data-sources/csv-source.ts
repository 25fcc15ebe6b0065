// csv-source.ts — a site's CSV file as typed column batches, parsed by DuckDB's CSV reader in one pass.
import { open } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { AgentError } from '../errors.ts';
import type { ColumnBatch, ColumnRequest, DataSource, DataSourceLimits, ReadRequest, ScoreHistogramRequest } from './data-source.ts';
import { MISSING_TOKENS } from './data-source.ts';
import { describeRelation, errorLine, isNumericType, openDuckDbEngine, sqlString, streamRelation } from './duckdb-table-reader.ts';
import type { DuckDbEngine, DuckDbEngineOptions, RelationColumn } from './duckdb-table-reader.ts';
import { countScoreHistogram } from './duckdb-score-histogram.ts';
import { fileIdentity } from './file-fingerprint.ts';
import { guardFileCount, guardFileRead, requirePlainFileName, requireStudyColumns, studyNames } from './file-source.ts';
import { basename } from 'node:path';

export interface CsvSourceOptions extends DataSourceLimits, DuckDbEngineOptions {
  readonly path: string;
  /** Field delimiter, one character. Default ','. */
  readonly delimiter?: string | undefined;
  /** Longest header line read, in bytes. Default 1 MiB. */
  readonly maxHeaderBytes?: number | undefined;
}

export const DEFAULT_MAX_HEADER_BYTES = 1024 * 1024; // 1 MiB
/** Bytes the engine reads per CSV buffer (its default, 32 MiB, makes the type sniffing and the first batch slow). */
const CSV_BUFFER_BYTES = 4 * 1024 * 1024; // 4 MiB; a line may be up to 2 MiB (the engine's max_line_size)

/**
 * CSV connector. Semantics: a header row names the columns (a UTF-8 BOM is skipped; names are trimmed and must be
 * distinct after mapping); `"` quotes, `""` escapes a quote; every row has as many cells as the header; cells are
 * trimmed; MISSING_TOKENS are missing. A column a caller reads as numbers is parsed by the engine when its sampled
 * cells all look numeric (then a later cell the engine cannot convert restarts the read with text parsing: see
 * ColumnBatch.restart), else each cell is checked against DECIMAL_PATTERN.
 */
export function createCsvSource(options: CsvSourceOptions): DataSource {
  requirePlainFileName(options.path);
  const delimiter = options.delimiter ?? ',';
  if ([...delimiter].length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', 'the CSV delimiter must be one character other than a quote or a line break');
  }
  const header = async (): Promise<string[]> => studyNames(await readHeader(options.path, delimiter, options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES), options.columns);
  /** The relation and columns of a read: `fast` reads the sampled numeric columns as numbers (see CsvConversionError). */
  const prepare = async (engine: DuckDbEngine, names: readonly string[], requests: readonly ColumnRequest[]) => {
    const fields = names.map((_, i) => `f${i}`);
    const base = `${sqlString(options.path)}, header = true, delim = ${sqlString(delimiter)}, quote = '"', escape = '"', strict_mode = true, nullstr = [${[...MISSING_TOKENS].map(sqlString).join(', ')}], buffer_size = ${CSV_BUFFER_BYTES}`;
    const sniffed = await describeRelation(engine, `read_csv(${base}, names = [${fields.map(sqlString).join(', ')}])`, csvError);
    const categorical = new Set(requests.filter((c) => c.kind === 'categorical').map((c) => c.name));
    const typed = (i: number): boolean => isNumericType(sniffed[i]!.type) && !categorical.has(names[i]!);
    return {
      relation: (fast: boolean): string =>
        `read_csv(${base}, auto_detect = false, columns = {${fields.map((f, i) => `${sqlString(f)}: '${fast && typed(i) ? 'DOUBLE' : 'VARCHAR'}'`).join(', ')}})`,
      column: (request: ColumnRequest, fast: boolean): RelationColumn => {
        const i = names.indexOf(request.name);
        return { request, relationName: fields[i]!, type: fast && typed(i) ? sniffed[i]!.type : 17 /* VARCHAR */ };
      },
    };
  };
  return {
    description: `csv ${basename(options.path)}`,
    columnNames: header,
    read(request: ReadRequest) {
      return guardFileRead(options.path, request, async function* () {
        const names = await header();
        requireStudyColumns(names, request.columns, options.columns);
        if (names.length === 0) return;
        const engine = await openDuckDbEngine(options, 'stream');
        try {
          const { relation, column } = await prepare(engine, names, request.columns);
          const stream = (fast: boolean) =>
            streamRelation({
              engine,
              relation: relation(fast),
              columns: request.columns.map((c) => column(c, fast)),
              batchRows: options.batchRows,
              maxRows: options.maxRows,
              signal: request.signal,
              describeError: csvError,
            });
          let restarted = false;
          try {
            yield* stream(true);
          } catch (error) {
            if (!(error instanceof CsvConversionError)) throw error;
            restarted = true;
          }
          if (restarted) {
            let first = true;
            for await (const batch of stream(false)) {
              yield first ? { ...batch, restart: true } : batch;
              first = false;
            }
            if (first) yield { rowCount: 0, columns: new Map(), percent: 100, restart: true } satisfies ColumnBatch;
          }
        } finally {
          engine.close();
        }
      });
    },
    countScoreHistogram(request: ScoreHistogramRequest) {
      return guardFileCount(options.path, request, async () => {
        const names = await header();
        const score: ColumnRequest = { name: request.score, kind: 'numeric' };
        const requests = [...request.columns, score];
        requireStudyColumns(names, requests, options.columns);
        const engine = await openDuckDbEngine(options);
        try {
          const { relation, column } = await prepare(engine, names, requests);
          const count = (fast: boolean) =>
            countScoreHistogram({
              ...request,
              engine,
              relation: relation(fast),
              columns: request.columns.map((c) => column(c, fast)),
              score: column(score, fast),
              maxRows: options.maxRows,
              describeError: csvError,
            });
          try {
            return await count(true);
          } catch (error) {
            if (!(error instanceof CsvConversionError)) throw error;
            return await count(false);
          }
        } finally {
          engine.close();
        }
      });
    },
    async close() {},
  };
}

/** A typed fast path met a cell the engine cannot convert; the read goes on as text (never surfaces to callers). */
class CsvConversionError extends AgentError {}

function csvError(error: unknown): AgentError {
  if (error instanceof AgentError) return error;
  const message = String((error as Error)?.message ?? '');
  const line = errorLine(error);
  const where = line === null ? '' : ` near line ${line}`;
  if (/Conversion Error|Could not convert/i.test(message)) return new CsvConversionError('FEDVAL_ERR_AGENT_DATA_MALFORMED', `a cell could not be converted${where}`);
  if (/No files found|Cannot open file|No such file/i.test(message)) return new AgentError('FEDVAL_ERR_AGENT_DATA_NOT_FOUND', 'the data file cannot be opened');
  // The engine's own message can quote a whole row: keep only what kind of problem it is and where.
  let what = 'not valid CSV';
  if (/Expected Number of Columns|too many columns|not enough columns/i.test(message)) what = 'a row does not have as many cells as the header';
  else if (/quote/i.test(message)) what = 'unterminated or misplaced quote';
  else if (/unicode|utf-?8/i.test(message)) what = 'not valid UTF-8';
  else if (/maximum line size/i.test(message)) what = 'a line is longer than the engine allows';
  return new AgentError('FEDVAL_ERR_AGENT_DATA_MALFORMED', `${what}${where}`);
}

/** The trimmed names of the header row (csv-parse on the file's first bytes). */
async function readHeader(path: string, delimiter: string, maxHeaderBytes: number): Promise<string[]> {
  const identity = await fileIdentity(path);
  const length = Math.min(identity.size, maxHeaderBytes);
  const buffer = Buffer.alloc(length);
  let handle;
  try {
    handle = await open(path, 'r');
    await handle.read(buffer, 0, length, 0);
  } catch (cause) {
    throw new AgentError('FEDVAL_ERR_AGENT_DATA_NOT_FOUND', 'the data file cannot be read', { cause });
  } finally {
    await handle?.close();
  }
  // Parse only the first line when it plainly ends at the first line feed (no quote left open before it): csv-parse
  // on the whole 1 MiB costs tens of milliseconds on every read.
  const lineFeed = buffer.indexOf(10);
  let quotes = 0;
  for (let i = 0; i < lineFeed; i += 1) if (buffer[i] === 34) quotes += 1;
  const firstLine = lineFeed >= 0 && quotes % 2 === 0 ? buffer.subarray(0, lineFeed + 1) : buffer;
  let records: string[][];
  try {
    records = parse(firstLine, { bom: true, trim: true, delimiter, to_line: 1, relax_column_count: true, skip_empty_lines: true }) as string[][];
  } catch (error) {
    if (identity.size > maxHeaderBytes) throw new AgentError('FEDVAL_ERR_AGENT_DATA_LIMIT', `the header row is longer than ${maxHeaderBytes} bytes`);
    throw new AgentError('FEDVAL_ERR_AGENT_DATA_MALFORMED', `the header row is not valid CSV (${(error as { code?: string }).code ?? 'CSV_ERROR'})`);
  }
  const first = records[0] ?? [];
  if (identity.size > maxHeaderBytes && !buffer.includes(10)) throw new AgentError('FEDVAL_ERR_AGENT_DATA_LIMIT', `the header row is longer than ${maxHeaderBytes} bytes`);
  return first;
}
