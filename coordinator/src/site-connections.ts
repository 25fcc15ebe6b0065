// site-connections.ts — the registry of authenticated site sockets: one per site, send, liveness bookkeeping.
import { encodeMessage } from '@fedval/protocol';
import type { Message } from '@fedval/protocol';
import type { FastifyBaseLogger } from 'fastify';
import type { WebSocket } from 'ws';
import type { SiteChannel } from './rounds.ts';

/** WebSocket close codes the coordinator uses (4000–4999 are application codes, RFC 6455 §7.4.2). */
export const WS_CLOSE_CODES = Object.freeze({
  /** Invalid first message, text frame before hello, or garbage before authentication. */
  badMessage: 4400,
  /** Site authentication failed: unknown site, wrong token or key, or (mutual TLS) no valid client certificate. */
  unauthorized: 4401,
  /** No hello within auth_timeout_ms, or no message within three heartbeat intervals. */
  timeout: 4408,
  /** A newer connection for the same site replaced this one. */
  replaced: 4409,
  /** A frame over the size limit (max_preauth_message_bytes before hello, max_message_bytes after): RFC 6455 "message too big". */
  tooLarge: 1009,
  /** Too many invalid messages from an authenticated site. */
  tooManyInvalid: 4429,
  /** The site authenticated more often than limits.ws_site_connects_per_minute allows: it retries later. */
  siteRateLimited: 4430,
  /** The coordinator is shutting down (RFC 6455 "going away"). */
  goingAway: 1001,
});

interface SiteConnection {
  socket: WebSocket;
  /** Last time any message arrived on this socket (epoch ms). */
  lastReceived: number;
}

/** Sends one protocol message as one binary frame; returns false if the socket is not open or encoding failed. */
export function sendMessage(socket: WebSocket, message: Message, log: FastifyBaseLogger): boolean {
  if (socket.readyState !== socket.OPEN) return false;
  let frame: Uint8Array;
  try {
    frame = encodeMessage(message);
  } catch (error) {
    log.error({ type: message.type, code: (error as { code?: string }).code }, 'could not encode an outgoing message');
    return false;
  }
  socket.send(frame, { binary: true });
  return true;
}

export class SiteConnections implements SiteChannel {
  readonly #connections = new Map<string, SiteConnection>();
  readonly #lastSeen = new Map<string, number>();
  readonly #log: FastifyBaseLogger;

  constructor(log: FastifyBaseLogger, lastSeen: ReadonlyMap<string, number> = new Map()) {
    this.#log = log;
    for (const [siteId, at] of lastSeen) this.#lastSeen.set(siteId, at);
  }

  /** Registers an authenticated socket; returns the socket it replaces, if any. */
  attach(siteId: string, socket: WebSocket, now = Date.now()): WebSocket | undefined {
    const previous = this.#connections.get(siteId)?.socket;
    this.#connections.set(siteId, { socket, lastReceived: now });
    this.#lastSeen.set(siteId, now);
    return previous;
  }

  /** Forgets a socket if it is still the site's current one. */
  detach(siteId: string, socket: WebSocket): boolean {
    if (this.#connections.get(siteId)?.socket !== socket) return false;
    this.#connections.delete(siteId);
    return true;
  }

  touch(siteId: string, now = Date.now()): void {
    const connection = this.#connections.get(siteId);
    if (connection) connection.lastReceived = now;
    this.#lastSeen.set(siteId, now);
  }

  isConnected(siteId: string): boolean {
    return this.#connections.get(siteId)?.socket.readyState === 1;
  }

  send(siteId: string, message: Message): boolean {
    const connection = this.#connections.get(siteId);
    return connection ? sendMessage(connection.socket, message, this.#log) : false;
  }

  sendEncoded(siteId: string, frame: Uint8Array): boolean {
    const socket = this.#connections.get(siteId)?.socket;
    if (!socket || socket.readyState !== socket.OPEN) return false;
    // ws frames a server's unmasked message without copying it: N sites share the one buffer.
    socket.send(frame, { binary: true });
    return true;
  }

  lastSeen(siteId: string): number | undefined {
    return this.#lastSeen.get(siteId);
  }

  /** Current connections, for the heartbeat sweep. */
  entries(): [siteId: string, connection: Readonly<SiteConnection>][] {
    return [...this.#connections];
  }
}
