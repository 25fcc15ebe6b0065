// Attack 4 (issue 12): the coordinator sets the study's minSites, which sizes each site's noise share. At minSites
// 1,000 a site's own share is ~25× smaller while its ledger still says ε = 1; at 1–2 the operator gets one site's
// vector with almost no noise or can subtract. A site bounds both, whatever the coordinator asks: policy.min_sites
// (default 3) and policy.max_own_share_epsilon (default 4), checked before any data is read, the ledger untouched.
import { afterAll, describe, expect, it } from 'vitest';
import { ScriptedCoordinator } from '../helpers/scripted-coordinator.ts';
import { answerTo, hostileTask, privacySpecFor, scoredRows, siteBudget, startHostileSite } from './hostile-coordinator.ts';
import type { HostileSite } from './hostile-coordinator.ts';

const METRIC_SPEC = { task: 'binary', bins: 100 };

describe('a coordinator that shrinks a site noise share through minSites', () => {
  const coordinator = new ScriptedCoordinator();
  let site: HostileSite | undefined;
  afterAll(async () => {
    await site?.stop();
    await coordinator.close();
  });

  it('is refused at minSites 1, 2 and 1,000 with the ledger unchanged; an honest minSites 3 is charged with both ε', async () => {
    // Plaintext is opted in so the honest round can be read back here; the refusals come before the contribution kind matters.
    site = startHostileSite(coordinator, 'site-noise', { csv: `score,status\n${scoredRows(200).join('\n')}\n`, policy: 'allowed_contributions: [plaintext]' });
    await coordinator.next((m) => m.type === 'hello');

    for (const minSites of [1, 2]) {
      const { outcome } = await answerTo(coordinator, hostileTask(`r-min-${minSites}`, { metricSpec: METRIC_SPEC, privacy: privacySpecFor(METRIC_SPEC, { epsilon: 1, minSites }) }));
      expect(outcome, `minSites ${minSites}`).toBe('FEDVAL_ERR_AGENT_POLICY_MIN_SITES');
    }
    const huge = await answerTo(coordinator, hostileTask('r-min-1000', { metricSpec: METRIC_SPEC, privacy: privacySpecFor(METRIC_SPEC, { epsilon: 1, minSites: 1000 }) }));
    expect(huge.outcome).toBe('FEDVAL_ERR_AGENT_POLICY_OWN_SHARE_EPSILON');
    expect((await siteBudget(site)).rounds).toEqual([]);

    const honest = await answerTo(coordinator, hostileTask('r-honest', { metricSpec: METRIC_SPEC, privacy: privacySpecFor(METRIC_SPEC, { epsilon: 1, minSites: 3 }) }));
    expect(honest.outcome).toBe('contributed');
    const budget = await siteBudget(site);
    expect(budget.rounds.map((r) => r.round_id)).toEqual(['r-honest']);
    const [round] = budget.rounds;
    expect(round!.epsilon).toBeCloseTo(1, 6);
    // Three shares: the site's own third of the noise variance alone is worth more than ε = 1 but stays under the cap.
    expect(round!.own_share_epsilon).toBeGreaterThan(1.2);
    expect(round!.own_share_epsilon).toBeLessThan(4);
    if (honest.reply.type !== 'task.result') throw new Error('expected a result');
    expect(honest.reply.content.attestation).toMatchObject({ privacy: { epsilon: round!.epsilon, own_share_epsilon: round!.own_share_epsilon } });
  }, 90_000);
});
