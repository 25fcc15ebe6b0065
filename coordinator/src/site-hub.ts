// site-hub.ts — the WebSocket endpoint sites connect to: challenge, hello (token or signature), frame decoding, heartbeats, routing to rounds.
import { apiErrorSchema, createErrorMessage, createMessage, decodeMessage } from '@fedval/protocol';
import { createChallenge } from '@fedval/trust';
import type { AuthChallenge } from '@fedval/trust';
import type { Message, WireError } from '@fedval/protocol';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import { z } from 'zod';
import { PUBLIC_ROUTE } from './access-control.ts';
import type { CoordinatorConfig } from './config.ts';
import type { AuditRecorder } from './coordinator-audit.ts';
import { CoordinatorError, coordinatorWireError } from './errors.ts';
import type { CoordinatorErrorCode } from './errors.ts';
import type { RoundRunner } from './rounds.ts';
import type { SiteAuthenticator } from './site-auth.ts';
import type { SiteIdentities } from './site-identities.ts';
import { WS_CLOSE_CODES, sendMessage } from './site-connections.ts';
import { onFrameTooLarge, setFrameLimit } from './frame-limit.ts';
import { RefusalTally } from './refusal-tally.ts';
import { ResultIntake } from './result-intake.ts';
import { SiteSocketLimits } from './site-socket-limits.ts';
import type { UnauthenticatedSlot } from './site-socket-limits.ts';
import { clientAddress, forwardedFor, peerAddress } from './client-address.ts';
import { siteClientCertificate } from './tls.ts';
import type { SiteConnections } from './site-connections.ts';
import type { CoordinatorStore } from './storage/store.ts';

/** Path of the WebSocket endpoint. */
export const SITE_SOCKET_PATH = '/ws';
/** A site silent for this many heartbeat intervals is disconnected. */
export const HEARTBEAT_MISSES_ALLOWED = 3;

export interface SiteHubOptions {
  config: CoordinatorConfig;
  authenticator: SiteAuthenticator;
  /** Enrolled sites' public keys. */
  identities: SiteIdentities;
  connections: SiteConnections;
  rounds: RoundRunner;
  store: CoordinatorStore;
  audit: AuditRecorder;
}

/** What the hub knows of a connecting peer before it authenticates. */
interface Peer {
  /** The client address (see clientAddress). */
  ip: string;
  /** The TCP peer's address, and the X-Forwarded-For received: recorded with refusals. */
  peer: string;
  forwarded: string | undefined;
  log: FastifyBaseLogger;
  /** The socket URL this connection's challenge names (see challengeAudience). */
  audience: string;
  /** Under mutual TLS, the common name of the verified client certificate; undefined without one. */
  clientCommonName: string | undefined;
}

/**
 * The coordinator's identity in challenges: `public_ws_url`, normalized by the WHATWG URL parser as agents normalize
 * theirs. Without it the challenge names the URL the client used (Host header): informative only, since signed hellos
 * are then refused (see onHello).
 */
export function challengeAudience(config: Pick<CoordinatorConfig, 'public_ws_url'>, request: { protocol: string; headers: { host?: string | undefined } }): string {
  const raw = config.public_ws_url ?? `${request.protocol === 'https' ? 'wss' : 'ws'}://${request.headers.host ?? ''}${SITE_SOCKET_PATH}`;
  try {
    return new URL(raw).href;
  } catch {
    return 'ws://unknown-host/ws';
  }
}

