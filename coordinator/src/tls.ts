// tls.ts — the coordinator's TLS material (https/wss), read and checked before listening; optional mutual TLS for sites.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type { CoordinatorConfig } from './config.ts';
import { CoordinatorError } from './errors.ts';

/** Options for `https.createServer`, as fastify takes them under `https`. */
export interface TlsServerOptions {
  cert: Buffer;
  key: Buffer;
  /** Present only with mutual TLS: the CA whose certificates sites present. */
  ca?: Buffer;
  /** With mutual TLS the server asks every client for a certificate; the site socket refuses a client without a valid one. */
  requestCert: boolean;
  /** Always false: REST clients need no certificate; the site socket checks `authorized` itself (siteClientCertificate). */
  rejectUnauthorized: false;
  minVersion: 'TLSv1.2';
}

/**
 * Reads `tls.cert`, `tls.key` and `tls.client_ca` (paths already absolute) and checks that each parses and that the key
 * belongs to the certificate: FEDVAL_ERR_COORD_TLS naming the file otherwise. Undefined when `tls` is not configured.
 */
export function loadTlsServerOptions(tls: CoordinatorConfig['tls']): TlsServerOptions | undefined {
  if (!tls) return undefined;
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (cause) {
      throw new CoordinatorError('FEDVAL_ERR_COORD_TLS', `${what} ${path}: ${(cause as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause });
    }
  };
  const cert = read(tls.cert, 'tls.cert');
  const key = read(tls.key, 'tls.key');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (cause) {
    throw new CoordinatorError('FEDVAL_ERR_COORD_TLS', `tls.cert ${tls.cert}: not a PEM X.509 certificate`, { cause });
  }
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(key))) throw new Error('mismatch');
  } catch (cause) {
    throw new CoordinatorError('FEDVAL_ERR_COORD_TLS', `tls.key ${tls.key}: not a PEM private key, or not the key of tls.cert`, { cause });
  }
  const options: TlsServerOptions = { cert, key, requestCert: false, rejectUnauthorized: false, minVersion: 'TLSv1.2' };
  if (tls.client_ca) {
    const ca = read(tls.client_ca, 'tls.client_ca');
    try {
      new X509Certificate(ca);
    } catch (cause) {
      throw new CoordinatorError('FEDVAL_ERR_COORD_TLS', `tls.client_ca ${tls.client_ca}: not a PEM X.509 certificate`, { cause });
    }
    options.ca = ca;
    options.requestCert = true;
  }
  return options;
}

/**
 * Under mutual TLS: the common name of the client certificate a site socket presented, if it chains to `tls.client_ca`
 * and is in its validity period; undefined otherwise (no certificate, not trusted, expired, or not a TLS socket).
 */
export function siteClientCertificate(socket: unknown): { commonName: string } | undefined {
  const tlsSocket = socket as Partial<TLSSocket>;
  if (tlsSocket.authorized !== true || typeof tlsSocket.getPeerCertificate !== 'function') return undefined;
  const commonName = tlsSocket.getPeerCertificate().subject?.CN;
  return typeof commonName === 'string' && commonName.length > 0 ? { commonName } : undefined;
}
