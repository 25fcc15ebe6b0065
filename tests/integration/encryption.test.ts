// Encryption end to end: only ciphertexts leave a site, the coordinator never holds a secret key, the key holder
// decrypts only a sum it made itself from contributions signed by rostered sites under the release policy (a token
// site's unsigned contribution is refused), and corrupted ciphertexts from a site are refused while the round completes
// exactly with the honest sites.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { createHeContext, encryptVector } from '@fedval/he';
import { addStatistics, createAccumulator, createStatisticsLayout, finalizeMetrics, resolveMetricSpec } from '@fedval/metrics';
import { createMessage, decodeMessage, encodeMessage } from '@fedval/protocol';
import type { Message } from '@fedval/protocol';
import { loadPrivateKey, publicKeyFingerprint, publicKeyOf, readAuditLog } from '@fedval/trust';
import { verifyEvidenceBundle } from '@fedval/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startDeployment, waitForRoundClosed, waitForSites } from '../helpers/deployment.ts';
import { recordingRelay } from '../helpers/relay.ts';
import type { Deployment } from '../helpers/deployment.ts';
import { REPO_ROOT, DATA_DIR, runCli } from '../helpers/run-cli.ts';

const CANARY = 'CANARY-MRN-4417';
const METRIC_SPEC = { bins: 100, threshold: 0.3, groups: [{ column: 'meno', levels: ['0', '1'] }] };
/** The sites that enrolled a key: the only ones in the key holder's roster. */
const ENROLLED = ['site-1', 'site-2', 'site-3'];

/** Three honest site files from GBSG with a fixed score formula, and a canary identifier column. */
function writeSiteFiles(dir: string): Record<string, string> {
  const rows = parse(readFileSync(join(DATA_DIR, 'gbsg.csv')), { columns: true }) as Record<string, string>[];
  const lines = rows.map((row, i) => {
    const z = -2 + 0.04 * Number(row.nodes) + 0.3 * Number(row.grade) - 0.002 * Number(row.pgr) + 0.01 * Number(row.age);
    return `${CANARY}-${i},${row.meno},${row.status},${(1 / (1 + Math.exp(-z))).toFixed(6)}`;
  });
  const files: Record<string, string> = {};
  [lines.slice(0, 170), lines.slice(170, 340), lines.slice(340, 510), lines.slice(510)].forEach((part, i) => {
    const path = join(dir, `site-${i}.csv`);
    writeFileSync(path, `mrn,meno,status,score\n${part.join('\n')}\n`);
    files[`site-${i}`] = path;
  });
  return files;
}

