// End to end, with a real coordinator, real agents and the real CLI: roles are enforced while an encrypted round
// completes, the coordinator's audit trail records it and cross-checks with the sites' trails, and an edit is caught.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gbsgScoreLines, writeScoreFile } from '../helpers/gbsg-scores.ts';
import { startDeployment, waitForRoundClosed, waitForSites } from '../helpers/deployment.ts';
import type { Deployment } from '../helpers/deployment.ts';
import { runCli } from '../helpers/run-cli.ts';

const SITES = ['site-0', 'site-1', 'site-2'];
const METRIC_SPEC = { bins: 50, threshold: 0.3 };

/** Three site files from GBSG (recurrence status) with a fixed score formula. */
function writeSiteFiles(dir: string): string[] {
  const lines = gbsgScoreLines();
  return [lines.slice(0, 230), lines.slice(230, 460), lines.slice(460)].map((part, i) => writeScoreFile(dir, `site-${i}`, part));
}

describe('access control and audit trails across a deployment', () => {
  let deployment: Deployment;
  const as = (role: keyof Deployment['apiTokens']) => ({ env: { FEDVAL_API_TOKEN: deployment.apiTokens[role] } });

  beforeAll(async () => {
    deployment = await startDeployment(SITES, { enrolledSites: SITES });
    const files = writeSiteFiles(deployment.dir);
    for (const [i, file] of files.entries()) await deployment.startEnrolledAgent(SITES[i]!, file, { label: 'status' });
    await waitForSites(deployment, SITES);
  }, 60_000);

  afterAll(async () => {
    await deployment?.stop();
  });

  it('refuses a sponsor the privacy officer\'s routes with 403 while the round completes and is released by the privacy officer', async () => {
    const study = await deployment.api('POST', '/api/studies', { name: 'roles', score_column: 'score', metric_spec: METRIC_SPEC, sites: SITES });
    expect(study.status).toBe(201);
    const studyId = study.body.study_id as string;
    const keys = join(deployment.dir, 'keys');

    // The sponsor cannot register the study key; the privacy officer can, through the CLI and its token.
    const sponsorKeys = await runCli('fedval', ['keys', 'init', '--coordinator', deployment.url, '--study', studyId, '--out', join(deployment.dir, 'sponsor-keys'), '--signing-key', deployment.keyHolderSigningKey, '--roster', deployment.writeRoster(SITES)], as('sponsor'));
    expect(sponsorKeys.code).toBe(1);
    expect(sponsorKeys.stderr).toContain('403 FEDVAL_ERR_COORD_FORBIDDEN');
    expect((await runCli('fedval', ['keys', 'init', '--coordinator', deployment.url, '--study', studyId, '--out', keys, '--signing-key', deployment.keyHolderSigningKey, '--roster', deployment.writeRoster(SITES)], as('privacy_officer'))).code).toBe(0);

    const round = await deployment.api('POST', `/api/studies/${studyId}/rounds`);
    expect(round.status).toBe(201);
    const roundId = round.body.round_id as string;
    expect((await waitForRoundClosed(deployment, roundId)).state).toBe('aggregated');

    // Neither the sponsor nor the auditor reads the encrypted aggregate or releases a result; no token at all is 401.
    for (const role of ['sponsor', 'auditor', 'site_admin'] as const) {
      const aggregate = await deployment.api('GET', `/api/rounds/${roundId}/aggregate`, undefined, role);
      expect(aggregate).toEqual({ status: 403, body: { error: { code: 'FEDVAL_ERR_COORD_FORBIDDEN', message: expect.any(String) } } });
      const contributions = await deployment.api('GET', `/api/rounds/${roundId}/contributions`, undefined, role);
      expect(contributions).toEqual({ status: 403, body: { error: { code: 'FEDVAL_ERR_COORD_FORBIDDEN', message: expect.any(String) } } });
      const release = await deployment.api('POST', `/api/rounds/${roundId}/release`, { metrics: { auc: 1 }, contributions: 3 }, role);
      expect(release.body.error.code).toBe('FEDVAL_ERR_COORD_FORBIDDEN');
    }
    expect((await deployment.api('GET', `/api/rounds/${roundId}/aggregate`, undefined, null)).body.error.code).toBe('FEDVAL_ERR_COORD_UNAUTHENTICATED');
    const sponsorDecrypt = await runCli('fedval', ['decrypt', '--coordinator', deployment.url, '--round', roundId, '--keys', keys], as('sponsor'));
    expect(sponsorDecrypt.code).toBe(1);
    expect(sponsorDecrypt.stderr).toContain('403 FEDVAL_ERR_COORD_FORBIDDEN');
    expect((await deployment.api('GET', `/api/rounds/${roundId}`)).body.release).toBe('awaiting_key_holder');

    const decrypted = await runCli('fedval', ['decrypt', '--coordinator', deployment.url, '--round', roundId, '--keys', keys, '--json'], as('privacy_officer'));
    expect(decrypted.code).toBe(0);
    const released = await deployment.api('GET', `/api/rounds/${roundId}`);
    expect(released.body).toMatchObject({ state: 'aggregated', release: 'released', contributions: 3 });

    // The auditor reads the coordinator's trail over REST: the refusals, the read of the aggregate and the release.
    const trail = await deployment.api('GET', '/api/audit?limit=1000', undefined, 'auditor');
    expect(trail.body.intact).toBe(true);
    const events = (trail.body.entries as { actor: string; action: string; object: string; reason: string | null }[]).map(
      (e) => `${e.actor} ${e.action} ${e.object} ${e.reason ?? ''}`.trim(),
    );
    expect(events).toEqual(
      expect.arrayContaining([
        `role:sponsor:sponsor api.denied route:PUT /api/studies/:id/public-key FEDVAL_ERR_COORD_FORBIDDEN`,
        `role:privacy_officer:privacy-officer public_key.registered study:${studyId}`,
        `role:sponsor:sponsor round.started round:${roundId}`,
        `role:sponsor:sponsor api.denied route:GET /api/rounds/:id/aggregate FEDVAL_ERR_COORD_FORBIDDEN`,
        `role:sponsor:sponsor api.denied route:POST /api/rounds/:id/release FEDVAL_ERR_COORD_FORBIDDEN`,
        `anonymous api.denied route:GET /api/rounds/:id/aggregate FEDVAL_ERR_COORD_UNAUTHENTICATED`,
        `role:privacy_officer:privacy-officer contributions.read round:${roundId}`,
        `role:privacy_officer:privacy-officer result.released round:${roundId}`,
      ]),
    );
    const raw = readFileSync(join(deployment.coordinatorDataDir, 'audit.jsonl'), 'utf8');
    for (const token of [...Object.values(deployment.apiTokens), ...deployment.tokens.values()]) expect(raw).not.toContain(token);

    // What each site logged as sent is what the coordinator logged as received.
    const sites = SITES.flatMap((site) => ['--site', `${site}=${join(deployment.dir, 'sites', site, 'state')}`]);
    const crossCheck = await runCli('fedval', ['audit', 'cross-check', '--coordinator-dir', deployment.coordinatorDataDir, ...sites, '--round', roundId]);
    expect(crossCheck.stdout).toContain(`round ${roundId}: the logs agree`);
    expect(crossCheck.code).toBe(0);

    // A privacy officer reads the round's story in plain lines: every trail, the key holder's included.
    const story = await runCli('fedval', ['audit', 'show', '--dir', deployment.coordinatorDataDir, '--round', roundId]);
    expect(story.code).toBe(0);
    const storyLines = story.stdout.trimEnd().split('\n');
    expect(storyLines[0]).toMatch(new RegExp(`^#\\d+ \\S+Z role:sponsor:sponsor round.started round:${roundId} .*sites=3 study=${studyId}$`));
    expect(storyLines.filter((line) => line.includes(' contribution.received '))).toHaveLength(3);
    expect(storyLines.every((line) => line.includes(roundId))).toBe(true);
    expect(story.stderr).toMatch(/intact, \d+ entries/);
    const keyHolderStory = await runCli('fedval', ['audit', 'show', '--dir', keys]);
    expect(keyHolderStory.stdout).toMatch(/key_holder:\S+ aggregate\.decrypted round:/);
  }, 180_000);

  it('detects an edited line of the coordinator\'s audit trail with `fedval audit verify`, naming the line', async () => {
    await deployment.stop();
    const file = join(deployment.coordinatorDataDir, 'audit.jsonl');
    expect((await runCli('fedval', ['audit', 'verify', '--dir', deployment.coordinatorDataDir])).code).toBe(0);
    const lines = readFileSync(file, 'utf8').split('\n');
    const target = lines.findIndex((line) => line.includes('"action":"result.released"'));
    expect(target).toBeGreaterThan(0);
    lines[target] = (lines[target] as string).replace('role:privacy_officer:privacy-officer', 'role:sponsor:sponsor');
    writeFileSync(file, lines.join('\n'));
    const verify = await runCli('fedval', ['audit', 'verify', '--dir', deployment.coordinatorDataDir, '--json']);
    expect(verify.code).toBe(1);
    const shown = await runCli('fedval', ['audit', 'show', '--dir', deployment.coordinatorDataDir]);
    expect(shown.code).toBe(1);
    expect(shown.stdout.trimEnd().split('\n')).toHaveLength(target); // the entries before the edited one, no more
    expect(shown.stderr).toContain(`BROKEN at line ${target + 1}`);
    expect(JSON.parse(verify.stdout).verification).toMatchObject({ ok: false, line: target + 1, seq: target + 1, reason: 'hash_mismatch' });
  }, 60_000);
});
