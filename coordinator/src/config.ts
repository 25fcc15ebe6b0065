// config.ts — the coordinator's YAML configuration: defaults, validation of every key, resolution of paths.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { MAX_DEADLINE_SECONDS } from '@fedval/protocol';
import { z } from 'zod';
import { DEFAULT_PROTOCOL_LIMITS } from '@fedval/protocol';
import { postgresUrlProblem } from '@fedval/postgres';
import { ROLES } from './access-control.ts';
import { CoordinatorError } from './errors.ts';
import { DEFAULT_MAX_RESULTS_IN_FLIGHT } from './result-intake.ts';
import { DEFAULT_MAX_SEND_BUFFER_BYTES, DEFAULT_SEND_TIMEOUT_MS } from './site-connections.ts';

/** Limits a configuration may override under `limits:`. */
export interface CoordinatorLimits {
  /** Largest WebSocket message in bytes from an authenticated site, refused before it is buffered (ws `maxPayload`). Default 64 MiB. */
  max_message_bytes: number;
  /**
   * Largest WebSocket message in bytes before the site has authenticated (the hello is a few hundred bytes), refused
   * before it is buffered; at most max_message_bytes. Default 65536 (64 KiB).
   */
  max_preauth_message_bytes: number;
  /**
   * Fewest sites a study may release an aggregate of (its `release.min_sites`, default this value): with two, each site
   * subtracts its own numbers from the sum and reads the other's. Studies asking for fewer are refused. Lower it only
   * for a simulation over data you own (sites and the key holder keep their own floor of 3). Default 3 sites.
   */
  min_release_sites: number;
  /** Refused unauthenticated sockets are recorded in the audit trail once per interval (the first in full, the rest counted), in milliseconds. Default 60000 ms. */
  refusal_audit_interval_ms: number;
  /** Time a new socket has to send `hello`, in milliseconds. Default 5000 ms. */
  auth_timeout_ms: number;
  /** Interval between heartbeats sent to each site, in milliseconds; a site silent for 3 intervals is disconnected. Default 15000 ms. */
  heartbeat_interval_ms: number;
  /** Largest REST request body in bytes (model uploads are base64). Default 64 MiB. */
  body_limit_bytes: number;
  /** Round deadline used when a study sets none, in seconds. Default 600 s. */
  round_deadline_seconds: number;
  /**
   * How long each secure-aggregation phase of a round waits for the sites still in it, in milliseconds; sites that have
   * not answered by then are dropped (code FEDVAL_ERR_COORD_SECAGG_TIMEOUT) and the round goes on if at least its
   * threshold remain, else fails. At most 1 h. Default 60000 ms (1 min).
   */
  secagg_phase_timeout_ms: number;
  /** Invalid messages an authenticated site may send before its socket is closed. Default 10. */
  max_invalid_messages: number;
  /**
   * Bytes of frames handed to site sockets and not yet written, all sites together; further frames wait, not yet
   * encoded, and go out in order as writes complete (a round's tasks to every site; a frame shared by every site, as the
   * key holder's statement, costs nothing). Bounds
   * what a round's sends hold in memory whatever the number of sites. Default 4194304 (4 MiB).
   */
  max_send_buffer_bytes: number;
  /**
   * A site whose write (a frame the coordinator sent it) is still pending after this many milliseconds is disconnected:
   * a site that stops reading its socket would otherwise keep every later frame to it in memory. It reconnects and is
   * sent its tasks again. Default 60000 (1 min).
   */
  send_timeout_ms: number;
  /**
   * Site results (`task.result`) received and not yet stored, all sites together; at this many the coordinator stops
   * reading every site socket until the store catches up (what sites send waits in TCP; nothing is lost, deadlines still
   * apply). Bounds the contributions held in memory whatever the number of sites. Default 16.
   */
  max_results_in_flight: number;
  /** REST requests per minute per API token (per client IP for requests without a known token); more are answered 429. Default 600. */
  rate_limit_per_minute: number;
  /**
   * WebSocket connection attempts per minute per client address, before authentication: the refill rate of a token
   * bucket holding `ws_connect_burst`; an attempt without a token is refused with HTTP 429 before the upgrade. One
   * address may be a whole fleet (a hospital NAT, a reverse proxy: see `trust_proxy`). Default 1200 (20 per second).
   */
  ws_connects_per_minute: number;
  /** Connection attempts one client address may make at once (the bucket's size): a NAT'd fleet reconnecting together. Default 1000. */
  ws_connect_burst: number;
  /**
   * Authenticated connections per minute per site (refill rate of a bucket holding `ws_site_connect_burst`); past it the
   * socket is closed with 4430 FEDVAL_ERR_COORD_SITE_RATE_LIMITED after the hello, and the agent retries with backoff.
   * Default 30.
   */
  ws_site_connects_per_minute: number;
  /** Authenticated connections one site may make at once. Default 10. */
  ws_site_connect_burst: number;
  /**
   * Sockets open but not yet authenticated (HTTP upgrade done, no valid hello yet), all addresses together; past it an
   * upgrade is refused with HTTP 503 FEDVAL_ERR_COORD_SOCKETS_BUSY. Each holds at most max_preauth_message_bytes.
   * Default 1024.
   */
  max_unauthenticated_sockets: number;
  /**
   * Sockets one client address (an IPv6 client: its /64) may hold not yet authenticated, counted from the moment the
   * upgrade is admitted; past it HTTP 503 FEDVAL_ERR_COORD_SOCKETS_BUSY, so one client cannot take every place of
   * `max_unauthenticated_sockets`. A NAT'd fleet still connects: agents authenticate within milliseconds and back off
   * with jitter on 503. Default 256.
   */
  max_unauthenticated_sockets_per_address: number;
  /**
   * How long a client may take to send a request's headers, in milliseconds (Node's `server.headersTimeout`); a
   * connection that has not finished them by then (slowloris) is closed. Checked every second. Default 10000 ms (10 s).
   */
  http_headers_timeout_ms: number;
  /**
   * How long a client may take to send a whole request, body included, in milliseconds (Node's
   * `server.requestTimeout`); at least `http_headers_timeout_ms`. Default 300000 ms (5 min: a 64 MiB bundle upload over
   * a slow link).
   */
  http_request_timeout_ms: number;
  /** How long an idle keep-alive HTTP connection stays open between requests, in milliseconds. Default 5000 ms (5 s). */
  http_keep_alive_timeout_ms: number;
  /** `POST /api/enroll` attempts per minute per client IP. Default 10. */
  enroll_per_minute: number;
  /** How long an enrollment token stays usable after issue, in seconds. Default 86400 s (24 h). */
  enrollment_token_ttl_seconds: number;
  /** How long a web console session lasts after login (absolute, not sliding), in seconds. At most 7 days. Default 28800 s (8 h). */
  console_session_ttl_seconds: number;
  /** Most web console sessions kept at once (in memory); when all are live a new login is refused (503). Default 1000. */
  console_max_sessions: number;
  /** Most live web console sessions of one API token; its next login ends its own oldest. Default 8. */
  console_max_sessions_per_principal: number;
}

