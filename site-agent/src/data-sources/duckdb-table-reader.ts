// duckdb-table-reader.ts — streams requested columns of a DuckDB relation (a CSV or Parquet file) into typed column batches.
import { DuckDBInstance, DuckDBTypeId, DuckDBVarCharVector } from '@duckdb/node-api';
import type { DuckDBConnection, DuckDBDataChunk, DuckDBResult } from '@duckdb/node-api';
import duckdb from '@duckdb/node-bindings';
import { availableParallelism } from 'node:os';
import { AgentError } from '../errors.ts';
import { CategoricalDictionary } from './categorical-dictionary.ts';
import { collectYoungGarbage } from './young-garbage.ts';
import { columnKey, DECIMAL_PATTERN, DEFAULT_BATCH_ROWS, DEFAULT_MAX_ROWS, MISSING_TOKENS } from './data-source.ts';
import type { BatchColumn, ColumnBatch, ColumnKey, ColumnRequest } from './data-source.ts';

/** The embedded engine's resources; limits of one read. */
export interface DuckDbEngineOptions {
  /** Engine worker threads of a count in the engine (countScoreHistogram). Default: the machine's available parallelism, at most 4. */
  readonly threads?: number | undefined;
  /**
   * Engine worker threads of a read that streams its rows to JavaScript in batches (a model, a fitted grid, numeric
   * cuts). Default 1: the engine produces rows only while JavaScript fetches them, and in order, so more threads
   * contend with the JavaScript thread that scores them (measured on 2 cores: 1 thread read a 1M-row CSV for the
   * Rotterdam model in 0.47 s against 0.68 s with 2; README, *Data sources*).
   */
  readonly streamThreads?: number | undefined;
  /** Most memory the engine may use, as DuckDB reads it ('512MB', '2GB'). Default '1GB'. */
  readonly memoryLimit?: string | undefined;
}

export const DEFAULT_DUCKDB_ENGINE_OPTIONS = Object.freeze({
  threads: Math.min(4, availableParallelism()),
  streamThreads: 1,
  memoryLimit: '1GB',
});

/** An open connection to the process's in-memory engine (no database file; nothing is written, no extension is downloaded). */
export interface DuckDbEngine {
  readonly connection: DuckDBConnection;
  /**
   * A query on `connection` failed with `error`: if it says the database was invalidated (a DuckDB FATAL error), the
   * shared instance is dropped and closed, so the next read creates a fresh one.
   */
  failed(error: unknown): void;
  close(): void;
}

/**
 * The process's engines, one per (threads, memory limit): creating a DuckDB instance costs ~20 ms of CPU and several
 * MiB of fresh allocations (its catalog), a connection under 1 ms, so every read opens a connection to a shared
 * instance instead of an instance of its own (perf in tests/bench/scale.ts: creating instances was about 45% of the sites'
 * CPU in a round). Reads stay isolated: each relation is an inline read_csv/read_parquet of its own query, nothing is created in
 * the catalog, and the instance keeps no file (temp_directory '' : nothing spills to disk). Its configuration is
 * locked at creation (a SET on any connection is refused, so no read can change the next one's limits), and it caches
 * no file contents between reads (enable_external_file_cache false: each read sees the file as it is now).
 */
const instances = new Map<string, SharedInstance>();

/** A shared instance, the reads connecting to it right now, and whether it was dropped (closed once none is). */
interface SharedInstance {
  readonly key: string;
  readonly instance: Promise<DuckDBInstance>;
  connecting: number;
  dropped: boolean;
}

function sharedInstance(threads: number, memoryLimit: string): SharedInstance {
  const key = `${threads}\u0000${memoryLimit}`;
  let shared = instances.get(key);
  if (shared === undefined) {
    const created = DuckDBInstance.create(':memory:', {
      threads: String(threads),
      memory_limit: memoryLimit,
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
      // Never spill to disk: row-level data stays in memory (an in-memory engine would otherwise use ./.tmp).
      temp_directory: '',
      enable_external_file_cache: 'false',
      // Last: every option above is fixed for the instance's life.
      lock_configuration: 'true',
    });
    const entry: SharedInstance = { key, instance: created, connecting: 0, dropped: false };
    shared = entry;
    instances.set(key, entry);
    // A failed creation (a memory limit DuckDB refuses) is not kept: the next read reports it again.
    created.catch(() => {
      if (instances.get(key) === entry) instances.delete(key);
    });
  }
  return shared;
}

/**
 * Forgets a shared instance (the next read creates another) and closes it once no read is connecting to it: closing
 * an instance while a connect to it is under way can crash the process. Connections already open finish their reads.
 */
