// End to end, with a real coordinator process and a real agent: an admin issues a one-time enrollment token, the site
// enrolls its Ed25519 key with `fedval-agent enroll`, connects by challenge–response and completes a round with signed
// results; a forged key, a reused token, an unsigned, a replayed and a mis-signed result, and a relayed challenge are refused.
import { spawn } from 'node:child_process';
import { createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createStatisticsLayout } from '@fedval/metrics';
import type { MetricSpec } from '@fedval/metrics';
import { createMessage, encodeMessage } from '@fedval/protocol';
import { createChallenge, createNonce, generateSiteIdentity, loadPrivateKey, publicKeyFingerprint, publicKeyOf, readAuditLog, savePrivateKey, signEnrollment, signResult } from '@fedval/trust';
import type { AuthChallenge, SiteIdentity } from '@fedval/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeployment, waitForRoundClosed, waitForSites } from '../helpers/deployment.ts';
import type { ApiRole, Deployment } from '../helpers/deployment.ts';
import { gbsgScoreLines, writeScoreFile } from '../helpers/gbsg-scores.ts';
import { RawSite } from '../helpers/raw-site.ts';
import { REPO_ROOT, runCli } from '../helpers/run-cli.ts';
import { ScriptedCoordinator } from '../helpers/scripted-coordinator.ts';

const METRIC_SPEC = { bins: 50, threshold: 0.3 };
const sha256 = (text: string | Uint8Array): string => createHash('sha256').update(text).digest('hex');