export const DEFAULT_LIMITS: Readonly<CoordinatorLimits> = Object.freeze({
  max_message_bytes: DEFAULT_PROTOCOL_LIMITS.maxMessageBytes, // bytes: the protocol's default, 64 MiB
  max_preauth_message_bytes: 64 * 1024, // bytes: 64 KiB, until the hello authenticates the site
  refusal_audit_interval_ms: 60_000, // 1 min
  min_release_sites: 3, // sites
  auth_timeout_ms: 5_000, // 5 s
  heartbeat_interval_ms: 15_000, // 15 s
  body_limit_bytes: 64 * 1024 * 1024, // 64 MiB
  round_deadline_seconds: 600, // 10 min
  secagg_phase_timeout_ms: 60_000, // 1 min per secure-aggregation phase
  max_invalid_messages: 10, // messages per connection
  max_send_buffer_bytes: DEFAULT_MAX_SEND_BUFFER_BYTES, // bytes: 4 MiB being written to site sockets, all sites together
  send_timeout_ms: DEFAULT_SEND_TIMEOUT_MS, // a write to a site pending this long disconnects it (1 min)
  max_results_in_flight: DEFAULT_MAX_RESULTS_IN_FLIGHT, // site results received and not yet stored, all sites together
  rate_limit_per_minute: 600, // requests per token (or IP) per minute
  ws_connects_per_minute: 1_200, // connection attempts per address per minute (20 per second), before authentication
  ws_connect_burst: 1_000, // connection attempts per address at once
  ws_site_connects_per_minute: 30, // authenticated connections per site per minute
  ws_site_connect_burst: 10, // authenticated connections per site at once
  max_unauthenticated_sockets: 1_024, // sockets, all addresses together
  max_unauthenticated_sockets_per_address: 256, // sockets per client address (IPv6: per /64)
  http_headers_timeout_ms: 10_000, // 10 s to send the headers
  http_request_timeout_ms: 300_000, // 5 min to send a whole request
  http_keep_alive_timeout_ms: 5_000, // 5 s idle between requests
  enroll_per_minute: 10, // enrollment attempts per IP per minute
  enrollment_token_ttl_seconds: 24 * 60 * 60, // 24 h
  console_session_ttl_seconds: 8 * 60 * 60, // 8 h
  console_max_sessions: 1_000, // sessions
  console_max_sessions_per_principal: 8, // sessions per API token
});

