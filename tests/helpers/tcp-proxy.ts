// tcp-proxy.ts — a loopback TCP relay in front of a server that a test can partition (nothing passes either way, not even
// a close) or make hand one client's traffic to another client's server session (what a transaction-mode pooler does).
import { createServer, connect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

export interface TcpProxy {
  /** The port to connect to instead of the server's. */
  port: Promise<number>;
  /** Connections made so far, in the order they were accepted. */
  readonly connections: number;
  /** From now on nothing is forwarded in either direction, and neither side learns that the other closed. */
  partition(): void;
  /** From now on what client `from` sends goes to the server session opened for client `to`, and that session answers `from`. */
  reroute(from: number, to: number): void;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Where this client's bytes go. */
  target: Socket;
}

export function tcpProxy(targetPort: number): TcpProxy {
  const pairs: Pair[] = [];
  const replyTo = new Map<Socket, Socket>();
  let partitioned = false;
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    const pair: Pair = { client, upstream, target: upstream };
    pairs.push(pair);
    replyTo.set(upstream, client);
    client.on('data', (data) => {
      if (!partitioned) pair.target.write(data);
    });
    upstream.on('data', (data) => {
      if (!partitioned) replyTo.get(upstream)?.write(data);
    });
    const hangUp = (other: Socket) => () => {
      if (!partitioned) other.destroy();
    };
    client.on('close', hangUp(upstream));
    upstream.on('close', hangUp(client));
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  return {
    port: new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))),
    get connections() {
      return pairs.length;
    },
    partition() {
      partitioned = true;
    },
    reroute(from, to) {
      const a = pairs[from];
      const b = pairs[to];
      if (a === undefined || b === undefined) throw new Error(`no connection ${a === undefined ? from : to}`);
      a.target = b.upstream;
      replyTo.set(b.upstream, a.client);
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
