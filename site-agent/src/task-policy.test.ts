// The site's own floor on a task: each policy refusal, and the limits where a task passes.
import { createPrivateRelease } from '@fedval/dp';
import { createStatisticsLayout, resolveMetricSpec } from '@fedval/metrics';
import type { TaskContent } from '@fedval/protocol';
import { describe, expect, it } from 'vitest';
import { resolveAgentConfig } from './config.ts';
import { checkReleasePolicy, checkTaskPolicy } from './task-policy.ts';

const config = resolveAgentConfig({ coordinator: 'ws://c/ws', site_id: 's', token: 'x'.repeat(16), data: { path: 'd.csv', label: { column: 'y' } }, data_dir: 'state' }, '/tmp');
const policy = config.policy;
const task = (contribution: TaskContent['contribution'], privacy?: Record<string, unknown>) =>
  ({ studyId: 's', roundId: 'r', metricSpec: {}, scorer: { kind: 'score_column', columns: ['p'] }, contribution, deadline: Date.now() + 60_000, ...(privacy ? { privacy } : {}) }) as TaskContent;
const bfv = { kind: 'bfv', plan: {}, publicKey: new Uint8Array(1) } as unknown as TaskContent['contribution'];
const masked = (privacy?: Record<string, unknown>): TaskContent => ({ ...task(bfv, privacy), secureAggregation: { threshold: 3 } });
const codeOf = (run: () => void): string | undefined => {
  try {
    run();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
};

describe('site task policy', () => {
  it('refuses plaintext by default, too many subgroup levels and a minimum cell below the floor', () => {
    const spec = resolveMetricSpec({});
    const policy = { ...config.policy, require_secure_aggregation: false };
    expect(codeOf(() => checkTaskPolicy(policy, spec, task({ kind: 'plaintext' }, {})))).toBe('FEDVAL_ERR_AGENT_POLICY_CONTRIBUTION');
    expect(codeOf(() => checkTaskPolicy(policy, spec, masked({})))).toBeUndefined();
    const levels = (n: number) => Array.from({ length: n }, (_, i) => `L${i}`);
    expect(codeOf(() => checkTaskPolicy(policy, resolveMetricSpec({ groups: [{ column: 'id', levels: levels(21) }] }), task(bfv, {})))).toBe('FEDVAL_ERR_AGENT_POLICY_GROUP_LEVELS');
    expect(codeOf(() => checkTaskPolicy(policy, resolveMetricSpec({ groups: [{ column: 'age', cuts: levels(20).map((_, i) => i + 1) }] }), task(bfv, {})))).toBe('FEDVAL_ERR_AGENT_POLICY_GROUP_LEVELS');
    expect(codeOf(() => checkTaskPolicy(policy, resolveMetricSpec({ groups: [{ column: 'id', levels: levels(20) }] }), task(bfv, {})))).toBeUndefined();
    expect(codeOf(() => checkTaskPolicy(policy, resolveMetricSpec({ minCellSize: 9, groups: [{ column: 'g', levels: ['a'] }] }), task(bfv, {})))).toBe('FEDVAL_ERR_AGENT_POLICY_MIN_CELL');
    expect(codeOf(() => checkTaskPolicy(policy, resolveMetricSpec({ minCellSize: 11, groups: [{ column: 'g', levels: ['a'] }] }), task(bfv, {})))).toBeUndefined();
  });

  it('refuses a deadline further ahead than policy.max_task_deadline_seconds (default 7 days), to the millisecond', () => {
    const spec = resolveMetricSpec({});
    const now = 1_700_000_000_000;
    const due = (ms: number): TaskContent => ({ ...masked({}), deadline: now + ms });
    expect(policy.max_task_deadline_seconds).toBe(604_800);
    expect(codeOf(() => checkTaskPolicy(policy, spec, due(604_800_000), now))).toBeUndefined();
    expect(codeOf(() => checkTaskPolicy(policy, spec, due(604_800_001), now))).toBe('FEDVAL_ERR_AGENT_POLICY_DEADLINE');
    // The coordinator's default round deadline (limits.round_deadline_seconds: 600 s) passes the site's default cap.
    expect(codeOf(() => checkTaskPolicy(policy, spec, due(600_000), now))).toBeUndefined();
    const strict = { ...policy, max_task_deadline_seconds: 60 };
    expect(codeOf(() => checkTaskPolicy(strict, spec, due(60_000), now))).toBeUndefined();
    expect(codeOf(() => checkTaskPolicy(strict, spec, due(60_001), now))).toBe('FEDVAL_ERR_AGENT_POLICY_DEADLINE');
    expect(codeOf(() => checkTaskPolicy(strict, spec, due(0), now))).toBe('FEDVAL_ERR_AGENT_DEADLINE');
  });

  it('refuses an encrypted task without secure aggregation by default, whatever else it asks; a site may opt out', () => {
    const spec = resolveMetricSpec({});
    expect(policy.require_secure_aggregation).toBe(true);
    expect(codeOf(() => checkTaskPolicy(policy, spec, task(bfv, {})))).toBe('FEDVAL_ERR_AGENT_POLICY_REQUIRES_SECAGG');
    expect(codeOf(() => checkTaskPolicy(policy, spec, masked({})))).toBeUndefined();
    expect(codeOf(() => checkTaskPolicy({ ...policy, require_secure_aggregation: false }, spec, task(bfv, {})))).toBeUndefined();
    // The plaintext seam has no masks; it is governed by allowed_contributions alone.
    expect(codeOf(() => checkTaskPolicy({ ...policy, allowed_contributions: ['plaintext'] }, spec, task({ kind: 'plaintext' }, {})))).toBeUndefined();
  });

  it('refuses a release minimum below min_sites and an own-share ε above the cap', () => {
    const layout = createStatisticsLayout(resolveMetricSpec({ bins: 100 }));
    const release = (minSites: number, epsilon = 1) => createPrivateRelease(layout, { epsilon, delta: 1e-6, mechanism: 'skellam', minSites, layout: { kind: 'flat', bins: 20 } } as never);
    expect(codeOf(() => checkReleasePolicy(policy, release(2)))).toBe('FEDVAL_ERR_AGENT_POLICY_MIN_SITES');
    expect(codeOf(() => checkReleasePolicy(policy, release(3)))).toBeUndefined();
    const big = release(1000);
    expect(big.ownShareEpsilon).toBeGreaterThan(4);
    expect(codeOf(() => checkReleasePolicy(policy, big))).toBe('FEDVAL_ERR_AGENT_POLICY_OWN_SHARE_EPSILON');
    expect(codeOf(() => checkReleasePolicy({ ...policy, max_own_share_epsilon: big.ownShareEpsilon + 1 }, big))).toBeUndefined();
    expect(codeOf(() => checkReleasePolicy({ ...policy, min_sites: 1 }, release(1)))).toBeUndefined();
  });
});
