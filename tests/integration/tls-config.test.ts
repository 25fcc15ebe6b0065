// TLS configuration mistakes are refused before anything listens or connects, each with a coded error naming the file.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTlsServerOptions } from '../../coordinator/src/tls.ts';
import { loadAgentTls } from '../../site-agent/src/tls.ts';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/run-cli.ts';
import { issue, makeCa } from '../helpers/test-pki.ts';
import type { Issued } from '../helpers/test-pki.ts';

describe('TLS configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedval-tls-config-'));
  let ca: Issued;
  let server: Issued;
  let other: Issued;
  let garbage = '';

  beforeAll(() => {
    ca = makeCa(dir, 'ca');
    server = issue(dir, ca, 'server', 'localhost', 'server');
    other = issue(dir, ca, 'other', 'site-x', 'client');
    garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
  });

  it('coordinator: accepts a matching certificate and key, and refuses a missing file, a non-certificate and a key of another certificate', () => {
    expect(loadTlsServerOptions({ cert: server.cert, key: server.key, client_ca: ca.cert })).toMatchObject({ requestCert: true, rejectUnauthorized: false });
    expect(loadTlsServerOptions({ cert: server.cert, key: server.key })).toMatchObject({ requestCert: false });
    expect(loadTlsServerOptions(undefined)).toBeUndefined();
    const refused = (tls: { cert: string; key: string; client_ca?: string }, fragment: string) =>
      expect(() => loadTlsServerOptions(tls)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_COORD_TLS', message: expect.stringContaining(fragment) }));
    refused({ cert: join(dir, 'missing.crt'), key: server.key }, 'ENOENT');
    refused({ cert: garbage, key: server.key }, 'tls.cert');
    refused({ cert: server.cert, key: other.key }, 'not the key of tls.cert');
    refused({ cert: server.cert, key: server.key, client_ca: garbage }, 'tls.client_ca');
  });

  it('agent: adds its CA to the system roots, and refuses a key of another certificate or an unreadable CA', () => {
    const loaded = loadAgentTls({ ca: ca.cert, cert: other.cert, key: other.key });
    expect(loaded.ca!.length).toBeGreaterThan(1);
    expect(loaded.cert).toBeDefined();
    expect(() => loadAgentTls({ cert: other.cert, key: server.key })).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_AGENT_TLS' }));
    expect(() => loadAgentTls({ ca: garbage })).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_AGENT_TLS' }));
  });

  it('fedval-agent start exits 2 with FEDVAL_ERR_AGENT_TLS for a client key of another certificate', async () => {
    const config = join(dir, 'site.yaml');
    writeFileSync(
      config,
      [
        'coordinator: wss://127.0.0.1:9/ws',
        'site_id: site-x',
        `token: ${'t'.repeat(32)}`,
        `data: { path: ${garbage}, label: { column: y } }`,
        `data_dir: ${join(dir, 'site-data')}`,
        `tls: { ca: ${ca.cert}, cert: ${other.cert}, key: ${server.key} }`,
      ].join('\n'),
    );
    const run = await runCli('fedval-agent', ['start', '--config', config]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('FEDVAL_ERR_AGENT_TLS');
  });

  it('fedval-coordinator start exits 2 with FEDVAL_ERR_COORD_TLS for a mismatched key', async () => {
    const config = join(dir, 'coordinator.yaml');
    writeFileSync(config, [`data_dir: ${join(dir, 'data')}`, 'listen: { host: 127.0.0.1, port: 0 }', `tls: { cert: ${server.cert}, key: ${other.key} }`, `sites: [{ id: a, token_sha256: ${'a'.repeat(64)} }]`].join('\n'));
    const run = await runCli('fedval-coordinator', ['start', '--config', config]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('FEDVAL_ERR_COORD_TLS');
  });
});
