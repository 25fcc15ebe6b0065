// A study run end to end with the `fedval` commands alone, against real processes: the sponsor registers the example
// model bundle, creates the study and starts the round; the key holder registers its key and releases the result;
// every `--json` document is parsed with the REST schemas of @fedval/protocol.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { modelListResponseSchema, modelRegisteredResponseSchema, roundListResponseSchema, roundViewSchema, siteListResponseSchema, studyListResponseSchema, studyViewSchema } from '@fedval/protocol';
import { verifyManifestSignature } from '@fedval/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeployment, waitForSites } from '../helpers/deployment.ts';
import type { Deployment } from '../helpers/deployment.ts';
import { REPO_ROOT, runCli } from '../helpers/run-cli.ts';

const SITES = ['site-a', 'site-b', 'site-c'];
const MODEL_DIR = join(REPO_ROOT, 'examples/rotterdam/model');
const DATA = (site: string) => join(REPO_ROOT, `examples/rotterdam/data/${site}.csv`);
/** The metric options of the study, and of eval-local on the pooled data. */
const METRIC_OPTIONS = ['--bins', '100', '--threshold', '0.3'];

describe('the sponsor and key holder run a study with fedval commands', () => {
  let deployment: Deployment;
  const as = (role: 'sponsor' | 'privacy_officer' | 'admin') => ({ env: { FEDVAL_API_TOKEN: deployment.apiTokens[role], FEDVAL_COORDINATOR: deployment.url } });
  /** Runs `fedval ARGS --json` as `role` and returns its one JSON document. */
  const json = async (role: 'sponsor' | 'privacy_officer' | 'admin', args: string[]): Promise<unknown> => {
    const run = await runCli('fedval', [...args, '--json'], as(role));
    expect(run.code, `fedval ${args.join(' ')}\n${run.stderr}`).toBe(0);
    return JSON.parse(run.stdout);
  };

  beforeAll(async () => {
    deployment = await startDeployment(SITES, { enrolledSites: SITES });
    // The sites trust the example sponsor's key (its fingerprint read out of band: here, from the signed manifest).
    const sponsorKey = verifyManifestSignature(JSON.parse(readFileSync(join(MODEL_DIR, 'manifest.json'), 'utf8')));
    for (const site of SITES) await deployment.startEnrolledAgent(site, DATA(site), { policy: `model_approval: allow_list, trusted_sponsor_keys: [${sponsorKey}]` });
    await waitForSites(deployment, SITES);
  }, 60_000);

  afterAll(async () => {
    await deployment?.stop();
  });

  it('registers the model, creates the study, runs the round and reads the released result; exact release equals eval-local pooled', async () => {
    // models register DIR: the body is built from the directory; the model id is the SHA-256 of manifest.json.
    const registered = await json('sponsor', ['models', 'register', MODEL_DIR]);
    const { created, ...registeredView } = registered as { created: unknown };
    const model = modelRegisteredResponseSchema.parse(registeredView);
    expect(created).toBe(true);
    expect(model.model_id).toBe(createHash('sha256').update(readFileSync(join(MODEL_DIR, 'manifest.json'))).digest('hex'));
    expect(((await json('sponsor', ['models', 'register', MODEL_DIR])) as { created: unknown }).created).toBe(false);
    expect(modelListResponseSchema.parse(await json('sponsor', ['models', 'list'])).map((listed) => listed.model_id)).toEqual([model.model_id]);

    // sites list: connected, each with the fingerprint of the key it enrolled (as the site read it out at enrollment).
    const sites = siteListResponseSchema.parse(await json('sponsor', ['sites', 'list']));
    expect(sites.map((site) => [site.site_id, site.connected, site.key_fingerprint])).toEqual(SITES.map((site) => [site, true, deployment.fingerprints.get(site)]));

    const study = studyViewSchema.parse(
      await json('sponsor', ['studies', 'create', '--name', 'rotterdam model at three sites', '--model', model.model_id, '--site', ...SITES, '--group', 'meno=0,1', ...METRIC_OPTIONS, '--no-dp']),
    );
    expect(study).toMatchObject({ model_id: model.model_id, sites: SITES, quorum: 3, contribution: 'bfv', privacy: null, public_key_registered: false });
    expect(studyListResponseSchema.parse(await json('sponsor', ['studies', 'list'])).map((listed) => listed.study_id)).toContain(study.study_id);

    // The key holder creates the study's key pair and registers the public key (existing commands).
    const keys = join(deployment.dir, 'key-holder');
    expect((await runCli('fedval', ['keys', 'init', '--coordinator', deployment.url, '--study', study.study_id, '--out', keys, '--signing-key', deployment.keyHolderSigningKey, '--roster', deployment.writeRoster(SITES)], as('privacy_officer'))).code).toBe(0);
    const shownBefore = (await json('sponsor', ['studies', 'show', study.study_id])) as { study: unknown; rounds: unknown };
    expect(studyViewSchema.parse(shownBefore.study).public_key_registered).toBe(true);
    expect(roundListResponseSchema.parse(shownBefore.rounds)).toEqual([]);

    // rounds start --wait: progress on stderr, the closed round on stdout.
    const started = await runCli('fedval', ['rounds', 'start', study.study_id, '--wait', '--json'], { ...as('sponsor'), timeoutMs: 180_000 });
    expect(started.code, started.stderr).toBe(0);
    const closed = roundViewSchema.parse(JSON.parse(started.stdout));
    expect(closed).toMatchObject({ study_id: study.study_id, state: 'aggregated', contributions: 3, release: 'awaiting_key_holder' });

    const decrypted = await runCli('fedval', ['decrypt', '--coordinator', deployment.url, '--round', closed.round_id, '--keys', keys, '--json'], as('privacy_officer'));
    expect(decrypted.code, decrypted.stderr).toBe(0);

    const released = roundViewSchema.parse(await json('sponsor', ['rounds', 'show', closed.round_id]));
    expect(released.release).toBe('released');
    expect(released.result).toMatchObject({ contributions: 3, sites: SITES });
    // Federated without DP equals the same metrics computed locally on the three files put together.
    const [first, ...others] = SITES.map((site) => readFileSync(DATA(site), 'utf8').trimEnd().split('\n'));
    const pooled = join(deployment.dir, 'pooled.csv');
    writeFileSync(pooled, `${[...first!, ...others.flatMap((lines) => lines.slice(1))].join('\n')}\n`);
    const local = await runCli('fedval-agent', ['eval-local', '--data', pooled, '--label', 'event5y', '--model', MODEL_DIR, '--group', 'meno', ...METRIC_OPTIONS, '--json']);
    expect(local.code, local.stderr).toBe(0);
    const localMetrics = (JSON.parse(local.stdout) as { metrics: Record<string, unknown> }).metrics;
    expect(released.result!.metrics).toEqual(localMetrics);
    expect(localMetrics.n).toBeGreaterThan(2000);

    // The study lists its round.
    const shownAfter = (await json('sponsor', ['studies', 'show', study.study_id])) as { rounds: unknown };
    expect(roundListResponseSchema.parse(shownAfter.rounds).map((round) => round.round_id)).toEqual([closed.round_id]);
    const shown = await runCli('fedval', ['studies', 'show', study.study_id], as('sponsor'));
    expect(shown.stdout).toContain(`round ${closed.round_id} aggregated: 3 contributed, 0 refused, 0 pending`);
  }, 300_000);

  it('prints privacy figures rounded for people and in full precision with --json, and shows progress while it waits', async () => {
    const models = modelListResponseSchema.parse(await json('sponsor', ['models', 'list']));
    const study = studyViewSchema.parse(
      await json('sponsor', ['studies', 'create', '--model', models[0]!.model_id, '--site', ...SITES, ...METRIC_OPTIONS, '--epsilon', '1', '--expected-patients', '2500']),
    );
    expect(study.privacy).toMatchObject({ epsilon: 1 });
    const keys = join(deployment.dir, 'key-holder-dp');
    expect((await runCli('fedval', ['keys', 'init', '--coordinator', deployment.url, '--study', study.study_id, '--out', keys, '--signing-key', deployment.keyHolderSigningKey, '--roster', deployment.writeRoster(SITES)], as('privacy_officer'))).code).toBe(0);

    // Human output: progress lines on stderr while waiting, the round on stdout.
    const started = await runCli('fedval', ['rounds', 'start', study.study_id, '--wait'], { ...as('sponsor'), timeoutMs: 180_000 });
    expect(started.code, started.stderr).toBe(0);
    expect(started.stderr).toMatch(/^round \S+ (dispatched|collecting|aggregated): \d contributed, \d refused, \d pending$/m);
    expect(started.stderr).toContain('aggregated: 3 contributed, 0 refused, 0 pending');
    const roundId = /^round (\S+) of study/m.exec(started.stderr)![1]!;
    expect((await runCli('fedval', ['decrypt', '--coordinator', deployment.url, '--round', roundId, '--keys', keys], as('privacy_officer'))).code).toBe(0);

    const round = roundViewSchema.parse(await json('privacy_officer', ['rounds', 'show', roundId]));
    const dp = round.result!.privacy!.dp as { epsilon: number; delta: number };
    expect(dp.epsilon).toBeGreaterThan(0.9);
    expect(dp.epsilon).toBeLessThanOrEqual(1);
    const human = await runCli('fedval', ['rounds', 'show', roundId], as('privacy_officer'));
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`ε ${dp.epsilon.toFixed(2)}, δ ${dp.delta.toExponential(1)} per round`);
    // Full precision only in --json: the human text never prints ε's raw digits (e.g. 0.9999999976718346).
    if (String(dp.epsilon).length > 4) expect(human.stdout).not.toContain(String(dp.epsilon));
    // A failed or unknown round id is a coded error, not a stack trace.
    const unknown = await runCli('fedval', ['rounds', 'wait', '00000000-0000-4000-8000-000000000000'], as('sponsor'));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^fedval: FEDVAL_ERR_CLI_API: .*404 FEDVAL_ERR_COORD_ROUND_NOT_FOUND/);
  }, 300_000);
});
