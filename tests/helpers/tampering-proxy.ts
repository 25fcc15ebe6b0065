// tampering-proxy.ts — a malicious coordinator front for the key holder: it forwards every REST call to the real
// coordinator and lets a test rewrite the JSON documents it answers with (the operator serving forged documents).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Rewrites the JSON answer of a GET whose path matches; returns the document to serve instead. */
export type Rewrite = (path: string, document: any) => any;

export interface TamperingProxy {
  url: Promise<string>;
  /** The rewrite applied now (undefined: forward unchanged). */
  rewrite: Rewrite | undefined;
  close(): Promise<void>;
}

export function tamperingProxy(target: string): TamperingProxy {
  const proxy: TamperingProxy = { url: Promise.resolve(''), rewrite: undefined, close: async () => undefined };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      const headers: Record<string, string> = {};
      if (request.headers.authorization) headers.authorization = request.headers.authorization;
      if (request.headers['content-type']) headers['content-type'] = request.headers['content-type'];
      const body = chunks.length > 0 ? Buffer.concat(chunks) : null;
      const upstream = await fetch(`${target}${request.url}`, { method: request.method, headers, body });
      let text = await upstream.text();
      if (request.method === 'GET' && upstream.ok && proxy.rewrite) text = JSON.stringify(proxy.rewrite(request.url ?? '', JSON.parse(text)));
      response.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
      response.end(text);
    });
  });
  proxy.url = new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
  proxy.close = () => new Promise((resolve) => server.close(() => resolve()));
  return proxy;
}
