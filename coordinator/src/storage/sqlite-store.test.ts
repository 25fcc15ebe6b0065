import { resolvePrivacySpec } from '@fedval/dp';
import { planBfvParameters } from '@fedval/he';
import { createStatisticsLayout, resolveMetricSpec } from '@fedval/metrics';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CoordinatorError } from '../errors.ts';
import { DATABASE_FILE, openSqliteStore } from './sqlite-store.ts';
import type { ModelRecord, RoundSiteRecord, StudyRecord } from './store.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fedval-coord-store-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const model: ModelRecord = {
  id: 'f'.repeat(64),
  name: 'toy',
  version: '1',
  format: 'tfjs',
  manifestJson: '{"name":"toy"}',
  files: [{ path: 'model.json', sha256: 'e'.repeat(64), bytes: 12 }],
  createdAt: 1,
};
const study: StudyRecord = {
  id: 'study-1',
  name: 'External validation',
  modelId: model.id,
  scoreColumn: null,
  metricSpec: resolveMetricSpec({ task: 'binary', bins: 100 }),
  sites: ['a', 'b', 'c'],
  quorum: 2,
  deadlineSeconds: 60,
  contribution: 'plaintext',
      protection: { minSites: 1, maxPatientsPerSite: 1000, encryption: null, privacy: null },
      publicKey: null,
      keyStatement: null,
  createdAt: 2,
};
const pendingSites = (ids: string[], at: number): RoundSiteRecord[] =>
  ids.map((siteId) => ({ siteId, status: 'pending', code: null, contributionBytes: null, contributionSha256: null, updatedAt: at }));

