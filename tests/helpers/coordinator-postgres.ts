// coordinator-postgres.ts — a coordinator's own login role and databases on a throwaway cluster (tests/helpers/postgres.ts):
// the role owns each database it is given, reaches it over TCP with a SCRAM password, as a production coordinator would.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { TestPostgres } from './postgres.ts';

export interface CoordinatorRole {
  role: string;
  password: string;
  /** postgres://role@127.0.0.1:port/database (no password). */
  url(database: string): string;
  /** Creates a database owned by the role and returns its URL. */
  createDatabase(database: string): Promise<string>;
  /** Runs SQL in a database as the role (behind any store's back), on a connection of its own. */
  sql(database: string, text: string, values?: unknown[]): Promise<pg.QueryResult>;
}

/** Creates the login role `fedval_coordinator` with a random password. */
export async function createCoordinatorRole(server: TestPostgres): Promise<CoordinatorRole> {
  const role = 'fedval_coordinator';
  const password = randomBytes(18).toString('base64url');
  await server.sql(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
  const url = (database: string): string => `postgres://${role}@127.0.0.1:${server.port}/${database}`;
  return {
    role,
    password,
    url,
    async createDatabase(database) {
      await server.sql(`CREATE DATABASE ${database} OWNER ${role}`);
      return url(database);
    },
    async sql(database, text, values) {
      const client = new pg.Client({ host: '127.0.0.1', port: server.port, user: role, password, database });
      await client.connect();
      try {
        return await client.query(text, values);
      } finally {
        await client.end();
      }
    },
  };
}