/** Defaults of `storage.postgres` (see PostgresStoreOptions). */
export const DEFAULT_POSTGRES_STORAGE = Object.freeze({
  pool_size: 10, // connections, besides the one holding the advisory lock
  statement_timeout_ms: 30_000, // ms, longest the server may work on one statement (30 s)
  connect_timeout_ms: 10_000, // ms, longest to wait for the server to accept a connection (10 s)
  lock_check_ms: 5_000, // ms, how often (and how long at most) the advisory lock is checked on its connection (5 s)
});

export const DEFAULT_CONFIG = Object.freeze({
  listen: Object.freeze({ host: '127.0.0.1', port: 8740 }),
  data_dir: './.fedval-data/coordinator', // relative to the configuration file's directory
  log_level: 'info' as const,
  limits: DEFAULT_LIMITS,
  metrics: Object.freeze({ enabled: true }),
});

// Longest round deadline in seconds (about 23 days; Node timers hold at most 2^31 − 1 ms): one limit for config and REST.
export { MAX_DEADLINE_SECONDS };

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const siteId = z.string().min(1).max(128).regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits, . _ : - only');
const positiveInt = (max: number) => z.number().int().positive().max(max);
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex characters (fedval-coordinator hash-token)');
/** API token names appear in audit actors (`role:<role>:<name>`): no colon. */
const tokenName = z.string().min(1).max(64).regex(/^[A-Za-z0-9._@-]+$/, 'letters, digits, . _ @ - only');

/** An IP address or a CIDR range (address/prefix, prefix within the family's bits). */
function isAddressOrCidr(text: string): boolean {
  const [address, prefix, ...rest] = text.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** Widest trusted-proxy ranges not warned about: a /24 of IPv4, a /64 of IPv6 (one subnet of proxies). */
const TRUST_PROXY_NARROWEST_WARNED = { 4: 23, 6: 63 } as const;

/**
 * The `trust_proxy` entries wider than a /24 (IPv4) or /64 (IPv6), each with why it is risky: every address in a
 * trusted range may set X-Forwarded-For, so a client inside it chooses the address it is limited and audited under.
 */
export function trustProxyWarnings(trustProxy: readonly string[]): string[] {
  const warnings: string[] = [];
  for (const entry of trustProxy) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address);
    if (prefix === undefined || (family !== 4 && family !== 6)) continue;
    if (Number(prefix) <= TRUST_PROXY_NARROWEST_WARNED[family]) {
      warnings.push(`${entry} is wider than a /${family === 4 ? 24 : 64}: list the proxies' own addresses instead`);
    }
  }
  return warnings;
}

function uniqueBy<T>(key: (item: T) => string, field: string, what: string) {
  return (items: T[], ctx: z.RefinementCtx): void => {
    const seen = new Set<string>();
    items.forEach((item, index) => {
      if (seen.has(key(item))) ctx.addIssue({ code: 'custom', message: what === 'token' ? 'the same token is configured twice' : `duplicate ${what} ${JSON.stringify(key(item))}`, path: [index, field] });
      seen.add(key(item));
    });
  };
}

