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

/** Encodes one protocol message as one binary frame; undefined (logged) if it cannot be encoded. */
function encodeOrLog(message: Message, log: FastifyBaseLogger): Uint8Array | undefined {
  try {
    return encodeMessage(message);
  } catch (error) {
    log.error({ type: message.type, code: (error as { code?: string }).code }, 'could not encode an outgoing message');
    return undefined;
  }
}

/** Sends one protocol message as one binary frame at once (outside the send budget); returns false if the socket is not open or encoding failed. */
export function sendMessage(socket: WebSocket, message: Message, log: FastifyBaseLogger): boolean {
  if (socket.readyState !== socket.OPEN) return false;
  const frame = encodeOrLog(message, log);
  if (frame === undefined) return false;
  socket.send(frame, { binary: true });
  return true;
}

/** Default of `maxSendBufferBytes` (and of the coordinator's `limits.max_send_buffer_bytes`). */
export const DEFAULT_MAX_SEND_BUFFER_BYTES = 4 * 1024 * 1024; // 4 MiB

export interface SiteConnectionsOptions {
  /**
   * Bytes of frames handed to site sockets whose write has not completed, all sites together. A frame past it waits in a
   * queue, not yet encoded, and goes out (in order) as earlier writes complete; a frame larger than the budget goes out
   * alone. Sending a task or the key holder's statement to a thousand sites at once then holds this much, not a thousand
   * frames. Default 4 MiB.
   */
  maxSendBufferBytes?: number;
  /**
   * A write not completed after this many milliseconds stops counting against `maxSendBufferBytes` (its site is not
   * reading: the frame waits in that socket alone), so a stalled or hostile site cannot hold the budget and delay every
   * other site. Default 1000 ms.
   */
  sendStallMs?: number;
  /**
   * A site whose write has not completed after this many milliseconds is disconnected (its socket terminated, logged):
   * a site that stops reading would otherwise keep every later frame to it in memory, since stalled writes stop counting
   * against `maxSendBufferBytes`. It reconnects and is sent its tasks again. Default 60000 ms.
   */
  sendTimeoutMs?: number;
}

/** Default of `sendStallMs`. */
export const DEFAULT_SEND_STALL_MS = 1_000; // 1 s

/** Default of `sendTimeoutMs` (and of the coordinator's `limits.send_timeout_ms`). */
export const DEFAULT_SEND_TIMEOUT_MS = 60_000; // 1 min

/** A frame handed to a socket whose write has not completed: counted against the budget until then, or until it stalls. */
interface InFlightFrame {
  bytes: number;
  since: number;
  socket: WebSocket;
  /** The write completed (or failed). */
  done: boolean;
}

/** A frame waiting for room in the send budget: encoded when its turn comes (undefined: it could not be, logged). */
interface QueuedFrame {
  socket: WebSocket;
  frame: () => Uint8Array | undefined;
  /** One buffer sent to many sites, held by its owner anyway (sendEncoded): it costs the budget nothing. */
  shared: boolean;
}

export class SiteConnections implements SiteChannel {
  readonly #connections = new Map<string, SiteConnection>();
  readonly #lastSeen = new Map<string, number>();
  readonly #log: FastifyBaseLogger;
  readonly #maxSendBufferBytes: number;
  readonly #queue: (QueuedFrame | undefined)[] = [];
  #queueHead = 0;
  readonly #sendStallMs: number;
  readonly #sendTimeoutMs: number;
  #terminatedSlow = 0;
  readonly #inFlight = new Set<InFlightFrame>();
  #stallTimer: NodeJS.Timeout | undefined;
  #sending = 0;
  #framesQueued = 0;
  #readingPaused = false;
  #readPauses = 0;

  constructor(log: FastifyBaseLogger, lastSeen: ReadonlyMap<string, number> = new Map(), options: SiteConnectionsOptions = {}) {
    this.#log = log;
    this.#maxSendBufferBytes = options.maxSendBufferBytes ?? DEFAULT_MAX_SEND_BUFFER_BYTES;
    this.#sendStallMs = options.sendStallMs ?? DEFAULT_SEND_STALL_MS;
    this.#sendTimeoutMs = options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
    for (const [siteId, at] of lastSeen) this.#lastSeen.set(siteId, at);
  }

