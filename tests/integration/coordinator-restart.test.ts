// Rounds survive a coordinator restart (issue 17): one deployment (a real coordinator process, three real enrolled agents,
// the key holder in this process) in which the coordinator is killed with SIGKILL at each step of an encrypted,
// differentially private round, or stopped with SIGTERM mid-round, and started again on its data directory while the
// agents keep running and reconnect. Each round completes with every site counted once, each site charged once, and a
// release equal to the one the sites' own kept contributions give. Securely aggregated rounds: coordinator-restart-secagg.test.ts.
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { createRelease, finalizeRelease } from '@fedval/dp';
import { createHeContext, decryptVector, EncryptedSum, validateBfvPlan } from '@fedval/he';
import { createStatisticsLayout, resolveMetricSpecInput } from '@fedval/metrics';
import { decodeMessage } from '@fedval/protocol';
import { readAuditLog } from '@fedval/trust';
import type { AuditEntry } from '@fedval/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptRound, initKeys } from '../../packages/cli/src/key-holder.ts';
import { PrivacyLedger } from '../../site-agent/src/privacy-ledger.ts';
import { startDeployment, waitForRoundClosed, waitForSites } from '../helpers/deployment.ts';
import type { Deployment } from '../helpers/deployment.ts';
import { gbsgScoreLines, writeScoreFile } from '../helpers/gbsg-scores.ts';

const SITES = ['site-1', 'site-2', 'site-3'];
const ROWS = 100; // per site
const AGENT_OPTIONS = { label: 'status', policy: 'require_secure_aggregation: false' };
/** The coordinator's crash-point file (coordinator/src/test-fault.ts): a test writes a point into it to arm it. */
const FAULT_FILE = join(tmpdir(), `fedval-restart-fault-${randomUUID()}`);

