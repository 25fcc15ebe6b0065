// Attack: a study over two sites. Once its aggregate is released, each site subtracts its own numbers from the sum and
// reads the other's exactly. The coordinator refuses to create a study whose release needs fewer than 3 sites
// (limits.min_release_sites, default 3), and the key holder, by default, refuses to decrypt fewer than 3 contributions
// even where an operator lowered the coordinator's floor.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readAuditLog } from '@fedval/trust';
import { afterEach, describe, expect, it } from 'vitest';
import { startDeployment, waitForRoundClosed, waitForSites } from '../helpers/deployment.ts';
import type { Deployment } from '../helpers/deployment.ts';
import { DATA_DIR, runCli } from '../helpers/run-cli.ts';

const STUDY = { name: 'two sites', score_column: 'score', metric_spec: { bins: 20 } };
let deployment: Deployment | undefined;
afterEach(async () => {
  await deployment?.stop();
  deployment = undefined;
});

/** A site file from the bundled GBSG data with a fixed score formula: rows [from, to). */
function siteFile(dir: string, name: string, from: number, to: number): string {
  const lines = readFileSync(join(DATA_DIR, 'gbsg.csv'), 'utf8').trim().split('\n').slice(1 + from, 1 + to);
  const rows = lines.map((line) => {
    const [, age, , , grade, nodes, pgr, , , , status] = line.split(',').map((cell) => cell.replace(/"/g, ''));
    const z = -2 + 0.04 * Number(nodes) + 0.3 * Number(grade) - 0.002 * Number(pgr) + 0.01 * Number(age);
    return `${status},${(1 / (1 + Math.exp(-z))).toFixed(6)}`;
  });
  const path = join(dir, `${name}.csv`);
  writeFileSync(path, `status,score\n${rows.join('\n')}\n`);
  return path;
}

describe('a study over two sites', () => {
  it('is refused by the coordinator with its default floor, whatever release minimum it asks for', async () => {
    deployment = await startDeployment(['site-0', 'site-1', 'site-2'], { minReleaseSites: 3 });
    const twoSites = await deployment.api('POST', '/api/studies', { ...STUDY, sites: ['site-0', 'site-1'] });
    expect(twoSites).toMatchObject({ status: 400, body: { error: { code: 'FEDVAL_ERR_COORD_RELEASE_MINIMUM' } } });
    const lowered = await deployment.api('POST', '/api/studies', { ...STUDY, sites: ['site-0', 'site-1', 'site-2'], release: { min_sites: 2 } });
    expect(lowered).toMatchObject({ status: 400, body: { error: { code: 'FEDVAL_ERR_COORD_RELEASE_MINIMUM' } } });
    expect((await deployment.api('GET', '/api/studies')).body).toEqual([]);
    const threeSites = await deployment.api('POST', '/api/studies', { ...STUDY, sites: ['site-0', 'site-1', 'site-2'] });
    expect(threeSites).toMatchObject({ status: 201, body: { release: { min_sites: 3 } } });
  }, 60_000);

  it('is not decrypted by the key holder where the operator lowered the coordinator floor', async () => {
    deployment = await startDeployment(['site-0', 'site-1'], { minReleaseSites: 1, enrolledSites: ['site-0', 'site-1'] });
    // Enrolled sites on the key holder's roster whose administrators accept sums of 2 (policy.min_sites): their
    // contributions verify, so only the key holder's release minimum refuses them.
    await deployment.startEnrolledAgent('site-0', siteFile(deployment.dir, 'site-0', 0, 300), { label: 'status', policy: 'min_sites: 2' });
    await deployment.startEnrolledAgent('site-1', siteFile(deployment.dir, 'site-1', 300, 686), { label: 'status', policy: 'min_sites: 2' });
    await waitForSites(deployment, ['site-0', 'site-1']);
    const study = await deployment.api('POST', '/api/studies', { ...STUDY, sites: ['site-0', 'site-1'] });
    expect(study.status).toBe(201);
    const keys = join(deployment.dir, 'keys');
    const keyHolder = { env: { FEDVAL_API_TOKEN: deployment.apiTokens.privacy_officer } };
    const init = ['keys', 'init', '--coordinator', deployment.url, '--study', study.body.study_id, '--out', keys, '--signing-key', deployment.keyHolderSigningKey, '--roster', deployment.writeRoster(['site-0', 'site-1'])];
    // The privacy officer's own minimum (--min-sites, default 3) refuses the study's lowered one before any key is made.
    const lowered = await runCli('fedval', init, keyHolder);
    expect(lowered.code).toBe(1);
    expect(lowered.stderr).toContain('FEDVAL_ERR_CLI_RELEASE_POLICY');
    // A privacy officer who accepts 2 when the keys are made still gets no decryption below the decrypt default of 3.
    expect((await runCli('fedval', [...init, '--min-sites', '2'], keyHolder)).code).toBe(0);
    const round = await deployment.api('POST', `/api/studies/${study.body.study_id}/rounds`);
    expect((await waitForRoundClosed(deployment, round.body.round_id)).state).toBe('aggregated');
    const refused = await runCli('fedval', ['decrypt', '--coordinator', deployment.url, '--round', round.body.round_id, '--keys', keys], keyHolder);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('FEDVAL_ERR_CLI_RELEASE_POLICY');
    expect(readAuditLog(join(keys, 'audit.jsonl')).entries.map((entry) => entry.action)).toEqual(['keys.created', 'roster.pinned', 'decryption.refused']);
    expect((await deployment.api('GET', `/api/rounds/${round.body.round_id}`)).body.release).toBe('awaiting_key_holder');
  }, 120_000);
});
