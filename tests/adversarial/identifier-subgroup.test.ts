// Attack 6 (issue 12): with an identifier column as the subgroup and a minimum cell of 1 (the sponsor sets it), each
// one-patient level came back suppressed with reason `positives<1` or `negatives<1`: its label. The site now refuses a
// subgroup column of more than policy.max_group_levels levels and a minimum cell below its own floor (policy.min_cell),
// and what is released for suppressed levels reads the same whatever the reason.
import { createRelease, finalizeRelease } from '@fedval/dp';
import { createStatisticsLayout, resolveMetricSpec } from '@fedval/metrics';
import type { BinaryMetricsReport } from '@fedval/metrics';
import { afterAll, describe, expect, it } from 'vitest';
import { ScriptedCoordinator } from '../helpers/scripted-coordinator.ts';
import { answerTo, hostileTask, siteBudget, startHostileSite } from './hostile-coordinator.ts';
import type { HostileSite } from './hostile-coordinator.ts';

const PATIENTS = 30;
const ids = Array.from({ length: PATIENTS }, (_, i) => `P${String(i).padStart(3, '0')}`);

describe('an identifier column as the subgroup', () => {
  const coordinator = new ScriptedCoordinator();
  let site: HostileSite | undefined;
  afterAll(async () => {
    await site?.stop();
    await coordinator.close();
  });

  it('is refused for its levels or its minimum cell; suppressed levels of an allowed task tell no label', async () => {
    const rows = ids.map((id, i) => `${id},${((i * 37) % 100) / 100},${i % 3 === 0 ? 1 : 0}`);
    // Plaintext is opted in here so the released levels can be finalized as the key holder would; require_dp off for the same reason.
    site = startHostileSite(coordinator, 'site-ids', { csv: `patient_id,score,status\n${rows.join('\n')}\n`, policy: 'allowed_contributions: [plaintext], require_dp: false' });
    await coordinator.next((m) => m.type === 'hello');

    const everyId = { task: 'binary' as const, bins: 100, minCellSize: 1, groups: [{ column: 'patient_id', levels: ids }] };
    expect((await answerTo(coordinator, hostileTask('r-ids', { metricSpec: everyId }))).outcome).toBe('FEDVAL_ERR_AGENT_POLICY_GROUP_LEVELS');
    const someIds = { task: 'binary' as const, bins: 100, minCellSize: 1, groups: [{ column: 'patient_id', levels: ids.slice(0, 12) }] };
    expect((await answerTo(coordinator, hostileTask('r-some-ids', { metricSpec: someIds }))).outcome).toBe('FEDVAL_ERR_AGENT_POLICY_MIN_CELL');
    expect((await siteBudget(site)).rounds).toEqual([]);

    // Within the site's floor (12 levels, minimum cell 10) the round runs, and every one-patient level reads the same.
    const allowed = { ...someIds, minCellSize: 10 };
    const served = await answerTo(coordinator, hostileTask('r-allowed', { metricSpec: allowed }));
    if (served.reply.type !== 'task.result' || served.reply.content.contribution.kind !== 'plaintext') throw new Error(`expected a plaintext result, got ${served.outcome}`);
    const layout = createStatisticsLayout(resolveMetricSpec(allowed));
    const metrics = finalizeRelease(createRelease(layout, null), served.reply.content.contribution.vector, 1).metrics as BinaryMetricsReport;
    const levels = metrics.by_group['patient_id']!;
    // P000, P003, … are positive, the others negative: both kinds of one-patient level are among the twelve.
    for (const id of ids.slice(0, 12)) expect(levels[id], id).toEqual({ suppressed: true });
    expect(JSON.stringify(metrics)).not.toMatch(/positives<|negatives<|n<\d/);
  }, 90_000);
});