const configSchema = z.strictObject({
  listen: z
    .strictObject({
      host: z.string().min(1).max(255).default(DEFAULT_CONFIG.listen.host),
      port: z.number().int().min(0).max(65_535).default(DEFAULT_CONFIG.listen.port),
    })
    .default({ ...DEFAULT_CONFIG.listen }),
  data_dir: z.string().min(1).default(DEFAULT_CONFIG.data_dir),
  /**
   * Where the coordinator keeps its records. Absent: SQLite in data_dir (the embedded default). `postgres`: a
   * PostgreSQL database of its own (README, "Running on PostgreSQL"); data_dir still holds the audit trail and model files.
   */
  storage: z
    .strictObject({
      postgres: z
        .strictObject({
          /** postgres://user@host:port/database?sslmode=verify-full — without a password (refused: it would be logged). */
          url: z.string().min(1),
          /** File holding the role's password (relative to this file; its first line is used). */
          password_file: z.string().min(1).optional(),
          /** Environment variable holding the role's password. */
          password_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name').optional(),
          /** Connections the coordinator keeps open for its queries, besides the one holding its advisory lock. Default 10. */
          pool_size: positiveInt(1000).default(DEFAULT_POSTGRES_STORAGE.pool_size),
          /** Longest the server may work on one statement, in ms. Default 30,000 (30 s). */
          statement_timeout_ms: positiveInt(3_600_000).default(DEFAULT_POSTGRES_STORAGE.statement_timeout_ms),
          /** Longest to wait for the server to accept a connection, in ms. Default 10,000 (10 s). */
          connect_timeout_ms: positiveInt(600_000).default(DEFAULT_POSTGRES_STORAGE.connect_timeout_ms),
          /** How often the advisory lock is checked on its connection, and the longest one check may take, in ms. Default 5,000 (5 s). */
          lock_check_ms: z.number().int().min(100).max(600_000).default(DEFAULT_POSTGRES_STORAGE.lock_check_ms),
        })
        .refine((pg) => !(pg.password_file !== undefined && pg.password_env !== undefined), { message: 'at most one of password_file and password_env', path: ['password_file'] }),
    })
    .optional(),
  /**
   * Serve https and wss with this certificate (PEM, leaf first, then intermediates) and private key (PEM); paths are
   * relative to the configuration file. With `client_ca`, site sockets also need a client certificate issued by that
   * CA whose common name is the site id (mutual TLS); REST clients need none.
   */
  tls: z
    .strictObject({
      cert: z.string().min(1),
      key: z.string().min(1),
      client_ca: z.string().min(1).optional(),
    })
    .optional(),
  /**
   * The site socket URL exactly as agents are configured with it (`ws://…/ws` or `wss://…/ws`), named in every
   * connection challenge that enrolled sites sign. Required to enroll sites: without it no enrollment token is issued
   * and no signed hello is accepted (a URL taken from the request's Host header would be the client's choice).
   */
  /**
   * Reverse proxies (addresses or CIDR ranges, IPv4 or IPv6) whose X-Forwarded-For is believed: a request from one of
   * them is taken to come from the nearest address in that header that is not a trusted proxy, for every per-address
   * limit and the audit trail. Default none: the header is ignored and the peer address is the client.
   */
  trust_proxy: z.array(z.string().refine(isAddressOrCidr, 'an IPv4 or IPv6 address, or a CIDR range such as 10.0.0.0/8 or fd00::/8')).max(256).default([]),
  public_ws_url: z.string().regex(/^wss?:\/\/[^\s]+$/, 'must be a ws:// or wss:// URL').max(2048).optional(),
  sites: z
    .array(
      z.strictObject({
        id: siteId,
        /** SHA-256 of the site's pre-shared token; omitted for a site that authenticates only with an enrolled Ed25519 key. */
        token_sha256: sha256Hex.optional(),
      }),
    )
    .min(1, 'at least one site is required')
    .superRefine(uniqueBy((site) => site.id, 'id', 'site id')),
  api_tokens: z
    .array(z.strictObject({ name: tokenName, role: z.enum(ROLES), token_sha256: sha256Hex }))
    .max(1024)
    .superRefine(uniqueBy((token) => token.name, 'name', 'token name'))
    .superRefine(uniqueBy((token) => token.token_sha256, 'token_sha256', 'token'))
    .default([]),
  limits: z
    .strictObject({
      max_message_bytes: positiveInt(2 ** 31 - 1).default(DEFAULT_LIMITS.max_message_bytes),
      max_preauth_message_bytes: z.number().int().min(1024).max(2 ** 31 - 1).default(DEFAULT_LIMITS.max_preauth_message_bytes),
      refusal_audit_interval_ms: positiveInt(3_600_000).default(DEFAULT_LIMITS.refusal_audit_interval_ms),
      min_release_sites: positiveInt(1_000_000).default(DEFAULT_LIMITS.min_release_sites),
      auth_timeout_ms: positiveInt(600_000).default(DEFAULT_LIMITS.auth_timeout_ms),
      heartbeat_interval_ms: positiveInt(3_600_000).default(DEFAULT_LIMITS.heartbeat_interval_ms),
      body_limit_bytes: positiveInt(2 ** 31 - 1).default(DEFAULT_LIMITS.body_limit_bytes),
      round_deadline_seconds: positiveInt(MAX_DEADLINE_SECONDS).default(DEFAULT_LIMITS.round_deadline_seconds),
      secagg_phase_timeout_ms: positiveInt(3_600_000).default(DEFAULT_LIMITS.secagg_phase_timeout_ms),
      max_invalid_messages: positiveInt(1_000_000).default(DEFAULT_LIMITS.max_invalid_messages),
      max_send_buffer_bytes: positiveInt(2 ** 31 - 1).default(DEFAULT_LIMITS.max_send_buffer_bytes),
      send_timeout_ms: positiveInt(3_600_000).default(DEFAULT_LIMITS.send_timeout_ms),
      max_results_in_flight: positiveInt(1_000_000).default(DEFAULT_LIMITS.max_results_in_flight),
      rate_limit_per_minute: positiveInt(1_000_000).default(DEFAULT_LIMITS.rate_limit_per_minute),
      ws_connects_per_minute: positiveInt(1_000_000).default(DEFAULT_LIMITS.ws_connects_per_minute),
      ws_connect_burst: positiveInt(1_000_000).default(DEFAULT_LIMITS.ws_connect_burst),
      ws_site_connects_per_minute: positiveInt(1_000_000).default(DEFAULT_LIMITS.ws_site_connects_per_minute),
      ws_site_connect_burst: positiveInt(1_000_000).default(DEFAULT_LIMITS.ws_site_connect_burst),
      max_unauthenticated_sockets: positiveInt(1_000_000).default(DEFAULT_LIMITS.max_unauthenticated_sockets),
      max_unauthenticated_sockets_per_address: positiveInt(1_000_000).default(DEFAULT_LIMITS.max_unauthenticated_sockets_per_address),
      http_headers_timeout_ms: positiveInt(600_000).default(DEFAULT_LIMITS.http_headers_timeout_ms),
      http_request_timeout_ms: positiveInt(3_600_000).default(DEFAULT_LIMITS.http_request_timeout_ms),
      http_keep_alive_timeout_ms: positiveInt(600_000).default(DEFAULT_LIMITS.http_keep_alive_timeout_ms),
      enroll_per_minute: positiveInt(1_000_000).default(DEFAULT_LIMITS.enroll_per_minute),
      enrollment_token_ttl_seconds: positiveInt(30 * 24 * 60 * 60).default(DEFAULT_LIMITS.enrollment_token_ttl_seconds),
      console_session_ttl_seconds: positiveInt(7 * 24 * 60 * 60).default(DEFAULT_LIMITS.console_session_ttl_seconds),
      console_max_sessions: positiveInt(1_000_000).default(DEFAULT_LIMITS.console_max_sessions),
      console_max_sessions_per_principal: positiveInt(1_000_000).default(DEFAULT_LIMITS.console_max_sessions_per_principal),
    })
    .default({ ...DEFAULT_LIMITS }),
  log_level: z.enum(LOG_LEVELS).default(DEFAULT_CONFIG.log_level),
  /**
   * Prometheus metrics at `GET /metrics` on the coordinator's listener, for API tokens of role `metrics` (or `admin`).
   * Aggregate counts only: no site label, no per-site value. `enabled: false` removes the route. Default enabled.
   */
  metrics: z.strictObject({ enabled: z.boolean().default(DEFAULT_CONFIG.metrics.enabled) }).default({ ...DEFAULT_CONFIG.metrics }),
}).superRefine((config, ctx) => {
  // Enrolled sites sign a challenge naming this URL; taken from the request instead, a relaying server could choose it.
  const enrollOnly = config.sites.findIndex((site) => site.token_sha256 === undefined);
  if (enrollOnly >= 0 && config.public_ws_url === undefined) {
    ctx.addIssue({ code: 'custom', message: `required when a site enrolls its key (sites[${enrollOnly}] has no token_sha256)`, path: ['public_ws_url'] });
  }
  const postgresUrl = config.storage?.postgres?.url;
  const urlProblem = postgresUrl === undefined ? undefined : postgresUrlProblem(postgresUrl, 'storage.postgres');
  if (urlProblem !== undefined) ctx.addIssue({ code: 'custom', message: urlProblem.replace(/^storage\.postgres\.url: /, ''), path: ['storage', 'postgres', 'url'] });
  if (config.limits.http_headers_timeout_ms > config.limits.http_request_timeout_ms) {
    ctx.addIssue({ code: 'custom', message: 'must not exceed limits.http_request_timeout_ms', path: ['limits', 'http_headers_timeout_ms'] });
  }
  if (config.limits.max_preauth_message_bytes > config.limits.max_message_bytes) {
    ctx.addIssue({ code: 'custom', message: 'must not exceed limits.max_message_bytes', path: ['limits', 'max_preauth_message_bytes'] });
  }
});

