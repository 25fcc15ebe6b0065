// Attack 7 (issue 12): min_cohort was checked on the exact count before any privacy was charged, so a sponsor's model
// that scores only rows matching a predicate learned, every round and at no ε, whether fewer than min_cohort patients
// matched. The site no longer refuses on the exact count (README "Small cohorts"): a cohort of 3 and one of 60 get the
// same answer, and both are charged.
import { afterAll, describe, expect, it } from 'vitest';
import { ScriptedCoordinator } from '../helpers/scripted-coordinator.ts';
import { answerTo, hostileTask, privacySpecFor, siteBudget, startHostileSite } from './hostile-coordinator.ts';
import type { HostileSite } from './hostile-coordinator.ts';

const METRIC_SPEC = { task: 'binary', bins: 100 };

/** 200 patients of whom `matching` are scored (the probing model's predicate); the rest have no score and are excluded. */
function probedCohort(matching: number): string {
  const rows = Array.from({ length: 200 }, (_, i) => `${i < matching ? ((i * 37) % 100) / 100 : ''},${i % 3 === 0 ? 1 : 0}`);
  return `score,status\n${rows.join('\n')}\n`;
}

describe('cohort probing by a sponsor model that scores only matching rows', () => {
  const coordinator = new ScriptedCoordinator();
  const sites: HostileSite[] = [];
  afterAll(async () => {
    await Promise.all(sites.map((site) => site.stop()));
    await coordinator.close();
  });

  it('gets the same outcome below and above the old minimum, never at zero ε', async () => {
    const outcomes: Record<string, { outcome: string; replyType: string; charged: string[] }> = {};
    for (const [siteId, matching] of [['site-few', 3], ['site-many', 60]] as const) {
      // An administrator who kept the old setting: min_cohort 10 (now ignored, see README).
      const site = startHostileSite(coordinator, siteId, { csv: probedCohort(matching), policy: 'allowed_contributions: [plaintext], min_cohort: 10' });
      sites.push(site);
      await coordinator.next((m) => m.type === 'hello' && m.content.siteId === siteId);
      const privacy = privacySpecFor(METRIC_SPEC, { epsilon: 1, minSites: 3 });
      const { outcome, reply } = await answerTo(coordinator, hostileTask(`r-probe-${siteId}`, { metricSpec: METRIC_SPEC, privacy }));
      outcomes[siteId] = { outcome, replyType: reply.type, charged: (await siteBudget(site)).rounds.map((r) => r.round_id) };
      await site.stop();
    }
    expect(outcomes['site-few']).toEqual({ outcome: 'contributed', replyType: 'task.result', charged: ['r-probe-site-few'] });
    expect(outcomes['site-many']).toEqual({ outcome: 'contributed', replyType: 'task.result', charged: ['r-probe-site-many'] });
  }, 90_000);
});