describe('site enrollment, challenge–response and signed results', () => {
  let deployment: Deployment;
  let wsUrl = '';
  let coordinatorDir = '';
  let siteEConfig = '';
  let siteEDir = '';
  let siteEData = '';
  const identityF = generateSiteIdentity();
  const identityG = generateSiteIdentity();

  const api = (method: string, path: string, body?: unknown, role: ApiRole | null = 'sponsor') => deployment.api(method, path, body, role);
  const issueToken = async (site: string): Promise<string> => {
    const issued = await api('POST', `/api/sites/${site}/enrollment-token`, undefined, 'admin');
    expect(issued.status).toBe(201);
    return issued.body.enrollment_token as string;
  };
  /** POST /api/enroll as `fedval-agent enroll` does; `prover` signs the proof of possession (default: the key enrolled). */
  const enroll = (site: string, token: string, identity: SiteIdentity, prover: SiteIdentity = identity) => {
    const fields = { siteId: site, publicKey: identity.publicKey, enrollmentTokenSha256: createHash('sha256').update(token).digest('hex') };
    const signature = Buffer.from(signEnrollment(prover.privateKeyPem, fields)).toString('base64');
    return api('POST', '/api/enroll', { site_id: site, enrollment_token: token, public_key: identity.publicKey, signature }, null);
  };

  beforeAll(async () => {
    deployment = await startDeployment(['site-e', 'site-f', 'site-g'], { enrolledSites: ['site-e', 'site-f'] });
    ({ wsUrl, coordinatorDataDir: coordinatorDir } = deployment);
    siteEData = writeScoreFile(deployment.dir, 'site-e', gbsgScoreLines().slice(0, 200));
    siteEConfig = deployment.writeAgentConfig('site-e', siteEData, { label: 'status' });
    siteEDir = join(deployment.dir, 'sites', 'site-e');
  }, 60_000);

  afterAll(async () => {
    await deployment?.stop();
  });

  it('enrolls a site with a one-time token and refuses the token a second time', async () => {
    expect((await api('POST', '/api/sites/site-e/enrollment-token', undefined, 'sponsor')).status).toBe(403);
    expect((await api('POST', '/api/sites/site-e/enrollment-token', undefined, null)).status).toBe(401);
    expect((await api('POST', '/api/sites/site-z/enrollment-token', undefined, 'admin')).body.error.code).toBe('FEDVAL_ERR_COORD_UNKNOWN_SITE');

    // Without a key and without a token the agent cannot start.
    const early = await runCli('fedval-agent', ['start', '--config', siteEConfig]);
    expect(early.code).toBe(2);
    expect(early.stderr).toContain('FEDVAL_ERR_AGENT_CONFIG');

    const token = await issueToken('site-e');
    const enrolled = await runCli('fedval-agent', ['enroll', '--config', siteEConfig, '--token', token]);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const keyPath = join(siteEDir, 'state', 'site.key');
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    const fingerprint = publicKeyFingerprint(publicKeyOf(loadPrivateKey(keyPath)));
    expect(enrolled.stdout).toContain(fingerprint);
    // The coordinator lists the same fingerprint, for the admin to compare with the one the site reads out.
    const listed = (await api('GET', '/api/sites', undefined, 'site_admin')).body as { site_id: string; key_fingerprint: string | null }[];
    expect(listed).toEqual(expect.arrayContaining([expect.objectContaining({ site_id: 'site-e', key_fingerprint: fingerprint }), expect.objectContaining({ site_id: 'site-f', key_fingerprint: null })]));

    // The coordinator and the site both recorded it, with the same fingerprint; no token appears in either trail.
    const coordinatorTrail = readAuditLog(join(coordinatorDir, 'audit.jsonl')).entries;
    expect(coordinatorTrail.find((e) => e.action === 'site.enrollment_issued')).toMatchObject({ actor: 'role:admin:admin', object: 'site:site-e' });
    expect(coordinatorTrail.find((e) => e.action === 'site.enrolled')).toMatchObject({ object: 'site:site-e', details: { fingerprint } });
    const siteTrail = readAuditLog(join(siteEDir, 'state', 'audit.jsonl')).entries;
    expect(siteTrail.find((e) => e.action === 'site.enrolled')).toMatchObject({ actor: 'site:site-e', details: { fingerprint } });
    expect(readFileSync(join(coordinatorDir, 'audit.jsonl'), 'utf8')).not.toContain(token);

    // The same token again, for any key, is refused; so is a second enroll over the existing key file.
    const reuse = await enroll('site-e', token, generateSiteIdentity());
    expect(reuse).toMatchObject({ status: 401, body: { error: { code: 'FEDVAL_ERR_COORD_ENROLLMENT_REFUSED' } } });
    const again = await runCli('fedval-agent', ['enroll', '--config', siteEConfig, '--token', token]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('FEDVAL_ERR_AGENT_SITE_KEY');
    expect(publicKeyFingerprint(publicKeyOf(loadPrivateKey(keyPath)))).toBe(fingerprint);
  }, 60_000);

  it('refuses an enrollment without proof of the key, with a token of another site or a replaced token; an enrolled site\'s token no longer works', async () => {
    // A newer token revokes an older unused one.
    const first = await issueToken('site-g');
    const second = await issueToken('site-g');
    const refused = { status: 401, body: { error: { code: 'FEDVAL_ERR_COORD_ENROLLMENT_REFUSED' } } };
    expect(await enroll('site-g', first, identityG)).toMatchObject(refused);
    // Signed by another key than the one registered: no proof of possession (and the token is not spent).
    expect(await enroll('site-g', second, identityG, generateSiteIdentity())).toMatchObject(refused);
    // A token issued for site-g does not enroll site-f.
    expect(await enroll('site-f', second, identityG)).toMatchObject(refused);
    expect(await enroll('site-g', second, identityG)).toMatchObject({ status: 201, body: { fingerprint: identityG.fingerprint } });
    const trail = readAuditLog(join(coordinatorDir, 'audit.jsonl')).entries;
    const why = trail.filter((e) => e.action === 'site.enrollment_refused').map((e) => e.details.why);
    expect(why).toEqual(expect.arrayContaining(['token_unknown_used_or_expired', 'no_proof_of_possession']));
    expect(trail.filter((e) => e.action === 'site.enrollment_revoked')).toEqual([expect.objectContaining({ object: 'site:site-g', details: { site: 'site-g', tokens: 1 } })]);

    // site-g was configured with a token; once it has enrolled a key, the token is refused.
    const byToken = new RawSite(wsUrl);
    expect(await byToken.authenticateWithToken('site-g', deployment.tokens.get('site-g')!)).toMatchObject({ type: 'error', error: { code: 'FEDVAL_ERR_COORD_UNAUTHORIZED' } });
    expect(await byToken.closed).toBe(4401);
    const byKey = new RawSite(wsUrl);
    expect((await byKey.authenticate('site-g', identityG.privateKeyPem, wsUrl)).type).toBe('welcome');
    byKey.close();
  });

  it('names public_ws_url in every challenge, whatever Host header the client sends', async () => {
    const relaying = new RawSite(wsUrl, { headers: { host: 'relay.example:443' } });
    const challenge = await relaying.next((m) => m.type === 'challenge');
    expect(challenge).toMatchObject({ content: { audience: wsUrl } });
    relaying.close();
  });

  it('refuses a forged agent that signs the challenge for site-e with another key (4401)', async () => {
    const forged = new RawSite(wsUrl);
    const reply = await forged.authenticate('site-e', generateSiteIdentity().privateKeyPem, wsUrl);
    expect(reply).toMatchObject({ type: 'error', error: { code: 'FEDVAL_ERR_COORD_UNAUTHORIZED' } });
    expect(await forged.closed).toBe(4401);
  });

  it('connects the enrolled agent by challenge–response; refuses unsigned, replayed and mis-signed results and completes rounds with the honest site', async () => {
    deployment.startAgent('site-e', siteEData, { label: 'status' });
    await waitForSites(deployment, ['site-e']);

    // site-f enrolls through the API with a key made here, then speaks the protocol by hand.
    const enrolledF = await enroll('site-f', await issueToken('site-f'), identityF);
    expect(enrolledF).toMatchObject({ status: 201, body: { fingerprint: identityF.fingerprint } });
    const siteF = new RawSite(wsUrl);
    expect((await siteF.authenticate('site-f', identityF.privateKeyPem, wsUrl)).type).toBe('welcome');

    const study = await api('POST', '/api/studies', { name: 'enrolled', score_column: 'score', metric_spec: METRIC_SPEC, sites: ['site-e', 'site-f'], quorum: 1, contribution: 'plaintext' });
    expect(study.status, JSON.stringify(study.body)).toBe(201);
    const studyId = study.body.study_id as string;
    const length = createStatisticsLayout(METRIC_SPEC as Partial<MetricSpec>).length;

    /** site-f accepts the round's task and sends a zero statistics vector: unsigned, signed with its key, or with another key. */
    const contribute = async (signing: 'unsigned' | 'signed' | 'mis-signed', sentAt = Date.now()): Promise<{ roundId: string; frame: Uint8Array }> => {
      const task = await siteF.next((m) => m.type === 'task');
      if (task.type !== 'task') throw new Error('shape');
      const { roundId, studyId: taskStudyId } = task.content;
      siteF.send(createMessage('task.accept', { roundId }));
      const vector = new Float64Array(length);
      const contributionSha256 = sha256(new Uint8Array(vector.buffer));
      const fields = { studyId: taskStudyId, roundId, siteId: 'site-f', contributionSha256, nonce: createNonce(), sentAt };
      const key = signing === 'signed' ? identityF.privateKeyPem : generateSiteIdentity().privateKeyPem;
      const signature = signing === 'unsigned' ? undefined : { nonce: fields.nonce, sentAt: fields.sentAt, signature: new Uint8Array(signResult(key, fields)) };
      const frame = encodeMessage(createMessage('task.result', { roundId, contribution: { kind: 'plaintext', vector }, contributionSha256, ...(signature ? { signature } : {}) }));
      siteF.send(frame);
      return { roundId, frame };
    };

    // Round 1: site-f's result is unsigned → refused, site-f invalid; the agent's signed result completes the round.
    const first = await api('POST', `/api/studies/${studyId}/rounds`);
    expect(first.status).toBe(201);
    await contribute('unsigned');
    expect(await siteF.next((m) => m.type === 'error')).toMatchObject({ error: { code: 'FEDVAL_ERR_COORD_RESULT_SIGNATURE' } });
    const closedFirst = await waitForRoundClosed(deployment, first.body.round_id);
    expect(closedFirst).toMatchObject({ state: 'aggregated', contributions: 1 });
    expect(closedFirst.sites).toEqual(
      expect.arrayContaining([
        { site_id: 'site-e', status: 'contributed' },
        { site_id: 'site-f', status: 'invalid', code: 'FEDVAL_ERR_COORD_RESULT_SIGNATURE' },
      ]),
    );

    // Round 2: site-f signs → accepted; the very same frame sent again is refused (the round is closed; its nonce is
    // not even looked at, so a site cannot fill the replay guard with results for rounds it does not owe).
    const second = await api('POST', `/api/studies/${studyId}/rounds`);
    const { frame } = await contribute('signed');
    const closedSecond = await waitForRoundClosed(deployment, second.body.round_id);
    expect(closedSecond).toMatchObject({ state: 'aggregated', contributions: 2 });
    siteF.send(frame);
    expect(await siteF.next((m) => m.type === 'error')).toMatchObject({ error: { code: 'FEDVAL_ERR_COORD_ROUND_NOT_OPEN' } });

    // Round 3: a result signed with another key than the enrolled one is refused; the round completes without it.
    const third = await api('POST', `/api/studies/${studyId}/rounds`);
    await contribute('mis-signed');
    expect(await siteF.next((m) => m.type === 'error')).toMatchObject({ error: { code: 'FEDVAL_ERR_COORD_RESULT_SIGNATURE' } });
    expect(await waitForRoundClosed(deployment, third.body.round_id)).toMatchObject({ state: 'aggregated', contributions: 1 });

    // Round 4: a correctly signed result sent 10 minutes after it was signed (held back and replayed) is refused.
    const fourth = await api('POST', `/api/studies/${studyId}/rounds`);
    await contribute('signed', Date.now() - 10 * 60_000);
    expect(await siteF.next((m) => m.type === 'error')).toMatchObject({ error: { code: 'FEDVAL_ERR_COORD_REPLAYED' } });
    expect(await waitForRoundClosed(deployment, fourth.body.round_id)).toMatchObject({ state: 'aggregated', contributions: 1 });

    // Both trails agree: the agent's results were signed and received; the refusals are recorded with their codes.
    const trail = readAuditLog(join(coordinatorDir, 'audit.jsonl')).entries;
    expect(trail.filter((e) => e.action === 'contribution.received' && e.details.site === 'site-e')).toHaveLength(4);
    expect(trail.filter((e) => e.action === 'contribution.refused').map((e) => e.reason)).toEqual([
      'FEDVAL_ERR_COORD_RESULT_SIGNATURE',
      'FEDVAL_ERR_COORD_RESULT_SIGNATURE',
      'FEDVAL_ERR_COORD_REPLAYED',
    ]);
    expect(trail.filter((e) => e.action === 'connection.accepted' && e.details.method === 'signature').map((e) => e.actor)).toEqual(['site:site-g', 'site:site-e', 'site:site-f']);
    siteF.close();
  }, 90_000);

  it('an enrolled agent signs only a challenge that names its own coordinator: a relayed challenge is refused, nothing signed', async () => {
    const identity = generateSiteIdentity();
    // A coordinator the agent is configured for, and one that relays the real coordinator's challenge.
    for (const relay of [false, true]) {
      let agentUrl = '';
      let sent: AuthChallenge | undefined;
      const peer = new ScriptedCoordinator(0, (socket) => {
        sent = createChallenge({ audience: relay ? wsUrl : agentUrl });
        socket.send(encodeMessage(createMessage('challenge', { ...sent })));
      });
      await new Promise((resolve) => peer.server.once('listening', resolve));
      agentUrl = `ws://127.0.0.1:${peer.port}/ws`;
      const siteDir = join(deployment.dir, 'sites', `challenged-${relay}`);
      mkdirSync(join(siteDir, 'state'), { recursive: true });
      savePrivateKey(join(siteDir, 'state', 'site.key'), identity.privateKeyPem);
      const config = join(siteDir, 'site.yaml');
      writeFileSync(config, [`coordinator: ${agentUrl}`, 'site_id: site-e', `data: { path: ${siteEData}, label: { column: status } }`, 'data_dir: ./state', 'log_level: warn'].join('\n'));
      const agent = spawn(process.execPath, ['site-agent/src/main.ts', 'start', '--config', config], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      agent.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      try {
        if (!relay) {
          const hello = await peer.next((m) => m.type === 'hello');
          if (hello.type !== 'hello' || !hello.content.signature) throw new Error('expected a signed hello');
          expect(hello.content.token).toBeUndefined();
          // It answers exactly the challenge this peer sent, under the site's key: checked with node:crypto on the
          // payload written out here as documented (canonical JSON, keys sorted), not with fedval's verifier.
          const { audience, issuedAt, nonce } = sent!;
          const payload = `{"audience":"${audience}","domain":"fedval/v1/auth","issuedAt":${issuedAt},"nonce":"${nonce}","purpose":"connect","siteId":"site-e"}`;
          const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(identity.publicKey, 'base64').toString('base64url') }, format: 'jwk' });
          expect(cryptoVerify(null, Buffer.from(payload), key, hello.content.signature!)).toBe(true);
        } else {
          const code = await new Promise<number | null>((resolve) => agent.once('exit', resolve));
          expect(code).toBe(3);
          expect(stderr).toContain('FEDVAL_ERR_AGENT_CHALLENGE');
          expect(peer.received.filter((m) => m.type === 'hello')).toEqual([]);
          const trail = readAuditLog(join(siteDir, 'state', 'audit.jsonl')).entries;
          expect(trail.at(-1)).toMatchObject({ action: 'connection.refused', reason: 'FEDVAL_ERR_AGENT_CHALLENGE' });
        }
      } finally {
        agent.kill('SIGKILL');
        await peer.close();
      }
    }
  }, 60_000);

  it('locks out a site removed from the configuration, whatever key it enrolled', async () => {
    await deployment.stop();
    const config = join(deployment.dir, 'coordinator.yaml');
    const without = readFileSync(config, 'utf8').split('\n').filter((line) => !line.includes('id: site-g')).join('\n');
    expect(without).not.toContain('site-g');
    writeFileSync(config, without);
    const restarted = spawn(process.execPath, ['coordinator/src/main.ts', 'start', '--config', config], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        restarted.once('exit', (code) => reject(new Error(`coordinator exited ${code}`)));
        restarted.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('"listening"') && resolve());
      });
      const removed = new RawSite(wsUrl);
      expect(await removed.authenticate('site-g', identityG.privateKeyPem, wsUrl)).toMatchObject({ type: 'error', error: { code: 'FEDVAL_ERR_COORD_UNAUTHORIZED' } });
      expect(await removed.closed).toBe(4401);
      // site-f, still configured, still connects with its enrolled key.
      const kept = new RawSite(wsUrl);
      expect((await kept.authenticate('site-f', identityF.privateKeyPem, wsUrl)).type).toBe('welcome');
      kept.close();
    } finally {
      restarted.kill('SIGTERM');
      await new Promise((resolve) => restarted.once('exit', resolve));
    }
  }, 60_000);
});
