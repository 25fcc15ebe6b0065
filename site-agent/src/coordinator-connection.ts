// coordinator-connection.ts — the agent's outbound connection to its coordinator: the socket, hello or the signed
// challenge, reconnection with backoff, heartbeats, and dispatch of the coordinator's messages to the agent.
import type { KeyObject } from 'node:crypto';
import { auditHeadDetails, signChallenge } from '@fedval/trust';
import type { AuditEvent } from '@fedval/trust';
import { createErrorMessage, createMessage, decodeMessage, encodeMessage } from '@fedval/protocol';
import type { ChallengeContent, ContentOf, Message, MessageOf, TaskContent, WireError } from '@fedval/protocol';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import type { AgentConfig } from './config.ts';
import { classifyClose, classifySocketError, reconnectDelay, speaksTls } from './connection-failures.ts';
import type { ConnectionFailure } from './connection-failures.ts';
import { AgentError, agentWireError } from './errors.ts';
import type { AgentTlsOptions } from './tls.ts';

export const AGENT_VERSION = '0.1.0';

/** What the connection hands to the agent. */
export interface ConnectionHandlers {
  /** The coordinator welcomed the site. */
  authenticated(): void;
  /** A task to run; its result, refusal and progress go back through {@link CoordinatorConnection.send}. */
  task(requestId: string, task: TaskContent): Promise<void>;
  /** The coordinator cancelled a round. */
  cancel(roundId: string, reason: WireError): void;
  /** The key holder statement a task named by digest, which this site asked for (key_statement.request). */
  keyStatement(content: ContentOf<'key_statement'>): void;
  /** The coordinator's error message, with the id of the message it answers (if any); logged here already. */
  errorReply(replyTo: string | undefined, error: WireError): void;
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
  /** Returns [0, 1): the jitter of the reconnect delay (tests inject one). Default Math.random. */
  random?: () => number;
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
  readonly #random: () => number;
  /** Consecutive attempts that ended in a permanent error, and the last one's code. */
  #permanentFailures = 0;
  #lastFailure: ConnectionFailure | undefined;
  /** Set while a reset on a ws:// URL is checked for a TLS server behind it. */
  #probe: Promise<void> | undefined;

  constructor(options: CoordinatorConnectionOptions) {
    this.#random = options.random ?? Math.random;
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
    socket.on('error', (error: Error & { code?: string }) => {
      const url = new URL(this.#config.coordinator);
      const failure = classifySocketError(error, url.protocol === 'wss:');
      this.#lastFailure = failure;
      // Node's message may advise --use-system-ca, which is wrong for a private coordinator CA: log our own words.
      if (failure.kind === 'permanent') this.#log.warn({ code: failure.code }, failure.detail);
      else this.#log.warn({ reason: failure.reason }, 'connection error');
      if (url.protocol === 'ws:' && error.code === 'ECONNRESET') {
        // ws:// to a TLS server only shows as a reset: ask the port for a TLS handshake.
        const port = Number(url.port || 80);
        this.#probe = speaksTls(url.hostname, port).then((tls) => {
          if (tls) this.#lastFailure = { kind: 'permanent', code: 'FEDVAL_ERR_AGENT_ENDPOINT', detail: 'the coordinator speaks TLS on this port: use wss:// in coordinator' };
        });
      }
    });
    socket.on('close', (code, reason) => void this.#onClose(socket, code, reason.toString()));
  }

  async #onClose(socket: WebSocket, code: number, reason: string): Promise<void> {
    this.#handlers.disconnected(code);
    if (this.#socket === socket) this.#socket = undefined;
    if (this.#probe) await this.#probe;
    this.#probe = undefined;
    const failure = classifyClose(code, reason, this.#siteKey !== undefined) ?? this.#lastFailure;
    this.#lastFailure = undefined;
    if (this.#stopped) return;
    if (failure?.kind === 'permanent') {
      this.#permanentFailures += 1;
      // Replaced by another connection of this site: a short-lived one (`fedval-agent check`) is gone when this agent
      // reconnects and is welcomed; two agents configured alike knock each other off until both give up.
      if (this.#permanentFailures >= this.#config.limits.permanent_error_attempts) {
        const error = new AgentError(failure.code, failure.detail);
        this.#log.error({ code: error.code, attempts: this.#permanentFailures }, error.message);
        this.#handlers.audit({ action: 'connection.refused', object: `coordinator:${this.#config.coordinator}`, reason: error.code, details: { close_code: code, attempts: this.#permanentFailures } });
        this.#stopped = true;
        this.#handlers.fatal(error);
        return;
      }
    } else {
      this.#permanentFailures = 0;
    }
    this.#scheduleReconnect();
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
    const { reconnect_initial_ms: initialMs, reconnect_max_ms: maxMs } = this.#config.limits;
    const delay = reconnectDelay(this.#attempt, { initialMs, maxMs }, this.#random);
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
        this.#permanentFailures = 0;
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
      case 'key_statement':
        this.#handlers.keyStatement(message.content);
        return;
      case 'secagg.keys':
      case 'secagg.inbox':
      case 'secagg.survivors':
      case 'secagg.unmask':
        this.#handlers.secagg(message.id, message);
        return;
      case 'error':
        this.#log.warn({ code: message.error.code, message: message.error.message }, 'coordinator reported an error');
        this.#handlers.errorReply(message.replyTo, message.error);
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
