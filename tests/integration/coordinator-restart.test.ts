// Rounds survive a coordinator restart (issue 17): a real coordinator process, three real enrolled agents and a real
// key holder; the coordinator is killed with SIGKILL at each step of an encrypted, differentially private round (or
// stopped with SIGTERM mid-round) and started again on its data directory. Each round completes with every site
// counted once, each site charged once, and a release equal to the one the sites' own kept contributions give.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { ChildProcess } from 'node:child_process';
import { createRelease, finalizeRelease } from '@fedval/dp';
import { createHeContext, decryptVector, EncryptedSum, validateBfvPlan } from '@fedval/he';
import { createStatisticsLayout, resolveMetricSpecInput } from '@fedval/metrics';
import { decodeMessage } from '@fedval/protocol';
import { readAuditLog } from '@fedval/trust';
import type { AuditEntry } from '@fedval/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeployment, waitForRoundClosed, waitForSites } from '../helpers/deployment.ts';
import type { Deployment } from '../helpers/deployment.ts';
import { gbsgScoreLines, writeScoreFile } from '../helpers/gbsg-scores.ts';
import { runCli } from '../helpers/run-cli.ts';

const SITES = ['site-1', 'site-2', 'site-3'];
const FAULT_ENV = 'FEDVAL_COORDINATOR_TEST_FAULT'; // coordinator/src/test-fault.ts
const AGENT_OPTIONS = { label: 'status', policy: 'require_secure_aggregation: false' };

type Released = { metrics: Record<string, unknown>; round: string };

