// server.ts — assembles the coordinator from fastify plugins: audit trail, access control, rate limits, storage recovery, WebSocket hub, REST routes, error mapping.
import type { AddressInfo } from 'node:net';
import rateLimit from '@fastify/rate-limit';
import websocket from '@fastify/websocket';
import Fastify from 'fastify';
import type { FastifyBaseLogger, FastifyError, FastifyInstance } from 'fastify';
import { serializerCompiler } from 'fastify-type-provider-zod';
import { logLineOptions } from '@fedval/command-line';
import { accessControl } from './access-control.ts';
import { clientAddress } from './client-address.ts';
import { trustProxyWarnings } from './config.ts';
import type { CoordinatorConfig } from './config.ts';
import { openCoordinatorAudit } from './coordinator-audit.ts';
import { CoordinatorMetrics } from './coordinator-metrics.ts';
import { CoordinatorError } from './errors.ts';
import { RoundRunner } from './rounds.ts';
import { auditRoutes } from './routes/audit.ts';
import { modelRoutes } from './routes/models.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { roundRoutes } from './routes/rounds.ts';
import { siteRoutes } from './routes/sites.ts';
import { studyRoutes } from './routes/studies.ts';
import { SiteAuthenticator } from './site-auth.ts';
import { SiteIdentities } from './site-identities.ts';
import { enrollmentRoutes } from './routes/enrollment.ts';
import { WS_CLOSE_CODES, SiteConnections } from './site-connections.ts';
import { siteHub } from './site-hub.ts';
import { loadTlsServerOptions } from './tls.ts';
import { consoleRoutes, sessionCookie } from './console/console-routes.ts';
import { CONSOLE_PREFIX } from './console/console-pages.ts';
import { ConsoleSessions } from './console/console-sessions.ts';
import { DOCS_PREFIX, openApiDocument, openApiRoutes } from './openapi.ts';
import { zodValidatorCompiler } from './routes/request-validation.ts';
import { BundleFileStore } from './storage/bundle-files.ts';
import { acquireDataDirLock } from './storage/data-dir-lock.ts';
import { openCoordinatorStore } from './storage/open-store.ts';
import type { CoordinatorStore } from './storage/store.ts';

/** How often the HTTP server checks its headers and request timeouts, in milliseconds. */
const HTTP_TIMEOUT_CHECK_MS = 1_000;

export interface CoordinatorOptions {
  /** A pino logger to use instead of one built from `log_level` writing to stderr. */
  logger?: FastifyBaseLogger;
  /** A store to use instead of the configured one (SQLite under `data_dir`, or `storage.postgres`). */
  store?: CoordinatorStore;
}

export interface Coordinator {
  app: FastifyInstance;
  /** Listens on the configured host and port (0 = any free port) and returns the base URL. */
  start(): Promise<{ url: string }>;
  /** Leaves open rounds for the next start to resume, closes sockets, the server and the store. */
  close(): Promise<void>;
}