function dropInstance(shared: SharedInstance): void {
  if (instances.get(shared.key) === shared) instances.delete(shared.key);
  if (shared.dropped) return;
  shared.dropped = true;
  closeWhenIdle(shared);
}

function closeWhenIdle(shared: SharedInstance): void {
  if (shared.dropped && shared.connecting === 0) shared.instance.then((opened) => opened.closeSync(), () => undefined);
}

/** True for a DuckDB error after which its database cannot be used again ("FATAL Error", "database has been invalidated"). */
function invalidatesDatabase(error: unknown): boolean {
  for (let cause: unknown = error, depth = 0; cause instanceof Error && depth < 4; cause = cause.cause, depth += 1) {
    if (/FATAL Error|database has been invalidated/.test(cause.message)) return true;
  }
  return false;
}

/**
 * Closes the process's shared engines (the agent stops); a read still running finishes on its connection, and the next
 * read creates a fresh engine.
 */
export async function closeDuckDbEngines(): Promise<void> {
  const open = [...instances.values()];
  for (const shared of open) dropInstance(shared);
  await Promise.allSettled(open.map((shared) => shared.instance));
}

/**
 * A connection to the process's engine for `options`, for a count in the engine or, with `use` 'stream', for a read
 * streamed in batches (`streamThreads` threads); close() closes the connection, the engine stays for the next read.
 */
export async function openDuckDbEngine(options: DuckDbEngineOptions = {}, use: 'count' | 'stream' = 'count'): Promise<DuckDbEngine> {
  const threads = use === 'stream' ? (options.streamThreads ?? DEFAULT_DUCKDB_ENGINE_OPTIONS.streamThreads) : (options.threads ?? DEFAULT_DUCKDB_ENGINE_OPTIONS.threads);
  const shared = sharedInstance(threads, options.memoryLimit ?? DEFAULT_DUCKDB_ENGINE_OPTIONS.memoryLimit);
  shared.connecting += 1;
  let connection: DuckDBConnection;
  try {
    connection = await (await shared.instance).connect();
  } finally {
    shared.connecting -= 1;
    closeWhenIdle(shared);
  }
  let closed = false;
  return {
    connection,
    failed(error) {
      if (invalidatesDatabase(error)) dropInstance(shared);
    },
    close() {
      if (closed) return;
      closed = true;
      connection.closeSync();
    },
  };
}

/** A SQL string literal. */
export function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** A SQL identifier. */
export function sqlIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

const MISSING_LIST = `(${[...MISSING_TOKENS].map(sqlString).join(', ')})`;
const DECIMAL_SQL = sqlString(DECIMAL_PATTERN.source.slice(1, -1));

const FLOATING_TYPES = new Set([
  DuckDBTypeId.TINYINT, DuckDBTypeId.SMALLINT, DuckDBTypeId.INTEGER, DuckDBTypeId.UTINYINT, DuckDBTypeId.USMALLINT,
  DuckDBTypeId.UINTEGER, DuckDBTypeId.FLOAT, DuckDBTypeId.DOUBLE,
]);
const NUMERIC_TYPES = new Set([...FLOATING_TYPES, DuckDBTypeId.BIGINT, DuckDBTypeId.UBIGINT, DuckDBTypeId.HUGEINT, DuckDBTypeId.UHUGEINT, DuckDBTypeId.DECIMAL, DuckDBTypeId.BOOLEAN]);

/** True when the engine holds the column as a number (then a numeric request needs no text parsing). */
export function isNumericType(type: DuckDBTypeId): boolean {
  return NUMERIC_TYPES.has(type);
}

/** One requested column, with where it is in the relation and how the engine holds it. */
export interface RelationColumn {
  readonly request: ColumnRequest;
  /** The relation's column name (an identifier the reader quotes). */
  readonly relationName: string;
  readonly type: DuckDBTypeId;
}

type Transfer = 'double' | 'text' | 'number-dictionary';

/** How one requested column is selected from the relation and carried to JavaScript. */
export interface PlannedColumn {
  readonly key: ColumnKey;
  readonly expression: string;
  readonly transfer: Transfer;
  readonly kind: 'numeric' | 'categorical';
}

