// Securely aggregated rounds survive a coordinator restart (issue 17): one deployment (a real coordinator process, three
// real enrolled agents with the default policy, which requires secure aggregation, and the key holder in this process)
// in which the coordinator is killed with SIGKILL at every step of Bonawitz et al.'s protocol — keys relayed, shares
// relayed, a masked input stored, survivor set sent, unmasking requested, a reveal stored — and started again on its
// data directory while the agents keep running and reconnect. Each round completes: the exact study's release equals
// that of a round run without a kill, the private study's sites are each charged once, and each site sent its masked
// input once.
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
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
const AGENT_OPTIONS = { label: 'status' }; // the default policy: secure aggregation required
/** The coordinator's crash-point file (coordinator/src/test-fault.ts): a test writes a point into it to arm it. */
const FAULT_FILE = join(tmpdir(), `fedval-restart-secagg-fault-${randomUUID()}`);
/** How long a crash point may take to fire once armed (a round's step on a loaded 2-core machine). */
const FIRE_TIMEOUT_MS = 45_000;

describe('securely aggregated rounds survive a coordinator restart', () => {
  let deployment: Deployment;
  let files: string[];
  let exactStudy: string;
  let privateStudy: string;
  let baseline: unknown;
  const keys = (study: string): string => join(deployment.dir, `keys-${study}`);
  const siteDir = (site: string): string => join(deployment.dir, 'sites', site, 'state');
  const roundEntries = (path: string, roundId: string): AuditEntry[] => readAuditLog(path).entries.filter((entry) => entry.object === `round:${roundId}`);
  const coordinatorTrail = (roundId: string): AuditEntry[] => roundEntries(join(deployment.coordinatorDataDir, 'audit.jsonl'), roundId);
  const siteTrail = (site: string, roundId: string): AuditEntry[] => roundEntries(join(siteDir(site), 'audit.jsonl'), roundId);

  beforeAll(async () => {
    deployment = await startDeployment(SITES, { enrolledSites: SITES, restartable: true, coordinatorEnv: { FEDVAL_COORDINATOR_TEST_FAULT_FILE: FAULT_FILE } });
    const lines = gbsgScoreLines();
    files = SITES.map((site, i) => writeScoreFile(deployment.dir, site, lines.slice(i * ROWS, (i + 1) * ROWS)));
    await Promise.all(SITES.map((site, i) => deployment.startEnrolledAgent(site, files[i]!, AGENT_OPTIONS)));
    await waitForSites(deployment, SITES);
    exactStudy = await createKeyedStudy('masked exact');
    privateStudy = await createKeyedStudy('masked private', { privacy: { epsilon: 0.5, delta: 1e-6, expected_patients: SITES.length * ROWS, expected_prevalence: 0.44 } });
  }, 120_000);

  afterAll(async () => {
    await deployment?.stop();
    rmSync(FAULT_FILE, { force: true });
  });

  /** An encrypted study of the three sites, securely aggregated (the default), with its keys made by the key holder. */
  async function createKeyedStudy(name: string, extra: Record<string, unknown> = {}): Promise<string> {
    const study = await deployment.api('POST', '/api/studies', { name, score_column: 'score', metric_spec: { bins: 20, threshold: 0.3 }, sites: SITES, deadline_seconds: 300, ...extra });
    expect(study.status, JSON.stringify(study.body)).toBe(201);
    const id = study.body.study_id as string;
    expect((await deployment.api('GET', `/api/studies/${id}`)).body.secure_aggregation).toMatchObject({ scheme: 'bonawitz-double-mask' });
    await initKeys({ coordinator: deployment.url, study: id, out: keys(id), signingKey: deployment.keyHolderSigningKey, roster: deployment.writeRoster(SITES), token: deployment.apiTokens.privacy_officer });
    return id;
  }

  /** Resolves when the running coordinator exits; rejects, naming the point, if it does not within FIRE_TIMEOUT_MS. */
  function exitAt(point: string): Promise<void> {
    const coordinator = deployment.coordinator;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`crash point ${point} did not fire within ${FIRE_TIMEOUT_MS} ms`)), FIRE_TIMEOUT_MS);
      void once(coordinator, 'exit').then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Starts a round of `study` with the first of `points` armed; each time the coordinator kills itself there, arms the
   * next one and starts it again (a point fires once, and the next start runs with the next armed). The agents stay up
   * and reconnect. Returns the round id once it is closed.
   */
  async function roundKilledAt(study: string, points: string[]): Promise<string> {
    await waitForSites(deployment, SITES);
    writeFileSync(FAULT_FILE, points[0]!);
    let exited = exitAt(points[0]!);
    // Killed right after a step, the coordinator may die before it answers: the round is found in the study then.
    const started = await deployment.api('POST', `/api/studies/${study}/rounds`).catch(() => undefined);
    for (const [i, point] of points.entries()) {
      await exited;
      expect(deployment.coordinator.signalCode, point).toBe('SIGKILL');
      expect(existsSync(FAULT_FILE), point).toBe(false);
      const next = points[i + 1];
      if (next) writeFileSync(FAULT_FILE, next);
      await deployment.restartCoordinator();
      if (next) exited = exitAt(next);
    }
    const listed = await deployment.api<{ round_id: string }[]>('GET', `/api/studies/${study}/rounds`);
    const roundId = listed.body.at(-1)!.round_id;
    if (started) expect(started.body.round_id).toBe(roundId);
    expect(await waitForRoundClosed(deployment, roundId)).toMatchObject({ state: 'aggregated', contributions: 3 });
    return roundId;
  }

  /** The key holder releases the round (it verifies the transcript and unmasks the sum); every site is counted once. */
  async function released(study: string, roundId: string): Promise<unknown> {
    const closed = await waitForRoundClosed(deployment, roundId);
    expect(closed).toMatchObject({ state: 'aggregated', contributions: 3 });
    expect(closed.sites).toEqual(SITES.map((site) => ({ site_id: site, status: 'contributed' })));
    for (const site of SITES) expect(siteTrail(site, roundId).filter((entry) => entry.action === 'contribution.sent'), site).toHaveLength(1);
    const release = await decryptRound({ coordinator: deployment.url, round: roundId, keys: keys(study), token: deployment.apiTokens.privacy_officer });
    return JSON.parse(JSON.stringify(release.metrics));
  }

  /** The phase each resumption of the round found it in (the coordinator's `round.resumed` entries). */
  const resumedPhases = (roundId: string): unknown[] =>
    coordinatorTrail(roundId)
      .filter((entry) => entry.action === 'round.resumed')
      .map((entry) => (entry.details.secure_aggregation as { phase: string } | undefined)?.phase);

  it('without a kill: the exact study’s release, the reference for the killed rounds', async () => {
    const round = await deployment.api('POST', `/api/studies/${exactStudy}/rounds`);
    expect(round.status, JSON.stringify(round.body)).toBe(201);
    baseline = await released(exactStudy, round.body.round_id as string);
  }, 60_000);

  it('SIGKILL after the keys are relayed, after the shares are, after a masked input is stored and after the unmasking request: the same release', async () => {
    expect(baseline, 'the previous test left no reference release').toBeDefined();
    const roundId = await roundKilledAt(exactStudy, ['crash-after-secagg-keys', 'crash-after-secagg-inbox', 'crash-after-contribution', 'crash-after-secagg-unmask']);
    expect(resumedPhases(roundId)).toEqual(['share', 'input', 'input', 'unmask']);
    expect(await released(exactStudy, roundId)).toEqual(baseline);
  }, 120_000);

  it('SIGKILL after the survivor set is sent and after the first reveal is stored: released, and each site charged once, never refunded', async () => {
    const roundId = await roundKilledAt(privateStudy, ['crash-after-secagg-survivors', 'crash-after-secagg-reveal']);
    expect(resumedPhases(roundId)).toEqual(['consistency', 'unmask']);
    await released(privateStudy, roundId);
    // Read as `fedval-agent budget` reads them; each site's dataset id is the agent's default, `<site_id>:<data file name>`.
    for (const [i, site] of SITES.entries()) {
      const ledger = PrivacyLedger.open(siteDir(site));
      try {
        const charges = ledger.records(`${site}:${basename(files[i]!)}`).filter((charge) => charge.roundId === roundId);
        expect(charges, site).toHaveLength(1);
        expect(charges[0]).toMatchObject({ epsilon: expect.closeTo(0.5, 6), refund: null });
      } finally {
        ledger.close();
      }
    }
  }, 120_000);
});
