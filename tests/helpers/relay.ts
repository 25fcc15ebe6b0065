// relay.ts — a WebSocket relay between one agent and the coordinator: records every frame the agent sends, and can cut
// the connection once, swallowing the frame that triggered the cut (a network failure at the worst moment).
import { decodeMessage } from '@fedval/protocol';
import type { Message } from '@fedval/protocol';
import WebSocket, { WebSocketServer } from 'ws';

export interface Relay {
  /** The socket URL to configure the agent with. */
  url: Promise<string>;
  /** Every frame the agent sent, in order, including a swallowed one. */
  frames: Buffer[];
  /** Resolves when the cut happened. */
  cut: Promise<void>;
  close(): Promise<void>;
}

/** `cutOnce`: the first agent message it matches is not forwarded, and both sides of that connection are terminated. */
export function recordingRelay(target: string, options: { cutOnce?: (message: Message) => boolean } = {}): Relay {
  const frames: Buffer[] = [];
  let cutDone = false;
  let markCut: () => void = () => undefined;
  const cut = new Promise<void>((resolve) => (markCut = resolve));
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  server.on('connection', (agentSide) => {
    const upstream = new WebSocket(target);
    const pending: Buffer[] = [];
    upstream.on('open', () => pending.splice(0).forEach((frame) => upstream.send(frame)));
    upstream.on('error', () => agentSide.terminate());
    agentSide.on('message', (data: Buffer) => {
      frames.push(Buffer.from(data));
      if (!cutDone && options.cutOnce?.(decodeMessage(data))) {
        cutDone = true;
        agentSide.terminate();
        upstream.terminate();
        markCut();
        return;
      }
      if (upstream.readyState === WebSocket.OPEN) upstream.send(data);
      else pending.push(data);
    });
    upstream.on('message', (data: Buffer) => agentSide.send(data));
    upstream.on('close', () => agentSide.close());
    agentSide.on('close', () => upstream.close());
  });
  const url = new Promise<string>((resolve) => server.on('listening', () => resolve(`ws://127.0.0.1:${(server.address() as { port: number }).port}/ws`)));
  return {
    url,
    frames,
    cut,
    close: () =>
      new Promise((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}
