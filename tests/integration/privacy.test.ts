// Differential privacy end to end: the site's own ledger refuses what would exceed its budget, over a real
// socket, however the coordinator insists; the ledger survives a restart; `fedval plan` predicts the error before a
// round. The simulated DP round that releases noisy metrics, with wider intervals than the exact round's and the
// privacy spent and left per site, is tests/integration/mixed-sources.test.ts's (one round, checked there).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolvePrivacySpec } from '@fedval/dp';
import type { ResolvedPrivacySpec } from '@fedval/dp';
import { createStatisticsLayout, resolveMetricSpec } from '@fedval/metrics';
import { createMessage } from '@fedval/protocol';
import type { Message } from '@fedval/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli, runJson } from '../helpers/run-cli.ts';
import { ScriptedCoordinator } from '../helpers/scripted-coordinator.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-privacy-'));
const METRIC_SPEC = resolveMetricSpec({ bins: 100, threshold: 0.5 });

function task(roundId: string, privacy: ResolvedPrivacySpec | undefined, deadlineMs = 60_000): Message {
  return createMessage('task', {
    studyId: 'study-dp',
    roundId,
    metricSpec: METRIC_SPEC,
    scorer: { kind: 'score_column', columns: ['score'] },
    contribution: { kind: 'plaintext' },
    ...(privacy ? { privacy } : {}),
    deadline: Date.now() + deadlineMs,
  });
}

function privacySpec(epsilon: number): ResolvedPrivacySpec {
  const layout = createStatisticsLayout(METRIC_SPEC);
  return resolvePrivacySpec({ epsilon, delta: 1e-6, minSites: 1, layout: { kind: 'flat', bins: 20 } }, { layout });
}

describe('site-enforced privacy budget', () => {
  const coordinator = new ScriptedCoordinator();
  const agents: ChildProcess[] = [];
  afterAll(async () => {
    agents.forEach((agent) => agent.kill('SIGKILL'));
    await coordinator.close();
  });

  function startAgent(): ChildProcess {
    const agent = spawn(process.execPath, ['site-agent/src/main.ts', 'start', '--config', join(dir, 'site.yaml')], { cwd: REPO_ROOT, stdio: 'ignore' });
    agents.push(agent);
    return agent;
  }

  async function refusalOrResult(message: Message): Promise<string> {
    coordinator.send(message);
    const reply = await coordinator.next((m) => m.type === 'task.refuse' || m.type === 'task.result');
    return reply.type === 'task.refuse' ? reply.content.reason.code : 'contributed';
  }

  it('refuses over-budget tasks however often the coordinator sends them, and remembers across restarts', async () => {
    const rows = Array.from({ length: 200 }, (_, i) => `${((i * 37) % 100) / 100},${i % 3 === 0 ? 1 : 0}`);
    writeFileSync(join(dir, 'data.csv'), `score,status\n${rows.join('\n')}\n`);
    writeFileSync(
      join(dir, 'site.yaml'),
      [
        `coordinator: ws://127.0.0.1:${coordinator.port}/ws`,
        'site_id: site-dp',
        'token: privacy-test-token-0123456789',
        'data: { path: ./data.csv, label: { column: status } }',
        'data_dir: ./state',
        'policy: { allowed_contributions: [plaintext], min_sites: 1 }',
        'privacy: { total_epsilon: 1.3, per_round_epsilon: 1, delta: 1e-6 }',
        'limits: { reconnect_initial_ms: 100, reconnect_max_ms: 400 }',
      ].join('\n'),
    );
    const first = startAgent();
    await coordinator.next((m) => m.type === 'hello');

    expect(await refusalOrResult(task('no-dp', undefined))).toBe('FEDVAL_ERR_AGENT_POLICY_REQUIRES_DP');
    expect(await refusalOrResult(task('too-big', privacySpec(1.5)))).toBe('FEDVAL_ERR_DP_ROUND_BUDGET_EXCEEDED');
    coordinator.send(task('r1', privacySpec(1)));
    const firstR1 = await coordinator.next((m) => m.type === 'task.result' || m.type === 'task.refuse');
    if (firstR1.type !== 'task.result') throw new Error(`r1 was not contributed: ${firstR1.type}`);
    // Two ε = 1 rounds compose (zCDP, Canonne–Kamath–Steinke conversion) to ε ≈ 1.45 at δ = 1e-6, over
    // the 1.3 budget: the coordinator insists, the site refuses every time.
    for (const round of ['r2', 'r2-again', 'r2-once-more']) expect(await refusalOrResult(task(round, privacySpec(1)))).toBe('FEDVAL_ERR_DP_BUDGET_EXCEEDED');
    // r1 sent again (a lost connection): the same contribution, byte for byte, and no second charge.
    coordinator.send(task('r1', privacySpec(1)));
    const resent = await coordinator.next((m) => m.type === 'task.result' || m.type === 'task.refuse');
    if (resent.type !== 'task.result') throw new Error(`r1 was not re-sent: ${resent.type}`);
    expect(resent.content.contributionSha256).toBe(firstR1.content.contributionSha256);
    expect(Buffer.from((resent.content.contribution as { vector: Float64Array }).vector.buffer)).toEqual(
      Buffer.from((firstR1.content.contribution as { vector: Float64Array }).vector.buffer),
    );

    first.kill('SIGTERM');
    await new Promise((resolve) => first.once('exit', resolve));
    startAgent();
    await coordinator.next((m) => m.type === 'hello');
    // After a restart the contribution is still held (agent.sqlite, until the round's deadline): the same bytes again.
    coordinator.send(task('r1', privacySpec(1)));
    const afterRestart = await coordinator.next((m) => m.type === 'task.result' || m.type === 'task.refuse');
    if (afterRestart.type !== 'task.result') throw new Error(`r1 was not re-sent after the restart: ${afterRestart.type}`);
    expect(afterRestart.content.contributionSha256).toBe(firstR1.content.contributionSha256);
    expect(await refusalOrResult(task('after-restart', privacySpec(1)))).toBe('FEDVAL_ERR_DP_BUDGET_EXCEEDED');
    // ε = 1 and ε = 0.3 compose to ε ≈ 1.05: within the budget.
    expect(await refusalOrResult(task('small', privacySpec(0.3), 3000))).toBe('contributed');
    // Once small's deadline has passed its contribution is dropped; asked again, the site refuses rather than release twice.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    expect(await refusalOrResult(task('small', privacySpec(0.01)))).toBe('FEDVAL_ERR_AGENT_ROUND_REPEATED');

    const budget = await runJson<{ spent: { epsilon: number }; rounds: { round_id: string; epsilon: number }[] }>('fedval-agent', ['budget', '--config', join(dir, 'site.yaml')]);
    expect(budget.rounds.map((r) => r.round_id)).toEqual(['r1', 'small']);
    expect(budget.spent.epsilon).toBeGreaterThan(1);
    expect(budget.spent.epsilon).toBeLessThanOrEqual(1.3);
  }, 90_000);
});

