// protocol-site.ts — test support: a scripted site speaking the wire protocol over a real ws client.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMessage, decodeMessage, encodeMessage } from '@fedval/protocol';
import type { Message, MessageType } from '@fedval/protocol';
import WebSocket from 'ws';
import { ROLES } from '../access-control.ts';
import type { Role } from '../access-control.ts';
import { parseCoordinatorConfig } from '../config.ts';
import type { CoordinatorConfig } from '../config.ts';
import { createCoordinator } from '../server.ts';
import type { Coordinator } from '../server.ts';
import { hashToken } from '../site-auth.ts';

export const SITE_TOKENS: Readonly<Record<string, string>> = Object.freeze({
  'site-a': 'token-of-site-a-0123456789',
  'site-b': 'token-of-site-b-0123456789',
  'site-c': 'token-of-site-c-0123456789',
});

/** One API token per role, named after the role. */
export const API_TOKENS: Readonly<Record<Role, string>> = Object.freeze(
  Object.fromEntries(ROLES.map((role) => [role, `api-token-of-${role}-0123456789`])) as Record<Role, string>,
);

/**
 * A configuration for tests: port 0, silent logs, the three test sites, one API token per role, the given limits.
 * Studies of one or two sites are allowed (min_release_sites 1) unless `limits` says otherwise: the production floor
 * of 3 is tested in rest-api.test.ts.
 */
export function testConfig(dataDir: string, limits: Record<string, number> = {}): CoordinatorConfig {
  return parseCoordinatorConfig(
    {
      listen: { host: '127.0.0.1', port: 0 },
      data_dir: dataDir,
      sites: Object.entries(SITE_TOKENS).map(([id, token]) => ({ id, token_sha256: hashToken(token) })),
      api_tokens: ROLES.map((role) => ({ name: role, role, token_sha256: hashToken(API_TOKENS[role]) })),
      limits: { min_release_sites: 1, ...limits },
      log_level: 'silent',
    },
    { baseDir: dataDir },
  );
}

export interface RunningCoordinator {
  coordinator: Coordinator;
  url: string;
  wsUrl: string;
  dataDir: string;
  /** JSON REST call with the API token of `role` (default sponsor; null: no token); returns status and parsed body. */
  api(method: string, path: string, body?: unknown, role?: Role | null): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

/** Starts a coordinator on port 0; `beforeStart` may add hooks (e.g. onRoute) before its plugins load. */
export async function startTestCoordinator(
  limits: Record<string, number> = {},
  dataDir?: string,
  beforeStart?: (app: Coordinator['app']) => void,
): Promise<RunningCoordinator> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'fedval-coord-test-'));
  const coordinator = createCoordinator(testConfig(dir, limits));
  beforeStart?.(coordinator.app);
  const { url } = await coordinator.start();
  return {
    coordinator,
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}/ws`,
    dataDir: dir,
    async api(method, path, body, role = 'sponsor') {
      const headers: Record<string, string> = role === null ? {} : { authorization: `Bearer ${API_TOKENS[role]}` };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(`${url}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    },
    async stop() {
      await coordinator.close();
      if (dataDir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A scripted protocol peer: queues every decoded message, exposes the close code. */
export class ProtocolSite {
  readonly socket: WebSocket;
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #queue: Message[] = [];
  readonly #waiters = new Set<() => void>();

  private constructor(socket: WebSocket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    socket.on('message', (data) => {
      this.#queue.push(decodeMessage(data as Buffer));
      for (const wake of this.#waiters) wake();
    });
    socket.on('error', () => undefined);
  }

  static async connect(wsUrl: string): Promise<ProtocolSite> {
    const socket = new WebSocket(wsUrl);
    const site = new ProtocolSite(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return site;
  }

  /** Connects and authenticates; throws unless the reply is welcome. */
  static async authenticated(wsUrl: string, siteId: string): Promise<ProtocolSite> {
    const site = await ProtocolSite.connect(wsUrl);
    const reply = await site.hello(siteId, SITE_TOKENS[siteId] as string);
    if (reply.type !== 'welcome') throw new Error(`expected welcome, got ${reply.type}`);
    return site;
  }

  async hello(siteId: string, token: string): Promise<Message> {
    this.send(createMessage('hello', { siteId, token, agentVersion: 'test', capabilities: { tasks: ['binary'], contributions: ['plaintext'] } }));
    return this.next();
  }

  send(message: Message): void {
    this.socket.send(encodeMessage(message), { binary: true });
  }

  sendRaw(data: Uint8Array | string, binary = true): void {
    this.socket.send(data, { binary });
  }

  /** The next queued message of the given type (any type except heartbeat and the connection challenge when omitted). */
  async next(type?: MessageType, timeoutMs = 5000): Promise<Message> {
    const matches = (m: Message): boolean => (type ? m.type === type : m.type !== 'heartbeat' && m.type !== 'challenge');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.#queue.findIndex(matches);
      if (index >= 0) return this.#queue.splice(index, 1)[0] as Message;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no ${type ?? 'message'} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.#waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, remaining);
        this.#waiters.add(wake);
      });
    }
  }

  /** Messages received and not yet taken. */
  pending(): readonly Message[] {
    return this.#queue;
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    this.socket.close();
    await this.closed;
  }
}

/** Polls GET /api/rounds/:id until the round is no longer open. */
export async function waitForRoundClosed(api: RunningCoordinator['api'], roundId: string, timeoutMs = 10_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await api('GET', `/api/rounds/${roundId}`);
    if (body.state === 'aggregated' || body.state === 'failed') return body;
    if (Date.now() > deadline) throw new Error(`round ${roundId} still ${body.state}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
