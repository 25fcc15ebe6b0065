// postgres-connection.ts — how the coordinator connects to PostgreSQL: client settings (password from a function, timeouts,
// bigint and bytea read as numbers and bytes), the advisory lock key, and driver or server failures as coded errors.
import pg from 'pg';
import type { ClientConfig } from 'pg';
import { parseIntoClientConfig } from 'pg-connection-string';
import { ZodError } from 'zod';
import { CoordinatorError } from '../errors.ts';

/** What the coordinator's PostgreSQL connections are opened with. */
export interface PostgresConnectionOptions {
  /** libpq-style URL, `postgres://user@host:port/database?sslmode=verify-full`, without a password. */
  url: string;
  /** The role's password (read from storage.postgres.password_file or password_env); undefined for passwordless authentication. */
  password?: string | undefined;
  /** Longest the server may work on one statement, in ms. Default 30,000 (30 s). */
  statementTimeoutMs?: number | undefined;
  /** Longest to wait for the server to accept a connection, in ms. Default 10,000 (10 s). */
  connectTimeoutMs?: number | undefined;
}

export const DEFAULT_POSTGRES_CONNECTION = Object.freeze({
  statementTimeoutMs: 30_000, // ms (30 s)
  connectTimeoutMs: 10_000, // ms (10 s)
});

/** Idle time before the first TCP keep-alive probe on every coordinator connection, in ms (10 s). */
export const KEEPALIVE_INITIAL_DELAY_MS = 10_000;

/** `application_name` of every coordinator connection (visible in pg_stat_activity). */
export const APPLICATION_NAME = 'fedval-coordinator';

/**
 * The key of the session advisory lock a coordinator holds on its database for as long as it runs (PostgreSQL
 * "Advisory Locks", §13.3.5): the bytes of "fedval" followed by 0x0001, as a signed 64-bit integer.
 */
export const ADVISORY_LOCK_KEY = '7378414024119812097';

const INT8_OID = 20;
const BYTEA_OID = 17;

/** bigint columns hold epoch milliseconds and counts: read as numbers, refused beyond 2^53 rather than rounded. */
function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new CoordinatorError('FEDVAL_ERR_COORD_STORAGE', 'a bigint column holds a value beyond 2^53');
  return value;
}

const parseByteaText = pg.types.getTypeParser(BYTEA_OID, 'text');
/** bytea read as a plain Uint8Array view (not a Buffer), as node:sqlite reads a BLOB. */
function parseBytea(text: string): Uint8Array {
  const bytes = parseByteaText(text) as Buffer;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const typeParsers: ClientConfig['types'] = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8_OID) return parseInt8;
    if (oid === BYTEA_OID) return parseBytea;
    return format === undefined ? pg.types.getTypeParser(oid) : pg.types.getTypeParser(oid, format);
  }) as typeof pg.types.getTypeParser,
};

/** Client settings for one connection; the password is handed over by a function, so the driver never reads ~/.pgpass behind the configuration's back. */
export function postgresClientConfig(options: PostgresConnectionOptions): ClientConfig {
  const password = options.password;
  const parsed = parseIntoClientConfig(options.url) as ClientConfig;
  return {
    ...parsed,
    password: () => password ?? '',
    // A commit is durable when it returns, whatever the server's default: a round resumes from what was committed.
    options: [parsed.options, '-c synchronous_commit=on'].filter((part) => typeof part === 'string' && part !== '').join(' '),
    connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_POSTGRES_CONNECTION.connectTimeoutMs,
    statement_timeout: options.statementTimeoutMs ?? DEFAULT_POSTGRES_CONNECTION.statementTimeoutMs,
    application_name: APPLICATION_NAME,
    keepAlive: true,
    // Without a delay the OS default applies (Linux: 2 h of silence before the first probe); a dead peer is found sooner.
    keepAliveInitialDelayMillis: KEEPALIVE_INITIAL_DELAY_MS,
    types: typeParsers,
  };
}

/** SQLSTATE classes whose server messages name only schema objects, never a stored value: safe to pass on. */
const SCHEMA_ONLY_MESSAGE = /^(?:42|3D|3F|28|08|23)/;

/**
 * A driver or server failure as a coded error: authentication, an unreachable or lost server, or any other storage
 * failure with its SQLSTATE. Never holds the password (the driver never sees it in a message).
 */
export function postgresStorageError(error: unknown, stage: 'connect' | 'query'): CoordinatorError {
  if (error instanceof CoordinatorError) return error;
  if (error instanceof ZodError) return new CoordinatorError('FEDVAL_ERR_COORD_STORAGE', error.message, { cause: error });
  const code = (error as { code?: unknown } | null)?.code;
  const sqlstate = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  if (sqlstate === undefined) {
    if (stage === 'connect' && /SASL|password/i.test(message)) {
      return new CoordinatorError('FEDVAL_ERR_COORD_DATABASE_AUTH', 'the server asks for a password and none is configured (storage.postgres.password_file or password_env)', { cause: error });
    }
    if (typeof code === 'string' || /timeout|terminated|Connection|ECONN/i.test(message)) {
      const what = typeof code === 'string' ? code : /timeout/i.test(message) ? 'connection timeout' : stage === 'connect' ? 'connection failed' : 'connection lost';
      return new CoordinatorError('FEDVAL_ERR_COORD_DATABASE_UNREACHABLE', what, { cause: error });
    }
    return new CoordinatorError('FEDVAL_ERR_COORD_STORAGE', message, { cause: error });
  }
  const detail = SCHEMA_ONLY_MESSAGE.test(sqlstate) ? `SQLSTATE ${sqlstate}: ${message}` : `SQLSTATE ${sqlstate}`;
  if (sqlstate === '28P01' || sqlstate === '28000') return new CoordinatorError('FEDVAL_ERR_COORD_DATABASE_AUTH', `SQLSTATE ${sqlstate}`, { cause: error });
  if (sqlstate.startsWith('08') || sqlstate === '57P01' || sqlstate === '57P02' || sqlstate === '57P03' || sqlstate === '53300') {
    return new CoordinatorError('FEDVAL_ERR_COORD_DATABASE_UNREACHABLE', detail, { cause: error });
  }
  if (sqlstate === '57014') return new CoordinatorError('FEDVAL_ERR_COORD_STORAGE', `SQLSTATE ${sqlstate} (storage.postgres.statement_timeout_ms)`, { cause: error });
  return new CoordinatorError('FEDVAL_ERR_COORD_STORAGE', detail, { cause: error });
}
