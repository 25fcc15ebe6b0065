// config.ts — the site agent's YAML configuration: defaults, validation of every field at once, freezing.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DEFAULT_PROTOCOL_LIMITS } from '@fedval/protocol';
import { checkPostgresUrl, DEFAULT_POSTGRES_LIMITS } from './data-sources/postgres-source.ts';
import { AgentError } from './errors.ts';

/** The site's Ed25519 private key inside data_dir, written by `fedval-agent enroll` (mode 0600). */
export const SITE_KEY_FILE = 'site.key';

export const DEFAULT_AGENT_LIMITS = Object.freeze({
  maxMessageBytes: DEFAULT_PROTOCOL_LIMITS.maxMessageBytes, // bytes, largest message accepted from the coordinator (the protocol's default, 64 MiB)
  batchRows: 16_384, // rows per inference batch
  maxRows: 50_000_000, // rows read from one data file before refusing
  progressIntervalMs: 1_000, // at most one progress message per interval
  reconnectInitialMs: 500, // first reconnect delay
  reconnectMaxMs: 30_000, // reconnect delay ceiling (exponential backoff with full jitter)
  permanentErrorAttempts: 3, // connection attempts that end in an error that will not heal (README, "When the agent gives up") before it exits
  keyStatementTimeoutMs: 30_000, // ms a task waits for the key holder statement it names (key_statement.request) before it is refused
});

const labelSchema = z.strictObject({
  column: z.string().min(1),
  positive: z.string().min(1).default('1'),
  /** When set, only this value is negative and any other non-missing value is excluded as invalid_label. */
  negative: z.string().min(1).optional(),
  /** Survival tasks: the follow-up time column (numeric, >= 0); `column` is then the event column. */
  time: z.string().min(1).optional(),
});

/** `data.postgres`: a table or query read through a read-only role; the password never sits in the configuration. */
const postgresSchema = z
  .strictObject({
    /** postgres://user@host:port/database?sslmode=verify-full — without a password (refused: it would be logged). */
    url: z.string().min(1),
    /** File holding the role's password (relative to this file; its first line is used). */
    password_file: z.string().min(1).optional(),
    /** Environment variable holding the role's password. */
    password_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name').optional(),
    /** A SELECT producing the study's columns. Exactly one of query, query_file and table. */
    query: z.string().min(1).optional(),
    /** A file holding that SELECT (relative to this file). */
    query_file: z.string().min(1).optional(),
    /** A table or view, optionally schema-qualified (`cdm.cohort`). */
    table: z.string().min(1).optional(),
    /** Rows per batch decoded from the COPY stream. Default limits.batch_rows. */
    batch_rows: z.number().int().positive().max(1_048_576).optional(),
    /** Longest the server may work on one statement, in ms; the data come in one COPY, so this bounds the whole read. Default 300,000 (5 min). */
    statement_timeout_ms: z.number().int().positive().default(DEFAULT_POSTGRES_LIMITS.statementTimeoutMs),
    /** Longest to wait for the server to accept a connection, in ms. Default 10,000. */
    connect_timeout_ms: z.number().int().positive().default(DEFAULT_POSTGRES_LIMITS.connectTimeoutMs),
  })
  .refine((pg) => [pg.query, pg.query_file, pg.table].filter((value) => value !== undefined).length === 1, { message: 'exactly one of query, query_file and table', path: ['query'] })
  .refine((pg) => !(pg.password_file !== undefined && pg.password_env !== undefined), { message: 'at most one of password_file and password_env', path: ['password_file'] });

