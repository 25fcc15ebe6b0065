// errors.ts — every error @fedval/sqlite throws, each with a stable public code.
export const SQLITE_ERROR_MESSAGES = {
  FEDVAL_ERR_SQLITE_OPEN: 'the database cannot be created or opened',
  FEDVAL_ERR_SQLITE_CORRUPT: 'the database file is damaged (PRAGMA quick_check failed); restore it from a backup',
  FEDVAL_ERR_SQLITE_SCHEMA_VERSION: 'the database was written by a newer program',
  FEDVAL_ERR_SQLITE_MIGRATION: 'a schema migration failed and was rolled back',
} as const;

export type SqliteErrorCode = keyof typeof SQLITE_ERROR_MESSAGES;

export class SqliteError extends Error {
  readonly code: SqliteErrorCode;
  constructor(code: SqliteErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${SQLITE_ERROR_MESSAGES[code]}: ${detail}` : SQLITE_ERROR_MESSAGES[code], options);
    this.name = 'SqliteError';
    this.code = code;
  }
}
