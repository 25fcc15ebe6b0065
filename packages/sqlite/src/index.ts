// @fedval/sqlite — the one owner of node:sqlite: databases opened, migrated and written the same way by the coordinator and the site agent.
export { openSqliteDatabase, inWriteTransaction, schemaVersion, DEFAULT_SQLITE_DATABASE_OPTIONS, SQLITE_DIRECTORY_MODE, SQLITE_FILE_MODE } from './sqlite-database.ts';
export type { SqliteDatabaseOptions } from './sqlite-database.ts';
export { SqliteError, SQLITE_ERROR_MESSAGES } from './errors.ts';
export type { SqliteErrorCode } from './errors.ts';
