// End to end: the connection of a site drops at the worst moment — as its result leaves — and the round still
// completes with it. The coordinator sends the task again when the site reconnects; the agent re-sends the very same
// contribution (no second run, no second privacy charge), and every trail says so.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readAuditLog } from '@fedval/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeployment, waitForRoundClosed, waitForSites } from '../helpers/deployment.ts';
import type { Deployment } from '../helpers/deployment.ts';
import { gbsgScoreLines, writeScoreFile } from '../helpers/gbsg-scores.ts';
import { recordingRelay } from '../helpers/relay.ts';
import type { Relay } from '../helpers/relay.ts';
import { runCli } from '../helpers/run-cli.ts';

const SITES = ['site-0', 'site-1'];

describe('a site whose connection drops as its result leaves', () => {
  let deployment: Deployment;
  let relay: Relay;
  let siteConfigs: string[] = [];

  beforeAll(async () => {
    deployment = await startDeployment(SITES);
    const lines = gbsgScoreLines();
    const files = [lines.slice(0, 340), lines.slice(340)].map((part, i) => writeScoreFile(deployment.dir, `site-${i}`, part));
    relay = recordingRelay(deployment.wsUrl, { cutOnce: (message) => message.type === 'task.result' });
    // Two sites: their administrators accept a release minimum of 2 (the default policy.min_sites is 3).
    deployment.startAgent('site-0', files[0]!, { coordinatorUrl: await relay.url, label: 'status', policy: 'min_sites: 2' });
    deployment.startAgent('site-1', files[1]!, { label: 'status', policy: 'min_sites: 2' });
    siteConfigs = SITES.map((site) => join(deployment.dir, 'sites', site, 'site.yaml'));
    await waitForSites(deployment, SITES);
  }, 60_000);

  afterAll(async () => {
    await relay?.close();
    await deployment?.stop();
  });

  it('completes the round with the same contribution re-sent after reconnecting, charged once, and the trails agree', async () => {
    const study = await deployment.api('POST', '/api/studies', {
      name: 'flaky network',
      score_column: 'score',
      metric_spec: { bins: 50, threshold: 0.3 },
      sites: SITES,
      quorum: 2,
      contribution: 'plaintext',
      privacy: { epsilon: 1, delta: 1e-6, expected_patients: 680, expected_prevalence: 0.44 },
    });
    expect(study.status, JSON.stringify(study.body)).toBe(201);
    const round = await deployment.api('POST', `/api/studies/${study.body.study_id}/rounds`);
    const roundId = round.body.round_id as string;
    await relay.cut;
    const closed = await waitForRoundClosed(deployment, roundId);
    expect(closed).toMatchObject({ state: 'aggregated', contributions: 2 });
    expect(closed.sites).toEqual(expect.arrayContaining(SITES.map((site) => ({ site_id: site, status: 'contributed' }))));

    // site-0 sent one contribution, then re-sent it byte for byte; the coordinator received exactly that one.
    const siteTrail = readAuditLog(join(deployment.dir, 'sites', 'site-0', 'state', 'audit.jsonl')).entries.filter((e) => e.object === `round:${roundId}`);
    const sent = siteTrail.filter((e) => e.action === 'contribution.sent');
    const resent = siteTrail.filter((e) => e.action === 'contribution.resent');
    expect(sent).toHaveLength(1);
    expect(resent).toHaveLength(1);
    expect(resent[0]!.details.sha256).toBe(sent[0]!.details.sha256);
    expect(siteTrail.filter((e) => e.action === 'task.accepted')).toHaveLength(1); // the task ran once
    const resultFrames = relay.frames.filter((frame) => frame.includes(Buffer.from('task.result')));
    expect(resultFrames).toHaveLength(2);

    const coordinatorTrail = readAuditLog(join(deployment.coordinatorDataDir, 'audit.jsonl')).entries.filter((e) => e.object === `round:${roundId}`);
    const dispatched = coordinatorTrail.filter((e) => e.action === 'task.dispatched' && e.details.site === 'site-0');
    expect(dispatched.map((e) => e.details.again ?? false)).toEqual([false, true]);
    const received = coordinatorTrail.filter((e) => e.action === 'contribution.received' && e.details.site === 'site-0');
    expect(received.map((e) => e.details.sha256)).toEqual([sent[0]!.details.sha256]);

    // The site's ledger holds one charge for the round, and the auditor's cross-check finds nothing amiss.
    const budget = await runCli('fedval-agent', ['budget', '--config', siteConfigs[0]!, '--json']);
    expect(budget.code, budget.stderr).toBe(0);
    expect((JSON.parse(budget.stdout) as { rounds: { round_id: string; epsilon: number }[] }).rounds).toEqual([expect.objectContaining({ round_id: roundId, epsilon: expect.closeTo(1, 6) })]);
    const crossCheck = await runCli('fedval', [
      'audit', 'cross-check', '--coordinator-dir', deployment.coordinatorDataDir,
      ...SITES.flatMap((site) => ['--site', `${site}=${join(deployment.dir, 'sites', site, 'state')}`]),
      '--round', roundId,
    ]);
    expect(crossCheck.code, crossCheck.stdout + crossCheck.stderr).toBe(0);
    expect(readFileSync(siteConfigs[0]!, 'utf8')).toContain(await relay.url); // site-0 really went through the relay
  }, 120_000);
});