/** The site's statistics vector, computed here independently of the agent's code path. */
function statisticsOf(path: string): Float64Array {
  const layout = createStatisticsLayout(resolveMetricSpec(METRIC_SPEC));
  const accumulator = createAccumulator(layout);
  for (const row of parse(readFileSync(path), { columns: true }) as Record<string, string>[]) {
    accumulator.addBinary(Number(row.score), row.status === '1' ? 1 : 0, [row.meno ?? null]);
  }
  return accumulator.vector();
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/**
 * These studies opt out of secure aggregation explicitly, and the agents' policies allow it: what is tested here is the
 * unmasked path's own checks (a token site's unsigned contribution refused by the key holder, corrupted ciphertexts from
 * raw sockets marked invalid), and neither a token site nor a raw socket can take part in secure aggregation. The masked
 * path: secure-aggregation.test.ts and tests/adversarial/colluding-key-holder.test.ts.
 */
async function createStudy(deployment: Deployment, sites: string[], extra: Record<string, unknown> = {}): Promise<string> {
  const study = await deployment.api('POST', '/api/studies', { name: 'encrypted', score_column: 'score', metric_spec: METRIC_SPEC, sites, secure_aggregation: false, ...extra });
  expect(study.status).toBe(201);
  expect(study.body.contribution).toBe('bfv');
  return study.body.study_id as string;
}

describe('encrypted rounds', () => {
  let deployment: Deployment;
  let files: Record<string, string>;
  /** How the key holder runs the CLI: as the privacy officer, its API token in the environment. */
  const keyHolder = (): { env: NodeJS.ProcessEnv } => ({ env: { FEDVAL_API_TOKEN: deployment.apiTokens.privacy_officer } });
  const relay = { current: undefined as ReturnType<typeof recordingRelay> | undefined };

  beforeAll(async () => {
    // site-0 authenticates with a pre-shared token (through a recording relay, which a signed challenge would refuse);
    // site-1..3 enrolled their keys and sign their contribution records.
    deployment = await startDeployment(['site-0', 'site-1', 'site-2', 'site-3', 'hostile-truncated', 'hostile-flipped', 'hostile-extra'], {
      enrolledSites: ['site-1', 'site-2', 'site-3'],
      // The coordinator's memory bounds at their smallest: every result received stops reading the sockets until it is
      // stored, and every frame waits for the previous one's write. The rounds' results must not change.
      limits: { max_results_in_flight: 1, max_send_buffer_bytes: 1 },
    });
    files = writeSiteFiles(deployment.dir);
    relay.current = recordingRelay(deployment.wsUrl);
    deployment.startAgent('site-0', files['site-0']!, { coordinatorUrl: await relay.current.url, label: 'status', policy: 'require_secure_aggregation: false' });
    for (const site of ENROLLED) await deployment.startEnrolledAgent(site, files[site]!, { label: 'status', policy: 'require_secure_aggregation: false' });
    await waitForSites(deployment, ['site-0', ...ENROLLED]);
  }, 60_000);

  afterAll(async () => {
    await deployment?.stop();
    await relay.current?.close();
  });

  it('sends only ciphertexts, keeps the secret key out of the coordinator, refuses the unsigned one and decrypts the exact pooled sum of the signed ones', async () => {
    const studyId = await createStudy(deployment, ['site-0', ...ENROLLED]);
    expect((await deployment.api('POST', `/api/studies/${studyId}/rounds`)).body.error.code).toBe('FEDVAL_ERR_COORD_NO_PUBLIC_KEY');
    const keys = join(deployment.dir, 'keys');
    // site-0 is rostered by id (a token site has no key to pin): it encrypts, and the key holder refuses it unsigned.
    const roster = deployment.writeRoster(['site-0', ...ENROLLED]);
    const init = await runCli('fedval', ['keys', 'init', '--coordinator', deployment.url, '--study', studyId, '--out', keys, '--signing-key', deployment.keyHolderSigningKey, '--roster', roster], keyHolder());
    expect(init.code, init.stderr).toBe(0);
    expect(statSync(join(keys, 'secret.key')).mode & 0o077).toBe(0);
    const again = await runCli('fedval', ['keys', 'init', '--coordinator', deployment.url, '--study', studyId, '--out', keys, '--signing-key', deployment.keyHolderSigningKey, '--roster', roster], keyHolder());
    expect(again.stderr).toContain('FEDVAL_ERR_CLI_KEYS_EXIST');

    const round = await deployment.api('POST', `/api/studies/${studyId}/rounds`);
    const closed = await waitForRoundClosed(deployment, round.body.round_id);
    expect(closed.state).toBe('aggregated');
    expect(closed.release).toBe('awaiting_key_holder');
    expect(closed.result).toBeUndefined();

    const reportDir = join(deployment.dir, 'report');
    const decrypted = await runCli('fedval', ['decrypt', '--coordinator', deployment.url, '--round', round.body.round_id, '--keys', keys, '--signer-name', 'Dr. Test Officer', '--report', reportDir, '--json'], keyHolder());
    expect(decrypted.code, decrypted.stderr).toBe(0);
    const released = JSON.parse(decrypted.stdout) as { metrics: Record<string, unknown>; privacy: { encryption: Record<string, unknown> } };
    expect(released.privacy.encryption).toMatchObject({ scheme: 'bfv', security_bits: 128 });
    // The release is signed by the key holder's key (the one `keys init` used) and its report bundle, made at release, verifies.
    const keyHolderFingerprint = publicKeyFingerprint(publicKeyOf(loadPrivateKey(deployment.keyHolderSigningKey)));
    const evidence = verifyEvidenceBundle(reportDir, { keyHolderKeys: [keyHolderFingerprint], signerKeys: [keyHolderFingerprint], trails: [{ party: 'key_holder', path: join(keys, 'audit.jsonl') }] });
    expect(evidence.checks.filter((check) => !check.ok)).toEqual([]);
    expect(evidence.released_by).toBe('Dr. Test Officer');
    // The coordinator's metrics saw the release: one encrypted round released, its release latency observed once.
    const scrape = await (await fetch(`${deployment.url}/metrics`, { headers: { authorization: `Bearer ${deployment.apiTokens.metrics}` } })).text();
    expect(scrape).toMatch(/^fedval_coordinator_rounds\{state="released"\} 1$/m);
    expect(scrape).toMatch(/^fedval_coordinator_round_aggregated_to_released_seconds_count 1$/m);
    expect(scrape).toMatch(/^fedval_coordinator_round_dispatch_to_aggregated_seconds_count 1$/m);
    // Under the smallest limits (beforeAll) the four results each paused reading, and frames waited for room to be sent.
    expect(Number(/^fedval_coordinator_site_reads_paused_total (\d+)$/m.exec(scrape)?.[1])).toBeGreaterThanOrEqual(4);
    expect(Number(/^fedval_coordinator_frames_queued_total (\d+)$/m.exec(scrape)?.[1])).toBeGreaterThan(0);

    // The decrypted sum is exactly the pooled statistics of the three signed sites: its metrics equal the metrics of
    // their pooled file, computed here by eval-local. site-0's unsigned contribution is not in it.
    const pooledPath = join(deployment.dir, 'pooled.csv');
    const bodies = ENROLLED.map((site) => readFileSync(files[site]!, 'utf8').trimEnd().split('\n'));
    writeFileSync(pooledPath, `${[bodies[0]![0], ...bodies.flatMap((lines) => lines.slice(1))].join('\n')}\n`);
    const local = await runCli('fedval-agent', ['eval-local', '--data', pooledPath, '--label', 'status', '--score', 'score', '--threshold', '0.3', '--bins', '100', '--group', 'meno', '--json']);
    expect(released.metrics).toEqual(JSON.parse(local.stdout).metrics);
    const view = await deployment.api('GET', `/api/rounds/${round.body.round_id}`);
    expect(view.body.release).toBe('released');
    expect(view.body.result.metrics).toEqual(released.metrics);
    expect(view.body.result.sites.sort()).toEqual([...ENROLLED]);

    // The key holder's own trail: keys made, roster pinned, the unsigned contribution refused, its own sum decrypted, released.
    const keyTrail = readAuditLog(join(keys, 'audit.jsonl')).entries;
    expect(keyTrail.map((e) => e.action)).toEqual(['keys.created', 'roster.pinned', 'contribution.refused', 'aggregate.decrypted', 'result.released']);
    expect(keyTrail[1]!.details.roster_sha256).toBe(createHash('sha256').update(readFileSync(join(keys, 'roster.json'), 'utf8').trimEnd()).digest('hex'));
    expect(keyTrail[2]).toMatchObject({ reason: 'unsigned', details: { site: 'site-0' } });
    expect(keyTrail[3]).toMatchObject({ object: `round:${round.body.round_id}`, details: { contributions: 3, min_sites: 3 } });
    expect((keyTrail[3]!.details.sites as string[]).sort()).toEqual([...ENROLLED]);
    expect(keyTrail[4]!.details.metrics_sha256).toBe(createHash('sha256').update(JSON.stringify(released.metrics)).digest('hex'));
    expect((await runCli('fedval', ['audit', 'verify', '--dir', keys])).code).toBe(0);

    // Every frame site-0 sent: no plaintext statistics, no canary, only ciphertexts and metadata.
    const frames = relay.current!.frames;
    const messages: Message[] = frames.map((frame) => decodeMessage(frame));
    // A heartbeat (empty content) may also go out when the round runs slowly, as on a loaded machine.
    // The site also asks once for the key holder's statement the task names by digest: the round and that digest only.
    expect(new Set(messages.map((m) => m.type).filter((type) => type !== 'heartbeat'))).toEqual(new Set(['hello', 'key_statement.request', 'task.accept', 'task.progress', 'task.result']));
    for (const heartbeat of messages.filter((m) => m.type === 'heartbeat')) expect(heartbeat.content).toEqual({});
    for (const request of messages.filter((m) => m.type === 'key_statement.request')) expect(Object.keys(request.content).sort()).toEqual(['roundId', 'sha256']);
    const result = messages.find((m) => m.type === 'task.result');
    if (result?.type !== 'task.result') throw new Error('no result');
    expect(result.content.contribution.kind).toBe('bfv');
    const vector = statisticsOf(files['site-0']!);
    const plainBytes = Buffer.from(vector.buffer);
    const firstNonZero = vector.findIndex((v) => v !== 0);
    const window = plainBytes.subarray(firstNonZero * 8, firstNonZero * 8 + 64);
    const everything = Buffer.concat(frames);
    expect(everything.includes(window)).toBe(false);
    expect(everything.includes(Buffer.from(CANARY))).toBe(false);
    for (const message of messages) {
      if (message.type === 'task.progress') expect(Object.keys(message.content).sort()).toEqual(['percent', 'phase', 'roundId']);
    }

    // The coordinator's data directory holds no secret key material, not even a 32-byte piece of it.
    const secret = readFileSync(join(keys, 'secret.key'));
    const stored = Buffer.concat(filesUnder(deployment.coordinatorDataDir).map((path) => readFileSync(path)));
    for (let at = 0; at + 32 <= secret.length; at += 16) expect(stored.includes(secret.subarray(at, at + 32))).toBe(false);
    // And a secret key offered as a public key is refused.
    const posing = await deployment.api('PUT', `/api/studies/${studyId}/public-key`, { public_key_base64: secret.toString('base64') }, 'privacy_officer');
    expect(posing.status).toBeGreaterThanOrEqual(400);
    expect(posing.status).not.toBe(403);
  }, 120_000);

  it('refuses to decrypt an aggregate below the release policy, at the key holder and at the coordinator', async () => {
    const studyId = await createStudy(deployment, ['site-1', 'site-2'], { release: { min_sites: 3 } });
    const keys = join(deployment.dir, 'keys-policy');
    expect((await runCli('fedval', ['keys', 'init', '--coordinator', deployment.url, '--study', studyId, '--out', keys, '--signing-key', deployment.keyHolderSigningKey, '--roster', deployment.writeRoster(ENROLLED)], keyHolder())).code).toBe(0);
    const round = await deployment.api('POST', `/api/studies/${studyId}/rounds`);
    expect((await waitForRoundClosed(deployment, round.body.round_id)).state).toBe('aggregated');
    const refused = await runCli('fedval', ['decrypt', '--coordinator', deployment.url, '--round', round.body.round_id, '--keys', keys, '--min-sites', '1'], keyHolder());
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('FEDVAL_ERR_CLI_RELEASE_POLICY');
    expect(readAuditLog(join(keys, 'audit.jsonl')).entries.at(-1)).toMatchObject({ action: 'decryption.refused', reason: 'FEDVAL_ERR_CLI_RELEASE_POLICY', details: { contributions: 2, min_sites: 3 } });
    // A key holder that ignores the policy posts the real metrics of the two sites' aggregate: the coordinator refuses them.
    const metrics = finalizeMetrics(createStatisticsLayout(resolveMetricSpec(METRIC_SPEC)), addStatistics(statisticsOf(files['site-1']!), statisticsOf(files['site-2']!)));
    const forced = await deployment.api('POST', `/api/rounds/${round.body.round_id}/release`, { metrics, contributions: 2 }, 'privacy_officer');
    expect(forced.body.error.code).toBe('FEDVAL_ERR_COORD_RELEASE_POLICY');
  }, 120_000);

  it('marks corrupted, truncated and wrong-count ciphertexts invalid and completes the round with the honest sites', async () => {
    const hostile = ['hostile-truncated', 'hostile-flipped', 'hostile-extra'];
    const studyId = await createStudy(deployment, [...ENROLLED, ...hostile], { quorum: 3 });
    const keys = join(deployment.dir, 'keys-hostile');
    expect((await runCli('fedval', ['keys', 'init', '--coordinator', deployment.url, '--study', studyId, '--out', keys, '--signing-key', deployment.keyHolderSigningKey, '--roster', deployment.writeRoster(ENROLLED)], keyHolder())).code).toBe(0);
    // hostile-truncated asks for the round's key statement twice on one connection: sent once, the repeat refused.
    const asked: { requests: string[]; replies: Message[] } = { requests: [], replies: [] };
    const sockets = await Promise.all(
      hostile.map(
        (site) =>
          new Promise<WebSocket>((resolve) => {
            const socket = new WebSocket(deployment.wsUrl);
            socket.on('open', () => {
              socket.send(encodeMessage(createMessage('hello', { siteId: site, token: deployment.tokens.get(site)!, agentVersion: 'test', capabilities: { tasks: ['binary'], contributions: ['bfv'] } })));
            });
            socket.on('message', async (data: Buffer) => {
              const message = decodeMessage(data);
              if (message.type === 'welcome') resolve(socket);
              if (site === 'hostile-truncated' && (message.type === 'key_statement' || (message.type === 'error' && message.replyTo !== undefined && asked.requests.includes(message.replyTo)))) asked.replies.push(message);
              if (message.type !== 'task' || message.content.contribution.kind !== 'bfv') return;
              const { roundId, contribution } = message.content;
              if (site === 'hostile-truncated' && contribution.keyStatementSha256 !== undefined) {
                for (let i = 0; i < 2; i += 1) {
                  const request = createMessage('key_statement.request', { roundId, sha256: contribution.keyStatementSha256 });
                  asked.requests.push(request.id);
                  socket.send(encodeMessage(request));
                }
              }
              socket.send(encodeMessage(createMessage('task.accept', { roundId })));
              const context = await createHeContext(contribution.plan);
              const honest = encryptVector(context, contribution.publicKey, statisticsOf(files['site-0']!)).ciphertexts;
              context.dispose();
              let ciphertexts = honest.map((bytes) => new Uint8Array(bytes));
              if (site === 'hostile-truncated') ciphertexts = ciphertexts.map((bytes) => bytes.subarray(0, bytes.length - 100));
              if (site === 'hostile-flipped') {
                const first = ciphertexts[0]!;
                first[200] = first[200]! ^ 0xff;
              }
              if (site === 'hostile-extra') ciphertexts = [...ciphertexts, ciphertexts[0]!];
              const contributionSha256 = createHash('sha256').update(Buffer.concat(ciphertexts)).digest('hex');
              socket.send(encodeMessage(createMessage('task.result', { roundId, contribution: { kind: 'bfv', ciphertexts }, contributionSha256 })));
            });
          }),
      ),
    );
    const round = await deployment.api('POST', `/api/studies/${studyId}/rounds`);
    const closed = await waitForRoundClosed(deployment, round.body.round_id);
    sockets.forEach((socket) => socket.close());
    expect(closed.state).toBe('aggregated');
    const status = Object.fromEntries(closed.sites.map((site: { site_id: string; status: string; code?: string }) => [site.site_id, site]));
    expect(asked.replies.map((m) => (m.type === 'error' ? { error: m.error.code, replyTo: m.replyTo } : { type: m.type }))).toEqual([
      { type: 'key_statement' },
      { error: 'FEDVAL_ERR_COORD_KEY_STATEMENT_REPEATED', replyTo: asked.requests[1] },
    ]);
    for (const site of hostile) {
      expect(status[site].status).toBe('invalid');
      expect(status[site].code).toMatch(/^FEDVAL_ERR_HE_/);
    }
    const decrypted = await runCli('fedval', ['decrypt', '--coordinator', deployment.url, '--round', round.body.round_id, '--keys', keys, '--json'], keyHolder());
    expect(decrypted.code).toBe(0);
    const metrics = JSON.parse(decrypted.stdout).metrics as { n: number };
    const expectedN = ENROLLED.reduce((total, site) => total + (readFileSync(files[site]!, 'utf8').trimEnd().split('\n').length - 1), 0);
    expect(metrics.n).toBe(expectedN);
  }, 120_000);
});

describe('coordinator code', () => {
  it('never loads, decrypts with, or generates a secret key', () => {
    const sources = filesUnder(join(REPO_ROOT, 'coordinator/src')).filter((path) => path.endsWith('.ts') && !path.endsWith('.test.ts'));
    for (const path of sources) {
      const text = readFileSync(path, 'utf8');
      expect(text, path).not.toMatch(/decryptVector|generateKeyPair|loadSecretKey|secretKey/);
    }
  });
});