/** Fastify plugin: the `/ws` route and the heartbeat sweep. Requires @fastify/websocket on a parent context. */
export async function siteHub(app: FastifyInstance, options: SiteHubOptions): Promise<void> {
  for (const key of ['config', 'authenticator', 'identities', 'connections', 'rounds', 'store', 'audit'] as const) {
    if (!options[key]) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', `siteHub needs the ${key} option`);
  }
  if (!app.hasDecorator('websocketServer')) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'siteHub needs @fastify/websocket registered first');
  const { config, connections, store } = options;
  const interval = config.limits.heartbeat_interval_ms;

  const recordSeen = (siteId: string, at: number): void => {
    store.recordSiteSeen(siteId, at).catch((error: unknown) => app.log.error({ code: coordinatorWireError(error).code }, 'could not record site last_seen'));
  };

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [siteId, connection] of connections.entries()) {
      // While the intake has paused reading (result-intake.ts), a site's messages wait on this side: not silence.
      if (!connections.reading.paused && now - connection.lastReceived > HEARTBEAT_MISSES_ALLOWED * interval) {
        app.log.warn({ siteId }, 'site missed its heartbeats; closing');
        closeWith(connection.socket, 'FEDVAL_ERR_COORD_HEARTBEAT_TIMEOUT', WS_CLOSE_CODES.timeout, app.log);
        continue;
      }
      sendMessage(connection.socket, createMessage('heartbeat', {}), app.log);
      recordSeen(siteId, connection.lastReceived);
    }
  }, interval);
  sweep.unref();
  app.addHook('onClose', async () => clearInterval(sweep));

  const refusals = new RefusalTally(options.audit, config.limits.refusal_audit_interval_ms, app.log);
  app.addHook('onClose', async () => refusals.flush());

  const limits = new SiteSocketLimits(config.limits);
  const intake = new ResultIntake(connections, config.limits.max_results_in_flight);
  /** Each admitted upgrade's place among the unauthenticated sockets, from onRequest to the socket handler. */
  const slots = new WeakMap<object, UnauthenticatedSlot>();
  app.get(
    SITE_SOCKET_PATH,
    {
      websocket: true,
      // Sites authenticate with hello. Before the upgrade: a token bucket per client address (HTTP 429) and a cap on
      // unauthenticated sockets of all addresses (HTTP 503); after the hello, a bucket per site (close 4430).
      onRequest: (request, reply, done) => {
        const ip = clientAddress(request);
        const admission = limits.admit(ip);
        if ('refused' in admission) {
          const { refused } = admission;
          const error = new CoordinatorError(refused.code, refused.retryAfterMs > 0 ? `retry in ${Math.ceil(refused.retryAfterMs / 1000)} s` : undefined);
          refusals.refuse({ code: refused.code, ip, peer: peerAddress(request), forwarded: forwardedFor(request) });
          void reply
            .code(error.statusCode as 429 | 503)
            .header('retry-after', String(Math.max(1, Math.ceil(refused.retryAfterMs / 1000))))
            .send({ error: { code: error.code, message: error.message } });
          return;
        }
        // The place is held from now: given back on a valid hello, or when the connection closes (a failed upgrade too).
        slots.set(request.raw, admission.slot);
        const rawSocket = request.raw.socket;
        if (rawSocket.destroyed) admission.slot.end();
        else rawSocket.once('close', admission.slot.end);
        done();
      },
      config: { roles: PUBLIC_ROUTE, rateLimit: false },
      schema: {
        summary: 'The site socket (WebSocket): sites connect here and speak the @fedval/protocol messages',
        response: {
          101: z.null().describe('Switching Protocols: binary msgpack messages of @fedval/protocol follow'),
          429: apiErrorSchema.describe('FEDVAL_ERR_COORD_RATE_LIMITED: this address made more connection attempts than limits.ws_connect_burst / ws_connects_per_minute allow (retry-after)'),
          503: apiErrorSchema.describe('FEDVAL_ERR_COORD_SOCKETS_BUSY: limits.max_unauthenticated_sockets sockets (or max_unauthenticated_sockets_per_address of this address) are waiting to authenticate (retry-after)'),
        },
      },
    },
    (socket, request) => {
      const clientCommonName = siteClientCertificate(request.raw.socket)?.commonName;
      const slot = slots.get(request.raw);
      if (slot === undefined) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'site socket without an admission');
      const peer = { ip: clientAddress(request), peer: peerAddress(request), forwarded: forwardedFor(request), log: request.log, audience: challengeAudience(config, request), clientCommonName };
      acceptSocket(socket, peer, options, { recordSeen, refusals, limits, intake }, slot);
    },
  );
}

function closeWith(socket: WebSocket, code: CoordinatorErrorCode, closeCode: number, log: FastifyBaseLogger, replyTo?: string): void {
  sendMessage(socket, createErrorMessage(coordinatorWireError(new CoordinatorError(code)), replyTo), log);
  socket.close(closeCode, code);
}

