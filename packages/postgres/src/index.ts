// @fedval/postgres — PostgreSQL connection settings read the same way by the site agent and the coordinator.
export { describePostgresUrl, postgresUrlProblem, resolvePostgresPassword } from './connection-settings.ts';
export type { PasswordResolution, PostgresSecret } from './connection-settings.ts';
