// A malicious coordinator against the key holder (issue 12, attacks 1–3, replay, forgery, roster change), with real
// processes: a real coordinator and real enrolled agents, the operator's own fake sites (keys it enrolled itself), a
// front that serves the key holder forged documents, and the project's own `fedval` CLI and keys. Each attack ends in
// a refusal: exit code 1, a coded error, the reason in the key holder's trail, nothing decrypted or released.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolvePrivacySpec } from '@fedval/dp';
import { createHeContext, EncryptedSum, encryptVector } from '@fedval/he';
import { createStatisticsLayout, resolveMetricSpec, resolveMetricSpecInput } from '@fedval/metrics';
import { contributionDigest, createMessage } from '@fedval/protocol';
import type { RoundContribution, RoundContributionsResponse } from '@fedval/protocol';
import { createNonce, generateSiteIdentity, readAuditLog, signChallenge, signEnrollment, signResult } from '@fedval/trust';
import type { AuditEntry, AuthChallenge, SiteIdentity } from '@fedval/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeployment, waitForRoundClosed, waitForSites } from '../helpers/deployment.ts';
import type { Deployment } from '../helpers/deployment.ts';
import { gbsgScoreLines, writeScoreFile } from '../helpers/gbsg-scores.ts';
import { RawSite } from '../helpers/raw-site.ts';
import { runCli } from '../helpers/run-cli.ts';
import { tamperingProxy } from '../helpers/tampering-proxy.ts';
import type { TamperingProxy } from '../helpers/tampering-proxy.ts';

const HONEST = ['site-a', 'site-b', 'site-c'];
const FAKES = ['fake-1', 'fake-2'];
const METRIC_SPEC = { bins: 50, threshold: 0.3 };