type ParsedConfig = z.output<typeof configSchema>;

/** A validated, frozen coordinator configuration; `data_dir` is absolute. */
export type CoordinatorConfig = Readonly<
  Omit<ParsedConfig, 'listen' | 'sites' | 'api_tokens' | 'limits' | 'metrics' | 'trust_proxy'> & {
    trust_proxy: readonly string[];
    listen: Readonly<ParsedConfig['listen']>;
    metrics: Readonly<ParsedConfig['metrics']>;
    sites: readonly Readonly<ParsedConfig['sites'][number]>[];
    api_tokens: readonly Readonly<ParsedConfig['api_tokens'][number]>[];
    limits: Readonly<CoordinatorLimits>;
    /** The file it was loaded from and the SHA-256 of its bytes (recorded in the audit trail); absent when parsed from an object. */
    source?: Readonly<{ file: string; sha256: string }>;
  }
>;

/** Command-line values that take precedence over the file. */
export interface ConfigOverrides {
  host?: string;
  port?: number;
}

export interface ParseConfigOptions {
  /** Directory a relative `data_dir` is resolved against (the configuration file's directory). */
  baseDir: string;
  overrides?: ConfigOverrides;
}

/** Validates an already-parsed configuration object; throws FEDVAL_ERR_COORD_CONFIG listing every problem. */
export function parseCoordinatorConfig(raw: unknown, options: ParseConfigOptions): CoordinatorConfig {
  const input = applyOverrides(raw, options.overrides);
  const result = configSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
    throw new CoordinatorError('FEDVAL_ERR_COORD_CONFIG', problems.join('; '));
  }
  const config = result.data;
  const tls = config.tls && {
    cert: resolve(options.baseDir, config.tls.cert),
    key: resolve(options.baseDir, config.tls.key),
    ...(config.tls.client_ca ? { client_ca: resolve(options.baseDir, config.tls.client_ca) } : {}),
  };
  const postgres = config.storage?.postgres;
  const storage = postgres && {
    postgres: { ...postgres, ...(postgres.password_file !== undefined ? { password_file: resolve(options.baseDir, postgres.password_file) } : {}) },
  };
  return deepFreeze({ ...config, data_dir: resolve(options.baseDir, config.data_dir), ...(tls ? { tls } : {}), ...(storage ? { storage } : {}) });
}