/** Builds a coordinator; opens its store at once so storage problems surface before listening. */
export function createCoordinator(config: CoordinatorConfig, options: CoordinatorOptions = {}): Coordinator {
  const https = loadTlsServerOptions(config.tls);
  const app = Fastify({
    ...(https ? { https } : {}),
    // JSON lines of the documented schema (README "Log lines", @fedval/command-line log-line.schema.json).
    ...(options.logger ? { loggerInstance: options.logger } : { logger: { ...logLineOptions('fedval-coordinator'), level: config.log_level, stream: process.stderr } }),
    bodyLimit: config.limits.body_limit_bytes,
    // request.ip: the peer, or behind a listed reverse proxy the client its X-Forwarded-For names (proxy-addr rules).
    trustProxy: config.trust_proxy.length > 0 ? [...config.trust_proxy] : false,
    return503OnClosing: true,
    forceCloseConnections: true,
    // Bounded so that connections which never finish a request (slowloris) are dropped: see limits.http_*_timeout_ms.
    requestTimeout: config.limits.http_request_timeout_ms,
    keepAliveTimeout: config.limits.http_keep_alive_timeout_ms,
  }) as unknown as FastifyInstance;
  app.server.headersTimeout = config.limits.http_headers_timeout_ms;
  // How often Node checks those timeouts (its default, 30 s, would let a slow connection linger that much longer).
  (app.server as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval = HTTP_TIMEOUT_CHECK_MS;
  for (const warning of trustProxyWarnings(config.trust_proxy)) app.log.warn({ trust_proxy: warning }, 'trust_proxy range is wide: every address in it may set X-Forwarded-For');
  const lock = options.store ? undefined : acquireDataDirLock(config.data_dir);
  let store: CoordinatorStore;
  let storeReady: Promise<void> = Promise.resolve();
  let storage = 'in-memory';
  let audit: ReturnType<typeof openCoordinatorAudit>;
  try {
    if (options.store) store = options.store;
    else {
      const onLockLost = (error: CoordinatorError): void => {
        // Another coordinator may now take the database: stop rather than write beside it.
        app.log.fatal({ code: error.code }, 'lost the PostgreSQL advisory lock; stopping');
        void app.close();
      };
      ({ store, ready: storeReady, description: storage } = openCoordinatorStore(config, { onLockLost }));
    }
    try {
      audit = openCoordinatorAudit(config.data_dir);
    } catch (error) {
      if (!options.store) void store.close();
      throw error;
    }
  } catch (error) {
    lock?.release();
    throw error;
  }
  // Metrics count what the audit trail records (coordinator-metrics.ts), so they wrap the recorder every part uses.
  const metrics = config.metrics.enabled ? new CoordinatorMetrics() : null;
  const record = metrics ? metrics.observeAudit(audit.record) : audit.record;
  const recordBatched = metrics ? metrics.observeBatchedAudit(audit.recordBatched) : audit.recordBatched;
  record({
    actor: 'coordinator',
    action: 'config.loaded',
    object: `config:${config.source?.file ?? 'in-memory'}`,
    details: {
      sha256: config.source?.sha256 ?? null,
      sites: config.sites.map((site) => site.id),
      api_tokens: config.api_tokens.map((token) => `${token.role}:${token.name}`),
      rate_limit_per_minute: config.limits.rate_limit_per_minute,
      ws_connects_per_minute: config.limits.ws_connects_per_minute,
      ws_connect_burst: config.limits.ws_connect_burst,
      ws_site_connects_per_minute: config.limits.ws_site_connects_per_minute,
      max_unauthenticated_sockets: config.limits.max_unauthenticated_sockets,
      max_unauthenticated_sockets_per_address: config.limits.max_unauthenticated_sockets_per_address,
      trust_proxy: [...config.trust_proxy],
      tls: config.tls ? { mutual: config.tls.client_ca !== undefined } : null,
      storage,
    },
  });
  const bundles = new BundleFileStore(config.data_dir);
  const connections = new SiteConnections(app.log, new Map(), { maxSendBufferBytes: config.limits.max_send_buffer_bytes, sendTimeoutMs: config.limits.send_timeout_ms });
  const identities = new SiteIdentities();
  const rounds = new RoundRunner({ store, bundles, channel: connections, log: app.log, audit: record, auditBatched: recordBatched, identities, secaggPhaseTimeoutMs: config.limits.secagg_phase_timeout_ms });
  const authenticator = new SiteAuthenticator(config.sites);
  const consoleSessions = new ConsoleSessions({ ttlMs: config.limits.console_session_ttl_seconds * 1000, maxSessions: config.limits.console_max_sessions, maxSessionsPerPrincipal: config.limits.console_max_sessions_per_principal });

  app.removeContentTypeParser('text/plain'); // REST bodies are JSON only
  // Route schemas are the zod schemas of @fedval/protocol: requests parsed into coded 400s, replies checked on the way out.
  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(replyWithCodedError);
  app.setNotFoundHandler((request, reply) => {
    const error = new CoordinatorError('FEDVAL_ERR_COORD_NOT_FOUND', `${request.method} ${request.url.split('?')[0]}`);
    void reply.code(error.statusCode).send({ error: { code: error.code, message: error.message } });
  });

  // Order matters: access control and the rate limiter must see every route registered after them.
  app.register(accessControl, {
    tokens: config.api_tokens,
    audit: record,
    publicPrefix: DOCS_PREFIX,
    // The web console's session cookie identifies a caller on the console's pages only, never on the REST API.
    session: { prefix: CONSOLE_PREFIX, identify: (request) => consoleSessions.identify(sessionCookie(request)) },
  });
  app.register(openApiDocument); // before every route: it collects them
  app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    max: config.limits.rate_limit_per_minute,
    timeWindow: 60_000, // 1 min
    // Per API token; per IP for requests without a known token (so made-up tokens share their IP's budget).
    keyGenerator: (request) => (request.principal ? `token:${request.principal.name}` : `ip:${clientAddress(request)}`),
    errorResponseBuilder: (_request, context) => new CoordinatorError('FEDVAL_ERR_COORD_RATE_LIMITED', `retry in ${context.after}`),
  });
  app.register(async function coordinatorRecovery() {
    await storeReady; // PostgreSQL: connected, advisory lock taken, schema migrated, or start fails with the coded error
    // Keys of sites no longer configured stay stored but are not loaded: removing a site from `sites` locks it out.
    // Loaded before rounds resume: a securely aggregated round's kept records are verified again against them.
    for (const [siteId, publicKey] of await store.siteKeys()) if (authenticator.isConfigured(siteId)) identities.set(siteId, publicKey);
    const { resumed, failed } = await rounds.resumeOpenRounds();
    if (resumed + failed > 0) app.log.warn({ resumed, failed }, 'rounds left open by the previous run resumed (those that could not failed with coordinator_restarted)');
    for (const [siteId, at] of await store.siteLastSeen()) connections.touch(siteId, at);
  });
  app.register(websocket, {
    options: { maxPayload: config.limits.max_preauth_message_bytes }, // raised to max_message_bytes once a site authenticates (site-hub.ts)
    errorHandler(error, socket, request) {
      // A frame over the limit was answered with its code and closed by the site hub (frame-limit.ts) already.
      if ((error as { code?: string }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return;
      const code = 'FEDVAL_ERR_COORD_INTERNAL';
      request.log.warn({ code, wsCode: (error as { code?: string }).code }, 'site socket error; closing');
      if (socket.readyState === socket.OPEN) socket.close(WS_CLOSE_CODES.badMessage, code);
    },
    async preClose() {
      await rounds.close();
      const server = (this as unknown as FastifyInstance).websocketServer;
      for (const client of server.clients) client.close(WS_CLOSE_CODES.goingAway, 'FEDVAL_ERR_COORD_SHUTTING_DOWN');
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
  app.register(siteHub, { config, authenticator, identities, connections, rounds, store, audit: record });
  app.register(enrollmentRoutes, { config, store, identities, audit: record, connections });
  app.register(modelRoutes, { store, bundles, audit: record });
  app.register(studyRoutes, { config, store, audit: record });
  app.register(roundRoutes, { store, rounds, audit: record });
  app.register(siteRoutes, { config, connections, identities });
  app.register(auditRoutes, { log: audit.log });
  if (metrics) app.register(metricsRoutes, { metrics, connections, store });
  app.register(consoleRoutes, {
    tokens: config.api_tokens,
    sessions: consoleSessions,
    sessionTtlSeconds: config.limits.console_session_ttl_seconds,
    tls: https !== undefined && https !== null,
    store,
    rounds,
    audit: record,
    log: audit.log,
  });
  app.register(openApiRoutes);
  app.addHook('onClose', async () => {
    await rounds.close();
    await store.close();
    audit.log.sync(); // entries of the last group commit, if its turn has not come
    audit.log.close();
    lock?.release();
  });

  let closing: Promise<void> | undefined;
  return {
    app,
    async start() {
      await app.listen({ host: config.listen.host, port: config.listen.port });
      const address = app.server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return { url: `${https ? 'https' : 'http'}://${host}:${address.port}` };
    },
    close() {
      closing ??= app.close();
      return closing;
    },
  };
}

/** Answers every REST error as `{ error: { code, message } }` with the status of its code. */
function replyWithCodedError(this: FastifyInstance, error: FastifyError, request: Parameters<Parameters<FastifyInstance['setErrorHandler']>[0]>[1], reply: Parameters<Parameters<FastifyInstance['setErrorHandler']>[0]>[2]) {
  let status: number;
  let body: { code: string; message: string };
  if (error instanceof CoordinatorError) {
    status = error.statusCode;
    body = { code: error.code, message: error.message };
  } else if (typeof error.code === 'string' && /^FEDVAL_ERR_[A-Z0-9_]+$/.test(error.code)) {
    // A coded error of another fedval package (an invalid metric spec): the request was at fault.
    status = 400;
    body = { code: error.code, message: error.message };
  } else if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    const coded = new CoordinatorError('FEDVAL_ERR_COORD_BODY_TOO_LARGE');
    status = coded.statusCode;
    body = { code: coded.code, message: coded.message };
  } else if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    const coded = new CoordinatorError('FEDVAL_ERR_COORD_UNSUPPORTED_MEDIA_TYPE');
    status = coded.statusCode;
    body = { code: coded.code, message: coded.message };
  } else if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    const coded = new CoordinatorError('FEDVAL_ERR_COORD_INVALID_REQUEST', error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'empty JSON body' : 'malformed request body');
    status = error.statusCode;
    body = { code: coded.code, message: coded.message };
  } else {
    const coded = new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL');
    status = coded.statusCode;
    body = { code: coded.code, message: coded.message };
  }
  if (status >= 500) request.log.error({ code: body.code, err: error }, 'request failed');
  else request.log.info({ code: body.code }, 'request refused');
  return reply.code(status).send({ error: body });
}