function acceptSocket(
  socket: WebSocket,
  peer: Peer,
  options: SiteHubOptions,
  shared: { recordSeen: (siteId: string, at: number) => void; refusals: RefusalTally; limits: SiteSocketLimits; intake: ResultIntake },
  unauthenticated: UnauthenticatedSlot,
): void {
  const { config, authenticator, identities, connections, rounds } = options;
  const { recordSeen, refusals, limits, intake } = shared;
  const { log } = peer;
  let siteId: string | undefined;
  let invalidMessages = 0;
  /** The rounds whose key statement this connection was sent (key_statement.request): each is sent once. */
  const keyStatementsSent = new Set<string>();
  const mutualTls = config.tls?.client_ca !== undefined;
  /** Counts a refused connection into the trail (rate-limited); the socket closes whether or not the trail could be written. */
  const auditRefusal = (code: string, claimed?: string): void => refusals.refuse({ code, ip: peer.ip, peer: peer.peer, forwarded: peer.forwarded, claimed });
  // Counted among the unauthenticated sockets (since admit) until a valid hello or the close, whichever comes first.
  // Until the hello authenticates the site, frames are held to the small pre-authentication limit (set on the server).
  onFrameTooLarge(socket, () => {
    const code = siteId === undefined ? 'FEDVAL_ERR_COORD_PREAUTH_MESSAGE_TOO_LARGE' : 'FEDVAL_ERR_COORD_MESSAGE_TOO_LARGE';
    log.warn({ siteId, code }, 'refused a frame over the size limit; closing');
    if (siteId === undefined) auditRefusal(code);
    closeWith(socket, code, WS_CLOSE_CODES.tooLarge, log);
  });
  if (mutualTls && peer.clientCommonName === undefined) {
    // Mutual TLS: no certificate, or one the client CA did not issue (or expired): refused before any hello.
    log.warn('site socket without a valid client certificate; closing');
    auditRefusal('FEDVAL_ERR_COORD_CLIENT_CERTIFICATE');
    closeWith(socket, 'FEDVAL_ERR_COORD_CLIENT_CERTIFICATE', WS_CLOSE_CODES.unauthorized, log);
    return;
  }
  // Sent first on every connection; answered at most once (the hello that answers it, valid or not, ends it).
  let challenge: AuthChallenge | undefined = createChallenge({ audience: peer.audience });
  sendMessage(socket, createMessage('challenge', { ...challenge }), log);
  const authTimer = setTimeout(() => {
    log.warn('no hello within the authentication timeout; closing');
    auditRefusal('FEDVAL_ERR_COORD_AUTH_TIMEOUT');
    closeWith(socket, 'FEDVAL_ERR_COORD_AUTH_TIMEOUT', WS_CLOSE_CODES.timeout, log);
  }, config.limits.auth_timeout_ms);
  authTimer.unref();

  /** Answers a bad frame: unauthenticated sockets are closed, authenticated ones after too many. */
  const refuse = (error: unknown, replyTo?: string): void => {
    const wire = coordinatorWireError(error);
    if (siteId === undefined) {
      log.warn({ code: wire.code }, 'refused a message before hello; closing');
      auditRefusal(wire.code);
      sendMessage(socket, createErrorMessage(wire, replyTo), log);
      socket.close(WS_CLOSE_CODES.badMessage, wire.code);
      return;
    }
    invalidMessages += 1;
    log.warn({ siteId, code: wire.code, invalidMessages }, 'refused an invalid message');
    sendMessage(socket, createErrorMessage(wire, replyTo), log);
    if (invalidMessages >= config.limits.max_invalid_messages) {
      closeWith(socket, 'FEDVAL_ERR_COORD_TOO_MANY_INVALID', WS_CLOSE_CODES.tooManyInvalid, log);
    }
  };

  const onHello = (message: Extract<Message, { type: 'hello' }>): void => {
    const { siteId: claimed, token, signature } = message.content;
    const answered = challenge;
    challenge = undefined;
    // An enrolled site proves its key; a token is accepted only from a site that is not enrolled. Under mutual TLS the
    // client certificate must also name the site.
    const authenticated =
      // A site removed from the configuration is locked out, whatever key it enrolled.
      authenticator.isConfigured(claimed) &&
      (!mutualTls || peer.clientCommonName === claimed) &&
      (signature !== undefined
        ? answered !== undefined && config.public_ws_url !== undefined && identities.verifyConnect(claimed, answered, signature)
        : token !== undefined && !identities.isEnrolled(claimed) && authenticator.verify(claimed, token));
    if (!authenticated) {
      // Never say whether the site or the token was wrong.
      log.warn('site authentication failed; closing');
      auditRefusal('FEDVAL_ERR_COORD_UNAUTHORIZED', claimed);
      closeWith(socket, 'FEDVAL_ERR_COORD_UNAUTHORIZED', WS_CLOSE_CODES.unauthorized, log, message.id);
      return;
    }
    clearTimeout(authTimer);
    unauthenticated.end();
    const wait = limits.siteConnected(claimed);
    if (wait > 0) {
      // A site reconnecting in a loop (two agents with one key, a crash loop): refused after the hello, retried with backoff.
      log.warn({ siteId: claimed, retryInMs: wait }, 'site reconnects too often; closing');
      auditRefusal('FEDVAL_ERR_COORD_SITE_RATE_LIMITED', claimed);
      closeWith(socket, 'FEDVAL_ERR_COORD_SITE_RATE_LIMITED', WS_CLOSE_CODES.siteRateLimited, log, message.id);
      return;
    }
    setFrameLimit(socket, config.limits.max_message_bytes);
    const accepted = options.audit({
      actor: `site:${claimed}`,
      action: 'connection.accepted',
      object: `site:${claimed}`,
      details: { ip: peer.ip, agent_version: message.content.agentVersion, method: signature !== undefined ? 'signature' : 'token', mutual_tls: mutualTls },
    });
    siteId = claimed;
    const now = Date.now();
    const previous = connections.attach(claimed, socket, now);
    if (previous && previous !== socket) {
      log.info({ siteId: claimed }, 'a new connection replaces the previous one');
      closeWith(previous, 'FEDVAL_ERR_COORD_REPLACED', WS_CLOSE_CODES.replaced, log);
    }
    recordSeen(claimed, now);
    const auditHead = { seq: accepted.seq, hash: accepted.hash }; // the site keeps the coordinator's head as an anchor
    sendMessage(socket, createMessage('welcome', { siteId: claimed, heartbeatIntervalMs: config.limits.heartbeat_interval_ms, auditHead }, message.id), log);
    log.info({ siteId: claimed, agentVersion: message.content.agentVersion }, 'site authenticated');
    rounds.onSiteConnected(claimed);
  };

  const onFrame = (data: RawData, isBinary: boolean): void => {
    if (!isBinary) return refuse(new CoordinatorError('FEDVAL_ERR_COORD_TEXT_FRAME'));
    let message: Message;
    try {
      message = decodeMessage(toBytes(data), { maxMessageBytes: config.limits.max_message_bytes });
    } catch (error) {
      return refuse(error);
    }
    if (siteId === undefined) {
      if (message.type !== 'hello') return refuse(new CoordinatorError('FEDVAL_ERR_COORD_HELLO_REQUIRED'), message.id);
      return onHello(message);
    }
    connections.touch(siteId);
    switch (message.type) {
      case 'heartbeat':
        if (!message.replyTo) sendMessage(socket, createMessage('heartbeat', {}, message.id), log);
        return;
      case 'task.accept':
      case 'task.refuse':
      case 'task.progress':
      case 'task.result':
        try {
          const stored = rounds.handleSiteMessage(siteId, message);
          if (stored) intake.track(stored);
        } catch (error) {
          // A late, duplicate or invalid task message is answered and ignored; it is not a protocol violation.
          const wire = coordinatorWireError(error);
          log.warn({ siteId, type: message.type, code: wire.code }, 'refused a task message');
          sendMessage(socket, createErrorMessage(wire, message.id), log);
        }
        return;
      case 'secagg.advertise':
      case 'secagg.shares':
      case 'secagg.consistency':
      case 'secagg.reveal':
        try {
          rounds.handleSecaggMessage(siteId, message);
        } catch (error) {
          const wire = coordinatorWireError(error);
          log.warn({ siteId, type: message.type, code: wire.code }, 'refused a secure-aggregation message');
          sendMessage(socket, createErrorMessage(wire, message.id), log);
        }
        return;
      case 'key_statement.request':
        // Answered once per round and connection (a site asks again only on a new connection): a repeat counts as invalid.
        if (keyStatementsSent.has(message.content.roundId)) return refuse(new CoordinatorError('FEDVAL_ERR_COORD_KEY_STATEMENT_REPEATED', message.content.roundId), message.id);
        try {
          rounds.handleKeyStatementRequest(siteId, message.content);
          keyStatementsSent.add(message.content.roundId);
        } catch (error) {
          const wire = coordinatorWireError(error);
          log.warn({ siteId, type: message.type, code: wire.code }, 'refused a key statement request');
          sendMessage(socket, createErrorMessage(wire, message.id), log);
        }
        return;
      case 'error':
        log.warn({ siteId, code: message.error.code }, 'site reported an error');
        return;
      case 'hello':
        return refuse(new CoordinatorError('FEDVAL_ERR_COORD_ALREADY_AUTHENTICATED'), message.id);
      default:
        return refuse(new CoordinatorError('FEDVAL_ERR_COORD_UNEXPECTED_MESSAGE', message.type), message.id);
    }
  };

  socket.on('message', (data, isBinary) => {
    try {
      onFrame(data, isBinary);
    } catch (error) {
      log.error({ code: coordinatorWireError(error).code, err: { message: (error as Error).message } }, 'unexpected error handling a site message');
      sendMessage(socket, createErrorMessage(coordinatorWireError(new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL'))), log);
    }
  });
  socket.on('close', (code) => {
    clearTimeout(authTimer);
    unauthenticated.end();
    if (siteId !== undefined && connections.detach(siteId, socket)) {
      recordSeen(siteId, connections.lastSeen(siteId) ?? Date.now());
      log.info({ siteId, closeCode: code }, 'site disconnected'); // a WebSocket close code, not a fedval code
      rounds.onSiteDisconnected(siteId);
    }
  });
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}