/** Reads and validates a YAML configuration file. */
export function loadCoordinatorConfig(file: string, overrides?: ConfigOverrides): CoordinatorConfig {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (cause) {
    throw new CoordinatorError('FEDVAL_ERR_COORD_CONFIG_UNREADABLE', `${file}: ${(cause as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause });
  }
  const text = bytes.toString('utf8');
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter });
  if (document.errors.length > 0) {
    const problems = document.errors.map((error) => `${file}:${lineCounter.linePos(error.pos[0]).line}: ${error.message.split('\n')[0]}`);
    throw new CoordinatorError('FEDVAL_ERR_COORD_CONFIG', problems.join('; '));
  }
  const config = parseCoordinatorConfig(document.toJS() ?? {}, { baseDir: dirname(resolve(file)), ...(overrides ? { overrides } : {}) });
  const source = Object.freeze({ file: resolve(file), sha256: createHash('sha256').update(bytes).digest('hex') });
  return Object.freeze({ ...config, source });
}

function applyOverrides(raw: unknown, overrides: ConfigOverrides | undefined): unknown {
  if (!overrides || (overrides.host === undefined && overrides.port === undefined)) return raw;
  if (!isMapping(raw)) return raw;
  const source = raw;
  const listen = isMapping(source['listen']) ? source['listen'] : {};
  return {
    ...source,
    listen: {
      ...listen,
      ...(overrides.host !== undefined ? { host: overrides.host } : {}),
      ...(overrides.port !== undefined ? { port: overrides.port } : {}),
    },
  };
}

/** A YAML mapping: what the schema checks afterwards, with every problem listed. */
function isMapping(value: unknown): value is { readonly [key: string]: unknown } {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out ? `.${String(key)}` : String(key);
  return out || '(root)';
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
