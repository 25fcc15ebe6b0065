// scripted-coordinator.ts — a peer on the coordinator's side of an agent's socket that sends what a test scripts
// (a modified or hostile coordinator) and records what the agent sends back.
import { createMessage, decodeMessage, encodeMessage } from '@fedval/protocol';
import type { Message } from '@fedval/protocol';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';

export class ScriptedCoordinator {
  readonly server: WebSocketServer;
  readonly received: Message[] = [];
  socket: WebSocket | undefined;
  /** Each site's socket, by the site id of its hello (several agents may connect to one scripted coordinator). */
  readonly sockets = new Map<string, WebSocket>();
  #waiters: { match: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];

  /** `onConnect` runs first on every connection (e.g. to send a connection challenge). */
  constructor(port = 0, onConnect?: (socket: WebSocket) => void) {
    this.server = new WebSocketServer({ host: '127.0.0.1', port });
    this.server.on('connection', (socket) => {
      this.socket = socket;
      onConnect?.(socket);
      socket.on('message', (data) => {
        const message = decodeMessage(data as Buffer);
        this.received.push(message);
        if (message.type === 'hello') this.sockets.set(message.content.siteId, socket);
        if (message.type === 'hello') socket.send(encodeMessage(createMessage('welcome', { siteId: message.content.siteId, heartbeatIntervalMs: 15000 })));
        this.#waiters = this.#waiters.filter((waiter) => (waiter.match(message) ? (waiter.resolve(message), false) : true));
      });
    });
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** The next message the agent sends that matches (including one already received and not yet taken). */
  next(match: (m: Message) => boolean, timeoutMs = 20_000): Promise<Message> {
    const seen = this.received.find(match);
    if (seen) {
      this.received.splice(this.received.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no matching message from the agent')), timeoutMs);
      this.#waiters.push({
        match,
        resolve: (m) => {
          clearTimeout(timer);
          this.received.splice(this.received.indexOf(m), 1);
          resolve(m);
        },
      });
    });
  }

  /** Sends to `siteId`'s socket when given, else to the last connection. */
  send(bytes: Uint8Array | Message, siteId?: string): void {
    const socket = siteId === undefined ? this.socket : this.sockets.get(siteId);
    socket!.send(bytes instanceof Uint8Array ? bytes : encodeMessage(bytes));
  }

  close(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
