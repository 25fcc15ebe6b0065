// store-conformance.ts — the storage conformance suite: every CoordinatorStore implementation registers these tests with
// a harness over its own backing database (SQLite in sqlite-store.test.ts, PostgreSQL in tests/integration/postgres-store.test.ts).
import { resolvePrivacySpec } from '@fedval/dp';
import { planBfvParameters } from '@fedval/he';
import { createStatisticsLayout, resolveMetricSpec } from '@fedval/metrics';
import { generateSiteIdentity, signSecaggRecord, signStudyKeyStatement } from '@fedval/trust';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CoordinatorStore, ModelRecord, RoundSiteRecord, SecaggEvent, StudyRecord } from '../storage/store.ts';

/** What the suite needs of a backing database besides the store itself. */
export interface StoreHarness {
  /** Starts every test on an empty database. */
  reset(): Promise<void>;
  /** Opens a store on the current database (reopening is a coordinator restart); rejects with the store's coded error. */
  open(): Promise<CoordinatorStore>;
  /** Leaves a store as a process killed mid-run leaves it (no orderly close): its connections and locks gone. */
  crash(store: CoordinatorStore): Promise<void>;
  /** Writes one text column of one study row behind the store's back (a tampered database). */
  setStudyColumn(column: 'metric_spec_json' | 'protection_json', value: string, studyId: string): Promise<void>;
  /** Makes the database claim a schema version (as a newer coordinator would leave it). */
  setSchemaVersion(version: number): Promise<void>;
  /** Removes what reset() made. */
  cleanup(): Promise<void>;
}

export const model: ModelRecord = {
  id: 'f'.repeat(64),
  name: 'toy',
  version: '1',
  format: 'tfjs',
  manifestJson: '{"name":"toy"}',
  files: [{ path: 'model.json', sha256: 'e'.repeat(64), bytes: 12 }],
  createdAt: 1,
};

