// Gap 3 of issue 12 (independent review): the per-entry bounds of a BFV plan come from the task. A noisy entry over its
// bound failed with FEDVAL_ERR_HE_VALUE_OUT_OF_RANGE after the data was read and before the charge: a coordinator that
// chose the bound learned, for free, whether the site's count exceeded it. Now a plan that cannot hold the site's own
// patient limit is refused before any read, and an entry that still exceeds its bound is saturated (post-processing of
// the noisy release) in a round that is charged: what the coordinator sees no longer depends on the data.
import { generateSiteIdentity } from '@fedval/trust';
import { describe, expect, it } from 'vitest';
import { answerTo, bfvKeysFor, bfvRequest, hostileTask, keyStatementFor, privacySpecFor, scoredRows, hostileFixture, siteBudget, startHostileSite } from './hostile-coordinator.ts';

const METRIC_SPEC = { task: 'binary', bins: 20 };

describe('a coordinator choosing tight plan bounds to ask whether a count exceeds them', () => {
  const { coordinator, sites, contexts } = hostileFixture();

  it('is refused before any read when the plan cannot hold the site policy minimum (FEDVAL_ERR_AGENT_PLAN_BOUNDS), nothing charged', async () => {
    const keyHolder = generateSiteIdentity();
    const privacy = privacySpecFor(METRIC_SPEC, { epsilon: 1, minSites: 3 });
    // Bounds sized for 50 patients per site; the site has 200, and its policy requires plans for 100,000 (the default).
    const tight = await bfvKeysFor(METRIC_SPEC, privacy, 50);
    contexts.push(tight.context);
    const site = startHostileSite(coordinator, 'site-default', { csv: `score,status\n${scoredRows(200).join('\n')}\n`, policy: `key_holder_keys: [${keyHolder.fingerprint}]` });
    sites.push(site);
    await coordinator.next((m) => m.type === 'hello' && m.content.siteId === 'site-default');
    // A site with the default policy (secure aggregation required): the task asks for it, and the plan is refused first.
    const { outcome } = await answerTo(coordinator, hostileTask('r-tight', { metricSpec: METRIC_SPEC, privacy, contribution: bfvRequest(tight, keyStatementFor(keyHolder.privateKeyPem, tight)), secureAggregation: { threshold: 3 } }));
    expect(outcome).toBe('FEDVAL_ERR_AGENT_PLAN_BOUNDS');
    expect(coordinator.received.filter((m) => (m.type === 'task.accept' || m.type === 'task.progress') && m.content.roundId === 'r-tight')).toEqual([]);
    expect((await siteBudget(site)).rounds).toEqual([]);
  }, 180_000);

  it('answers the same, charged, whether the counts fit the bounds or not (a site that accepts small plans)', async () => {
    const keyHolder = generateSiteIdentity();
    const privacy = privacySpecFor(METRIC_SPEC, { epsilon: 1, minSites: 3 });
    const tight = await bfvKeysFor(METRIC_SPEC, privacy, 50);
    contexts.push(tight.context);
    // Two sites whose administrators accept plans for 50 patients: one holds 20 patients (fits), one 2,000 (exceeds).
    // They also allow unmasked encrypted contributions: this scripted coordinator runs no secure-aggregation phases, and
    // what the test observes (refused or charged and sent, whatever the counts) is decided before masks, which are added
    // mod t after the saturation and change neither.
    const policy = `key_holder_keys: [${keyHolder.fingerprint}], min_plan_patients: 50, require_secure_aggregation: false`;
    const outcomes: Record<string, { outcome: string; charged: number[] }> = {};
    for (const [siteId, patients] of [['site-small', 20], ['site-large', 2000]] as const) {
      const site = startHostileSite(coordinator, siteId, { csv: `score,status\n${scoredRows(patients).join('\n')}\n`, policy });
      sites.push(site);
      await coordinator.next((m) => m.type === 'hello' && m.content.siteId === siteId);
      const round = `r-${siteId}`;
      const { outcome } = await answerTo(coordinator, hostileTask(round, { metricSpec: METRIC_SPEC, privacy, contribution: bfvRequest(tight, keyStatementFor(keyHolder.privateKeyPem, tight)) }));
      outcomes[siteId] = { outcome, charged: (await siteBudget(site)).rounds.filter((entry) => entry.round_id === round).map((entry) => Number(entry.epsilon.toFixed(6))) };
      await site.stop();
    }
    // Before the fix: site-large answered FEDVAL_ERR_HE_VALUE_OUT_OF_RANGE with nothing charged, site-small contributed.
    expect(outcomes).toEqual({ 'site-small': { outcome: 'contributed', charged: [1] }, 'site-large': { outcome: 'contributed', charged: [1] } });
  }, 240_000);
});
