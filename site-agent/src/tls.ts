// tls.ts — the agent's TLS material for wss:// and https:// to the coordinator: a private CA to trust, a client certificate for mutual TLS.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { AgentConfig } from './config.ts';
import { AgentError } from './errors.ts';

/** Options for `tls.connect` (through ws and https); empty when the configuration has no `tls`. */
export interface AgentTlsOptions {
  /** Node's bundled root CAs (tls.rootCertificates) plus `tls.ca`. */
  ca?: (string | Buffer)[];
  cert?: Buffer;
  key?: Buffer;
}

/**
 * Reads `tls.ca`, `tls.cert` and `tls.key` (absolute paths) and checks each parses and the key belongs to the certificate:
 * FEDVAL_ERR_AGENT_TLS naming the file otherwise. Node's bundled root CAs stay trusted; `ca` is added for a private CA.
 */
export function loadAgentTls(tls: AgentConfig['tls']): AgentTlsOptions {
  if (!tls) return {};
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (cause) {
      throw new AgentError('FEDVAL_ERR_AGENT_TLS', `${what} ${path}: ${(cause as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause });
    }
  };
  const certificate = (bytes: Buffer, what: string, path: string): X509Certificate => {
    try {
      return new X509Certificate(bytes);
    } catch (cause) {
      throw new AgentError('FEDVAL_ERR_AGENT_TLS', `${what} ${path}: not a PEM X.509 certificate`, { cause });
    }
  };
  const options: AgentTlsOptions = {};
  if (tls.ca) {
    const ca = read(tls.ca, 'tls.ca');
    certificate(ca, 'tls.ca', tls.ca);
    options.ca = [...rootCertificates, ca];
  }
  if (tls.cert && tls.key) {
    options.cert = read(tls.cert, 'tls.cert');
    options.key = read(tls.key, 'tls.key');
    const leaf = certificate(options.cert, 'tls.cert', tls.cert);
    try {
      if (!leaf.checkPrivateKey(createPrivateKey(options.key))) throw new Error('mismatch');
    } catch (cause) {
      throw new AgentError('FEDVAL_ERR_AGENT_TLS', `tls.key ${tls.key}: not a PEM private key, or not the key of tls.cert`, { cause });
    }
  }
  return options;
}
