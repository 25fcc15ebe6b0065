// postgres-source.ts — reads a site's PostgreSQL table or query as typed column batches: one READ ONLY transaction,
// one streamed `COPY (SELECT …) TO STDOUT (FORMAT binary)` decoded into typed arrays, coded errors that never echo
// data or passwords.
import pg from 'pg';
import type { FieldDef } from 'pg';
import { parseIntoClientConfig } from 'pg-connection-string';
import { describePostgresUrl, postgresUrlProblem } from '@fedval/postgres';
import { AgentError } from '../errors.ts';
import { columnKey, DEFAULT_BATCH_ROWS, DEFAULT_MAX_ROWS } from './data-source.ts';
import type { ColumnBatch, ColumnKey, DataSource, DataSourceLimits, ReadRequest } from './data-source.ts';
import { CopyBatchDecoder } from './postgres-copy-decoder.ts';
import { collectYoungGarbage } from './young-garbage.ts';
import { CopyOutStream } from './postgres-copy-out.ts';
import type { CopyFieldForm, CopyTarget } from './postgres-copy-decoder.ts';

export const DEFAULT_POSTGRES_LIMITS = Object.freeze({
  statementTimeoutMs: 300_000, // ms, longest the server may work on one statement, the whole COPY of the data included (5 min)
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
  /**
   * Longest the server may work on one statement, in ms. Default 300,000 (5 min). The data arrive in one COPY
   * statement, so this bounds the whole read (the server waits while the agent computes on a batch).
   */
  statementTimeoutMs?: number | undefined;
  /** Longest to wait for a connection, in ms. Default 10,000. */
  connectTimeoutMs?: number | undefined;
}

/** Every value arrives as PostgreSQL's own text (no Date, no JSON parsing): the connector types columns itself. */
const TEXT_TYPES = { getTypeParser: () => (value: string) => value };

/** Header of the fingerprint feed: names the encoding, so a digest can never be mistaken for another connector's. */
export const POSTGRES_FINGERPRINT_HEADER = 'fedval-postgres-v2\n';

/*
 * The source's fingerprint feed (what the dataset commitment is computed from), version 2, in order:
 * POSTGRES_FINGERPRINT_HEADER, the COPY statement executed (UTF-8) and a newline, then every byte of the binary COPY
 * stream the server sent (PostgreSQL "COPY — Binary Format": signature, header, every tuple of the selected columns,
 * the end marker). The stream is a function of the statement and the snapshot only (each type's binary send format,
 * big-endian), so an inspector recomputes the digest from the same statement over the same snapshot, e.g.
 * `(printf 'fedval-postgres-v2\n%s\n' "$SQL"; psql -Atc "$SQL") | sha256sum` with the statement run as-is
 * (psql passes a COPY TO STDOUT's bytes through). Version 1 (until this connector used COPY) hashed each cell's text.
 */
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

/** Refuses a URL that carries a password (or cannot be parsed); the message never repeats the URL. */
export function checkPostgresUrl(url: string): void {
  const problem = postgresUrlProblem(url, 'data.postgres');
  if (problem !== undefined) throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', problem);
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

/** Type OIDs (pg_type.oid, fixed since PostgreSQL 7) whose binary send format the decoder reads directly. */
const INTEGER_FORMS: ReadonlyMap<number, CopyFieldForm> = new Map([
  [21, 'int2'],
  [23, 'int4'],
  [20, 'int8'],
]);
const FLOAT8_OID = 701;
const NUMERIC_OID = 1700;
/** text, varchar, bpchar, name: their binary send format is their text (UTF-8, the connection's client_encoding). */
const TEXT_OIDS: ReadonlySet<number> = new Set([25, 1043, 1042, 19]);

/**
 * How one result column is sent for one way of reading it: integers always, float8 and numeric when read as numbers,
 * texts as they are; anything else (and float8/numeric read as categories) as its type's output function text —
 * `format('%s', v)` calls it (NULL kept NULL) — so levels and numbers are exactly those of PostgreSQL's text output.
 */
export function copyField(typeOid: number, kind: 'numeric' | 'categorical', quoted: string): { form: CopyFieldForm; expression: string } {
  const integer = INTEGER_FORMS.get(typeOid);
  if (integer !== undefined) return { form: integer, expression: quoted };
  if (kind === 'numeric' && typeOid === FLOAT8_OID) return { form: 'float8', expression: quoted };
  if (kind === 'numeric' && typeOid === NUMERIC_OID) return { form: 'numeric', expression: quoted };
  if (TEXT_OIDS.has(typeOid)) return { form: 'text', expression: quoted };
  return { form: 'text', expression: `CASE WHEN ${quoted} IS NULL THEN NULL ELSE format('%s', ${quoted}) END` };
}

/** Ends a connection at once, mid-COPY included: the server sees the socket close and ends the backend (nothing to undo: READ ONLY). */
function dropConnection(client: pg.Client): void {
  (client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream?.destroy?.();
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

  /** The result's local columns (name, type OID), from a plan with no rows (LIMIT 0). */
  async function localColumns(client: pg.Client): Promise<{ name: string; typeOid: number }[]> {
    try {
      const result = await client.query({ text: `SELECT * FROM (${source}) AS fedval_source LIMIT 0`, rowMode: 'array' });
      return result.fields.map((field: FieldDef) => ({ name: field.name, typeOid: field.dataTypeID }));
    } catch (error) {
      throw postgresError(error, 'query');
    }
  }

  function studyNames(local: readonly { name: string }[]): string[] {
    const names = local.map(({ name }) => localToStudy.get(name) ?? name);
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
      let stream: CopyOutStream | undefined;
      let streaming = false;
      try {
        const local = await localColumns(client);
        const names = studyNames(local);
        const typeOf = new Map(names.map((name, i) => [name, local[i]!.typeOid]));
        const missing = [...new Set(request.columns.map((column) => column.name))].filter((name) => !typeOf.has(name));
        if (missing.length > 0) {
          const named = missing.map((name) => (studyToLocal.get(name) && studyToLocal.get(name) !== name ? `${name} (local ${studyToLocal.get(name)})` : name));
          throw new AgentError('FEDVAL_ERR_AGENT_DATA_COLUMNS', `missing ${named.join(', ')}`);
        }
        // Only the requested columns leave the server: any other column of the query (an identifier) is never read.
        // One COPY field per column and way of sending it (a column read both ways may need two).
        const expressions: string[] = [];
        const forms: CopyFieldForm[] = [];
        const targets: CopyTarget[] = [];
        const seenKeys = new Set<ColumnKey>();
        for (const column of request.columns) {
          const key = columnKey(column);
          if (seenKeys.has(key)) continue;
          seenKeys.add(key);
          const { form, expression } = copyField(typeOf.get(column.name)!, column.kind, quoteIdentifier(studyToLocal.get(column.name) ?? column.name));
          let field = expressions.indexOf(expression);
          if (field === -1) {
            field = expressions.push(expression) - 1;
            forms.push(form);
          }
          targets.push({ key, kind: column.kind, field });
        }
        const sql = `COPY (SELECT ${expressions.join(', ')} FROM (${source}) AS fedval_source) TO STDOUT (FORMAT binary)`;
        const fingerprint = request.fingerprint;
        fingerprint?.(Buffer.from(`${POSTGRES_FINGERPRINT_HEADER}${sql}\n`, 'utf8'));
        const decoder = new CopyBatchDecoder(forms, targets, batchRows, maxRows);
        stream = client.query(new CopyOutStream(sql));
        streaming = true;
        const chunks = stream[Symbol.asyncIterator]();
        for (;;) {
          request.signal?.throwIfAborted();
          let next: IteratorResult<Buffer>;
          try {
            next = (await chunks.next()) as IteratorResult<Buffer>;
          } catch (error) {
            throw postgresError(error, 'query');
          }
          if (next.done) break;
          fingerprint?.(next.value);
          for (const batch of decoder.push(next.value)) {
            yield batch;
            collectYoungGarbage(batch.rowCount);
          }
        }
        streaming = false;
        const last = decoder.finish();
        if (last !== null) yield last;
      } finally {
        // Stopped mid-COPY (an error, max_rows, an abort, a consumer that stopped): the server would go on sending
        // the rest of the result; closing the connection ends its backend instead.
        if (streaming && stream) {
          stream.on('error', () => undefined); // the driver reports the dropped connection on the stream: nobody reads it now
          dropConnection(client);
          stream.destroy();
        }
        await finish(client);
      }
    },
    async close(): Promise<void> {
      await Promise.all([...open].map((client) => finish(client)));
    },
  };
}
