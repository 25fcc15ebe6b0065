// coordinator-connection.ts — the agent's outbound connection to its coordinator: the socket, hello or the signed
// challenge, reconnection with backoff, heartbeats, and dispatch of the coordinator's messages to the agent.
import type { KeyObject } from 'node:crypto';
import { auditHeadDetails, signChallenge } from '@fedval/trust';
import type { AuditEvent } from '@fedval/trust';
import { createErrorMessage, createMessage, decodeMessage, encodeMessage } from '@fedval/protocol';
import type { ChallengeContent, Message, MessageOf, TaskContent, WireError } from '@fedval/protocol';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import type { AgentConfig } from './config.ts';
import { AgentError, agentWireError } from './errors.ts';
import type { AgentTlsOptions } from './tls.ts';

export const AGENT_VERSION = '0.1.0';

/** Close codes with which the coordinator refuses this site for good: reconnecting would not help. */
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_REPLACED = 4409;

/** What the connection hands to the agent. */
export interface ConnectionHandlers {
  /** The coordinator welcomed the site. */
  authenticated(): void;
  /** A task to run; its result, refusal and progress go back through {@link CoordinatorConnection.send}. */
  task(requestId: string, task: TaskContent): Promise<void>;
  /** The coordinator cancelled a round. */
  cancel(roundId: string, reason: WireError): void;
  /** A secure-aggregation message of a round (keys, shares, survivor set, unmasking request). */
  secagg(requestId: string, message: MessageOf<'secagg.keys' | 'secagg.inbox' | 'secagg.survivors' | 'secagg.unmask'>): void;
  disconnected(code: number): void;
  /** The coordinator refused the site for good (credentials, replaced, wrong coordinator): the connection stops. */
  fatal(error: AgentError): void;
  /** Audits a connection event; a failed write is the agent's to log, never fatal here. */
  audit(event: Omit<AuditEvent, 'actor'>): void;
}

export interface CoordinatorConnectionOptions {
  config: AgentConfig;
  /** The enrolled site's private key, or undefined for a token-configured site. */
  siteKey: KeyObject | undefined;
  tls: AgentTlsOptions;
  log: Logger;
  handlers: ConnectionHandlers;
}

/** Keeps one site connected to its coordinator until closed: authenticates, answers heartbeats, reconnects with backoff. */
export class CoordinatorConnection {
  readonly #config: AgentConfig;
  readonly #siteKey: KeyObject | undefined;
  readonly #tls: AgentTlsOptions;
  readonly #log: Logger;
  readonly #handlers: ConnectionHandlers;
  #socket: WebSocket | undefined;
  #stopped = false;
  #attempt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;

  constructor(options: CoordinatorConnectionOptions) {
    this.#config = options.config;
    this.#siteKey = options.siteKey;
    this.#tls = options.tls;
    this.#log = options.log;
    this.#handlers = options.handlers;
  }

  open(): void {
    this.#stopped = false;
    this.#connect();
  }