const configSchema = z.strictObject({
  coordinator: z.string().regex(/^wss?:\/\/.+/, 'must be a ws:// or wss:// URL'),
  site_id: z.string().min(1).max(128).regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits, . _ : - only'),
  token: z.string().min(16).optional(),
  token_file: z.string().min(1).optional(),
  /** The site's data: exactly one of `path` (a CSV file) or `parquet` (a Parquet file), relative to this file. */
  data: z.strictObject({
    /** The site's data as a CSV file. Exactly one of path, parquet and postgres. */
    path: z.string().min(1).optional(),
    /** The site's data as a Parquet file. */
    parquet: z.string().min(1).optional(),
    /** The site's data in PostgreSQL (README "PostgreSQL"). */
    postgres: postgresSchema.optional(),
    label: labelSchema,
    /** Study column name → local column name, for sites whose columns are named differently. */
    columns: z.record(z.string(), z.string()).default({}),
    delimiter: z.string().length(1).default(','),
  }),
  data_dir: z.string().min(1),
  /**
   * TLS to a wss:// coordinator (paths relative to this file): `ca` adds a private CA to Node's bundled roots; `cert` and `key`
   * are this site's client certificate for mutual TLS (its common name must be site_id).
   */
  tls: z
    .strictObject({
      ca: z.string().min(1).optional(),
      cert: z.string().min(1).optional(),
      key: z.string().min(1).optional(),
    })
    .refine((tls) => (tls.cert === undefined) === (tls.key === undefined), { message: 'cert and key go together', path: ['cert'] })
    .optional(),
  policy: z
    .strictObject({
      allowed_tasks: z.array(z.enum(['binary', 'multiclass', 'regression', 'survival'])).min(1).default(['binary', 'multiclass', 'regression', 'survival']),
      /** Contribution kinds this site sends. Default encrypted only; `plaintext` is an explicit opt-in (testing). */
      allowed_contributions: z.array(z.enum(['plaintext', 'bfv'])).min(1).default(['bfv']),
      /**
       * Deprecated and ignored (kept so older configurations still load): the site no longer refuses a small cohort on
       * its exact count, which told the coordinator that count for free; suppression (min_cell) and the noise protect
       * small cohorts instead. See README "Small cohorts".
       */
      min_cohort: z.number().int().nonnegative().optional(),
      /** Refuse a study whose release minimum (privacy minSites, release min_sites) is below this many sites. Default 3. */
      min_sites: z.number().int().min(1).default(3),
      /**
       * Refuse a task whose own-share ε exceeds this: the ε this site's own noise share provides alone, if every other
       * party colludes (see README "own_share_epsilon"). Default 4.
       */
      max_own_share_epsilon: z.number().positive().max(1000).default(4),
      /** Smallest subgroup cell (patients, or of either class) released; a study's min cell below it is refused. Default 10. */
      min_cell: z.number().int().min(1).default(10),
      /** Most levels a subgroup column may have in a task (categorical levels, or bands of numeric cuts). Default 20. */
      max_group_levels: z.number().int().min(1).default(20),
      /**
       * Refuse a task whose deadline is further ahead than this, in seconds (FEDVAL_ERR_AGENT_POLICY_DEADLINE): a securely
       * aggregated round's secrets, and a masked input's refund, wait for the round's deadline, which a coordinator sets.
       * Default 604800 (7 days); the coordinator's default round deadline is 600 s.
       */
      max_task_deadline_seconds: z.number().int().min(1).max(31_536_000).default(604_800),
      /** Refuse any task whose release carries no differential-privacy noise. */
      require_dp: z.boolean().default(true),
      /**
       * Refuse an encrypted (bfv) task that is not securely aggregated, before any data is read
       * (FEDVAL_ERR_AGENT_POLICY_REQUIRES_SECAGG): without the masks, whoever holds the secret key together with this
       * site's ciphertext reads this site's vector, protected by its own noise share only. Default true; a coordinator
       * cannot turn the masking off for this site.
       */
      require_secure_aggregation: z.boolean().default(true),
      /**
       * The Ed25519 key fingerprints (64 lowercase hex, as `fedval sites list` shows them) of the peer sites this site's
       * privacy officer approved out of band for secure aggregation. When set, a securely aggregated task whose roster
       * (the key holder's signed statement), or a key advertisement, names a key not in this list is refused before any
       * share leaves (FEDVAL_ERR_AGENT_SECAGG_PEER_NOT_APPROVED): a key holder colluding with the coordinator cannot
       * add Sybil sites whose keys it holds. This site's own key need not be listed. Default unset: the roster of the
       * key holder's statement is trusted.
       */
      peer_fingerprints: z.array(z.string().regex(/^[0-9a-f]{64}$/, 'a key fingerprint is 64 lowercase hex digits')).min(1).max(1024).optional(),
      /**
       * k, the number of sites (besides a colluding coordinator and key holder) this site assumes may collude against it
       * in secure aggregation: a threshold t for n rostered sites is accepted only when 2t > n + k (else k sites and the
       * coordinator can rebuild both secrets of another site; packages/secagg/README.md, "Threshold"). Default 0.
       */
      secagg_max_colluders: z.number().int().min(0).max(1024).default(0),
      /**
       * Which model bundles run. `manual`: bundles signed by a trusted sponsor key run, any other signed bundle waits
       * for `fedval-agent approve`. `allow_list`: only bundles signed by a trusted sponsor key run. `any`: unsigned
       * bundles run too (testing only). A signature that does not verify is refused under every setting.
       */
      model_approval: z.enum(['manual', 'allow_list', 'any']).default('manual'),
      /** SHA-256 fingerprints (64 lowercase hex digits) of the sponsor public keys whose signed bundles run without approval. */
      trusted_sponsor_keys: z.array(z.string().regex(/^[0-9a-f]{64}$/, 'a key fingerprint is 64 lowercase hex digits')).default([]),
      /**
       * The privacy officer's key holder keys this site trusts to vouch for a study's BFV public key: each the SHA-256
       * fingerprint (64 lowercase hex, as `fedval keys identity` prints it) or the raw Ed25519 public key in base64.
       * A BFV task is run only when its key statement is signed by one of them and names the task's study, plan and
       * public key. Default none: every BFV task is refused (FEDVAL_ERR_AGENT_POLICY_NO_KEY_HOLDER) until one is pinned.
       */
      key_holder_keys: z
        .array(z.string().regex(/^(?:[0-9a-f]{64}|[A-Za-z0-9+/]{43}=)$/, 'a key holder key is its fingerprint (64 lowercase hex) or its raw Ed25519 public key (44 base64 characters)'))
        .max(16)
        .default([]),
      /**
       * Patients per site an encryption plan must hold, entry by entry, before any data is read (the smaller of this and
       * limits.max_rows is required): a tighter per-entry bound chosen by the coordinator is refused
       * (FEDVAL_ERR_AGENT_PLAN_BOUNDS). Default 100,000, the coordinator's default max_patients_per_site.
       */
      min_plan_patients: z.number().int().min(1).default(100_000),
      /** Subgroup columns a task may break results down by. Default: any column. */
      allowed_group_columns: z.array(z.string().min(1)).optional(),
    })
    .prefault({}),
  /** The site's privacy budget for its dataset, enforced by this agent whatever the coordinator asks. */
  privacy: z
    .strictObject({
      /** Identifies the dataset in the ledger; a new data snapshot of the same patients keeps the same id. */
      dataset_id: z.string().min(1).max(256).optional(),
      /** Lifetime ε of the dataset at `delta`. */
      total_epsilon: z.number().positive().max(1000).default(10),
      /** Largest ε one round may spend. */
      per_round_epsilon: z.number().positive().max(1000).default(2),
      delta: z.number().gt(0).lt(1e-3).default(1e-6),
    })
    .prefault({}),
  limits: z
    .strictObject({
      max_message_bytes: z.number().int().positive().default(DEFAULT_AGENT_LIMITS.maxMessageBytes),
      batch_rows: z.number().int().positive().max(1_048_576).default(DEFAULT_AGENT_LIMITS.batchRows),
      max_rows: z.number().int().positive().default(DEFAULT_AGENT_LIMITS.maxRows),
      /** Worker threads of the embedded engine that reads CSV and Parquet files. Default: available parallelism, at most 4. */
      engine_threads: z.number().int().positive().max(256).optional(),
      /** Worker threads of that engine for a read that streams its rows to the agent in batches (a model, a fitted grid, numeric cuts). Default 1. */
      engine_stream_threads: z.number().int().positive().max(256).optional(),
      /** Worker threads that run a model bundle (0: the agent's main thread). Default: ONNX bundles on the available cores (at most 4), TF.js on the main thread. */
      model_threads: z.number().int().min(0).max(64).optional(),
      /** Most memory the embedded engine may use, e.g. '512MB', '2GB'. Default '1GB'. */
      engine_memory_limit: z.string().regex(/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, 'a size such as 512MB or 2GB').optional(),
      reconnect_initial_ms: z.number().int().positive().default(DEFAULT_AGENT_LIMITS.reconnectInitialMs),
      reconnect_max_ms: z.number().int().positive().default(DEFAULT_AGENT_LIMITS.reconnectMaxMs),
      /** Consecutive attempts ending in a permanent connection error before the agent exits (exit 2 or 3). Default 3. */
      permanent_error_attempts: z.number().int().positive().max(100).default(DEFAULT_AGENT_LIMITS.permanentErrorAttempts),
      /** Milliseconds a bfv task waits for the key holder statement it names by digest, asked of the coordinator once per statement. Default 30000. */
      key_statement_timeout_ms: z.number().int().positive().max(600_000).default(DEFAULT_AGENT_LIMITS.keyStatementTimeoutMs),
    })
    .prefault({}),
  log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * Prometheus metrics of this agent at `http://<host>:<port>/metrics` (connection, tasks, refusal codes, process; no
   * data value, no ε). Default unset: no port is opened. `host` defaults to 127.0.0.1 (this machine only); port 0 takes
   * any free port (the agent logs the URL, event `metrics.listening`).
   */
  metrics: z
    .strictObject({
      port: z.number().int().min(0).max(65_535),
      host: z.string().min(1).max(255).default('127.0.0.1'),
    })
    .optional(),
});