describe('the key holder verifies, never trusts, the coordinator', () => {
  let deployment: Deployment;
  let proxy: TamperingProxy;
  let proxyUrl = '';
  const files: Record<string, string> = {};
  const fakeSockets: RawSite[] = [];
  const heartbeats: NodeJS.Timeout[] = [];
  /** The operator's sites answer the coordinator's liveness check like a real agent (heartbeat messages). */
  const keepAlive = (socket: RawSite): void => {
    heartbeats.push(setInterval(() => socket.socket.readyState === socket.socket.OPEN && socket.send(createMessage('heartbeat', {})), 2000));
  };
  const keysDir = (): string => join(deployment.dir, 'keys');
  let studyId = '';
  let round1 = '';
  /** Round 1 as the real coordinator serves it to the privacy officer. */
  let served1: RoundContributionsResponse;

  const keyHolder = () => ({ env: { FEDVAL_API_TOKEN: deployment.apiTokens.privacy_officer } });
  const decrypt = (coordinator: string, round: string, keys = keysDir(), extra: string[] = []) =>
    runCli('fedval', ['decrypt', '--coordinator', coordinator, '--round', round, '--keys', keys, '--json', ...extra], keyHolder());
  const trail = (keys = keysDir()): AuditEntry[] => readAuditLog(join(keys, 'audit.jsonl')).entries;
  const trailSince = (count: number, keys = keysDir()): AuditEntry[] => trail(keys).slice(count);
  const contributionsOf = async (round: string): Promise<RoundContributionsResponse> => {
    const answer = await deployment.api('GET', `/api/rounds/${round}/contributions`, undefined, 'privacy_officer');
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return answer.body as RoundContributionsResponse;
  };
  const encryptionOf = async (study: string) => (await deployment.api('GET', `/api/studies/${study}/encryption`, undefined, 'privacy_officer')).body.plan;
  const publicKey = (): Uint8Array => new Uint8Array(readFileSync(join(keysDir(), 'public.key')));
  /** An encryption of zero made with the study's public key, as anyone (the coordinator included) can make one. */
  const encryptionOfZero = async (plan: unknown, metricSpec: RoundContributionsResponse['metric_spec']): Promise<string[]> => {
    const context = await createHeContext(plan as never);
    try {
      const length = createStatisticsLayout(resolveMetricSpecInput(metricSpec)).length;
      return encryptVector(context, publicKey(), new Float64Array(length)).ciphertexts.map((bytes) => Buffer.from(bytes).toString('base64'));
    } finally {
      context.dispose();
    }
  };
  /** The homomorphic sum of contributions, as the coordinator's /aggregate would serve it (what the old key holder decrypted). */
  const aggregateOf = async (plan: unknown, contributions: string[][]): Promise<string[]> => {
    const context = await createHeContext(plan as never);
    try {
      const sum = new EncryptedSum(context);
      for (const ciphertexts of contributions) sum.add({ ciphertexts: ciphertexts.map((text) => new Uint8Array(Buffer.from(text, 'base64'))) });
      return sum.toEncryptedVector().ciphertexts.map((bytes) => Buffer.from(bytes).toString('base64'));
    } finally {
      context.dispose();
    }
  };
  /**
   * Makes the front serve, for `round`, these contributions and an aggregate of exactly their ciphertexts that claims
   * the honest count and sites: a forged document for whichever part of it a key holder reads.
   */
  const serveForged = async (round: string, contributions: RoundContribution[], base: RoundContributionsResponse): Promise<void> => {
    const aggregate = await aggregateOf(base.plan, contributions.map((item) => item.ciphertexts_base64));
    proxy.rewrite = (path, document) => {
      if (path === `/api/rounds/${round}/contributions`) return { ...document, contributions };
      if (path === `/api/rounds/${round}/aggregate`) return { ...document, ciphertexts_base64: aggregate };
      return document;
    };
  };
  const expectRefusedAndNothingReleased = async (run: { code: number | null; stdout: string; stderr: string }, round: string): Promise<void> => {
    expect(run.code, run.stdout).toBe(1);
    expect(run.stderr).toContain('FEDVAL_ERR_CLI_RELEASE_POLICY');
    expect(run.stdout).toBe('');
    expect((await deployment.api('GET', `/api/rounds/${round}`)).body.release).not.toBe('released');
  };

  /** An operator-made site: the operator enrolls a key it made for a site it configured, and answers every task with a signed encryption of zero. */
  const startFakeSite = async (siteId: string, identity: SiteIdentity): Promise<void> => {
    const issued = await deployment.api('POST', `/api/sites/${siteId}/enrollment-token`, undefined, 'admin');
    const token = issued.body.enrollment_token as string;
    const fields = { siteId, publicKey: identity.publicKey, enrollmentTokenSha256: createHash('sha256').update(token).digest('hex') };
    const proof = Buffer.from(signEnrollment(identity.privateKeyPem, fields)).toString('base64');
    expect((await deployment.api('POST', '/api/enroll', { site_id: siteId, enrollment_token: token, public_key: identity.publicKey, signature: proof }, null)).status).toBe(201);
    const socket = new RawSite(deployment.wsUrl);
    fakeSockets.push(socket);
    const challenge = await socket.next((m) => m.type === 'challenge');
    if (challenge.type !== 'challenge') throw new Error('shape');
    const signature = new Uint8Array(signChallenge(identity.privateKeyPem, challenge.content as AuthChallenge, { siteId, purpose: 'connect', expectedAudience: deployment.wsUrl }));
    socket.send(createMessage('hello', { siteId, signature, agentVersion: 'operator', capabilities: { tasks: ['binary'], contributions: ['bfv'] } }));
    expect((await socket.next((m) => m.type === 'welcome' || m.type === 'error')).type).toBe('welcome');
    keepAlive(socket);
    void (async () => {
      for (;;) {
        let task;
        try {
          task = await socket.next((m) => m.type === 'task', 600_000);
        } catch {
          return;
        }
        if (task.type !== 'task' || task.content.contribution.kind !== 'bfv') continue;
        const { roundId, studyId: taskStudy, contribution } = task.content;
        socket.send(createMessage('task.accept', { roundId }));
        const context = await createHeContext(contribution.plan as never);
        const length = createStatisticsLayout(resolveMetricSpec(task.content.metricSpec)).length;
        const ciphertexts = encryptVector(context, contribution.publicKey, new Float64Array(length)).ciphertexts.map((bytes) => new Uint8Array(bytes));
        context.dispose();
        const contributionSha256 = contributionDigest({ kind: 'bfv', ciphertexts }).sha256;
        const record = { studyId: taskStudy, roundId, siteId, contributionSha256, nonce: createNonce(), sentAt: Date.now() };
        const signed = { nonce: record.nonce, sentAt: record.sentAt, signature: new Uint8Array(signResult(identity.privateKeyPem, record)) };
        socket.send(createMessage('task.result', { roundId, contribution: { kind: 'bfv', ciphertexts }, contributionSha256, signature: signed }));
      }
    })();
  };

  const startRound = async (study: string): Promise<string> => {
    const round = await deployment.api('POST', `/api/studies/${study}/rounds`);
    expect(round.status, JSON.stringify(round.body)).toBe(201);
    const closed = await waitForRoundClosed(deployment, round.body.round_id as string);
    expect(closed.state).toBe('aggregated');
    return round.body.round_id as string;
  };

  beforeAll(async () => {
    deployment = await startDeployment([...HONEST, ...FAKES], { enrolledSites: [...HONEST, ...FAKES] });
    const lines = gbsgScoreLines();
    [lines.slice(0, 230), lines.slice(230, 460), lines.slice(460)].forEach((part, i) => (files[HONEST[i]!] = writeScoreFile(deployment.dir, HONEST[i]!, part)));
    // These studies opt out of secure aggregation explicitly (`secure_aggregation: false`), and the hospitals' policies
    // allow it: the attacks here are on the key holder's checks of the signed records, shown on the unmasked path where a
    // decrypted single site would be readable (with masks it would decrypt to noise anyway), and the operator's fake sites
    // (raw sockets) speak no secure-aggregation phases. tests/adversarial/colluding-key-holder.test.ts covers the masked path.
    for (const site of HONEST) await deployment.startEnrolledAgent(site, files[site]!, { label: 'status', policy: 'require_secure_aggregation: false' });
    for (const site of FAKES) await startFakeSite(site, generateSiteIdentity());
    await waitForSites(deployment, [...HONEST, ...FAKES]);
    proxy = tamperingProxy(deployment.url);
    proxyUrl = await proxy.url;

    // The privacy officer pins the roster of the three hospitals (fingerprints each read out at enrollment).
    const study = await deployment.api('POST', '/api/studies', { name: 'honest', score_column: 'score', metric_spec: METRIC_SPEC, sites: HONEST, secure_aggregation: false });
    studyId = study.body.study_id as string;
    const init = await runCli('fedval', ['keys', 'init', '--coordinator', deployment.url, '--study', studyId, '--out', keysDir(), '--signing-key', deployment.keyHolderSigningKey, '--roster', deployment.writeRoster(HONEST)], keyHolder());
    expect(init.code, init.stderr).toBe(0);
    round1 = await startRound(studyId);
    served1 = await contributionsOf(round1);
    expect(served1.contributions.map((item) => item.site_id).sort()).toEqual(HONEST);
  }, 180_000);

  afterAll(async () => {
    proxy.rewrite = undefined;
    for (const timer of heartbeats) clearInterval(timer);
    for (const socket of fakeSockets) socket.close();
    await proxy?.close();
    await deployment?.stop();
  });

  const item = (site: string, from = served1): RoundContribution => from.contributions.find((entry) => entry.site_id === site)!;

  it('attack 1: one site\'s ciphertext plus two encryptions of zero is refused; nothing is decrypted', async () => {
    const zeroB = await encryptionOfZero(served1.plan, served1.metric_spec);
    const zeroC = await encryptionOfZero(served1.plan, served1.metric_spec);
    // B's and C's signed records are kept; their ciphertexts are swapped for encryptions of zero.
    await serveForged(round1, [item('site-a'), { ...item('site-b'), ciphertexts_base64: zeroB }, { ...item('site-c'), ciphertexts_base64: zeroC }], served1);
    const before = trail().length;
    const run = await decrypt(proxyUrl, round1);
    await expectRefusedAndNothingReleased(run, round1);
    const entries = trailSince(before);
    expect(entries.map((entry) => `${entry.action} ${entry.reason}`)).toEqual([
      'contribution.refused digest_mismatch',
      'contribution.refused digest_mismatch',
      'decryption.refused FEDVAL_ERR_CLI_RELEASE_POLICY',
    ]);
    expect(entries.slice(0, 2).map((entry) => entry.details.site).sort()).toEqual(['site-b', 'site-c']);
    expect(entries[2]!.details).toMatchObject({ contributions: 1, sites: ['site-a'], min_sites: 3 });
    expect(entries.some((entry) => entry.action === 'aggregate.decrypted')).toBe(false);
  }, 120_000);

  it('attack 2: the same site\'s contribution three times counts once and is refused', async () => {
    await serveForged(round1, [item('site-a'), { ...item('site-a') }, { ...item('site-a') }], served1);
    const before = trail().length;
    const run = await decrypt(proxyUrl, round1);
    await expectRefusedAndNothingReleased(run, round1);
    const entries = trailSince(before);
    expect(entries.map((entry) => `${entry.action} ${entry.reason}`)).toEqual([
      'contribution.refused duplicate_record',
      'contribution.refused duplicate_record',
      'decryption.refused FEDVAL_ERR_CLI_RELEASE_POLICY',
    ]);
    expect(entries[2]!.details).toMatchObject({ contributions: 1, sites: ['site-a'] });
  }, 120_000);

  it('a forged record is refused: signed by a key not in the roster, or a signed record modified', async () => {
    const zero = await encryptionOfZero(served1.plan, served1.metric_spec);
    const attacker = generateSiteIdentity();
    const bytes = zero.map((text) => new Uint8Array(Buffer.from(text, 'base64')));
    const sha = contributionDigest({ kind: 'bfv', ciphertexts: bytes }).sha256;
    const fields = { studyId, roundId: round1, siteId: 'site-b', contributionSha256: sha, nonce: createNonce(), sentAt: Date.now() };
    const forgedB: RoundContribution = {
      ...item('site-b'),
      ciphertexts_base64: zero,
      attestation: null,
      public_key: attacker.publicKey,
      record: {
        study_id: studyId, round_id: round1, site_id: 'site-b', contribution_sha256: sha, nonce: fields.nonce, sent_at: fields.sentAt,
        attestation_sha256: null, signature_base64: Buffer.from(signResult(attacker.privateKeyPem, fields)).toString('base64'),
      },
    };
    // C's record altered to cover a zero ciphertext; its signature is left as it was.
    const modifiedC: RoundContribution = { ...item('site-c'), ciphertexts_base64: zero, record: { ...item('site-c').record!, contribution_sha256: sha } };
    await serveForged(round1, [item('site-a'), forgedB, modifiedC], served1);
    const before = trail().length;
    const run = await decrypt(proxyUrl, round1);
    await expectRefusedAndNothingReleased(run, round1);
    const entries = trailSince(before);
    expect(entries.map((entry) => `${entry.action} ${entry.details.site ?? ''} ${entry.reason}`)).toEqual([
      'contribution.refused site-b unknown_key',
      'contribution.refused site-c bad_signature',
      `decryption.refused  FEDVAL_ERR_CLI_RELEASE_POLICY`,
    ]);
  }, 120_000);

  it("privacy settings the sites did not attest are refused: the key holder decodes only the release each counted site signed", async () => {
    const layout = createStatisticsLayout(resolveMetricSpecInput(served1.metric_spec));
    const privacyOf = (minSites: number) => JSON.parse(JSON.stringify(resolvePrivacySpec({ epsilon: 1, delta: 1e-6, minSites, layout: { kind: 'flat', bins: 10 } } as never, { layout })));
    // The sites made an exact release (their signed attestations carry no privacy); the front claims a noisy one of 3,
    // in the round's contributions and in the study alike (a consistent lie: the sites' signatures still refuse it).
    const claim = (privacy: unknown) => (path: string, document: any) =>
      path === `/api/rounds/${round1}/contributions` || path === `/api/studies/${studyId}` ? { ...document, privacy } : document;
    proxy.rewrite = claim(privacyOf(3));
    let before = trail().length;
    await expectRefusedAndNothingReleased(await decrypt(proxyUrl, round1), round1);
    const refused = trailSince(before).map((entry) => `${entry.action} ${entry.details.site ?? ''} ${entry.reason}`);
    expect([...refused.slice(0, -1).sort(), ...refused.slice(-1)]).toEqual([
      'contribution.refused site-a wrong_privacy',
      'contribution.refused site-b wrong_privacy',
      'contribution.refused site-c wrong_privacy',
      'decryption.refused  FEDVAL_ERR_CLI_RELEASE_POLICY',
    ]);
    // Noise shares sized for 10 sites, decrypted as a sum of 3: refused before any contribution is looked at.
    proxy.rewrite = claim(privacyOf(10));
    before = trail().length;
    await expectRefusedAndNothingReleased(await decrypt(proxyUrl, round1), round1);
    const entries = trailSince(before);
    expect(entries.map((entry) => `${entry.action} ${entry.reason}`)).toEqual(['decryption.refused FEDVAL_ERR_CLI_RELEASE_POLICY']);
    expect(entries[0]!.details.problem).toBe('the noise shares are sized for sums of 10 sites; this key holder decrypts sums of 3');
    proxy.rewrite = undefined;
  }, 120_000);

  it('a study served with other parameters than the round it verified is refused before decryption, not signed', async () => {
    // The contributions (and the sites' attestations) are checked against the round's metric spec; a second answer,
    // the study itself, claims another threshold: the release statement would sign a spec the key holder never checked.
    proxy.rewrite = (path, document) => (path === `/api/studies/${studyId}` ? { ...document, metric_spec: { ...document.metric_spec, threshold: 0.7 } } : document);
    const before = trail().length;
    await expectRefusedAndNothingReleased(await decrypt(proxyUrl, round1), round1);
    const entries = trailSince(before);
    expect(entries.map((entry) => `${entry.action} ${entry.reason}`)).toEqual(['decryption.refused FEDVAL_ERR_CLI_RELEASE_POLICY']);
    expect(entries[0]!.details.problem).toContain('another metric spec than the round');
    proxy.rewrite = undefined;
  }, 120_000);

  it('the honest round decrypts to exactly the pooled metrics of the three sites', async () => {
    proxy.rewrite = undefined;
    const run = await decrypt(proxyUrl, round1);
    expect(run.code, run.stderr).toBe(0);
    const pooled = writeScoreFile(deployment.dir, 'pooled', HONEST.flatMap((site) => readFileSync(files[site]!, 'utf8').trimEnd().split('\n').slice(1)));
    const local = await runCli('fedval-agent', ['eval-local', '--data', pooled, '--label', 'status', '--score', 'score', '--threshold', '0.3', '--bins', '50', '--json']);
    expect(JSON.parse(run.stdout).metrics).toEqual(JSON.parse(local.stdout).metrics);
    expect(trail().slice(-2).map((entry) => entry.action)).toEqual(['aggregate.decrypted', 'result.released']);
  }, 120_000);

  it('replay: signed records of an earlier round, or used by an earlier decryption, are refused', async () => {
    const round2 = await startRound(studyId);
    const served2 = await contributionsOf(round2);
    // Round 2 served with round 1's signed contributions (already decrypted and released).
    await serveForged(round2, served1.contributions, served2);
    let before = trail().length;
    const replayed = await decrypt(proxyUrl, round2);
    await expectRefusedAndNothingReleased(replayed, round2);
    expect(trailSince(before).map((entry) => `${entry.action} ${entry.reason}`)).toEqual([
      'contribution.refused wrong_round',
      'contribution.refused wrong_round',
      'contribution.refused wrong_round',
      'decryption.refused FEDVAL_ERR_CLI_RELEASE_POLICY',
    ]);
    // Round 1 served again with its records in another combination: each was used by the earlier decryption.
    await serveForged(round1, [item('site-a'), item('site-b'), item('site-a', served2)], served1);
    before = trail().length;
    const again = await decrypt(proxyUrl, round1, keysDir(), ['--no-release']);
    expect(again.code).toBe(1);
    expect(again.stdout).toBe('');
    expect(trailSince(before).map((entry) => `${entry.action} ${entry.reason}`)).toEqual([
      'contribution.refused wrong_round',
      'contribution.refused replayed',
      'contribution.refused replayed',
      'decryption.refused FEDVAL_ERR_CLI_RELEASE_POLICY',
    ]);
    // Round 2 itself, as the coordinator holds it, decrypts.
    proxy.rewrite = undefined;
    expect((await decrypt(proxyUrl, round2)).code).toBe(0);
  }, 180_000);

  it('attack 3: a study over one hospital and two operator-enrolled Sybil sites is refused', async () => {
    const study = await deployment.api('POST', '/api/studies', { name: 'sybil', score_column: 'score', metric_spec: METRIC_SPEC, sites: ['site-a', ...FAKES], secure_aggregation: false });
    const sybilStudy = study.body.study_id as string;
    const keys = join(deployment.dir, 'keys-sybil');
    expect((await runCli('fedval', ['keys', 'init', '--coordinator', deployment.url, '--study', sybilStudy, '--out', keys, '--signing-key', deployment.keyHolderSigningKey, '--roster', deployment.writeRoster(HONEST)], keyHolder())).code).toBe(0);
    const round = await startRound(sybilStudy);
    // The real coordinator counts three contributions, each with a valid signature under the key it enrolled.
    const served = await contributionsOf(round);
    expect(served.contributions.map((entry) => entry.site_id).sort()).toEqual(['fake-1', 'fake-2', 'site-a']);
    expect(served.contributions.every((entry) => entry.record !== null)).toBe(true);
    const before = trail(keys).length;
    const run = await decrypt(deployment.url, round, keys);
    await expectRefusedAndNothingReleased(run, round);
    const entries = trailSince(before, keys);
    expect(entries.map((entry) => `${entry.action} ${entry.details.site ?? ''} ${entry.reason}`).sort()).toEqual([
      'contribution.refused fake-1 unknown_site',
      'contribution.refused fake-2 unknown_site',
      'decryption.refused  FEDVAL_ERR_CLI_RELEASE_POLICY',
    ]);
  }, 180_000);

  it('a roster change needs the privacy officer: an edited roster.json is refused, `fedval keys roster` records the change', async () => {
    const keys = join(deployment.dir, 'keys-roster');
    const study = await deployment.api('POST', '/api/studies', { name: 'roster', score_column: 'score', metric_spec: METRIC_SPEC, sites: ['site-a', ...FAKES], secure_aggregation: false });
    const rosterStudy = study.body.study_id as string;
    expect((await runCli('fedval', ['keys', 'init', '--coordinator', deployment.url, '--study', rosterStudy, '--out', keys, '--signing-key', deployment.keyHolderSigningKey, '--roster', deployment.writeRoster(HONEST)], keyHolder())).code).toBe(0);
    const round = await startRound(rosterStudy);
    // Whoever can write the key directory adds the operator's fake sites, with their enrolled keys' fingerprints.
    const listed = (await deployment.api('GET', '/api/sites', undefined, 'admin')).body as { site_id: string; key_fingerprint: string }[];
    const fingerprint = (site: string) => listed.find((entry) => entry.site_id === site)!.key_fingerprint;
    const widened = { sites: [...HONEST, ...FAKES].map((site) => ({ site_id: site, fingerprint: fingerprint(site) })) };
    writeFileSync(join(keys, 'roster.json'), JSON.stringify(widened));
    const before = trail(keys).length;
    const run = await decrypt(deployment.url, round, keys);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('FEDVAL_ERR_CLI_ROSTER');
    expect(run.stdout).toBe('');
    expect(trailSince(before, keys)).toEqual([]);
    expect((await deployment.api('GET', `/api/rounds/${round}`)).body.release).toBe('awaiting_key_holder');

    // Only the privacy officer's command changes it, and the trail records what changed.
    const approved = join(deployment.dir, 'roster-approved.json');
    writeFileSync(approved, JSON.stringify({ sites: [...HONEST, 'fake-1'].map((site) => ({ site_id: site, fingerprint: fingerprint(site) })) }));
    const changed = await runCli('fedval', ['keys', 'roster', '--keys', keys, '--roster', approved, '--signing-key', deployment.keyHolderSigningKey, '--json'], keyHolder());
    expect(changed.code, changed.stderr).toBe(0);
    // The study key statement sites verify carries the roster: signed again and sent to the coordinator.
    expect(JSON.parse(changed.stdout)).toMatchObject({ added: ['fake-1'], key_statement_sent: true });
    expect(trail(keys).at(-1)).toMatchObject({ action: 'key_statement.signed', details: { key_holder_fingerprint: deployment.keyHolderFingerprint } });
    const entry = trail(keys).at(-2)!;
    expect(entry).toMatchObject({ action: 'roster.changed', details: { added: ['fake-1'], removed: [], rekeyed: [] } });
    expect(entry.details.roster_sha256).toBe(createHash('sha256').update(readFileSync(join(keys, 'roster.json'), 'utf8').trimEnd()).digest('hex'));
  }, 180_000);

  it('a site re-enrolled by the operator with its own key is not the site the roster pins', async () => {
    // The operator issues a new token for site-b and enrolls a key it holds, then contributes as site-b.
    const operatorKey = generateSiteIdentity();
    const issued = await deployment.api('POST', '/api/sites/site-b/enrollment-token', undefined, 'admin');
    const token = issued.body.enrollment_token as string;
    const fields = { siteId: 'site-b', publicKey: operatorKey.publicKey, enrollmentTokenSha256: createHash('sha256').update(token).digest('hex') };
    const proof = Buffer.from(signEnrollment(operatorKey.privateKeyPem, fields)).toString('base64');
    expect((await deployment.api('POST', '/api/enroll', { site_id: 'site-b', enrollment_token: token, public_key: operatorKey.publicKey, signature: proof }, null)).status).toBe(201);
    const study = await deployment.api('POST', '/api/studies', { name: 'rekeyed', score_column: 'score', metric_spec: METRIC_SPEC, sites: ['site-a', 'site-b', 'fake-1'], quorum: 3, secure_aggregation: false });
    const rekeyedStudy = study.body.study_id as string;
    const keys = join(deployment.dir, 'keys-rekeyed');
    expect((await runCli('fedval', ['keys', 'init', '--coordinator', deployment.url, '--study', rekeyedStudy, '--out', keys, '--signing-key', deployment.keyHolderSigningKey, '--roster', deployment.writeRoster(HONEST)], keyHolder())).code).toBe(0);
    // The operator's site-b: the real agent's key no longer matches, so the operator answers the round for it.
    const fakeB = new RawSite(deployment.wsUrl);
    fakeSockets.push(fakeB);
    const challenge = await fakeB.next((m) => m.type === 'challenge');
    if (challenge.type !== 'challenge') throw new Error('shape');
    fakeB.send(createMessage('hello', {
      siteId: 'site-b',
      signature: new Uint8Array(signChallenge(operatorKey.privateKeyPem, challenge.content as AuthChallenge, { siteId: 'site-b', purpose: 'connect', expectedAudience: deployment.wsUrl })),
      agentVersion: 'operator',
      capabilities: { tasks: ['binary'], contributions: ['bfv'] },
    }));
    expect((await fakeB.next((m) => m.type === 'welcome' || m.type === 'error')).type).toBe('welcome');
    keepAlive(fakeB);
    const started = await deployment.api('POST', `/api/studies/${rekeyedStudy}/rounds`);
    const round = started.body.round_id as string;
    const task = await fakeB.next((m) => m.type === 'task');
    if (task.type !== 'task' || task.content.contribution.kind !== 'bfv') throw new Error('shape');
    fakeB.send(createMessage('task.accept', { roundId: round }));
    const context = await createHeContext(task.content.contribution.plan as never);
    const ciphertexts = encryptVector(context, task.content.contribution.publicKey, new Float64Array(createStatisticsLayout(resolveMetricSpec(task.content.metricSpec)).length)).ciphertexts.map((bytes) => new Uint8Array(bytes));
    context.dispose();
    const sha = contributionDigest({ kind: 'bfv', ciphertexts }).sha256;
    const record = { studyId: rekeyedStudy, roundId: round, siteId: 'site-b', contributionSha256: sha, nonce: createNonce(), sentAt: Date.now() };
    fakeB.send(createMessage('task.result', { roundId: round, contribution: { kind: 'bfv', ciphertexts }, contributionSha256: sha, signature: { nonce: record.nonce, sentAt: record.sentAt, signature: new Uint8Array(signResult(operatorKey.privateKeyPem, record)) } }));
    expect((await waitForRoundClosed(deployment, round)).state).toBe('aggregated');
    const before = trail(keys).length;
    const run = await decrypt(deployment.url, round, keys);
    await expectRefusedAndNothingReleased(run, round);
    expect(trailSince(before, keys).map((entry) => `${entry.action} ${entry.details.site ?? ''} ${entry.reason}`).sort()).toEqual([
      'contribution.refused fake-1 unknown_site',
      'contribution.refused site-b unknown_key',
      'decryption.refused  FEDVAL_ERR_CLI_RELEASE_POLICY',
    ]);
  }, 180_000);
});
