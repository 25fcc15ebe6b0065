// Issue 12 review, finding 1: a site never compared the task's noise minimum with the key holder's statement. Tasks
// claiming minSites 10 make each site add a tenth of the noise; the key holder's floor says 3, so a round of 3 sites is
// decrypted with 3/10 of the intended noise variance (ε ≈ 1.85 where the ledgers say 1). Now the site refuses, before
// any read and any charge, a task whose noise shares are sized for more sites than the statement's release minimum,
// and it attests the minimum its share was sized for (the key holder checks it: contribution-verification.ts).
import { generateSiteIdentity } from '@fedval/trust';
import { describe, expect, it } from 'vitest';
import { answerTo, bfvKeysFor, bfvRequest, hostileTask, keyStatementFor, privacySpecFor, scoredRows, hostileFixture, siteBudget, startHostileSite } from './hostile-coordinator.ts';

const METRIC_SPEC = { task: 'binary', bins: 20 };
const SITES = ['site-a', 'site-b', 'site-c'];

describe('a coordinator sizing noise shares for more sites than the key holder decrypts', () => {
  const { coordinator, sites, contexts } = hostileFixture();

  it('is refused by every site (FEDVAL_ERR_AGENT_NOISE_MIN_SITES) before any read or charge; shares sized for the statement minimum are sent and attested', async () => {
    const keyHolder = generateSiteIdentity();
    const inflated = privacySpecFor(METRIC_SPEC, { epsilon: 1, minSites: 10 });
    const honest = privacySpecFor(METRIC_SPEC, { epsilon: 1, minSites: 3 });
    const keys = await bfvKeysFor(METRIC_SPEC, honest, 100_000);
    contexts.push(keys.context);
    // The key holder's genuine statement: sums of at least 3 sites are decrypted.
    const statement = keyStatementFor(keyHolder.privateKeyPem, keys, { minSites: 3 });
    // Administrators who accept an own-share ε up to 5 (the minSites-10 share's 4.26 passes it): only the new check stands.
    // They also allow unmasked encrypted contributions: this scripted coordinator runs no secure-aggregation phases, and
    // the noise-share sizing checked here is decided before, and apart from, any masking.
    for (const siteId of SITES) {
      sites.push(startHostileSite(coordinator, siteId, { csv: `score,status\n${scoredRows(150).join('\n')}\n`, policy: `key_holder_keys: [${keyHolder.fingerprint}], max_own_share_epsilon: 5, require_secure_aggregation: false` }));
      await coordinator.next((m) => m.type === 'hello' && m.content.siteId === siteId);
    }

    const outcomes: Record<string, string> = {};
    for (const [i, siteId] of SITES.entries()) {
      const round = `r-inflated-${siteId}`;
      const { outcome } = await answerTo(coordinator, hostileTask(round, { metricSpec: METRIC_SPEC, privacy: inflated, contribution: bfvRequest(keys, statement) }), siteId);
      outcomes[siteId] = outcome;
      expect(coordinator.received.filter((m) => (m.type === 'task.accept' || m.type === 'task.progress') && m.content.roundId === round)).toEqual([]);
      expect((await siteBudget(sites[i]!)).rounds).toEqual([]);
    }
    expect(outcomes).toEqual(Object.fromEntries(SITES.map((siteId) => [siteId, 'FEDVAL_ERR_AGENT_NOISE_MIN_SITES'])));

    // Shares sized for the statement's minimum are made, and each signed attestation says what they were sized for.
    const attested: Record<string, unknown> = {};
    for (const siteId of SITES) {
      const { outcome, reply } = await answerTo(coordinator, hostileTask(`r-honest-${siteId}`, { metricSpec: METRIC_SPEC, privacy: honest, contribution: bfvRequest(keys, statement) }), siteId);
      expect(outcome).toBe('contributed');
      if (reply.type !== 'task.result') throw new Error('expected a result');
      attested[siteId] = reply.content.attestation?.privacy?.min_sites;
    }
    expect(attested).toEqual({ 'site-a': 3, 'site-b': 3, 'site-c': 3 });
  }, 240_000);
});
