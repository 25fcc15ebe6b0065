// postgres-source.ts — reads a site's PostgreSQL table or query as typed column batches: one READ ONLY transaction,
// a server-side cursor (a suspended portal, fetched batch by batch), coded errors that never echo data or passwords.
import pg from 'pg';
import type { FieldDef } from 'pg';
import Cursor from 'pg-cursor';
import { parseIntoClientConfig } from 'pg-connection-string';
import { AgentError } from '../errors.ts';
import { columnKey, DECIMAL_PATTERN, DEFAULT_BATCH_ROWS, DEFAULT_MAX_ROWS, MISSING_TOKENS } from './data-source.ts';
import type { BatchColumn, ColumnBatch, ColumnKey, ColumnRequest, DataSource, DataSourceLimits, ReadRequest } from './data-source.ts';

export const DEFAULT_POSTGRES_LIMITS = Object.freeze({
  statementTimeoutMs: 300_000, // ms, longest the server may work on one statement or one batch fetch (5 min)
  connectTimeoutMs: 10_000, // ms, longest to wait for the server to accept the connection
});

export interface PostgresSourceOptions extends DataSourceLimits {
  /**
   * libpq-style connection URL, `postgres://user@host:port/database?sslmode=verify-full`, without a password (a
   * password in the URL is refused: it would sit in the configuration and in logs).
   */
  url: string;
  /** The role's password (from password_file or password_env); undefined for passwordless authentication. */
  password?: string | undefined;
  /** A SELECT whose result columns are the study's columns. Exactly one of query and table. */
  query?: string | undefined;
  /** A table or view name, optionally schema-qualified (`cdm.cohort`). Exactly one of query and table. */
  table?: string | undefined;
  /** Longest the server may work on one statement or one batch fetch, in ms. Default 300,000 (5 min). */
  statementTimeoutMs?: number | undefined;
  /** Longest to wait for a connection, in ms. Default 10,000. */
  connectTimeoutMs?: number | undefined;
}

/** Every value arrives as PostgreSQL's own text (no Date, no JSON parsing): the connector types columns itself. */
const TEXT_TYPES = { getTypeParser: () => (value: string) => value };

/** Header of the fingerprint feed: names the encoding, so a digest can never be mistaken for another connector's. */
const FINGERPRINT_HEADER = 'fedval-postgres-v1\n';

/**
 * The source's fingerprint feed (what the dataset commitment is computed from), in order: FINGERPRINT_HEADER, the SQL
 * statement executed (UTF-8) and a newline, then every row read, every selected column in select order, each cell as
 * `=` + its text + NUL, or a single NUL for SQL NULL (PostgreSQL text never contains NUL, so the encoding is
 * unambiguous). An inspector can recompute it from the same query over the same snapshot.
 */
export function postgresFingerprintCell(text: string | null): string {
  return text === null ? '\0' : `=${text}\0`;
}

/** Quotes one SQL identifier (doubling embedded quotes), as PostgreSQL's quote_ident does. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `schema.table` or `table` → a quoted name; a dot inside a name needs the name quoted in the configuration. */
function quoteTableName(table: string): string {
  const parts = table.match(/"(?:[^"]|"")+"|[^.]+/g) ?? [];
  if (parts.join('.') !== table || parts.length === 0 || parts.length > 3) throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', 'data.postgres.table: expected table, schema.table or database.schema.table');
  return parts.map((part) => (part.startsWith('"') ? part : quoteIdentifier(part))).join('.');
}

/** The user, host, port and database of a URL, for logs: never its password or parameters. */
export function describePostgresUrl(url: string): string {
  const config = parseIntoClientConfig(url);
  const host = typeof config.host === 'string' && config.host.startsWith('/') ? `socket ${config.host}` : `${config.host ?? 'localhost'}:${config.port ?? 5432}`;
  return `${config.user ?? '(default user)'}@${host}/${config.database ?? '(default database)'}`;
}

