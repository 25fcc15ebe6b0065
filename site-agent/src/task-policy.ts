// task-policy.ts — the site's policy checks on a task before anything is read: task type, contribution kind, subgroup
// columns and levels, minimum cell, deadline (passed, or too far ahead), whether an exact (non-DP) or unmasked
// encrypted release is allowed, and, under DP, the release minimum and the ε this site's own noise share gives
// (whatever the coordinator claims about the other sites).
import type { PrivateRelease } from '@fedval/dp';
import type { MetricSpec } from '@fedval/metrics';
import type { TaskContent } from '@fedval/protocol';
import type { AgentConfig } from './config.ts';
import { AgentError } from './errors.ts';

/** Levels a subgroup column breaks results into: its declared levels, or the bands of its numeric cuts. */
export function groupLevelCount(group: MetricSpec['groups'][number]): number {
  if (group.cuts) return group.cuts.length + 1;
  return group.levels?.length ?? 0;
}

/** Throws the coded refusal (FEDVAL_ERR_AGENT_POLICY_…, FEDVAL_ERR_AGENT_DEADLINE) of the first check the task fails. */
export function checkTaskPolicy(policy: AgentConfig['policy'], spec: MetricSpec, task: TaskContent, now = Date.now()): void {
  if (!policy.allowed_tasks.includes(spec.task)) throw new AgentError('FEDVAL_ERR_AGENT_POLICY_TASK', spec.task);
  if (!policy.allowed_contributions.includes(task.contribution.kind)) {
    throw new AgentError('FEDVAL_ERR_AGENT_POLICY_CONTRIBUTION', `${task.contribution.kind} (policy.allowed_contributions: ${policy.allowed_contributions.join(', ')})`);
  }
  if (policy.allowed_group_columns) {
    const allowed = policy.allowed_group_columns;
    const refused = spec.groups.map((group) => group.column).filter((column) => !allowed.includes(column));
    if (refused.length > 0) throw new AgentError('FEDVAL_ERR_AGENT_POLICY_GROUPS', `not in policy.allowed_group_columns: ${refused.join(', ')}`);
  }
  const wide = spec.groups.filter((group) => groupLevelCount(group) > policy.max_group_levels).map((group) => group.column);
  if (wide.length > 0) throw new AgentError('FEDVAL_ERR_AGENT_POLICY_GROUP_LEVELS', `more than ${policy.max_group_levels} levels: ${wide.join(', ')}`);
  // The study's suppression threshold may be stricter than the site's, never looser: effective = max(study, site).
  if (spec.groups.length > 0 && spec.minCellSize < policy.min_cell) {
    throw new AgentError('FEDVAL_ERR_AGENT_POLICY_MIN_CELL', `the study asks ${spec.minCellSize}, the site's floor is ${policy.min_cell}`);
  }
  if (task.deadline <= now) throw new AgentError('FEDVAL_ERR_AGENT_DEADLINE');
  // The round's secrets (secure aggregation) and a masked input's refund wait for the deadline the coordinator chose.
  if (task.deadline - now > policy.max_task_deadline_seconds * 1000) {
    throw new AgentError('FEDVAL_ERR_AGENT_POLICY_DEADLINE', `the deadline is ${Math.ceil((task.deadline - now) / 1000)} s ahead, the site's maximum is ${policy.max_task_deadline_seconds} s`);
  }
  if (!task.privacy && policy.require_dp) throw new AgentError('FEDVAL_ERR_AGENT_POLICY_REQUIRES_DP', 'set policy.require_dp: false to allow exact releases');
  // Bonawitz et al. 2017 masks: only the sum of the contributors decrypts to anything; without them the key holder's
  // secret key opens this site's ciphertext alone.
  if (task.contribution.kind === 'bfv' && !task.secureAggregation && policy.require_secure_aggregation) {
    throw new AgentError('FEDVAL_ERR_AGENT_POLICY_REQUIRES_SECAGG', 'set policy.require_secure_aggregation: false to allow unmasked encrypted contributions');
  }
}

/**
 * Checks a private release against the site's own floor before any data is read: the release minimum (the privacy
 * spec's minSites, which sizes this site's noise share) must be at least policy.min_sites, and the ε of this site's
 * share alone (@fedval/dp PrivateRelease.ownShareEpsilon: the guarantee if every other party colludes) at most
 * policy.max_own_share_epsilon.
 */
export function checkReleasePolicy(policy: AgentConfig['policy'], release: PrivateRelease): void {
  const minSites = release.privacy.minSites;
  // Under every mechanism: fewer sites in the sum lets each remaining site subtract its own numbers and read the others'.
  if (minSites < policy.min_sites) {
    throw new AgentError('FEDVAL_ERR_AGENT_POLICY_MIN_SITES', `the study's minSites is ${minSites}, the site's minimum ${policy.min_sites}`);
  }
  if (release.ownShareEpsilon > policy.max_own_share_epsilon) {
    throw new AgentError(
      'FEDVAL_ERR_AGENT_POLICY_OWN_SHARE_EPSILON',
      `own-share ε ${release.ownShareEpsilon.toPrecision(3)} at minSites ${minSites} exceeds ${policy.max_own_share_epsilon}`,
    );
  }
}
