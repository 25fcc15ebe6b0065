// csv-source.ts — streams a site's CSV file in row chunks, with column mapping, limits and coded errors.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { parse } from 'csv-parse';
import { AgentError } from './errors.ts';

/** One data row keyed by study column names; a missing cell ('' or NA) is null. Never leaves the site. */
export type DataRow = Record<string, string | null>;

export interface CsvSourceOptions {
  path: string;
  /** Field delimiter. Default ','. */
  delimiter?: string;
  /** Study column name → local column name. Default: names are the same. */
  columns?: Readonly<Record<string, string>>;
  /** Rows per chunk. Default 16,384. */
  chunkRows?: number;
  /** Refuse files with more rows than this. Default 50,000,000. */
  maxRows?: number;
  /** Receives every byte of the file in order as it is read (e.g. to fingerprint exactly what was evaluated). */
  onBytes?: (bytes: Buffer) => void;
}

export interface RowChunk {
  rows: DataRow[];
  /** Share of the file's bytes read so far, 0–100. */
  percent: number;
  /** Study column names from the header. */
  columns: string[];
}

const MISSING = new Set(['', 'NA', 'N/A', 'NaN', 'null', 'NULL']);

/** Reads only the header line and returns the study column names it provides. */
export async function readCsvColumns(options: CsvSourceOptions): Promise<string[]> {
  const { onBytes: _onBytes, ...headerOptions } = options;
  for await (const chunk of readCsvChunks({ ...headerOptions, chunkRows: 1, maxRows: Number.MAX_SAFE_INTEGER }, true)) {
    return chunk.columns;
  }
  return [];
}

/** Fails with a coded error naming every study column the file lacks. */
export async function requireColumns(options: CsvSourceOptions, required: Iterable<string>): Promise<void> {
  const available = new Set(await readCsvColumns(options));
  const missing = [...new Set(required)].filter((name) => !available.has(name));
  if (missing.length > 0) {
    const local = missing.map((name) => (options.columns?.[name] && options.columns[name] !== name ? `${name} (local ${options.columns[name]})` : name));
    throw new AgentError('FEDVAL_ERR_AGENT_DATA_COLUMNS', `missing ${local.join(', ')}`);
  }
}

/** Streams the file in chunks of rows keyed by study column names. */
export async function* readCsvChunks(options: CsvSourceOptions, headerOnly = false): AsyncGenerator<RowChunk> {
  const chunkRows = options.chunkRows ?? 16_384;
  const maxRows = options.maxRows ?? 50_000_000;
  let size: number;
  try {
    const info = await stat(options.path);
    if (!info.isFile()) throw new Error('not a file');
    size = info.size;
  } catch (cause) {
    throw new AgentError('FEDVAL_ERR_AGENT_DATA_NOT_FOUND', options.path, { cause });
  }
  const rename = new Map(Object.entries(options.columns ?? {}).map(([study, local]) => [local, study]));
  let header: string[] = [];
  const parser = parse({
    delimiter: options.delimiter ?? ',',
    bom: true,
    trim: true,
    skip_empty_lines: true,
    relax_column_count: false,
    columns: (fileHeader: string[]) => {
      const names = fileHeader.map((name) => rename.get(name) ?? name);
      const seen = new Set<string>();
      for (const name of names) {
        if (seen.has(name)) throw new AgentError('FEDVAL_ERR_AGENT_DATA_MALFORMED', `duplicate column ${name}`);
        seen.add(name);
      }
      header = names;
      return names;
    },
    cast: (value: string) => (MISSING.has(value) ? null : value),
  });
  const input = createReadStream(options.path);
  input.on('error', (cause) => parser.destroy(new AgentError('FEDVAL_ERR_AGENT_DATA_NOT_FOUND', options.path, { cause })));
  const { onBytes } = options;
  if (onBytes) input.on('data', (bytes) => onBytes(bytes as Buffer));
  input.pipe(parser);
  let rows: DataRow[] = [];
  let total = 0;
  try {
    for await (const record of parser as AsyncIterable<DataRow>) {
      rows.push(record);
      total += 1;
      if (total > maxRows) throw new AgentError('FEDVAL_ERR_AGENT_DATA_LIMIT', `more than ${maxRows} rows`);
      if (rows.length >= chunkRows) {
        yield { rows, percent: percentRead(parser.info.bytes, size), columns: header };
        if (headerOnly) return;
        rows = [];
      }
    }
  } catch (error) {
    if (error instanceof AgentError) throw error;
    // csv-parse's own messages can quote cell content: keep only its code and the line number.
    const code = (error as { code?: string }).code ?? 'CSV_ERROR';
    throw new AgentError('FEDVAL_ERR_AGENT_DATA_MALFORMED', `${code} near line ${parser.info.lines}`);
  } finally {
    input.destroy();
  }
  if (rows.length > 0 || total === 0) yield { rows, percent: 100, columns: header };
}

function percentRead(bytes: number, size: number): number {
  return size === 0 ? 100 : Math.min(100, (bytes / size) * 100);
}