describe('rounds survive a coordinator restart', () => {
  let deployment: Deployment;
  let files: string[];
  let studyId: string;
  let keys: string;
  const agents = new Map<string, ChildProcess>();
  const rounds: string[] = [];
  const keyHolder = (): { env: NodeJS.ProcessEnv } => ({ env: { FEDVAL_API_TOKEN: deployment.apiTokens.privacy_officer } });
  const siteDir = (site: string): string => join(deployment.dir, 'sites', site, 'state');
  const roundEntries = (path: string, roundId: string): AuditEntry[] => readAuditLog(path).entries.filter((entry) => entry.object === `round:${roundId}`);
  const coordinatorTrail = (roundId: string): AuditEntry[] => roundEntries(join(deployment.coordinatorDataDir, 'audit.jsonl'), roundId);

  beforeAll(async () => {
    deployment = await startDeployment(SITES, { enrolledSites: SITES, restartable: true });
    const lines = gbsgScoreLines();
    files = SITES.map((site, i) => writeScoreFile(deployment.dir, site, lines.slice(i * 150, (i + 1) * 150)));
    const started = await Promise.all(SITES.map((site, i) => deployment.startEnrolledAgent(site, files[i]!, AGENT_OPTIONS)));
    for (const [i, site] of SITES.entries()) agents.set(site, started[i]!);
    await waitForSites(deployment, SITES);
    keys = join(deployment.dir, 'keys');
    studyId = await createKeyedStudy('restarts', keys, { secure_aggregation: false });
  }, 120_000);

  afterAll(async () => {
    await deployment?.stop();
  });

  /** An encrypted study of the three sites, ε = 0.5 per round, with its keys made by the key holder in `keyDir`. */
  async function createKeyedStudy(name: string, keyDir: string, extra: Record<string, unknown> = {}): Promise<string> {
    const privacy = { epsilon: 0.5, delta: 1e-6, expected_patients: 450, expected_prevalence: 0.44 };
    const study = await deployment.api('POST', '/api/studies', { name, score_column: 'score', metric_spec: { bins: 20, threshold: 0.3 }, sites: SITES, deadline_seconds: 300, privacy, ...extra });
    expect(study.status, JSON.stringify(study.body)).toBe(201);
    const id = study.body.study_id as string;
    const init = await runCli('fedval', ['keys', 'init', '--coordinator', deployment.url, '--study', id, '--out', keyDir, '--signing-key', deployment.keyHolderSigningKey, '--roster', deployment.writeRoster(SITES)], keyHolder());
    expect(init.code, init.stderr).toBe(0);
    return id;
  }

  /** Starts a round on a coordinator armed to kill itself at `point`, waits for that, and starts it again unarmed. */
  async function roundCutAt(point: string, study = studyId): Promise<string> {
    await deployment.restartCoordinator({ signal: 'SIGTERM', env: { [FAULT_ENV]: point } });
    await waitForSites(deployment, SITES);
    const exited = once(deployment.coordinator, 'exit');
    // Killed right after dispatch, the coordinator may die before it answers: the round is found in the study then.
    const started = await deployment.api('POST', `/api/studies/${study}/rounds`).catch(() => undefined);
    await exited;
    expect(deployment.coordinator.signalCode).toBe('SIGKILL');
    await deployment.restartCoordinator();
    const listed = await deployment.api<{ round_id: string }[]>('GET', `/api/studies/${study}/rounds`);
    const roundId = listed.body.at(-1)!.round_id;
    if (started) expect(started.body.round_id).toBe(roundId);
    expect(coordinatorTrail(roundId).filter((entry) => entry.action === 'round.resumed')).toHaveLength(study === studyId ? 1 : 0);
    return roundId;
  }

  /**
   * The key holder releases the round; the release must be what the three sites' own kept contributions (read from
   * each agent's database, summed and decrypted here) give, each site counted once with the one contribution it sent.
   */
  async function releasedExactly(roundId: string): Promise<Released> {
    rounds.push(roundId);
    const closed = await waitForRoundClosed(deployment, roundId);
    expect(closed).toMatchObject({ state: 'aggregated', contributions: 3 });
    expect(closed.sites).toEqual(SITES.map((site) => ({ site_id: site, status: 'contributed' })));
    const decrypted = await runCli('fedval', ['decrypt', '--coordinator', deployment.url, '--round', roundId, '--keys', keys, '--json'], keyHolder());
    expect(decrypted.code, decrypted.stderr).toBe(0);
    const released = JSON.parse(decrypted.stdout) as Released;

    const sent = SITES.map((site) => roundEntries(join(siteDir(site), 'audit.jsonl'), roundId).filter((entry) => entry.action === 'contribution.sent'));
    for (const entries of sent) expect(entries).toHaveLength(1); // each site ran the task once
    const used = readFileSync(join(keys, 'used-records.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { site_id: string; round_id: string; contribution_sha256: string });
    expect(used.filter((record) => record.round_id === roundId).map((record) => [record.site_id, record.contribution_sha256]).sort()).toEqual(
      SITES.map((site, i) => [site, sent[i]![0]!.details.sha256]),
    );

    const plan = validateBfvPlan(JSON.parse(readFileSync(join(keys, 'plan.json'), 'utf8')));
    const context = await createHeContext(plan);
    try {
      const sum = new EncryptedSum(context);
      for (const site of SITES) {
        const db = new DatabaseSync(join(siteDir(site), 'agent.sqlite'), { readOnly: true });
        const row = db.prepare('SELECT message FROM sent_contributions WHERE round_id = ?').get(roundId) as { message: Uint8Array };
        db.close();
        const kept = decodeMessage(row.message);
        if (kept.type !== 'task.result' || kept.content.contribution.kind !== 'bfv') throw new Error(`${site} kept no bfv result`);
        sum.add({ ciphertexts: kept.content.contribution.ciphertexts });
      }
      const study = await deployment.api('GET', `/api/studies/${studyId}`);
      const release = createRelease(createStatisticsLayout(resolveMetricSpecInput(study.body.metric_spec)), study.body.privacy);
      const vector = decryptVector(context, new Uint8Array(readFileSync(join(keys, 'secret.key'))), sum.toEncryptedVector(), SITES.length);
      expect(released.metrics).toEqual(JSON.parse(JSON.stringify(finalizeRelease(release, vector, SITES.length).metrics)));
    } finally {
      context.dispose();
    }
    return released;
  }

  it('SIGKILL right after dispatch: the sites get the task again and answer it once', async () => {
    await releasedExactly(await roundCutAt('crash-after-dispatch'));
  }, 60_000);

  it('SIGKILL after the first contribution is stored: that site is not asked again, the others re-send', async () => {
    const roundId = await roundCutAt('crash-after-contribution');
    const trail = coordinatorTrail(roundId);
    const resumedAt = trail.find((entry) => entry.action === 'round.resumed')!.seq;
    const first = trail.find((entry) => entry.action === 'contribution.received')!.details.site as string;
    expect(trail.filter((entry) => entry.seq > resumedAt && entry.action === 'task.dispatched' && entry.details.site === first)).toEqual([]);
    expect(roundEntries(join(siteDir(first), 'audit.jsonl'), roundId).filter((entry) => entry.action === 'contribution.resent')).toEqual([]);
    await releasedExactly(roundId);
  }, 60_000);

  it('SIGKILL after every contribution is stored, before the aggregate is, then again after aggregation, before the release', async () => {
    const roundId = await roundCutAt('crash-before-close');
    const trail = coordinatorTrail(roundId);
    const resumedAt = trail.find((entry) => entry.action === 'round.resumed')!.seq;
    expect(trail.filter((entry) => entry.seq > resumedAt && entry.action === 'task.dispatched')).toEqual([]); // nobody asked again
    // The round closed on the next start; the aggregate is kept through another kill and released after it.
    expect(await waitForRoundClosed(deployment, roundId)).toMatchObject({ state: 'aggregated' });
    await deployment.restartCoordinator({ signal: 'SIGKILL' });
    await releasedExactly(roundId);
  }, 60_000);

  it('SIGTERM with a site still outstanding: the round stays open and completes when the site comes back', async () => {
    const late = agents.get('site-3')!;
    const stopped = once(late, 'exit');
    late.kill('SIGTERM');
    await stopped;
    const round = await deployment.api('POST', `/api/studies/${studyId}/rounds`);
    const roundId = round.body.round_id as string;
    for (let contributed = 0; contributed < 2; ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      contributed = (await deployment.api('GET', `/api/rounds/${roundId}`)).body.sites.filter((site: { status: string }) => site.status === 'contributed').length;
    }
    await deployment.restartCoordinator({ signal: 'SIGTERM' });
    expect((await deployment.api('GET', `/api/rounds/${roundId}`)).body.state).toBe('collecting');
    agents.set('site-3', await deployment.startEnrolledAgent('site-3', files[2]!, AGENT_OPTIONS));
    await releasedExactly(roundId);
  }, 60_000);

  it('charged each site once per round, in its own ledger', async () => {
    expect(rounds).toHaveLength(4);
    const budgets = await Promise.all(SITES.map((site) => runCli('fedval-agent', ['budget', '--config', join(deployment.dir, 'sites', site, 'site.yaml'), '--json'])));
    for (const budget of budgets) {
      expect(budget.code, budget.stderr).toBe(0);
      const charged = (JSON.parse(budget.stdout) as { rounds: { study_id: string; round_id: string; epsilon: number; refund: unknown }[] }).rounds.filter((charge) => charge.study_id === studyId);
      expect(charged.map((charge) => charge.round_id).sort()).toEqual([...rounds].sort());
      for (const charge of charged) expect(charge).toMatchObject({ epsilon: expect.closeTo(0.5, 6), refund: null });
    }
  }, 60_000);

  it('a securely aggregated round cannot resume: it fails with coordinator_restarted, and every site charged for it refunds', async () => {
    const maskedStudy = await createKeyedStudy('masked restarts', join(deployment.dir, 'keys-masked')); // masked by default
    expect((await deployment.api('GET', `/api/studies/${maskedStudy}`)).body.secure_aggregation).toMatchObject({ scheme: 'bonawitz-double-mask' });
    // Killed once the first masked input is stored: the pairwise keys the round needs died with the sites' connections.
    const roundId = await roundCutAt('crash-after-contribution', maskedStudy);
    expect(await waitForRoundClosed(deployment, roundId)).toMatchObject({ state: 'failed', reason: 'coordinator_restarted' });
    // Each site is told when it reconnects; one that sent its masked input (and signed no survivor set) refunds its
    // charge: wait for the sites' own trails to say so, then read their ledgers.
    const sitesWith = (action: string): number => SITES.filter((site) => roundEntries(join(siteDir(site), 'audit.jsonl'), roundId).some((entry) => entry.action === action)).length;
    for (const until = Date.now() + 20_000; sitesWith('privacy.refunded') < sitesWith('privacy.charged') && Date.now() < until; ) await new Promise((resolve) => setTimeout(resolve, 100));
    const budgets = await Promise.all(SITES.map((site) => runCli('fedval-agent', ['budget', '--config', join(deployment.dir, 'sites', site, 'site.yaml'), '--json'])));
    const ledgers = budgets.flatMap((budget) => (JSON.parse(budget.stdout) as { rounds: { round_id: string; refund: { reason: string } | null }[] }).rounds.filter((charge) => charge.round_id === roundId));
    expect(ledgers.length).toBeGreaterThan(0);
    expect(ledgers.filter((charge) => charge.refund === null)).toEqual([]);
  }, 120_000);
});