describe('fedval plan: the error of a DP round, before any round runs', () => {
  it('plans the error before any round runs', async () => {
    const planned = await runJson<any>('fedval', ['plan', '--patients', '2000', '--prevalence', '0.3', '--sites', '3', '--epsilon', '1', '--group-levels', '2']);
    expect(planned.predicted_median_abs_error.overall.roc_auc).toBeGreaterThan(0);
    expect(planned.predicted_median_abs_error.overall.roc_auc).toBeLessThan(0.05);
    expect(planned.predicted_median_abs_error.per_subgroup_level).toHaveLength(1);
    const refused = await runCli('fedval', ['plan', '--patients', '2000', '--prevalence', '0.3', '--sites', '2', '--min-sites', '3']);
    expect(refused.code).toBe(2);
  });

  it('plans the error of c_index and td_auc for a survival study: a coarser grid, less noise', async () => {
    const plan = (grid: string[]) =>
      runJson<any>('fedval', ['plan', '--task', 'survival', '--horizon', '1826', '--patients', '2500', '--prevalence', '0.4', '--censored', '0.15', '--sites', '3', ...grid]);
    const coarse = await plan(['--bins', '10', '--time-bins', '10', '--after-bins', '2']);
    const fine = await plan([]);
    expect(coarse.count_cells).toBe(10 * 13 * 2);
    expect(fine.count_cells).toBe(100 * 251 * 2);
    expect(coarse.predicted_median_abs_error.overall.c_index).toBeGreaterThan(0);
    expect(coarse.predicted_median_abs_error.overall.c_index).toBeLessThan(fine.predicted_median_abs_error.overall.c_index);
    expect(coarse.predicted_median_abs_error.overall.td_auc).toBeLessThan(fine.predicted_median_abs_error.overall.td_auc);
    const refused = await runCli('fedval', ['plan', '--task', 'survival', '--patients', '2000', '--prevalence', '0.3', '--sites', '3']);
    expect(refused.code).toBe(2);
  });
});
