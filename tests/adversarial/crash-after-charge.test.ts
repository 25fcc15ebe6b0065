// Issue 12: a site killed between charging its ledger and keeping its contribution came back refusing the round
// (FEDVAL_ERR_AGENT_ROUND_REPEATED) with its budget spent. Charging and keeping are now one transaction: killed there
// (SIGKILL, through the agent's test-only fault seam FEDVAL_AGENT_TEST_FAULT=crash-after-charge), the site burns no
// budget and answers the round after its restart, charged once.
import { afterAll, describe, expect, it } from 'vitest';
import { ScriptedCoordinator } from '../helpers/scripted-coordinator.ts';
import { answerTo, hostileTask, privacySpecFor, scoredRows, siteBudget, startHostileSite } from './hostile-coordinator.ts';
import type { HostileSite } from './hostile-coordinator.ts';

const METRIC_SPEC = { task: 'binary', bins: 100 };

describe('an agent killed between charging its ledger and keeping its contribution', () => {
  const coordinator = new ScriptedCoordinator();
  let site: HostileSite | undefined;
  afterAll(async () => {
    await site?.stop();
    await coordinator.close();
  });

  it('burns no budget and answers the round after a restart', async () => {
    site = startHostileSite(coordinator, 'site-crash', {
      csv: `score,status\n${scoredRows(200).join('\n')}\n`,
      policy: 'allowed_contributions: [plaintext]',
      env: { FEDVAL_AGENT_TEST_FAULT: 'crash-after-charge' },
    });
    await coordinator.next((m) => m.type === 'hello');
    const task = hostileTask('r-crash', { metricSpec: METRIC_SPEC, privacy: privacySpecFor(METRIC_SPEC, { epsilon: 1, minSites: 3 }) });
    const died = new Promise<NodeJS.Signals | null>((resolve) => site!.process.once('exit', (_code, signal) => resolve(signal)));
    coordinator.send(task);
    expect(await died).toBe('SIGKILL');
    expect(coordinator.received.some((m) => m.type === 'task.result')).toBe(false);
    expect((await siteBudget(site)).rounds).toEqual([]);

    site.restart();
    await coordinator.next((m) => m.type === 'hello');
    const again = await answerTo(coordinator, task);
    expect(again.outcome).toBe('contributed');
    const budget = await siteBudget(site);
    expect(budget.rounds.map((r) => r.round_id)).toEqual(['r-crash']);
    // Asked once more (a lost connection): the contribution kept with the charge, the same bytes, no second charge.
    const resent = await answerTo(coordinator, task);
    if (again.reply.type !== 'task.result' || resent.reply.type !== 'task.result') throw new Error('expected results');
    expect(resent.reply.content.contributionSha256).toBe(again.reply.content.contributionSha256);
    expect((await siteBudget(site)).rounds).toHaveLength(1);
  }, 90_000);
});
