// Gap 1 of issue 12 (independent review): an agent encrypted under whatever BFV public key the task carried, so a
// coordinator that put its own key pair in the task decrypted that one site's exact statistics. Sites now pin the
// privacy officer's key holder key (policy.key_holder_keys) and encrypt only under a public key the key holder's signed
// study key statement vouches for; anything else is refused before any data is read and before any charge. The
// statement must also be for this study and plan, release sums of at least the site's minimum, roster this site, and be
// no older than a version the site already verified (issue 12 review, findings 3 and 6).
import { generateSiteIdentity } from '@fedval/trust';
import { decryptVector, EncryptedSum, planSha256 } from '@fedval/he';
import type { HeContext } from '@fedval/he';
import { describe, expect, it } from 'vitest';
import { answerTo, bfvKeysFor, bfvRequest, hostileTask, keyStatementFor, keySubstitutionParties, scoredRows, hostileFixture, siteBudget, startHostileSite } from './hostile-coordinator.ts';

const METRIC_SPEC = { task: 'binary', bins: 20 };

/** What a holder of `secretKey` reads from one site's ciphertexts (summed alone, as any aggregate is made). */
function decryptOne(context: HeContext, secretKey: Uint8Array, ciphertexts: Uint8Array[]): Float64Array {
  const sum = new EncryptedSum(context);
  sum.add({ ciphertexts });
  return decryptVector(context, secretKey, sum.toEncryptedVector(), 1);
}
const PATIENTS = 120;