  /** Registers an authenticated socket; returns the socket it replaces, if any. While reading is paused, the new socket is paused too. */
  attach(siteId: string, socket: WebSocket, now = Date.now()): WebSocket | undefined {
    const previous = this.#connections.get(siteId)?.socket;
    this.#connections.set(siteId, { socket, lastReceived: now });
    this.#lastSeen.set(siteId, now);
    if (this.#readingPaused) socket.pause();
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

  /** Queues a message for the site if it is connected (see maxSendBufferBytes); returns whether it was queued. */
  send(siteId: string, message: Message): boolean {
    const socket = this.#openSocket(siteId);
    if (!socket) return false;
    this.#enqueue({ socket, frame: () => encodeOrLog(message, this.#log), shared: false });
    return true;
  }

  /**
   * Queues an already encoded frame for the site if it is connected. ws frames it without copying, so N sites share the
   * one buffer its owner keeps: it does not count against the send budget (it waits only behind frames queued before it).
   */
  sendEncoded(siteId: string, frame: Uint8Array): boolean {
    const socket = this.#openSocket(siteId);
    if (!socket) return false;
    this.#enqueue({ socket, frame: () => frame, shared: true });
    return true;
  }

  /** Bytes handed to site sockets and not yet written, frames waiting for room now, and how many ever waited (see maxSendBufferBytes). */
  get sendBacklog(): { bytes: number; queued: number; queuedTotal: number } {
    return { bytes: this.#sending, queued: this.#queue.length - this.#queueHead, queuedTotal: this.#framesQueued };
  }

  /**
   * Stops reading every site socket, and each that connects meanwhile, until resumeReading: what sites send waits in the
   * kernel and TCP slows them down. Nothing is lost. The heartbeat sweep does not count a paused socket's silence.
   */
  pauseReading(): void {
    if (this.#readingPaused) return;
    this.#readingPaused = true;
    this.#readPauses += 1;
    for (const connection of this.#connections.values()) connection.socket.pause();
  }

  /** Reads the site sockets again; each is counted as heard from now (its messages waited on this side). */
  resumeReading(now = Date.now()): void {
    if (!this.#readingPaused) return;
    this.#readingPaused = false;
    for (const connection of this.#connections.values()) {
      connection.lastReceived = Math.max(connection.lastReceived, now);
      connection.socket.resume();
    }
  }

  /** Whether site sockets are paused now, and how many times they were paused since start. */
  get reading(): { paused: boolean; pauses: number } {
    return { paused: this.#readingPaused, pauses: this.#readPauses };
  }

  #openSocket(siteId: string): WebSocket | undefined {
    const socket = this.#connections.get(siteId)?.socket;
    return socket && socket.readyState === socket.OPEN ? socket : undefined;
  }

  #enqueue(queued: QueuedFrame): void {
    if (this.#queueHead < this.#queue.length || (!queued.shared && this.#sending >= this.#maxSendBufferBytes)) this.#framesQueued += 1;
    this.#queue.push(queued);
    this.#pump();
  }

  /** Hands queued frames to their sockets, in order, while the send budget has room (always at least one). */
  #pump(): void {
    while (this.#queueHead < this.#queue.length && (this.#sending === 0 || this.#sending < this.#maxSendBufferBytes || this.#queue[this.#queueHead]?.shared === true)) {
      const next = this.#queue[this.#queueHead];
      this.#queue[this.#queueHead] = undefined; // released as soon as it is sent
      this.#queueHead += 1;
      if (next === undefined) continue;
      if (next.socket.readyState !== next.socket.OPEN) continue; // closed meanwhile: the site is sent its tasks again when it reconnects
      const frame = next.frame();
      if (frame === undefined) continue;
      const sent: InFlightFrame = { bytes: next.shared ? 0 : frame.byteLength, since: Date.now(), socket: next.socket, done: false };
      this.#sending += sent.bytes;
      this.#inFlight.add(sent);
      next.socket.send(frame, { binary: true }, () => {
        sent.done = true;
        if (this.#inFlight.delete(sent)) this.#sending -= sent.bytes;
        this.#pump();
      });
    }
    // Frames wait while writes are pending: in case they never complete (a site that does not read), look again later.
    if (this.#queueHead < this.#queue.length && this.#stallTimer === undefined) {
      this.#stallTimer = setTimeout(() => this.#releaseStalled(), this.#sendStallMs);
      this.#stallTimer.unref();
    }
    if (this.#queueHead === this.#queue.length || this.#queueHead > 4096) {
      this.#queue.splice(0, this.#queueHead);
      this.#queueHead = 0;
    }
  }

  /** Stops counting writes pending for sendStallMs or longer (see sendStallMs), then sends what now fits. */
  #releaseStalled(now = Date.now()): void {
    this.#stallTimer = undefined;
    for (const frame of this.#inFlight) {
      if (now - frame.since < this.#sendStallMs) continue;
      this.#inFlight.delete(frame);
      this.#sending -= frame.bytes;
      this.#watchStalled(frame, now);
    }
    this.#pump();
  }

  /** Disconnects the frame's site if its write is still pending sendTimeoutMs after it was handed over (see sendTimeoutMs). */
  #watchStalled(frame: InFlightFrame, now: number): void {
    const timer = setTimeout(() => {
      if (frame.done || frame.socket.readyState !== frame.socket.OPEN) return;
      const siteId = [...this.#connections].find(([, connection]) => connection.socket === frame.socket)?.[0] ?? null;
      this.#terminatedSlow += 1;
      this.#log.warn({ site: siteId, pending_ms: Date.now() - frame.since }, 'site not reading what it is sent: disconnected (limits.send_timeout_ms)');
      frame.socket.terminate();
    }, Math.max(0, this.#sendTimeoutMs - (now - frame.since)));
    timer.unref();
  }

  /** Sites disconnected since start because a write to them stayed pending sendTimeoutMs. */
  get slowSitesDisconnected(): number {
    return this.#terminatedSlow;
  }

  lastSeen(siteId: string): number | undefined {
    return this.#lastSeen.get(siteId);
  }

  /** Current connections, for the heartbeat sweep. */
  entries(): [siteId: string, connection: Readonly<SiteConnection>][] {
    return [...this.#connections];
  }
}
