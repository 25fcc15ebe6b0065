// client-address.ts — the client address a request is limited and audited under, robust to a malformed X-Forwarded-For.
import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';

/** Longest X-Forwarded-For value recorded in the audit trail, in characters (longer ones are cut). */
const MAX_FORWARDED_CHARS = 256;

/**
 * `request.ip` when it is an IP address, else the socket's peer address. Behind a trusted proxy Fastify takes the
 * client from X-Forwarded-For (proxy-addr), which returns a value that is not an address as is: a client could then
 * pick any string as its limiter key; the peer is the only address known for sure.
 */
export function clientAddress(request: FastifyRequest): string {
  return isIP(request.ip) !== 0 ? request.ip : peerAddress(request);
}

/** The TCP peer's address (the proxy's, behind one); `unknown` once the socket is gone. */
export function peerAddress(request: FastifyRequest): string {
  return request.raw.socket?.remoteAddress ?? 'unknown';
}

/** The request's X-Forwarded-For as received (cut to 256 characters), or undefined without one. */
export function forwardedFor(request: FastifyRequest): string | undefined {
  const header = request.headers['x-forwarded-for'];
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join(', ') : header;
  return text.length > MAX_FORWARDED_CHARS ? `${text.slice(0, MAX_FORWARDED_CHARS)}…` : text;
}
