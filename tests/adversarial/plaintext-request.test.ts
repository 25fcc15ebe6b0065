// Attack 5 (issue 12): policy.allowed_contributions defaulted to [plaintext, bfv], so a coordinator could ask a
// default agent for its unencrypted vector. The default is encrypted only; plaintext needs the site's explicit opt-in.
import { afterAll, describe, expect, it } from 'vitest';
import { ScriptedCoordinator } from '../helpers/scripted-coordinator.ts';
import { answerTo, hostileTask, privacySpecFor, scoredRows, siteBudget, startHostileSite } from './hostile-coordinator.ts';
import type { HostileSite } from './hostile-coordinator.ts';

const METRIC_SPEC = { task: 'binary', bins: 100 };

describe('a coordinator asking a default agent for plaintext', () => {
  const coordinator = new ScriptedCoordinator();
  const sites: HostileSite[] = [];
  afterAll(async () => {
    await Promise.all(sites.map((site) => site.stop()));
    await coordinator.close();
  });

  it('is refused, with or without DP, and nothing is charged; a site that opted in is served', async () => {
    const csv = `score,status\n${scoredRows(200).join('\n')}\n`;
    const site = startHostileSite(coordinator, 'site-default', { csv });
    sites.push(site);
    await coordinator.next((m) => m.type === 'hello');
    const privacy = privacySpecFor(METRIC_SPEC, { epsilon: 1, minSites: 3 });
    const dp = await answerTo(coordinator, hostileTask('r-plain-dp', { metricSpec: METRIC_SPEC, privacy }));
    expect(dp.outcome).toBe('FEDVAL_ERR_AGENT_POLICY_CONTRIBUTION');
    const exact = await answerTo(coordinator, hostileTask('r-plain-exact', { metricSpec: METRIC_SPEC }));
    expect(exact.outcome).toBe('FEDVAL_ERR_AGENT_POLICY_CONTRIBUTION');
    expect((await siteBudget(site)).rounds).toEqual([]);
    await site.stop();

    // The same task to a site whose administrator opted in to plaintext (a test deployment) is answered.
    const optedIn = startHostileSite(coordinator, 'site-opted-in', { csv, policy: 'allowed_contributions: [plaintext, bfv]' });
    sites.push(optedIn);
    await coordinator.next((m) => m.type === 'hello' && m.content.siteId === 'site-opted-in');
    const served = await answerTo(coordinator, hostileTask('r-plain-opted-in', { metricSpec: METRIC_SPEC, privacy }));
    expect(served.outcome).toBe('contributed');
  }, 90_000);
});