/** The SQL expression and transfer of a requested column (the same for a streamed read and an engine count). */
export function planColumn(column: RelationColumn): PlannedColumn {
  const name = sqlIdentifier(column.relationName);
  const key = columnKey(column.request);
  if (column.request.kind === 'numeric') {
    if (isNumericType(column.type)) return { key, kind: 'numeric', transfer: 'double', expression: `CAST(${name} AS DOUBLE)` };
    // Text: strict decimals only; a missing token or NULL is NaN (missing), any other text +Infinity (present, not a number).
    const t = `trim(CAST(${name} AS VARCHAR))`;
    return {
      key,
      kind: 'numeric',
      transfer: 'double',
      expression: `CASE WHEN ${t} IS NULL OR ${t} IN ${MISSING_LIST} THEN 'NaN'::DOUBLE WHEN regexp_full_match(${t}, ${DECIMAL_SQL}) THEN coalesce(TRY_CAST(${t} AS DOUBLE), 'Infinity'::DOUBLE) ELSE 'Infinity'::DOUBLE END`,
    };
  }
  if (FLOATING_TYPES.has(column.type)) return { key, kind: 'categorical', transfer: 'number-dictionary', expression: `CAST(${name} AS DOUBLE)` };
  if (column.type === DuckDBTypeId.VARCHAR) return { key, kind: 'categorical', transfer: 'text', expression: name };
  return { key, kind: 'categorical', transfer: 'text', expression: `CAST(${name} AS VARCHAR)` };
}

/** Column storage of one batch, reused from batch to batch. */
interface ColumnBuffer {
  readonly planned: PlannedColumn;
  readonly doubles: Float64Array | null;
  readonly codes: Int32Array | null;
  readonly dictionary: CategoricalDictionary | null;
}

export interface StreamRelationOptions {
  readonly engine: DuckDbEngine;
  /** SQL of the relation read, e.g. `read_parquet('x.parquet')`. */
  readonly relation: string;
  readonly columns: readonly RelationColumn[];
  readonly batchRows?: number | undefined;
  readonly maxRows?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Maps an engine error to a coded AgentError that quotes no cell. */
  readonly describeError: (error: unknown) => AgentError;
}

/**
 * Streams the requested columns in batches of `batchRows` rows; the batch's arrays are reused for the next batch.
 * While the consumer works on one engine chunk, the engine already produces the next.
 */
export async function* streamRelation(options: StreamRelationOptions): AsyncGenerator<ColumnBatch, void, undefined> {
  const batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
  const maxRows = options.maxRows ?? DEFAULT_MAX_ROWS;
  const planned = options.columns.map(planColumn);
  const buffers: ColumnBuffer[] = planned.map((p) => ({
    planned: p,
    doubles: p.kind === 'numeric' || p.transfer === 'number-dictionary' ? new Float64Array(batchRows) : null,
    codes: p.kind === 'categorical' ? new Int32Array(batchRows) : null,
    dictionary: p.kind === 'categorical' ? new CategoricalDictionary() : null,
  }));
  const select = planned.length > 0 ? planned.map((p, i) => `${p.expression} AS c${i}`).join(', ') : '1 AS c0';
  const { connection } = options.engine;
  let result: DuckDBResult;
  try {
    result = await connection.stream(`SELECT ${select} FROM ${options.relation}`);
  } catch (error) {
    options.engine.failed(error);
    throw options.describeError(error);
  }
  const abort = (): void => connection.interrupt();
  options.signal?.addEventListener('abort', abort, { once: true });
  let filled = 0;
  let total = 0;
  const emit = (): ColumnBatch => {
    const columns = new Map<ColumnKey, BatchColumn>();
    for (const buffer of buffers) {
      if (buffer.planned.kind === 'numeric') columns.set(buffer.planned.key, { kind: 'numeric', values: buffer.doubles!.subarray(0, filled) });
      else columns.set(buffer.planned.key, { kind: 'categorical', codes: buffer.codes!.subarray(0, filled), levels: buffer.dictionary!.levels });
    }
    let percent: number | null = null;
    try {
      const progress = connection.progress.percentage;
      if (progress >= 0) percent = Math.min(100, progress);
    } catch {
      percent = null;
    }
    const batch: ColumnBatch = { rowCount: filled, columns, percent };
    filled = 0;
    return batch;
  };
  try {
    let pending: Promise<DuckDBDataChunk | null> = result.fetchChunk();
    for (;;) {
      let chunk: DuckDBDataChunk | null;
      try {
        chunk = await pending;
      } catch (error) {
        options.engine.failed(error);
        options.signal?.throwIfAborted();
        throw options.describeError(error);
      }
      options.signal?.throwIfAborted();
      if (!chunk || chunk.rowCount === 0) break;
      pending = result.fetchChunk();
      // Keep the next fetch's rejection from being unhandled while this chunk is copied.
      pending.catch(() => undefined);
      let offset = 0;
      const n = chunk.rowCount;
      total += n;
      if (total > maxRows) throw new AgentError('FEDVAL_ERR_AGENT_DATA_LIMIT', `more than ${maxRows} rows`);
      while (offset < n) {
        const take = Math.min(n - offset, batchRows - filled);
        buffers.forEach((buffer, c) => copyColumn(chunk, c, offset, take, buffer, filled));
        filled += take;
        offset += take;
        if (offset === n) {
          // Everything is copied out: release the chunk's native buffers now (its strings can pin whole file buffers)
          // rather than whenever the garbage collector finalizes the wrapper; memory then stays bounded by the batch.
          duckdb.data_chunk_reset(chunk.chunk);
        }
        if (filled === batchRows) {
          yield emit();
          collectYoungGarbage(batchRows);
        }
      }
    }
    if (filled > 0) yield emit();
  } finally {
    options.signal?.removeEventListener('abort', abort);
  }
}

