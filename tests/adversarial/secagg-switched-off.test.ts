// Issue 13: secure aggregation is what keeps a colluding coordinator and key holder from reading one site's vector. A
// coordinator that simply leaves it out of the task (or a study created with `secure_aggregation: false`) would undo it,
// so each site requires it itself (policy.require_secure_aggregation, default true): an unmasked bfv task is refused
// before any data is read and before any charge, even with a genuine key statement the site's pinned key holder signed.
import { generateSiteIdentity } from '@fedval/trust';
import { decryptVector, EncryptedSum } from '@fedval/he';
import type { HeContext } from '@fedval/he';
import { describe, expect, it } from 'vitest';
import { answerTo, bfvKeysFor, bfvRequest, hostileTask, keyStatementFor, scoredRows, hostileFixture, siteBudget, startHostileSite } from './hostile-coordinator.ts';

const METRIC_SPEC = { task: 'binary', bins: 20 };
const PATIENTS = 120;

/** What the key holder's secret key reads from one site's ciphertexts, summed alone. */
function decryptOne(context: HeContext, secretKey: Uint8Array, ciphertexts: Uint8Array[]): Float64Array {
  const sum = new EncryptedSum(context);
  sum.add({ ciphertexts });
  return decryptVector(context, secretKey, sum.toEncryptedVector(), 1);
}

describe('a coordinator (with the key holder) switching secure aggregation off', () => {
  const { coordinator, sites, contexts } = hostileFixture();

  it('is refused by a site with the default policy (FEDVAL_ERR_AGENT_POLICY_REQUIRES_SECAGG): nothing read, charged or sent', async () => {
    // The key holder colludes: its statement is genuine, signed by the key the site pinned, for the key it holds.
    const keyHolder = generateSiteIdentity();
    const keys = await bfvKeysFor(METRIC_SPEC, undefined, 100_000);
    contexts.push(keys.context);
    const task = (round: string) => hostileTask(round, { metricSpec: METRIC_SPEC, contribution: bfvRequest(keys, keyStatementFor(keyHolder.privateKeyPem, keys)) });

    const guarded = startHostileSite(coordinator, 'site-a', { csv: `score,status\n${scoredRows(PATIENTS).join('\n')}\n`, policy: `require_dp: false, key_holder_keys: [${keyHolder.fingerprint}]` });
    sites.push(guarded);
    await coordinator.next((m) => m.type === 'hello' && m.content.siteId === 'site-a');
    const { outcome, reply } = await answerTo(coordinator, task('r-unmasked'), 'site-a');
    // What the colluders would read on the vulnerable path: the site's own statistics, decrypted alone.
    const leaked = reply.type === 'task.result' && reply.content.contribution.kind === 'bfv' ? Math.max(...decryptOne(keys.context, keys.secretKey, reply.content.contribution.ciphertexts)) : null;
    expect({ outcome, leaked }).toEqual({ outcome: 'FEDVAL_ERR_AGENT_POLICY_REQUIRES_SECAGG', leaked: null });
    expect(coordinator.received.filter((m) => (m.type === 'task.accept' || m.type === 'task.progress') && m.content.roundId === 'r-unmasked')).toEqual([]);
    expect((await siteBudget(guarded)).rounds).toEqual([]);

    // The same task to a site whose administrator opted out: it is served, and the colluders read its counts (the
    // number of patients is in the clear in the decrypted vector). This is what the default refuses.
    const optedOut = startHostileSite(coordinator, 'site-b', {
      csv: `score,status\n${scoredRows(PATIENTS).join('\n')}\n`,
      policy: `require_dp: false, key_holder_keys: [${keyHolder.fingerprint}], require_secure_aggregation: false`,
    });
    sites.push(optedOut);
    await coordinator.next((m) => m.type === 'hello' && m.content.siteId === 'site-b');
    const served = await answerTo(coordinator, task('r-opted-out'), 'site-b');
    expect(served.outcome).toBe('contributed');
    if (served.reply.type !== 'task.result' || served.reply.content.contribution.kind !== 'bfv') throw new Error('expected an encrypted result');
    const vector = decryptOne(keys.context, keys.secretKey, served.reply.content.contribution.ciphertexts);
    expect(vector.reduce((sum, value) => sum + value, 0)).toBeGreaterThan(0);
    // The same round sent again, now asking for secure aggregation, is refused: the site never answers a masked round with
    // the unmasked contribution it kept for that round (re-review of s6-secagg-fix, LOW 3).
    const masked = hostileTask('r-opted-out', { metricSpec: METRIC_SPEC, contribution: bfvRequest(keys, keyStatementFor(keyHolder.privateKeyPem, keys)), secureAggregation: { threshold: 2 } });
    expect((await answerTo(coordinator, masked, 'site-b')).outcome).toBe('FEDVAL_ERR_AGENT_SECAGG_CHANGED');
  }, 240_000);
});
