// raw-site.ts — a hand-driven site for protocol tests: it speaks the wire protocol message by message, signing what it is told to.
import { createMessage, decodeMessage, encodeMessage } from '@fedval/protocol';
import type { Message } from '@fedval/protocol';
import { signChallenge } from '@fedval/trust';
import type { AuthChallenge } from '@fedval/trust';
import WebSocket from 'ws';

/** A raw protocol client: queues decoded messages, exposes the close code. */
export class RawSite {
  readonly socket: WebSocket;
  readonly closed: Promise<number>;
  /** The last socket error (a TLS failure, a refused upgrade), if any. */
  error: Error | undefined;
  readonly #queue: Message[] = [];
  readonly #waiters = new Set<() => void>();

  /** `options`: TLS for wss:// (ca, cert, key), passed to ws as they are. */
  constructor(url: string, options: WebSocket.ClientOptions = {}) {
    this.socket = new WebSocket(url, options);
    this.closed = new Promise((resolve) => this.socket.on('close', (code) => resolve(code)));
    this.socket.on('message', (data) => {
      this.#queue.push(decodeMessage(data as Buffer));
      for (const wake of this.#waiters) wake();
    });
    this.socket.on('error', (error) => (this.error = error));
  }

  send(message: Message | Uint8Array): void {
    this.socket.send(message instanceof Uint8Array ? message : encodeMessage(message), { binary: true });
  }

  async next(match: (m: Message) => boolean, timeoutMs = 20_000): Promise<Message> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const index = this.#queue.findIndex(match);
      if (index >= 0) return this.#queue.splice(index, 1)[0]!;
      if (Date.now() > until) throw new Error('no matching message');
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.#waiters.delete(wake);
          resolve();
        };
        this.#waiters.add(wake);
        setTimeout(wake, 200);
      });
    }
  }

  /** Answers the connection challenge as `siteId` with `privateKeyPem`; returns welcome or the error reply. */
  async authenticate(siteId: string, privateKeyPem: string, audience: string): Promise<Message> {
    const challenge = await this.next((m) => m.type === 'challenge');
    if (challenge.type !== 'challenge') throw new Error('shape');
    const signature = new Uint8Array(signChallenge(privateKeyPem, challenge.content as AuthChallenge, { siteId, purpose: 'connect', expectedAudience: audience }));
    this.send(createMessage('hello', { siteId, signature, agentVersion: 'raw', capabilities: { tasks: ['binary'], contributions: ['plaintext'] } }));
    return this.next((m) => m.type === 'welcome' || m.type === 'error');
  }

  /** Says hello with a pre-shared site token; returns welcome or the error reply. */
  async authenticateWithToken(siteId: string, token: string): Promise<Message> {
    await this.next((m) => m.type === 'challenge'); // the socket is open and the coordinator is listening
    this.send(createMessage('hello', { siteId, token, agentVersion: 'raw', capabilities: { tasks: ['binary'], contributions: ['plaintext'] } }));
    return this.next((m) => m.type === 'welcome' || m.type === 'error');
  }

  close(): void {
    this.socket.terminate();
  }
}