/** Copies rows [from, from + count) of a chunk's column into the batch buffer at `at`. */
function copyColumn(chunk: DuckDBDataChunk, column: number, from: number, count: number, buffer: ColumnBuffer, at: number): void {
  const n = chunk.rowCount;
  const vector = duckdb.data_chunk_get_vector(chunk.chunk, column);
  const validity = duckdb.vector_get_validity(vector, Math.ceil(n / 64) * 8) as Uint8Array | null;
  const { transfer } = buffer.planned;
  if (transfer === 'double' || transfer === 'number-dictionary') {
    const bytes = duckdb.vector_get_data(vector, n * 8);
    const values =
      bytes.byteOffset % 8 === 0 ? new Float64Array(bytes.buffer, bytes.byteOffset, n) : new Float64Array(bytes.slice().buffer, 0, n);
    const out = buffer.doubles!;
    out.set(values.subarray(from, from + count), at);
    if (validity) {
      for (let i = 0; i < count; i += 1) {
        const row = from + i;
        if (((validity[row >>> 3] as number) & (1 << (row & 7))) === 0) out[at + i] = Number.NaN;
      }
    }
    if (transfer === 'number-dictionary') {
      const codes = buffer.codes!;
      const dictionary = buffer.dictionary!;
      for (let i = 0; i < count; i += 1) codes[at + i] = dictionary.codeOfNumber(out[at + i] as number);
    }
    return;
  }
  // VARCHAR: 16 bytes per row; a string of at most 12 bytes is inline after its 4-byte length.
  const bytes = duckdb.vector_get_data(vector, n * 16);
  const words = bytes.byteOffset % 4 === 0 ? new Uint32Array(bytes.buffer, bytes.byteOffset, n * 4) : new Uint32Array(bytes.slice().buffer, 0, n * 4);
  const codes = buffer.codes!;
  const dictionary = buffer.dictionary!;
  let long: DuckDBVarCharVector | null = null;
  for (let i = 0; i < count; i += 1) {
    const row = from + i;
    if (validity && ((validity[row >>> 3] as number) & (1 << (row & 7))) === 0) {
      codes[at + i] = -1;
      continue;
    }
    const length = words[row * 4] as number;
    if (length > 12) {
      long ??= DuckDBVarCharVector.fromRawVector(vector, n);
      codes[at + i] = dictionary.codeOfText(long.getItem(row) ?? '');
      continue;
    }
    let w1 = words[row * 4 + 1] as number;
    let w2 = words[row * 4 + 2] as number;
    let w3 = words[row * 4 + 3] as number;
    if (length < 12) {
      // Bytes past the end are not promised to be zero: mask them.
      if (length < 4) w1 &= length === 0 ? 0 : 0xffffffff >>> (32 - 8 * length);
      if (length <= 4) w2 = 0;
      else if (length < 8) w2 &= 0xffffffff >>> (32 - 8 * (length - 4));
      if (length <= 8) w3 = 0;
      else w3 &= 0xffffffff >>> (32 - 8 * (length - 8));
    }
    codes[at + i] = dictionary.codeOfInline(length, w1, w2, w3, bytes, row * 16 + 4);
  }
}

/** Column names and engine types of a relation, read from its schema (a CSV's sniffed sample, a Parquet footer). */
export async function describeRelation(engine: DuckDbEngine, relation: string, describeError: (error: unknown) => AgentError): Promise<{ name: string; type: DuckDBTypeId }[]> {
  try {
    const result = await engine.connection.run(`SELECT * FROM ${relation} LIMIT 0`);
    return result.columnNames().map((name, i) => ({ name, type: result.columnTypeId(i) }));
  } catch (error) {
    engine.failed(error);
    throw describeError(error);
  }
}

/** The line number an engine error names, if any (the rest of its message may quote cells and is dropped). */
export function errorLine(error: unknown): number | null {
  const match = /Line: (\d+)/.exec(String((error as Error)?.message ?? ''));
  return match ? Number(match[1]) : null;
}