export type AgentConfigInput = z.input<typeof configSchema>;
export type AgentConfig = Readonly<
  Omit<z.output<typeof configSchema>, 'token'> & {
    /** The pre-shared token (from token or token_file), or null for an enrolled site. */
    token: string | null;
    /** Path of the enrolled site's private key (data_dir/site.key) when no token is configured, else null. */
    site_key: string | null;
    configDir: string;
    /** The file the configuration was read from and the SHA-256 of its bytes, when it came from a file. */
    source?: { path: string; sha256: string };
  }
>;

/** Lists every problem of a zod failure as `path: message`, one per line. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
}

export interface ResolveAgentConfigOptions {
  /** For `fedval-agent enroll`: accept a configuration with neither a token nor a site key yet. Default false. */
  enrolling?: boolean;
}

/**
 * Validates a parsed configuration object; relative paths resolve against `configDir`. Credentials: exactly one of
 * token / token_file, or neither when the site is enrolled (data_dir/site.key exists).
 */
export function resolveAgentConfig(
  raw: unknown,
  configDir: string,
  source?: { path: string; sha256: string },
  options: ResolveAgentConfigOptions = {},
): AgentConfig {
  const parsed = configSchema.safeParse(raw);
  const problems: string[] = [];
  let siteKey: string | null = null;
  if (!parsed.success) problems.push(describeIssues(parsed.error));
  else if (parsed.data.token && parsed.data.token_file) problems.push('token, token_file: exactly one of them is required, or neither for an enrolled site');
  else if (!parsed.data.token && !parsed.data.token_file) {
    siteKey = join(resolve(configDir, parsed.data.data_dir), SITE_KEY_FILE);
    if (!options.enrolling && !existsSync(siteKey)) {
      problems.push('token, token_file: exactly one of them is required, or neither for an enrolled site (run fedval-agent enroll to create data_dir/site.key)');
    }
  }
  if (parsed.success && parsed.data.privacy.per_round_epsilon > parsed.data.privacy.total_epsilon) {
    problems.push('privacy.per_round_epsilon: must not exceed privacy.total_epsilon');
  }
  if (parsed.success && parsed.data.policy.model_approval === 'allow_list' && parsed.data.policy.trusted_sponsor_keys.length === 0) {
    problems.push('policy.trusted_sponsor_keys: policy.model_approval allow_list needs at least one sponsor key fingerprint');
  }
  if (parsed.success && [parsed.data.data.path, parsed.data.data.parquet, parsed.data.data.postgres].filter((value) => value !== undefined).length !== 1) {
    problems.push('data: exactly one of data.path (a CSV file), data.parquet (a Parquet file) or data.postgres (a PostgreSQL table or query) is required');
  }
  if (parsed.success && parsed.data.data.postgres) {
    try {
      checkPostgresUrl(parsed.data.data.postgres.url);
    } catch (error) {
      problems.push((error as AgentError).message.replace(/^[^:]*: /, ''));
    }
    const { password_file: passwordFile, query_file: queryFile } = parsed.data.data.postgres;
    for (const [key, file] of [['password_file', passwordFile], ['query_file', queryFile]] as const) {
      if (file !== undefined && !existsSync(resolve(configDir, file))) problems.push(`data.postgres.${key}: cannot read ${file}`);
    }
  }
  if (parsed.success && parsed.data.limits.reconnect_initial_ms > parsed.data.limits.reconnect_max_ms) {
    problems.push('limits.reconnect_initial_ms: must not exceed limits.reconnect_max_ms');
  }
  if (problems.length > 0 || !parsed.success) throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', problems.join('; '));
  const config = parsed.data;
  let token = config.token ?? null;
  if (config.token_file) {
    const tokenPath = resolve(configDir, config.token_file);
    try {
      token = readFileSync(tokenPath, 'utf8').trim();
    } catch (cause) {
      throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', `token_file: cannot read ${config.token_file}`, { cause });
    }
    if (token.length < 16) throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', 'token_file: token shorter than 16 characters');
  }
  const resolved = {
    ...config,
    token,
    site_key: siteKey,
    configDir,
    data: {
      ...config.data,
      ...(config.data.path !== undefined ? { path: resolve(configDir, config.data.path) } : {}),
      ...(config.data.parquet !== undefined ? { parquet: resolve(configDir, config.data.parquet) } : {}),
      ...(config.data.postgres
        ? {
            postgres: {
              ...config.data.postgres,
              ...(config.data.postgres.password_file !== undefined ? { password_file: resolve(configDir, config.data.postgres.password_file) } : {}),
              ...(config.data.postgres.query_file !== undefined ? { query_file: resolve(configDir, config.data.postgres.query_file) } : {}),
            },
          }
        : {}),
    },
    data_dir: resolve(configDir, config.data_dir),
    ...(config.tls
      ? { tls: Object.fromEntries(Object.entries(config.tls).flatMap(([key, path]) => (path === undefined ? [] : [[key, resolve(configDir, path)]]))) as typeof config.tls }
      : {}),
    ...(source ? { source } : {}),
  };
  return deepFreeze(resolved);
}

/** Reads, validates and freezes a YAML configuration file. */
export function loadAgentConfig(path: string, options: ResolveAgentConfigOptions = {}): AgentConfig {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', `cannot read ${path}`, { cause });
  }
  const text = bytes.toString('utf8');
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (cause) {
    throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', `${path} is not valid YAML`, { cause });
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return resolveAgentConfig(raw, dirname(resolve(path)), { path: resolve(path), sha256 }, options);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
