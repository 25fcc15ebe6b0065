// End to end, with a real coordinator process and a real agent: an admin issues a one-time enrollment token, the site
// enrolls its Ed25519 key with `fedval-agent enroll`, connects by challenge–response and completes a round with signed
// results; a forged key, a reused token, an unsigned result and a replayed result are refused.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createStatisticsLayout } from '@fedval/metrics';
import type { MetricSpec } from '@fedval/metrics';
import { createMessage, decodeMessage, encodeMessage } from '@fedval/protocol';
import type { Message } from '@fedval/protocol';
import { createNonce, generateSiteIdentity, loadPrivateKey, publicKeyFingerprint, publicKeyOf, readAuditLog, signChallenge, signResult } from '@fedval/trust';
import type { AuthChallenge } from '@fedval/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gbsgScoreLines, writeScoreFile } from '../helpers/gbsg-scores.ts';
import { RawSite } from '../helpers/raw-site.ts';
import { REPO_ROOT, runCli } from '../helpers/run-cli.ts';

const METRIC_SPEC = { bins: 50, threshold: 0.3 };
const sha256 = (text: string | Uint8Array): string => createHash('sha256').update(text).digest('hex');

describe('site enrollment, challenge–response and signed results', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedval-enroll-'));
  const adminToken = randomBytes(32).toString('base64url');
  const sponsorToken = randomBytes(32).toString('base64url');
  const children: ChildProcess[] = [];
  let url = '';
  let wsUrl = '';
  let siteEConfig = '';
  let dataFile = '';

  const api = async (method: string, path: string, body?: unknown, token: string | null = sponsorToken): Promise<{ status: number; body: any }> => {
    const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
    return { status: response.status, body: await response.json() };
  };
  const waitFor = async <T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const roundClosed = (roundId: string) =>
    waitFor(async () => {
      const { body } = await api('GET', `/api/rounds/${roundId}`);
      return body.state === 'aggregated' || body.state === 'failed' ? body : undefined;
    }, `round ${roundId}`);
  const siteConnected = (site: string) =>
    waitFor(async () => ((await api('GET', '/api/sites')).body as { site_id: string; connected: boolean }[]).find((s) => s.site_id === site && s.connected), site);
  const issueToken = async (site: string): Promise<string> => {
    const issued = await api('POST', `/api/sites/${site}/enrollment-token`, undefined, adminToken);
    expect(issued.status).toBe(201);
    return issued.body.enrollment_token as string;
  };

  beforeAll(async () => {
    const config = join(dir, 'coordinator.yaml');
    writeFileSync(
      config,
      [
        'listen: { host: 127.0.0.1, port: 0 }',
        `data_dir: ${join(dir, 'coordinator-data')}`,
        'sites: [{ id: site-e }, { id: site-f }]',
        'api_tokens:',
        `  - { name: admin, role: admin, token_sha256: ${sha256(adminToken)} }`,
        `  - { name: sponsor, role: sponsor, token_sha256: ${sha256(sponsorToken)} }`,
        'limits: { rate_limit_per_minute: 100000 }',
        'log_level: warn',
      ].join('\n'),
    );
    const coordinator = spawn(process.execPath, ['coordinator/src/main.ts', 'start', '--config', config], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(coordinator);
    url = await new Promise<string>((resolve, reject) => {
      coordinator.once('exit', (code) => reject(new Error(`coordinator exited ${code}`)));
      createInterface({ input: coordinator.stdout! }).on('line', (line) => {
        try {
          const event = JSON.parse(line) as { event?: string; url?: string };
          if (event.event === 'listening' && event.url) resolve(event.url);
        } catch {
          // not an event line
        }
      });
    });
    wsUrl = `${url.replace(/^http/, 'ws')}/ws`;
    dataFile = writeScoreFile(dir, 'site-e', gbsgScoreLines().slice(0, 200));
    const siteDir = join(dir, 'site-e');
    mkdirSync(siteDir);
    siteEConfig = join(siteDir, 'site.yaml');
    writeFileSync(
      siteEConfig,
      [
        `coordinator: ${wsUrl}`,
        'site_id: site-e',
        `data: { path: ${dataFile}, label: { column: status } }`,
        'data_dir: ./state',
        'policy: { min_cohort: 1, require_dp: false }',
        'limits: { reconnect_initial_ms: 100, reconnect_max_ms: 500 }',
        'log_level: warn',
      ].join('\n'),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.all(
      children.reverse().map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 5000).unref();
          }),
      ),
    );
  });

  it('enrolls a site with a one-time token and refuses the token a second time', async () => {
    expect((await api('POST', '/api/sites/site-e/enrollment-token', undefined, sponsorToken)).status).toBe(403);
    expect((await api('POST', '/api/sites/site-e/enrollment-token', undefined, null)).status).toBe(401);
    expect((await api('POST', '/api/sites/site-z/enrollment-token', undefined, adminToken)).body.error.code).toBe('FEDVAL_ERR_COORD_UNKNOWN_SITE');

    // Without a key and without a token the agent cannot start.
    const early = await runCli('fedval-agent', ['start', '--config', siteEConfig]);
    expect(early.code).toBe(2);
    expect(early.stderr).toContain('FEDVAL_ERR_AGENT_CONFIG');

    const token = await issueToken('site-e');
    const enrolled = await runCli('fedval-agent', ['enroll', '--config', siteEConfig, '--token', token]);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const keyPath = join(dir, 'site-e', 'state', 'site.key');
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    const fingerprint = publicKeyFingerprint(publicKeyOf(loadPrivateKey(keyPath)));
    expect(enrolled.stdout).toContain(fingerprint);

    // The coordinator and the site both recorded it, with the same fingerprint; no token appears in either trail.
    const coordinatorTrail = readAuditLog(join(dir, 'coordinator-data', 'audit.jsonl')).entries;
    expect(coordinatorTrail.find((e) => e.action === 'site.enrollment_issued')).toMatchObject({ actor: 'role:admin:admin', object: 'site:site-e' });
    expect(coordinatorTrail.find((e) => e.action === 'site.enrolled')).toMatchObject({ object: 'site:site-e', details: { fingerprint } });
    const siteTrail = readAuditLog(join(dir, 'site-e', 'state', 'audit.jsonl')).entries;
    expect(siteTrail.find((e) => e.action === 'site.enrolled')).toMatchObject({ actor: 'site:site-e', details: { fingerprint } });
    expect(readFileSync(join(dir, 'coordinator-data', 'audit.jsonl'), 'utf8')).not.toContain(token);

    // The same token again, for any key, is refused; so is a second enroll over the existing key file.
    const reuse = await api('POST', '/api/enroll', { site_id: 'site-e', enrollment_token: token, public_key: generateSiteIdentity().publicKey }, null);
    expect(reuse).toMatchObject({ status: 401, body: { error: { code: 'FEDVAL_ERR_COORD_ENROLLMENT_REFUSED' } } });
    const again = await runCli('fedval-agent', ['enroll', '--config', siteEConfig, '--token', token]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('FEDVAL_ERR_AGENT_SITE_KEY');
    expect(publicKeyFingerprint(publicKeyOf(loadPrivateKey(keyPath)))).toBe(fingerprint);
  }, 60_000);

  it('refuses a forged agent that signs the challenge for site-e with another key (4401)', async () => {
    const forged = new RawSite(wsUrl);
    const reply = await forged.authenticate('site-e', generateSiteIdentity().privateKeyPem, wsUrl);
    expect(reply).toMatchObject({ type: 'error', error: { code: 'FEDVAL_ERR_COORD_UNAUTHORIZED' } });
    expect(await forged.closed).toBe(4401);
  });

  it('connects the enrolled agent by challenge–response; refuses unsigned and replayed results and completes rounds with the honest site', async () => {
    const agent = spawn(process.execPath, ['site-agent/src/main.ts', 'start', '--config', siteEConfig], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(agent);
    await siteConnected('site-e');

    // site-f enrolls through the API with a key made here, then speaks the protocol by hand.
    const identityF = generateSiteIdentity();
    const enrolledF = await api('POST', '/api/enroll', { site_id: 'site-f', enrollment_token: await issueToken('site-f'), public_key: identityF.publicKey }, null);
    expect(enrolledF).toMatchObject({ status: 201, body: { fingerprint: identityF.fingerprint } });
    const siteF = new RawSite(wsUrl);
    expect((await siteF.authenticate('site-f', identityF.privateKeyPem, wsUrl)).type).toBe('welcome');

    const study = await api('POST', '/api/studies', { name: 'enrolled', score_column: 'score', metric_spec: METRIC_SPEC, sites: ['site-e', 'site-f'], quorum: 1, contribution: 'plaintext' });
    expect(study.status, JSON.stringify(study.body)).toBe(201);
    const studyId = study.body.study_id as string;
    const length = createStatisticsLayout(METRIC_SPEC as Partial<MetricSpec>).length;

    /** site-f accepts the round's task and sends a zero statistics vector, signed or not. */
    const contribute = async (signed: boolean): Promise<{ roundId: string; frame: Uint8Array }> => {
      const task = await siteF.next((m) => m.type === 'task');
      if (task.type !== 'task') throw new Error('shape');
      const { roundId } = task.content;
      siteF.send(createMessage('task.accept', { roundId }));
      const vector = new Float64Array(length);
      const contributionSha256 = sha256(new Uint8Array(vector.buffer));
      const fields = { roundId, siteId: 'site-f', contributionSha256, nonce: createNonce(), sentAt: Date.now() };
      const signature = signed ? { nonce: fields.nonce, sentAt: fields.sentAt, signature: new Uint8Array(signResult(identityF.privateKeyPem, fields)) } : undefined;
      const frame = encodeMessage(createMessage('task.result', { roundId, contribution: { kind: 'plaintext', vector }, contributionSha256, ...(signature ? { signature } : {}) }));
      siteF.send(frame);
      return { roundId, frame };
    };

    // Round 1: site-f's result is unsigned → refused, site-f invalid; the agent's signed result completes the round.
    const first = await api('POST', `/api/studies/${studyId}/rounds`);
    expect(first.status).toBe(201);
    await contribute(false);
    expect(await siteF.next((m) => m.type === 'error')).toMatchObject({ error: { code: 'FEDVAL_ERR_COORD_RESULT_SIGNATURE' } });
    const closedFirst = await roundClosed(first.body.round_id);
    expect(closedFirst).toMatchObject({ state: 'aggregated', contributions: 1 });
    expect(closedFirst.sites).toEqual(
      expect.arrayContaining([
        { site_id: 'site-e', status: 'contributed' },
        { site_id: 'site-f', status: 'invalid', code: 'FEDVAL_ERR_COORD_RESULT_SIGNATURE' },
      ]),
    );

    // Round 2: site-f signs → accepted; the very same frame sent again is refused as a replay.
    const second = await api('POST', `/api/studies/${studyId}/rounds`);
    const { frame } = await contribute(true);
    const closedSecond = await roundClosed(second.body.round_id);
    expect(closedSecond).toMatchObject({ state: 'aggregated', contributions: 2 });
    siteF.send(frame);
    expect(await siteF.next((m) => m.type === 'error')).toMatchObject({ error: { code: 'FEDVAL_ERR_COORD_REPLAYED' } });

    // Both trails agree: the agent's results were signed and received; the refusals are recorded with their codes.
    const trail = readAuditLog(join(dir, 'coordinator-data', 'audit.jsonl')).entries;
    expect(trail.filter((e) => e.action === 'contribution.received' && e.details.site === 'site-e')).toHaveLength(2);
    expect(trail.filter((e) => e.action === 'contribution.refused').map((e) => e.reason)).toEqual(['FEDVAL_ERR_COORD_RESULT_SIGNATURE', 'FEDVAL_ERR_COORD_REPLAYED']);
    expect(trail.filter((e) => e.action === 'connection.accepted' && e.details.method === 'signature').map((e) => e.actor)).toEqual(['site:site-e', 'site:site-f']);
    siteF.close();
  }, 90_000);
});