  /** Stops reconnecting and closes the socket (terminated after 2 s if the coordinator does not answer the close). */
  async close(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#reconnectTimer);
    const socket = this.#socket;
    if (socket && socket.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.close(1000, 'agent stopping');
        setTimeout(() => {
          socket.terminate();
          resolve();
        }, 2000).unref();
      });
    }
  }

  /** Sends a message if the socket is open; a message sent while disconnected is dropped (a repeated task re-sends results). */
  send(message: Message): void {
    const socket = this.#socket;
    if (socket?.readyState === WebSocket.OPEN) socket.send(encodeMessage(message), { binary: true });
  }

  #connect(): void {
    const socket = new WebSocket(this.#config.coordinator, { maxPayload: this.#config.limits.max_message_bytes, handshakeTimeout: 10_000, ...this.#tls });
    this.#socket = socket;
    socket.binaryType = 'nodebuffer';
    socket.on('open', () => {
      this.#log.info({ coordinator: this.#config.coordinator }, 'connected; authenticating');
      // A token site says hello at once (and ignores the challenge); an enrolled site answers the challenge.
      if (this.#config.token !== null) this.#sendHello({ token: this.#config.token });
    });
    socket.on('message', (data, isBinary) => {
      if (!isBinary) {
        this.#log.warn('ignored a text frame from the coordinator');
        return;
      }
      void this.#onFrame(data as Buffer);
    });
    socket.on('error', (error) => this.#log.warn({ err: { message: error.message } }, 'connection error'));
    socket.on('close', (code) => {
      this.#handlers.disconnected(code);
      if (this.#socket === socket) this.#socket = undefined;
      if (code === CLOSE_UNAUTHORIZED || code === CLOSE_REPLACED) {
        const error =
          code === CLOSE_UNAUTHORIZED
            ? new AgentError('FEDVAL_ERR_AGENT_UNAUTHORIZED', this.#siteKey ? 'check site_id and that this site key is the enrolled one' : 'check site_id and token')
            : new AgentError('FEDVAL_ERR_AGENT_REPLACED', 'another agent connected with this site id');
        this.#log.error({ code: error.code }, error.message);
        this.#handlers.audit({ action: 'connection.refused', object: `coordinator:${this.#config.coordinator}`, reason: error.code, details: { close_code: code } });
        this.#handlers.fatal(error);
        this.#stopped = true;
        return;
      }
      if (!this.#stopped) this.#scheduleReconnect();
    });
  }

  #sendHello(credential: { token: string } | { signature: Uint8Array }): void {
    this.send(
      createMessage('hello', {
        siteId: this.#config.site_id,
        ...('token' in credential ? { token: credential.token } : { signature: new Uint8Array(credential.signature) }),
        agentVersion: AGENT_VERSION,
        capabilities: { tasks: [...this.#config.policy.allowed_tasks], contributions: [...this.#config.policy.allowed_contributions] },
      }),
    );
  }

  /** Signs the connection challenge, only if it names the coordinator this site is configured for (@fedval/trust signChallenge). */
  #answerChallenge(challenge: ChallengeContent): void {
    if (!this.#siteKey) return;
    let signature: Uint8Array;
    try {
      signature = signChallenge(this.#siteKey, challenge, { siteId: this.#config.site_id, purpose: 'connect', expectedAudience: normalizedCoordinatorUrl(this.#config.coordinator) });
    } catch (cause) {
      const error = new AgentError('FEDVAL_ERR_AGENT_CHALLENGE', `expected ${normalizedCoordinatorUrl(this.#config.coordinator)}`, { cause });
      this.#log.error({ code: error.code }, error.message);
      this.#handlers.audit({ action: 'connection.refused', object: `coordinator:${this.#config.coordinator}`, reason: error.code, details: { code: error.code } });
      this.#stopped = true;
      this.#handlers.fatal(error);
      this.#socket?.close(1008, error.code);
      return;
    }
    this.#sendHello({ signature });
  }

  #scheduleReconnect(): void {
    const { reconnect_initial_ms: initial, reconnect_max_ms: max } = this.#config.limits;
    const ceiling = Math.min(max, initial * 2 ** this.#attempt);
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2)); // exponential backoff, equal jitter
    this.#attempt += 1;
    this.#log.info({ delayMs: delay, attempt: this.#attempt }, 'reconnecting');
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  async #onFrame(data: Buffer): Promise<void> {
    let message: Message;
    try {
      message = decodeMessage(data, { maxMessageBytes: this.#config.limits.max_message_bytes });
    } catch (error) {
      this.#log.warn({ code: agentWireError(error).code }, 'refused a malformed message from the coordinator');
      this.send(createErrorMessage(agentWireError(error)));
      return;
    }
    switch (message.type) {
      case 'challenge':
        this.#answerChallenge(message.content);
        return;
      case 'welcome':
        this.#attempt = 0;
        this.#log.info('authenticated');
        // The coordinator's trail head it sent: kept in this site's trail as an anchor of the coordinator's trail.
        this.#handlers.audit({
          action: 'connection.established',
          object: `coordinator:${this.#config.coordinator}`,
          details: message.content.auditHead ? auditHeadDetails('coordinator', message.content.auditHead) : {},
        });
        this.#handlers.authenticated();
        return;
      case 'heartbeat':
        if (!message.replyTo) this.send(createMessage('heartbeat', {}, message.id));
        return;
      case 'task':
        await this.#handlers.task(message.id, message.content);
        return;
      case 'task.cancel':
        this.#handlers.cancel(message.content.roundId, message.content.reason);
        return;
      case 'secagg.keys':
      case 'secagg.inbox':
      case 'secagg.survivors':
      case 'secagg.unmask':
        this.#handlers.secagg(message.id, message);
        return;
      case 'error':
        this.#log.warn({ code: message.error.code, message: message.error.message }, 'coordinator reported an error');
        return;
      default:
        this.#log.warn({ type: message.type }, 'ignored a message type the coordinator does not send');
    }
  }
}

/** The coordinator URL as challenges name it: parsed and serialized by the WHATWG URL parser, as the coordinator does. */
export function normalizedCoordinatorUrl(url: string): string {
  try {
    return new URL(url).href;
  } catch {
    return url;
  }
}