export const study: StudyRecord = {
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

const scoreStudy: StudyRecord = { ...study, modelId: null, scoreColumn: 'score' };

export const pendingSites = (ids: string[], at: number): RoundSiteRecord[] =>
  ids.map((siteId) => ({ siteId, status: 'pending', code: null, contributionBytes: null, contributionSha256: null, updatedAt: at }));

/** Registers the conformance tests for one store implementation. */
export function describeStoreConformance(name: string, harness: StoreHarness): void {
  describe(`${name}: CoordinatorStore conformance`, () => {
    const open: CoordinatorStore[] = [];
    const openStore = async (): Promise<CoordinatorStore> => {
      const store = await harness.open();
      open.push(store);
      return store;
    };
    beforeEach(() => harness.reset());
    afterEach(async () => {
      for (const store of open.splice(0)) await store.close();
      await harness.cleanup();
    });

    it('round-trips models, studies, rounds, per-site status and the closed round', async () => {
      const store = await openStore();
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

      expect(await store.getRound('round-1')).toEqual({
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
      expect(await store.getRound('absent')).toBeUndefined();

      await store.recordSiteSeen('a', 100);
      await store.recordSiteSeen('a', 150);
      expect(await store.siteLastSeen()).toEqual(new Map([['a', 150]]));
    });

    it('lists models, studies and rounds oldest first, and keeps epoch-millisecond times exact', async () => {
      const store = await openStore();
      const now = 1_790_000_000_123; // beyond 2^32: a bigint column, read back as the same number
      await store.putModel({ ...model, id: 'b'.repeat(64), createdAt: now + 1 });
      await store.putModel({ ...model, id: 'a'.repeat(64), createdAt: now });
      expect((await store.listModels()).map((m) => [m.id[0], m.createdAt])).toEqual([
        ['a', now],
        ['b', now + 1],
      ]);
      await store.createStudy({ ...scoreStudy, id: 's-late', createdAt: now + 5 });
      await store.createStudy({ ...scoreStudy, id: 's-early', createdAt: now });
      expect((await store.listStudies()).map((s) => s.id)).toEqual(['s-early', 's-late']);
      for (const [id, at] of [['r-2', now + 2], ['r-1', now + 1], ['r-3', now + 2]] as const) {
        await store.createRound({ id, studyId: 's-early', state: 'dispatched', createdAt: at, deadlineAt: at + 60_000, sites: pendingSites(['a'], at) });
      }
      const rounds = await store.listRounds('s-early');
      expect(rounds.map((r) => r.id)).toEqual(['r-1', 'r-2', 'r-3']); // equal times: insertion order
      expect(rounds[0]).toMatchObject({ createdAt: now + 1, deadlineAt: now + 60_001 });
      expect(await store.listRounds('s-late')).toEqual([]);
    });

    it('lists the rounds a crash left open on the next start, fails them with the given reason, and keeps closed ones', async () => {
      const first = await harness.open();
      await first.createStudy(scoreStudy);
      await first.createRound({ id: 'open-1', studyId: study.id, state: 'dispatched', createdAt: 1, deadlineAt: 9, sites: pendingSites(['a'], 1) });
      await first.createRound({ id: 'open-2', studyId: study.id, state: 'dispatched', createdAt: 1, deadlineAt: 9, sites: pendingSites(['a'], 1) });
      await first.setRoundState('open-2', 'collecting', 2);
      await first.createRound({ id: 'done', studyId: study.id, state: 'dispatched', createdAt: 1, deadlineAt: 9, sites: pendingSites(['a'], 1) });
      await first.closeRound('done', { state: 'failed', reason: 'quorum_not_met', closedAt: 3, contributions: 0, aggregate: null, result: null });
      await harness.crash(first);

      const second = await openStore();
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
      await first.close();
    });

    it('refuses a database whose schema is newer than this coordinator knows', async () => {
      await (await harness.open()).close();
      await harness.setSchemaVersion(99);
      await expect(openStore()).rejects.toMatchObject({ code: 'FEDVAL_ERR_COORD_STORAGE_VERSION' });
    });

    it('keeps each bfv contribution with its signed record across a restart, one per site and round (the same bytes again are a no-op), in arrival order', async () => {
      const first = await harness.open();
      await first.createStudy(scoreStudy);
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
      const second = await openStore();
      expect(await second.listRoundContributions('r')).toEqual(kept);
      expect(await second.listRoundContributions('other')).toEqual([]);
      // A page is a window of the same order; past the end it is empty.
      expect(await second.listRoundContributions('r', { offset: 0, limit: 1 })).toEqual([kept[0]]);
      expect(await second.listRoundContributions('r', { offset: 1, limit: 5 })).toEqual([kept[1]]);
      expect(await second.listRoundContributions('r', { offset: 2, limit: 5 })).toEqual([]);
      expect(await second.countRoundContributions('r')).toEqual({ contributions: 2, signed: 1 });
      expect(await second.countRoundContributions('other')).toEqual({ contributions: 0, signed: 0 });
    });

    it("keeps a securely aggregated round's steps in order across a crash, and deletes them when the round closes", async () => {
      const first = await harness.open();
      await first.createStudy(scoreStudy);
      await first.createRound({ id: 'r', studyId: study.id, state: 'dispatched', createdAt: 1, deadlineAt: 2, sites: pendingSites(['a', 'b'], 1) });
      await first.createRound({ id: 'r2', studyId: study.id, state: 'dispatched', createdAt: 1, deadlineAt: 2, sites: pendingSites(['a'], 1) });
      const identity = generateSiteIdentity();
      const fields = { study_id: study.id, round_id: 'r', site_id: 'a' };
      const key = Buffer.alloc(32, 7).toString('base64');
      const events: SecaggEvent[] = [
        { kind: 'advertisement', site: 'a', advertisement: signSecaggRecord('advertisement', identity.privateKeyPem, { ...fields, c_public_key: key, s_public_key: key, signing_key: identity.publicKey }) },
        { kind: 'shares', site: 'a', shares: [{ to: 'b', sealed: Uint8Array.from({ length: 163 }, (_, i) => (i * 13) % 256) }] },
        { kind: 'out', site: 'b' },
        { kind: 'input', site: 'a' },
        { kind: 'consistency', site: 'a', signed: signSecaggRecord('survivors', identity.privateKeyPem, { ...fields, survivors: ['a'] }) },
        { kind: 'reveal', site: 'a', reveal: signSecaggRecord('reveal', identity.privateKeyPem, { ...fields, survivors: ['a'], shares: [{ owner: 'a', kind: 'self_mask_seed', share_base64: 'AQID' }] }) },
      ];
      for (const event of events) await first.appendSecaggEvent('r', event);
      await first.appendSecaggEvent('r2', { kind: 'out', site: 'a' });
      await harness.crash(first);
      const second = await openStore();
      expect(await second.listSecaggEvents('r')).toEqual(events);
      await second.closeRound('r', { state: 'failed', reason: 'secure_aggregation_incomplete', closedAt: 3, contributions: 0, aggregate: null, result: null });
      expect(await second.listSecaggEvents('r')).toEqual([]);
      expect(await second.listSecaggEvents('r2')).toEqual([{ kind: 'out', site: 'a' }]);
    });

    it('keeps the encrypted aggregate of a bfv round as the exact ciphertext bytes', async () => {
      const store = await openStore();
      await store.createStudy(scoreStudy);
      await store.createRound({ id: 'r', studyId: study.id, state: 'dispatched', createdAt: 1, deadlineAt: 2, sites: pendingSites(['a'], 1) });
      const ciphertexts = [Uint8Array.from({ length: 5_000 }, (_, i) => (i * 7) % 256), new Uint8Array([0, 0, 255])];
      await store.closeRound('r', { state: 'aggregated', reason: null, closedAt: 3, contributions: 1, aggregate: null, result: null, encryptedAggregate: ciphertexts, secureAggregation: null });
      expect(await store.getRoundEncryptedAggregate('r')).toEqual(ciphertexts);
      expect(await store.getRoundAggregate('r')).toBeUndefined();
      expect(await store.getRoundSecureAggregation('r')).toBeUndefined();
    });

    it('rolls back a multi-row round insert that fails part-way', async () => {
      const store = await openStore();
      await store.createStudy(scoreStudy);
      await expect(store.createRound({ id: 'r', studyId: study.id, state: 'dispatched', createdAt: 1, deadlineAt: 2, sites: pendingSites(['a', 'a'], 1) })).rejects.toMatchObject({
        code: 'FEDVAL_ERR_COORD_STORAGE',
      });
      expect(await store.getRound('r')).toBeUndefined();
      // Nothing half-written blocks the same round afterwards.
      await store.createRound({ id: 'r', studyId: study.id, state: 'dispatched', createdAt: 1, deadlineAt: 2, sites: pendingSites(['a'], 1) });
      expect((await store.getRound('r'))?.sites.map((site) => site.siteId)).toEqual(['a']);
    });

    it('releases a round once: of concurrent releases exactly one wins, and only an aggregated round', async () => {
      const store = await openStore();
      await store.createStudy(scoreStudy);
      for (const id of ['agg', 'failed']) {
        await store.createRound({ id, studyId: study.id, state: 'dispatched', createdAt: 1, deadlineAt: 2, sites: pendingSites(['a'], 1) });
      }
      await store.closeRound('agg', { state: 'aggregated', reason: null, closedAt: 3, contributions: 1, aggregate: null, result: null });
      await store.closeRound('failed', { state: 'failed', reason: 'quorum_not_met', closedAt: 3, contributions: 0, aggregate: null, result: null });
      const results = Array.from({ length: 6 }, (_, i) => ({ metrics: { release: i }, contributions: 1, sites: ['a'] }));
      const won = await Promise.all(results.map((result, i) => store.releaseRound('agg', result, 10 + i)));
      expect(won.filter(Boolean)).toHaveLength(1);
      expect((await store.getRound('agg'))?.result).toEqual(results[won.indexOf(true)]);
      expect(await store.releaseRound('failed', results[0]!, 20)).toBe(false);
      expect(await store.releaseRound('absent', results[0]!, 20)).toBe(false);
    });

    it('enrolls a site once per token: the token burns with the key registered, concurrent uses lose, older tokens are revoked', async () => {
      const store = await openStore();
      const token = (n: number, expiresAt = 1_000) => ({ tokenSha256: String(n).repeat(64), siteId: 'a', createdAt: n, expiresAt });
      expect(await store.putEnrollmentToken(token(1))).toBe(0);
      expect(await store.putEnrollmentToken(token(2))).toBe(1); // the first, unused, is revoked
      const enrollment = (tokenSha256: string, key: string, at = 10) => ({ siteId: 'a', tokenSha256, publicKey: key, fingerprint: key.slice(0, 1).repeat(64), enrolledAt: at });
      expect(await store.enrollSite(enrollment(token(1).tokenSha256, 'K'.repeat(44)))).toBe(false); // revoked
      const raced = await Promise.all(['P', 'Q', 'R', 'S'].map((key) => store.enrollSite(enrollment(token(2).tokenSha256, key.repeat(44)))));
      expect(raced.filter(Boolean)).toHaveLength(1);
      const winner = ['P', 'Q', 'R', 'S'][raced.indexOf(true)]!;
      expect(await store.siteKeys()).toEqual(new Map([['a', winner.repeat(44)]]));
      expect(await store.enrollSite(enrollment(token(2).tokenSha256, 'T'.repeat(44)))).toBe(false); // used
      expect(await store.putEnrollmentToken(token(3, 50))).toBe(0);
      expect(await store.enrollSite(enrollment(token(3).tokenSha256, 'U'.repeat(44), 50))).toBe(false); // expired at 50
      expect(await store.putEnrollmentToken(token(4))).toBe(1); // token 3, unused, revoked now
      expect(await store.enrollSite({ ...enrollment(token(4).tokenSha256, 'V'.repeat(44)), siteId: 'b' })).toBe(false); // another site's token
      expect(await store.enrollSite(enrollment(token(4).tokenSha256, 'V'.repeat(44), 60))).toBe(true); // re-enrollment replaces the key
      expect(await store.siteKeys()).toEqual(new Map([['a', 'V'.repeat(44)]]));
    });

    it("registers a study's public key once, and its key holder statement only beside a key", async () => {
      const store = await openStore();
      await store.createStudy(scoreStudy);
      const keyHolder = generateSiteIdentity();
      const statement = signStudyKeyStatement(keyHolder.privateKeyPem, {
        studyId: study.id,
        planSha256: 'a'.repeat(64),
        publicKeySha256: 'b'.repeat(64),
        minSites: 3,
        roster: [{ siteId: 'a', fingerprint: 'c'.repeat(64) }],
        rosterSha256: 'd'.repeat(64),
        issuedAt: 1_790_000_000_000,
        version: 1,
      });
      expect(await store.setStudyKeyStatement(study.id, statement)).toBe(false); // no key yet
      const key = Uint8Array.from({ length: 300 }, (_, i) => i % 251);
      const [first, second] = await Promise.all([store.setStudyPublicKey(study.id, key, statement), store.setStudyPublicKey(study.id, new Uint8Array([1]))]);
      expect([first, second].filter(Boolean)).toHaveLength(1);
      const back = await store.getStudy(study.id);
      expect(back?.publicKey).toEqual(first ? key : new Uint8Array([1]));
      expect(await store.setStudyPublicKey('absent', key)).toBe(false);
      expect(await store.setStudyKeyStatement(study.id, { ...statement, signature: statement.signature })).toBe(true);
      expect((await store.getStudy(study.id))?.keyStatement).toEqual(statement);
    });

    it('parses every JSON column with the schema of the package that owns it: a tampered document is refused, never cast', async () => {
      const layout = createStatisticsLayout(study.metricSpec);
      const encryption = planBfvParameters({ vectorLength: layout.length, maxSites: 3, maxAbsPerSite: 1000 });
      const privacy = resolvePrivacySpec({ epsilon: 1, delta: 1e-6, minSites: 2, layout: { kind: 'flat', bins: 20 } }, { layout });
      const store = await harness.open();
      await store.createStudy({ ...scoreStudy, contribution: 'bfv', protection: { minSites: 2, maxPatientsPerSite: 1000, encryption, privacy } });
      const back = await store.getStudy(study.id);
      expect(back?.protection.encryption).toEqual(encryption);
      expect(back?.protection.privacy).toEqual(privacy);
      expect(back?.metricSpec).toEqual(study.metricSpec);
      await store.close();

      await harness.setStudyColumn('metric_spec_json', JSON.stringify({ ...study.metricSpec, bins: 7 }), study.id);
      const reopened = await openStore();
      await expect(reopened.getStudy(study.id)).rejects.toMatchObject({ code: 'FEDVAL_ERR_COORD_STORAGE' });
      await expect(reopened.listStudies()).rejects.toMatchObject({ code: 'FEDVAL_ERR_COORD_STORAGE' });

      await harness.setStudyColumn('metric_spec_json', JSON.stringify(study.metricSpec), study.id);
      await harness.setStudyColumn('protection_json', JSON.stringify({ minSites: 2, maxPatientsPerSite: 1000, encryption: { ...encryption, securityBits: 64 }, privacy }), study.id);
      await expect(reopened.getStudy(study.id)).rejects.toMatchObject({ code: 'FEDVAL_ERR_COORD_STORAGE' });
    });
  });
}