describe('SqliteCoordinatorStore', () => {
  it('round-trips models, studies, rounds, per-site status and the closed round', async () => {
    const store = openSqliteStore(dir);
    expect(await store.putModel(model)).toBe(true);
    expect(await store.putModel(model)).toBe(false);
    expect(await store.getModel(model.id)).toEqual(model);
    expect(await store.getModel('0'.repeat(64))).toBeUndefined();
    await store.createStudy(study);
    expect(await store.getStudy(study.id)).toEqual(study);

    await store.createRound({ id: 'round-1', studyId: study.id, state: 'dispatched', createdAt: 10, deadlineAt: 70, sites: pendingSites(study.sites, 10) });
    await store.setRoundState('round-1', 'collecting', 11);
    await store.updateRoundSite('round-1', 'a', { status: 'contributed', contributionBytes: 800, contributionSha256: 'd'.repeat(64) }, 12);
    await store.updateRoundSite('round-1', 'b', { status: 'refused', code: 'FEDVAL_ERR_AGENT_POLICY_TASK' }, 13);
    const aggregate = Float64Array.of(3, -1, 2 ** 52);
    const result = { metrics: { auc: 0.75 }, contributions: 2, sites: ['a', 'c'] };
    await store.closeRound('round-1', { state: 'aggregated', reason: null, closedAt: 20, contributions: 2, aggregate, result });

    const round = await store.getRound('round-1');
    expect(round).toEqual({
      id: 'round-1',
      studyId: study.id,
      state: 'aggregated',
      reason: null,
      createdAt: 10,
      deadlineAt: 70,
      closedAt: 20,
      contributions: 2,
      result,
      sites: [
        { siteId: 'a', status: 'contributed', code: null, contributionBytes: 800, contributionSha256: 'd'.repeat(64), updatedAt: 12 },
        { siteId: 'b', status: 'refused', code: 'FEDVAL_ERR_AGENT_POLICY_TASK', contributionBytes: null, contributionSha256: null, updatedAt: 13 },
        { siteId: 'c', status: 'pending', code: null, contributionBytes: null, contributionSha256: null, updatedAt: 10 },
      ],
    });
    expect([...((await store.getRoundAggregate('round-1')) ?? [])]).toEqual([3, -1, 2 ** 52]);

    await store.recordSiteSeen('a', 100);
    await store.recordSiteSeen('a', 150);
    expect(await store.siteLastSeen()).toEqual(new Map([['a', 150]]));
    await store.close();
  });

  it('lists the rounds a crash left open on the next start, fails them with the given reason, and keeps closed ones', async () => {
    const first = openSqliteStore(dir);
    await first.createStudy({ ...study, modelId: null, scoreColumn: 'score' });
    await first.createRound({ id: 'open-1', studyId: study.id, state: 'dispatched', createdAt: 1, deadlineAt: 9, sites: pendingSites(['a'], 1) });
    await first.createRound({ id: 'open-2', studyId: study.id, state: 'dispatched', createdAt: 1, deadlineAt: 9, sites: pendingSites(['a'], 1) });
    await first.setRoundState('open-2', 'collecting', 2);
    await first.createRound({ id: 'done', studyId: study.id, state: 'dispatched', createdAt: 1, deadlineAt: 9, sites: pendingSites(['a'], 1) });
    await first.closeRound('done', { state: 'failed', reason: 'quorum_not_met', closedAt: 3, contributions: 0, aggregate: null, result: null });
    // No close(): the process "crashed" with the WAL not checkpointed.

    const second = openSqliteStore(dir);
    // What a restart resumes: the open rounds with their sites, oldest first; not the closed one.
    expect((await second.listOpenRounds()).map((round) => [round.id, round.state, round.sites.map((site) => site.siteId)])).toEqual([
      ['open-1', 'dispatched', ['a']],
      ['open-2', 'collecting', ['a']],
    ]);
    expect(await second.failOpenRounds('coordinator_restarted', 50)).toBe(2);
    for (const id of ['open-1', 'open-2']) {
      expect(await second.getRound(id)).toMatchObject({ state: 'failed', reason: 'coordinator_restarted', closedAt: 50 });
    }
    expect(await second.getRound('done')).toMatchObject({ state: 'failed', reason: 'quorum_not_met', closedAt: 3 });
    expect(await second.failOpenRounds('coordinator_restarted', 60)).toBe(0);
    expect(await second.listOpenRounds()).toEqual([]);
    await second.close();
    await first.close();
  });

  it('migrates with PRAGMA user_version, uses WAL, and refuses a database from a newer coordinator', async () => {
    const store = openSqliteStore(dir);
    await store.close();
    const db = new DatabaseSync(join(dir, DATABASE_FILE));
    expect(db.prepare('PRAGMA user_version').get()).toEqual({ user_version: 6 });
    expect(db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    const columns = (db.prepare('SELECT name FROM pragma_table_info(?)').all('round_sites') as { name: string }[]).map((c) => c.name);
    expect(columns).toEqual(['round_id', 'site_id', 'status', 'code', 'contribution_bytes', 'contribution_sha256', 'updated_at', 'privacy_json']);
    const studyColumns = (db.prepare('SELECT name FROM pragma_table_info(?)').all('studies') as { name: string }[]).map((c) => c.name);
    expect(studyColumns).toContain('key_statement_json');
    db.exec('PRAGMA user_version = 99');
    db.close();
    let error: unknown;
    try {
      openSqliteStore(dir);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(CoordinatorError);
    expect((error as CoordinatorError).code).toBe('FEDVAL_ERR_COORD_STORAGE_VERSION');
  });

  it('keeps each bfv contribution with its signed record across a restart, one per site and round (the same bytes again are a no-op), in arrival order', async () => {
    const first = openSqliteStore(dir);
    await first.createStudy({ ...study, modelId: null, scoreColumn: 'score' });
    await first.createRound({ id: 'r', studyId: study.id, state: 'dispatched', createdAt: 1, deadlineAt: 2, sites: pendingSites(['a', 'b'], 1) });
    const record = { study_id: study.id, round_id: 'r', site_id: 'b', contribution_sha256: 'c'.repeat(64), nonce: 'n'.repeat(44), sent_at: 5, attestation_sha256: null, signature_base64: 's'.repeat(88) };
    const kept = [
      { roundId: 'r', siteId: 'b', ciphertexts: [new Uint8Array([1, 2, 3]), new Uint8Array([]), new Uint8Array([9])], record, attestation: { dataset_commitment: 'd'.repeat(64), audit_head: { seq: 4, hash: 'e'.repeat(64) } }, publicKey: 'k'.repeat(44), receivedAt: 6 },
      { roundId: 'r', siteId: 'a', ciphertexts: [new Uint8Array([7])], record: null, attestation: null, publicKey: null, receivedAt: 7 },
    ];
    for (const contribution of kept) await first.putRoundContribution(contribution);
    // The same ciphertexts again (a site re-sending after a restart) change nothing; other ciphertexts are refused.
    await first.putRoundContribution({ ...kept[0]!, receivedAt: 99 });
    await expect(first.putRoundContribution({ ...kept[0]!, ciphertexts: [new Uint8Array([0])] })).rejects.toMatchObject({ code: 'FEDVAL_ERR_COORD_DUPLICATE_CONTRIBUTION' });
    await first.close();
    const second = openSqliteStore(dir);
    expect(await second.listRoundContributions('r')).toEqual(kept);
    expect(await second.listRoundContributions('other')).toEqual([]);
    await second.close();
  });

  it('rolls back a multi-row round insert that fails part-way', async () => {
    const store = openSqliteStore(dir);
    await store.createStudy({ ...study, modelId: null, scoreColumn: 'score' });
    const duplicateSites = pendingSites(['a', 'a'], 1);
    await expect(store.createRound({ id: 'r', studyId: study.id, state: 'dispatched', createdAt: 1, deadlineAt: 2, sites: duplicateSites })).rejects.toMatchObject({
      code: 'FEDVAL_ERR_COORD_STORAGE',
    });
    expect(await store.getRound('r')).toBeUndefined();
    await store.close();
  });

  it('parses every JSON column with the schema of the package that owns it: a tampered document is refused, never cast', async () => {
    const own = mkdtempSync(join(tmpdir(), 'fedval-store-columns-'));
    try {
      const layout = createStatisticsLayout(study.metricSpec);
      const encryption = planBfvParameters({ vectorLength: layout.length, maxSites: 3, maxAbsPerSite: 1000 });
      const privacy = resolvePrivacySpec({ epsilon: 1, delta: 1e-6, minSites: 2, layout: { kind: 'flat', bins: 20 } }, { layout });
      const store = openSqliteStore(own);
      await store.createStudy({ ...study, modelId: null, scoreColumn: 'score', contribution: 'bfv', protection: { minSites: 2, maxPatientsPerSite: 1000, encryption, privacy } });
      const back = await store.getStudy(study.id);
      expect(back?.protection.encryption).toEqual(encryption);
      expect(back?.protection.privacy).toEqual(privacy);
      expect(back?.metricSpec).toEqual(study.metricSpec);
      await store.close();

      const db = new DatabaseSync(join(own, DATABASE_FILE));
      db.prepare('UPDATE studies SET metric_spec_json = ? WHERE id = ?').run(JSON.stringify({ ...study.metricSpec, bins: 7 }), study.id);
      db.close();
      const reopened = openSqliteStore(own);
      await expect(reopened.getStudy(study.id)).rejects.toMatchObject({ code: 'FEDVAL_ERR_COORD_STORAGE' });
      await reopened.close();

      const again = new DatabaseSync(join(own, DATABASE_FILE));
      again.prepare('UPDATE studies SET metric_spec_json = ?, protection_json = ? WHERE id = ?').run(
        JSON.stringify(study.metricSpec),
        JSON.stringify({ minSites: 2, maxPatientsPerSite: 1000, encryption: { ...encryption, securityBits: 64 }, privacy }),
        study.id,
      );
      again.close();
      const third = openSqliteStore(own);
      await expect(third.getStudy(study.id)).rejects.toMatchObject({ code: 'FEDVAL_ERR_COORD_STORAGE' });
      await third.close();
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  });
});
