// End to end over TLS, with certificates made by the openssl command line: the coordinator serves https/wss with its
// configured certificate and asks sites for client certificates (mutual TLS); a site enrolls over https and completes a
// round over wss; a socket without a certificate, with one from another CA, or naming another site is refused.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readAuditLog } from '@fedval/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeployment, waitForRoundClosed, waitForSites } from '../helpers/deployment.ts';
import type { Deployment } from '../helpers/deployment.ts';
import { gbsgScoreLines, writeScoreFile } from '../helpers/gbsg-scores.ts';
import { RawSite } from '../helpers/raw-site.ts';
import { runCli } from '../helpers/run-cli.ts';
import { issue, makeCa } from '../helpers/test-pki.ts';
import type { Issued } from '../helpers/test-pki.ts';

const METRIC_SPEC = { bins: 50, threshold: 0.3 };

describe('TLS and mutual TLS between sites and the coordinator', () => {
  const pki = mkdtempSync(join(tmpdir(), 'fedval-pki-'));
  let ca: Issued;
  let siteT: Issued;
  let siteU: Issued;
  let rogueSiteT: Issued;
  let deployment: Deployment;
  let dataFile = '';

  beforeAll(async () => {
    ca = makeCa(pki, 'fedval-test-ca');
    const server = issue(pki, ca, 'server', 'localhost', 'server');
    siteT = issue(pki, ca, 'site-t', 'site-t', 'client');
    siteU = issue(pki, ca, 'site-u', 'site-u', 'client');
    rogueSiteT = issue(pki, makeCa(pki, 'rogue-ca'), 'rogue-site-t', 'site-t', 'client');
    deployment = await startDeployment(['site-t', 'site-u'], { tls: { cert: server.cert, key: server.key, client_ca: ca.cert, ca: ca.cert }, enrolledSites: ['site-t'] });
    dataFile = writeScoreFile(deployment.dir, 'site-t', gbsgScoreLines().slice(0, 300));
  }, 60_000);

  afterAll(async () => {
    await deployment?.stop();
  });

  it('serves https with the configured certificate and asks for client certificates of the client CA (checked with openssl s_client)', () => {
    expect(deployment.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const port = new URL(deployment.url).port;
    const out = execFileSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', ca.cert, '-verify_ip', '127.0.0.1'], { input: '', stdio: ['pipe', 'pipe', 'pipe'] }).toString();
    expect(out).toContain('Verify return code: 0 (ok)');
    expect(out).toMatch(/Acceptable client certificate CA names\s*\n\s*CN ?= ?fedval-test-ca/);
  });

  it('issues an enrollment token with the fedval CLI when the CA is trusted (NODE_EXTRA_CA_CERTS), and fails when it is not', async () => {
    const untrusted = await runCli('fedval', ['sites', 'enrollment-token', '--coordinator', deployment.url, '--site', 'site-t'], {
      env: { FEDVAL_API_TOKEN: deployment.apiTokens.admin, NODE_EXTRA_CA_CERTS: '' },
    });
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.stderr).toMatch(/FEDVAL_ERR_CLI_API.*unreachable \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/);

    const issued = await runCli('fedval', ['sites', 'enrollment-token', '--coordinator', deployment.url, '--site', 'site-t', '--json'], {
      env: { FEDVAL_API_TOKEN: deployment.apiTokens.admin, NODE_EXTRA_CA_CERTS: ca.cert },
    });
    expect(issued.code, issued.stderr).toBe(0);
    const { enrollment_token: token } = JSON.parse(issued.stdout) as { enrollment_token: string };

    // The agent enrolls over https (its tls.ca and client certificate), then runs over wss with mutual TLS.
    const tlsYaml = [`tls: { ca: ${ca.cert}, cert: ${siteT.cert}, key: ${siteT.key} }`];
    const config = deployment.writeAgentConfig('site-t', dataFile, { label: 'status', extraYaml: tlsYaml });
    const enrolled = await runCli('fedval-agent', ['enroll', '--config', config, '--token', token]);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    deployment.startAgent('site-t', dataFile, { label: 'status', extraYaml: tlsYaml });
    await waitForSites(deployment, ['site-t']);

    const study = await deployment.api('POST', '/api/studies', { name: 'tls', score_column: 'score', metric_spec: METRIC_SPEC, sites: ['site-t'], quorum: 1, contribution: 'plaintext' });
    expect(study.status, JSON.stringify(study.body)).toBe(201);
    const round = await deployment.api('POST', `/api/studies/${study.body.study_id}/rounds`);
    expect(await waitForRoundClosed(deployment, round.body.round_id)).toMatchObject({ state: 'aggregated', contributions: 1 });
    const accepted = readAuditLog(join(deployment.coordinatorDataDir, 'audit.jsonl')).entries.filter((e) => e.action === 'connection.accepted');
    expect(accepted.at(-1)).toMatchObject({ actor: 'site:site-t', details: { method: 'signature', mutual_tls: true } });
  }, 90_000);

  it('refuses a site socket without a client certificate, with one from another CA, or whose certificate names another site', async () => {
    const expectRefused = async (site: RawSite, code: string): Promise<void> => {
      expect(await site.next((m) => m.type === 'error')).toMatchObject({ error: { code } });
      expect(await site.closed).toBe(4401);
    };
    const caOnly = { ca: readFileSync(ca.cert) };
    await expectRefused(new RawSite(deployment.wsUrl, caOnly), 'FEDVAL_ERR_COORD_CLIENT_CERTIFICATE');
    await expectRefused(new RawSite(deployment.wsUrl, { ...caOnly, cert: readFileSync(rogueSiteT.cert), key: readFileSync(rogueSiteT.key) }), 'FEDVAL_ERR_COORD_CLIENT_CERTIFICATE');

    // site-u's own certificate and token are welcome; the same certificate cannot speak for site-t, even with site-t's key.
    const withU = { ...caOnly, cert: readFileSync(siteU.cert), key: readFileSync(siteU.key) };
    const honestU = new RawSite(deployment.wsUrl, withU);
    expect((await honestU.authenticateWithToken('site-u', deployment.tokens.get('site-u')!)).type).toBe('welcome');
    honestU.close();
    const impostor = new RawSite(deployment.wsUrl, withU);
    const siteTKey = readFileSync(join(deployment.dir, 'sites', 'site-t', 'state', 'site.key'), 'utf8');
    expect(await impostor.authenticate('site-t', siteTKey, deployment.wsUrl)).toMatchObject({ type: 'error', error: { code: 'FEDVAL_ERR_COORD_UNAUTHORIZED' } });
    expect(await impostor.closed).toBe(4401);

    // Without the private CA the coordinator's certificate is not trusted at all.
    const untrusting = new RawSite(deployment.wsUrl, { cert: readFileSync(siteU.cert), key: readFileSync(siteU.key) });
    await untrusting.closed;
    expect((untrusting.error as NodeJS.ErrnoException | undefined)?.code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/);
  });
});