describe('rounds survive a coordinator restart', () => {
  let deployment: Deployment;
  let files: string[];
  let studyId: string;
  const keys = (study: string): string => join(deployment.dir, `keys-${study}`);
  const released: string[] = [];
  let aggregatedBeforeKill: string;
  const siteDir = (site: string): string => join(deployment.dir, 'sites', site, 'state');
  const roundEntries = (path: string, roundId: string): AuditEntry[] => readAuditLog(path).entries.filter((entry) => entry.object === `round:${roundId}`);
  const coordinatorTrail = (roundId: string): AuditEntry[] => roundEntries(join(deployment.coordinatorDataDir, 'audit.jsonl'), roundId);
  /** The sites the coordinator sent a round's task to after it resumed the round. */
  const askedAgain = (roundId: string): string[] => {
    const trail = coordinatorTrail(roundId);
    const resumedAt = trail.find((entry) => entry.action === 'round.resumed')!.seq;
    return trail.filter((entry) => entry.seq > resumedAt && entry.action === 'task.dispatched').map((entry) => entry.details.site as string);
  };
  const poll = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 100));

  beforeAll(async () => {
    deployment = await startDeployment(SITES, { enrolledSites: SITES, restartable: true, coordinatorEnv: { FEDVAL_COORDINATOR_TEST_FAULT_FILE: FAULT_FILE } });
    const lines = gbsgScoreLines();
    files = SITES.map((site, i) => writeScoreFile(deployment.dir, site, lines.slice(i * ROWS, (i + 1) * ROWS)));
    // site-3 is enrolled (the key holder's roster needs its key) but first started by the SIGTERM test, which needs it offline.
    await Promise.all([deployment.startEnrolledAgent('site-1', files[0]!, AGENT_OPTIONS), deployment.startEnrolledAgent('site-2', files[1]!, AGENT_OPTIONS), deployment.enrollAgent('site-3', files[2]!, AGENT_OPTIONS)]);
    await waitForSites(deployment, ['site-1', 'site-2']);
    studyId = await createKeyedStudy('restarts', { secure_aggregation: false });
  }, 120_000);

  afterAll(async () => {
    await deployment?.stop();
    rmSync(FAULT_FILE, { force: true });
  });

  /**
   * An encrypted study of the three sites, ε = 0.5 per round, with its keys made by the key holder in keys(study). The
   * key holder runs in this process, through the functions `fedval keys init` and `fedval decrypt` call.
   */
  async function createKeyedStudy(name: string, extra: Record<string, unknown> = {}): Promise<string> {
    const privacy = { epsilon: 0.5, delta: 1e-6, expected_patients: SITES.length * ROWS, expected_prevalence: 0.44 };
    const study = await deployment.api('POST', '/api/studies', { name, score_column: 'score', metric_spec: { bins: 20, threshold: 0.3 }, sites: SITES, deadline_seconds: 300, privacy, ...extra });
    expect(study.status, JSON.stringify(study.body)).toBe(201);
    const id = study.body.study_id as string;
    await initKeys({ coordinator: deployment.url, study: id, out: keys(id), signingKey: deployment.keyHolderSigningKey, roster: deployment.writeRoster(SITES), token: deployment.apiTokens.privacy_officer });
    return id;
  }

  /**
   * Arms `point` on the running coordinator, starts a round, waits for the coordinator to kill itself there and starts it
   * again (unarmed: the point fires once). The agents stay up and reconnect.
   */
  async function roundCutAt(point: string, study = studyId): Promise<string> {
    await waitForSites(deployment, SITES);
    writeFileSync(FAULT_FILE, point);
    const exited = once(deployment.coordinator, 'exit');
    // Killed right after dispatch, the coordinator may die before it answers: the round is found in the study then.
    const started = await deployment.api('POST', `/api/studies/${study}/rounds`).catch(() => undefined);
    await exited;
    expect(deployment.coordinator.signalCode).toBe('SIGKILL');
    expect(existsSync(FAULT_FILE)).toBe(false);
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
  async function releasedExactly(roundId: string): Promise<void> {
    released.push(roundId);
    const closed = await waitForRoundClosed(deployment, roundId);
    expect(closed).toMatchObject({ state: 'aggregated', contributions: 3 });
    expect(closed.sites).toEqual(SITES.map((site) => ({ site_id: site, status: 'contributed' })));
    const release = await decryptRound({ coordinator: deployment.url, round: roundId, keys: keys(studyId), token: deployment.apiTokens.privacy_officer });

    const sent = SITES.map((site) => roundEntries(join(siteDir(site), 'audit.jsonl'), roundId).filter((entry) => entry.action === 'contribution.sent'));
    for (const entries of sent) expect(entries).toHaveLength(1); // each site ran the task once
    const used = readFileSync(join(keys(studyId), 'used-records.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { site_id: string; round_id: string; contribution_sha256: string });
    expect(used.filter((record) => record.round_id === roundId).map((record) => [record.site_id, record.contribution_sha256]).sort()).toEqual(
      SITES.map((site, i) => [site, sent[i]![0]!.details.sha256]),
    );

    const plan = validateBfvPlan(JSON.parse(readFileSync(join(keys(studyId), 'plan.json'), 'utf8')));
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
      const expected = createRelease(createStatisticsLayout(resolveMetricSpecInput(study.body.metric_spec)), study.body.privacy);
      const vector = decryptVector(context, new Uint8Array(readFileSync(join(keys(studyId), 'secret.key'))), sum.toEncryptedVector(), SITES.length);
      expect(JSON.parse(JSON.stringify(release.metrics))).toEqual(JSON.parse(JSON.stringify(finalizeRelease(expected, vector, SITES.length).metrics)));
    } finally {
      context.dispose();
    }
  }

  it('SIGTERM with a site offline: the round stays open and completes when the site connects', async () => {
    const round = await deployment.api('POST', `/api/studies/${studyId}/rounds`);
    const roundId = round.body.round_id as string;
    const contributed = async (): Promise<number> => (await deployment.api('GET', `/api/rounds/${roundId}`)).body.sites.filter((site: { status: string }) => site.status === 'contributed').length;
    while ((await contributed()) < 2) await poll();
    await deployment.restartCoordinator({ signal: 'SIGTERM' });
    expect((await deployment.api('GET', `/api/rounds/${roundId}`)).body.state).toBe('collecting');
    expect(coordinatorTrail(roundId).filter((entry) => entry.action === 'round.resumed')).toHaveLength(1);
    await deployment.startEnrolledAgent('site-3', files[2]!, AGENT_OPTIONS);
    await releasedExactly(roundId);
  }, 60_000);

  it('SIGKILL after every contribution is stored, before the aggregate is: nobody is asked again, the round closes on the next start', async () => {
    const roundId = await roundCutAt('crash-before-close');
    expect(askedAgain(roundId)).toEqual([]);
    expect(await waitForRoundClosed(deployment, roundId)).toMatchObject({ state: 'aggregated' });
    aggregatedBeforeKill = roundId; // released after the next kill
  }, 60_000);

  it('SIGKILL right after dispatch: the sites get the task again and answer it once; the round aggregated before this kill is released after it', async () => {
    expect(aggregatedBeforeKill, 'the previous test left no aggregated round').toBeDefined();
    await releasedExactly(await roundCutAt('crash-after-dispatch'));
    await releasedExactly(aggregatedBeforeKill);
  }, 60_000);

  it('SIGKILL after the first contribution is stored: that site is not asked again, the others re-send', async () => {
    const roundId = await roundCutAt('crash-after-contribution');
    const first = coordinatorTrail(roundId).find((entry) => entry.action === 'contribution.received')!.details.site as string;
    expect(askedAgain(roundId)).not.toContain(first);
    expect(roundEntries(join(siteDir(first), 'audit.jsonl'), roundId).filter((entry) => entry.action === 'contribution.resent')).toEqual([]);
    await releasedExactly(roundId);
  }, 60_000);

  it("each site's own ledger: charged once per released round", async () => {
    expect(released).toHaveLength(4);
    // Read as `fedval-agent budget` reads them, in this process; each site's dataset id is the agent's default,
    // `<site_id>:<data file name>` (site-agent README, privacy.dataset_id).
    const ledgers = SITES.map((site, i) => {
      const ledger = PrivacyLedger.open(siteDir(site));
      try {
        return ledger.records(`${site}:${basename(files[i]!)}`);
      } finally {
        ledger.close();
      }
    });
    for (const records of ledgers) {
      const charged = records.filter((charge) => charge.studyId === studyId);
      expect(charged.map((charge) => charge.roundId).sort()).toEqual([...released].sort());
      for (const charge of charged) expect(charge).toMatchObject({ epsilon: expect.closeTo(0.5, 6), refund: null });
    }
  }, 60_000);
});