describe("a coordinator substituting its own BFV public key for the key holder's", () => {
  const fixture = hostileFixture();
  const { coordinator, sites, contexts } = fixture;

  it('is refused (missing, forged, altered or mismatched statement; another study or plan; a lower minimum; off the roster; an older version): nothing is read, charged or sent', async () => {
    // The key holder's key is pinned by the site; the operator's is the coordinator operator's own Ed25519 key.
    const { keyHolder, operator, honest, attacker, site } = await keySubstitutionParties(fixture, METRIC_SPEC, PATIENTS);

    const otherPlan = await bfvKeysFor(METRIC_SPEC, undefined, 400_000);
    contexts.push(otherPlan.context);
    expect(planSha256(otherPlan.plan)).not.toBe(planSha256(honest.plan));
    const unauthenticated = 'FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED';
    const attempts: Record<string, [Record<string, unknown>, string]> = {
      // The attacker's key with no statement at all.
      'r-stripped': [bfvRequest(attacker), unauthenticated],
      // The key holder's genuine statement (for the honest key) next to the attacker's key.
      'r-mismatched': [bfvRequest(attacker, keyStatementFor(keyHolder.privateKeyPem, honest)), unauthenticated],
      // A statement for the attacker's key, signed by the operator's own (unpinned) Ed25519 key.
      'r-forged': [bfvRequest(attacker, keyStatementFor(operator.privateKeyPem, attacker)), unauthenticated],
      // The genuine statement with its key hash changed to the attacker's key (the signature no longer verifies).
      'r-altered': [bfvRequest(attacker, (() => {
        const genuine = keyStatementFor(keyHolder.privateKeyPem, honest);
        const forgedHash = keyStatementFor(operator.privateKeyPem, attacker).statement.publicKeySha256;
        return { ...genuine, statement: { ...genuine.statement, publicKeySha256: forgedHash } };
      })()), unauthenticated],
      // The key holder's genuine statement for the same key bytes, but of another study.
      'r-other-study': [bfvRequest(honest, keyStatementFor(keyHolder.privateKeyPem, honest, { studyId: 'study-other' })), unauthenticated],
      // The vouched-for key under another plan than the statement names.
      'r-other-plan': [{ ...bfvRequest(honest, keyStatementFor(keyHolder.privateKeyPem, honest)), plan: JSON.parse(JSON.stringify(otherPlan.plan)) }, unauthenticated],
      // A genuine statement whose key holder decrypts sums of 2 sites; this site requires 3 (policy.min_sites default).
      'r-min-2': [bfvRequest(honest, keyStatementFor(keyHolder.privateKeyPem, honest, { minSites: 2 })), 'FEDVAL_ERR_AGENT_POLICY_MIN_SITES'],
      // A genuine statement whose roster leaves this site out.
      'r-off-roster': [bfvRequest(honest, keyStatementFor(keyHolder.privateKeyPem, honest, { roster: [{ siteId: 'site-b', fingerprint: 'a'.repeat(64) }] })), 'FEDVAL_ERR_AGENT_NOT_ON_ROSTER'],
    };
    for (const [round, [contribution, expected]] of Object.entries(attempts)) {
      const { outcome, reply } = await answerTo(coordinator, hostileTask(round, { metricSpec: METRIC_SPEC, contribution }));
      // What the attacker would learn on the vulnerable path: the site's exact statistics, decrypted with its own key.
      const leaked =
        reply.type === 'task.result' && reply.content.contribution.kind === 'bfv'
          ? Math.max(...decryptOne(attacker.context, attacker.secretKey, reply.content.contribution.ciphertexts))
          : null;
      expect({ round, outcome, leaked }).toEqual({ round, outcome: expected, leaked: null });
      // Refused before the data was read: the site never accepted the task nor reported progress on it.
      expect(coordinator.received.filter((m) => (m.type === 'task.accept' || m.type === 'task.progress') && m.content.roundId === round)).toEqual([]);
    }
    expect((await siteBudget(site)).rounds).toEqual([]);

    // The key the key holder vouched for is served, and only the key holder's secret key opens it.
    const served = await answerTo(coordinator, hostileTask('r-honest', { metricSpec: METRIC_SPEC, contribution: bfvRequest(honest, keyStatementFor(keyHolder.privateKeyPem, honest)) }));
    expect(served.outcome).toBe('contributed');
    if (served.reply.type !== 'task.result' || served.reply.content.contribution.kind !== 'bfv') throw new Error('expected an encrypted result');
    const vector = decryptOne(honest.context, honest.secretKey, served.reply.content.contribution.ciphertexts);
    expect(vector.reduce((sum, value) => sum + value, 0)).toBeGreaterThan(0);

    // The privacy officer re-signs (version 2, as `fedval keys roster` does); the site then refuses version 1 again.
    const newer = await answerTo(coordinator, hostileTask('r-version-2', { metricSpec: METRIC_SPEC, contribution: bfvRequest(honest, keyStatementFor(keyHolder.privateKeyPem, honest, { version: 2 })) }));
    expect(newer.outcome).toBe('contributed');
    const older = await answerTo(coordinator, hostileTask('r-version-1', { metricSpec: METRIC_SPEC, contribution: bfvRequest(honest, keyStatementFor(keyHolder.privateKeyPem, honest, { version: 1 })) }));
    expect(older.outcome).toBe('FEDVAL_ERR_AGENT_KEY_STATEMENT_OUTDATED');
    expect(coordinator.received.filter((m) => (m.type === 'task.accept' || m.type === 'task.progress') && m.content.roundId === 'r-version-1')).toEqual([]);

    // The answered round sent again under the attacker's key (finding 2: the resend path ran before any key check and
    // signed the kept ciphertexts for the task's key): refused. Under the key it was made with: the same bytes again.
    const substituted = await answerTo(coordinator, hostileTask('r-honest', { metricSpec: METRIC_SPEC, contribution: bfvRequest(attacker) }));
    expect(substituted.outcome).toBe('FEDVAL_ERR_AGENT_RESEND_KEY_CHANGED');
    const again = await answerTo(coordinator, hostileTask('r-honest', { metricSpec: METRIC_SPEC, contribution: bfvRequest(honest, keyStatementFor(keyHolder.privateKeyPem, honest, { version: 2 })) }));
    expect(again.reply.type === 'task.result' && again.reply.content.contributionSha256).toBe(served.reply.content.contributionSha256);
  }, 300_000);

  it('a site with no key holder key pinned refuses every BFV task (FEDVAL_ERR_AGENT_POLICY_NO_KEY_HOLDER), before reading data', async () => {
    const keyHolder = generateSiteIdentity();
    const honest = await bfvKeysFor(METRIC_SPEC, undefined, 100_000);
    contexts.push(honest.context);
    const site = startHostileSite(coordinator, 'site-unpinned', { csv: `score,status\n${scoredRows(PATIENTS).join('\n')}\n`, policy: 'require_dp: false' });
    sites.push(site);
    await coordinator.next((m) => m.type === 'hello' && m.content.siteId === 'site-unpinned');
    // The default policy otherwise (secure aggregation required, which the task asks for): the missing pin refuses it.
    const { outcome } = await answerTo(coordinator, hostileTask('r-unpinned', { metricSpec: METRIC_SPEC, contribution: bfvRequest(honest, keyStatementFor(keyHolder.privateKeyPem, honest)), secureAggregation: { threshold: 3 } }));
    expect(outcome).toBe('FEDVAL_ERR_AGENT_POLICY_NO_KEY_HOLDER');
    expect((await siteBudget(site)).rounds).toEqual([]);
  }, 120_000);
});
