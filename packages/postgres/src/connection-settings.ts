// connection-settings.ts — a PostgreSQL URL that carries no password, its password-free description for logs, and the
// password read from a file or an environment variable at each open (never kept in a configuration).
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseIntoClientConfig } from 'pg-connection-string';

/** Where a role's password comes from: at most one of the two (a configuration's `password_file` / `password_env`). */
export interface PostgresSecret {
  /** File whose first line is the password (an absolute path, resolved by the configuration). */
  password_file?: string | undefined;
  /** Name of the environment variable holding the password. */
  password_env?: string | undefined;
}

/** The password (undefined when neither source is configured), or a sentence saying what is wrong; never the password itself. */
export type PasswordResolution = { ok: true; password: string | undefined } | { ok: false; problem: string };

/**
 * Reads the password from `password_file` (first line) or `password_env`. `field` is the configuration key the
 * problem sentences name (`data.postgres`, `storage.postgres`).
 */
export function resolvePostgresPassword(secret: PostgresSecret, field: string, env: NodeJS.ProcessEnv = process.env): PasswordResolution {
  if (secret.password_file !== undefined) {
    let text: string;
    try {
      text = readFileSync(secret.password_file, 'utf8');
    } catch {
      return { ok: false, problem: `${field}.password_file: cannot read ${basename(secret.password_file)}` };
    }
    const password = text.split(/\r?\n/, 1)[0] ?? '';
    if (password === '') return { ok: false, problem: `${field}.password_file: the first line is empty` };
    return { ok: true, password };
  }
  if (secret.password_env !== undefined) {
    const password = env[secret.password_env];
    if (!password) return { ok: false, problem: `${field}.password_env: ${secret.password_env} is not set` };
    return { ok: true, password };
  }
  return { ok: true, password: undefined };
}

/** What is wrong with a connection URL (not postgres://, unparsable, or carrying a password), or undefined; never repeats the URL. */
export function postgresUrlProblem(url: string, field: string): string | undefined {
  let parsed: ReturnType<typeof parseIntoClientConfig>;
  try {
    parsed = parseIntoClientConfig(url);
  } catch {
    return `${field}.url: not a postgres:// connection URL`;
  }
  if (!/^postgres(?:ql)?:\/\//.test(url)) return `${field}.url: not a postgres:// connection URL`;
  if (parsed.password !== undefined && parsed.password !== '') {
    return `${field}.url: must not contain a password; use ${field}.password_file or password_env`;
  }
  return undefined;
}

/**
 * The user, host, port and database of a URL, for logs: never its password or parameters. Keep its output stable: the
 * site agent's default dataset id (its privacy ledger's key) is built from it. A URL without a user gives `@host…`.
 */
export function describePostgresUrl(url: string): string {
  const config = parseIntoClientConfig(url);
  const host = typeof config.host === 'string' && config.host.startsWith('/') ? `socket ${config.host}` : `${config.host ?? 'localhost'}:${config.port ?? 5432}`;
  return `${config.user ?? '(default user)'}@${host}/${config.database ?? '(default database)'}`;
}
