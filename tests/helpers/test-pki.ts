// test-pki.ts — a throw-away PKI made with the openssl command line (not with fedval): a CA, server and client certificates.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requirePrerequisite } from './prerequisites.ts';

export interface Issued {
  cert: string;
  key: string;
}

const openssl = (args: string[], cwd: string): void => {
  execFileSync(requirePrerequisite('openssl'), args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
};

/** A self-signed P-256 CA valid for two days, in `dir`/`name`.crt and .key. */
export function makeCa(dir: string, name: string): Issued {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`], dir);
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/** A P-256 certificate with common name `commonName` issued by `ca`: a server certificate for 127.0.0.1/localhost, or a client certificate. */
export function issue(dir: string, ca: Issued, name: string, commonName: string, usage: 'server' | 'client'): Issued {
  const extensions = join(dir, `${name}.ext`);
  writeFileSync(
    extensions,
    usage === 'server'
      ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n'
      : 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n',
  );
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${commonName}`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', extensions], dir);
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}