/** Refuses a URL that carries a password (or cannot be parsed); the message never repeats the URL. */
export function checkPostgresUrl(url: string): void {
  let parsed: ReturnType<typeof parseIntoClientConfig>;
  try {
    parsed = parseIntoClientConfig(url);
  } catch {
    throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', 'data.postgres.url: not a postgres:// connection URL');
  }
  if (!/^postgres(?:ql)?:\/\//.test(url)) throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', 'data.postgres.url: not a postgres:// connection URL');
  if (parsed.password !== undefined && parsed.password !== '') {
    throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', 'data.postgres.url: must not contain a password; use data.postgres.password_file or password_env');
  }
}

/** SQLSTATE classes whose server messages name only schema objects (never a cell value): safe to pass on. */
const SCHEMA_ONLY_MESSAGE = /^(?:42|3D|3F|28|08)/;

/** Maps a driver or server failure to a coded error: the SQLSTATE, and the server's text only when it cannot quote data. */
export function postgresError(error: unknown, stage: 'connect' | 'query'): AgentError {
  if (error instanceof AgentError) return error;
  const code = (error as { code?: unknown }).code;
  const sqlstate = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  if (!sqlstate && stage === 'connect' && /SASL|password/i.test(message)) {
    // The driver's own refusal to answer a password request (none configured): no server text, no password in it.
    return new AgentError('FEDVAL_ERR_AGENT_DB_AUTH', 'the server asks for a password and none is configured (data.postgres.password_file or password_env)', { cause: error });
  }
  if (!sqlstate) {
    // Socket-level failures (ECONNREFUSED, ENOTFOUND, a connect timeout, a server that closed the connection).
    const what = typeof code === 'string' ? code : /timeout/i.test(message) ? 'connection timeout' : stage === 'connect' ? 'connection failed' : 'connection lost';
    return new AgentError('FEDVAL_ERR_AGENT_DB_UNREACHABLE', what, { cause: error });
  }
  const detail = SCHEMA_ONLY_MESSAGE.test(sqlstate) ? `SQLSTATE ${sqlstate}: ${message}` : `SQLSTATE ${sqlstate}`;
  if (sqlstate === '28P01' || sqlstate === '28000') return new AgentError('FEDVAL_ERR_AGENT_DB_AUTH', `SQLSTATE ${sqlstate}`, { cause: error });
  if (sqlstate === '57014') return new AgentError('FEDVAL_ERR_AGENT_DB_TIMEOUT', `SQLSTATE ${sqlstate} (statement_timeout_ms)`, { cause: error });
  if (sqlstate.startsWith('08') || sqlstate === '57P01' || sqlstate === '57P03' || sqlstate === '53300') return new AgentError('FEDVAL_ERR_AGENT_DB_UNREACHABLE', detail, { cause: error });
  // Database, schema or table not there, or not readable by this role.
  if (sqlstate === '3D000' || sqlstate === '3F000' || sqlstate === '42P01' || sqlstate === '42501') return new AgentError('FEDVAL_ERR_AGENT_DATA_NOT_FOUND', detail, { cause: error });
  return new AgentError('FEDVAL_ERR_AGENT_DB_QUERY', detail, { cause: error });
}

/** Text cell → number: NaN when missing, ±Infinity when present but not a strict decimal (see data-source.ts). */
function numericValue(text: string | null): number {
  if (text === null) return Number.NaN;
  const trimmed = text.trim();
  if (MISSING_TOKENS.has(trimmed)) return Number.NaN;
  if (DECIMAL_PATTERN.test(trimmed)) return Number(trimmed);
  return trimmed.startsWith('-') ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
}

/** Per categorical column: the dictionary, stable for the whole read and only growing. */
interface Dictionary {
  codes: Map<string, number>;
  levels: string[];
}

/** A PostgreSQL table or query as a DataSource. Each read() opens its own connection and closes it when done. */
export function createPostgresSource(options: PostgresSourceOptions): DataSource {
  if ((options.query === undefined) === (options.table === undefined)) throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', 'data.postgres: exactly one of query and table');
  checkPostgresUrl(options.url);
  const source = options.table !== undefined ? `SELECT * FROM ${quoteTableName(options.table)}` : options.query!.trim().replace(/;+\s*$/, '');
  const batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
  const maxRows = options.maxRows ?? DEFAULT_MAX_ROWS;
  const statementTimeoutMs = options.statementTimeoutMs ?? DEFAULT_POSTGRES_LIMITS.statementTimeoutMs;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_POSTGRES_LIMITS.connectTimeoutMs;
  const studyToLocal = new Map(Object.entries(options.columns ?? {}));
  const localToStudy = new Map([...studyToLocal].map(([study, local]) => [local, study]));
  const description = `postgres ${describePostgresUrl(options.url)} ${options.table !== undefined ? `table ${options.table}` : 'query'}`;
  const open = new Set<pg.Client>();

  /** Connects and opens the read-only transaction every read runs in. */
  async function begin(): Promise<pg.Client> {
    const password = options.password;
    const client = new pg.Client({
      ...parseIntoClientConfig(options.url),
      // A function: the driver never falls back to ~/.pgpass behind the configuration's back, and never sees undefined mid-handshake.
      password: () => password ?? '',
      connectionTimeoutMillis: connectTimeoutMs,
      application_name: 'fedval-agent',
      types: TEXT_TYPES,
    });
    // An error on an idle connection (server restart) must not crash the agent; the running read fails on its own.
    client.on('error', () => undefined);
    open.add(client);
    try {
      await client.connect();
    } catch (error) {
      open.delete(client);
      await client.end().catch(() => undefined);
      throw postgresError(error, 'connect');
    }
    try {
      // REPEATABLE READ: the schema check and every batch see one snapshot; READ ONLY: nothing the query does can write.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await client.query(`SET LOCAL statement_timeout = ${Math.trunc(statementTimeoutMs)}`);
    } catch (error) {
      await finish(client);
      throw postgresError(error, 'query');
    }
    return client;
  }

  async function finish(client: pg.Client): Promise<void> {
    open.delete(client);
    await client.query('ROLLBACK').catch(() => undefined);
    await client.end().catch(() => undefined);
  }

  /** The result's local column names, from a plan with no rows (LIMIT 0). */
  async function localColumns(client: pg.Client): Promise<string[]> {
    try {
      const result = await client.query({ text: `SELECT * FROM (${source}) AS fedval_source LIMIT 0`, rowMode: 'array' });
      return result.fields.map((field: FieldDef) => field.name);
    } catch (error) {
      throw postgresError(error, 'query');
    }
  }

  function studyNames(local: string[]): string[] {
    const names = local.map((name) => localToStudy.get(name) ?? name);
    const seen = new Set<string>();
    for (const name of names) {
      if (seen.has(name)) throw new AgentError('FEDVAL_ERR_AGENT_DATA_MALFORMED', `duplicate column ${name}`);
      seen.add(name);
    }
    return names;
  }

  return {
    description,
    async columnNames(signal?: AbortSignal): Promise<string[]> {
      signal?.throwIfAborted();
      const client = await begin();
      try {
        return studyNames(await localColumns(client));
      } finally {
        await finish(client);
      }
    },
    async *read(request: ReadRequest): AsyncGenerator<ColumnBatch, void, undefined> {
      request.signal?.throwIfAborted();
      const client = await begin();
      let cursor: Cursor<unknown[]> | undefined;
      try {
        const available = new Set(studyNames(await localColumns(client)));
        const missing = [...new Set(request.columns.map((column) => column.name))].filter((name) => !available.has(name));
        if (missing.length > 0) {
          const named = missing.map((name) => (studyToLocal.get(name) && studyToLocal.get(name) !== name ? `${name} (local ${studyToLocal.get(name)})` : name));
          throw new AgentError('FEDVAL_ERR_AGENT_DATA_COLUMNS', `missing ${named.join(', ')}`);
        }
        // Only the requested columns leave the server: any other column of the query (an identifier) is never read.
        const selected = [...new Set(request.columns.map((column) => column.name))];
        const sql = `SELECT ${selected.map((name) => quoteIdentifier(studyToLocal.get(name) ?? name)).join(', ')} FROM (${source}) AS fedval_source`;
        const position = new Map(selected.map((name, i) => [name, i]));
        const requests: { key: ColumnKey; request: ColumnRequest; index: number; dictionary?: Dictionary }[] = request.columns.map((column) => ({
          key: columnKey(column),
          request: column,
          index: position.get(column.name)!,
          ...(column.kind === 'categorical' ? { dictionary: { codes: new Map(), levels: [] } } : {}),
        }));
        const fingerprint = request.fingerprint;
        fingerprint?.(Buffer.from(`${FINGERPRINT_HEADER}${sql}\n`, 'utf8'));
        cursor = client.query(new Cursor<unknown[]>(sql, [], { rowMode: 'array', types: TEXT_TYPES }));
        let total = 0;
        for (;;) {
          request.signal?.throwIfAborted();
          let rows: (string | null)[][];
          try {
            rows = (await cursor.read(batchRows)) as (string | null)[][];
          } catch (error) {
            throw postgresError(error, 'query');
          }
          if (rows.length === 0) break;
          total += rows.length;
          if (total > maxRows) throw new AgentError('FEDVAL_ERR_AGENT_DATA_LIMIT', `more than ${maxRows} rows`);
          const columns = new Map<ColumnKey, BatchColumn>();
          for (const { key, request: column, index, dictionary } of requests) {
            if (columns.has(key)) continue;
            if (column.kind === 'numeric') {
              const values = new Float64Array(rows.length);
              for (let r = 0; r < rows.length; r += 1) values[r] = numericValue(rows[r]![index] ?? null);
              columns.set(key, { kind: 'numeric', values });
            } else {
              const codes = new Int32Array(rows.length);
              const { codes: known, levels } = dictionary!;
              for (let r = 0; r < rows.length; r += 1) {
                const text = rows[r]![index] ?? null;
                const trimmed = text === null ? '' : text.trim();
                if (MISSING_TOKENS.has(trimmed)) {
                  codes[r] = -1;
                  continue;
                }
                let code = known.get(trimmed);
                if (code === undefined) {
                  code = levels.length;
                  known.set(trimmed, code);
                  levels.push(trimmed);
                }
                codes[r] = code;
              }
              columns.set(key, { kind: 'categorical', codes, levels });
            }
          }
          if (fingerprint) {
            let encoded = '';
            for (const row of rows) for (let c = 0; c < selected.length; c += 1) encoded += postgresFingerprintCell(row[c] ?? null);
            fingerprint(Buffer.from(encoded, 'utf8'));
          }
          yield { rowCount: rows.length, columns, percent: null };
        }
      } finally {
        await cursor?.close().catch(() => undefined);
        await finish(client);
      }
    },
    async close(): Promise<void> {
      await Promise.all([...open].map((client) => finish(client)));
    },
  };
}
