// task-policy.ts — the site's policy checks on a task before anything is read: task type, contribution kind, subgroup
// columns, deadline, and whether an exact (non-DP) release is allowed.
import type { MetricSpec } from '@fedval/metrics';
import type { TaskContent } from '@fedval/protocol';
import type { AgentConfig } from './config.ts';
import { AgentError } from './errors.ts';

/** Throws the coded refusal (FEDVAL_ERR_AGENT_POLICY_…, …_DEADLINE) of the first check the task fails. */
export function checkTaskPolicy(policy: AgentConfig['policy'], spec: MetricSpec, task: TaskContent, now = Date.now()): void {
  if (!policy.allowed_tasks.includes(spec.task)) throw new AgentError('FEDVAL_ERR_AGENT_POLICY_TASK', spec.task);
  if (!policy.allowed_contributions.includes(task.contribution.kind)) {
    throw new AgentError('FEDVAL_ERR_AGENT_POLICY_CONTRIBUTION', task.contribution.kind);
  }
  if (policy.allowed_group_columns) {
    const allowed = policy.allowed_group_columns;
    const refused = spec.groups.map((group) => group.column).filter((column) => !allowed.includes(column));
    if (refused.length > 0) throw new AgentError('FEDVAL_ERR_AGENT_POLICY_GROUPS', `not in policy.allowed_group_columns: ${refused.join(', ')}`);
  }
  if (task.deadline <= now) throw new AgentError('FEDVAL_ERR_AGENT_DEADLINE');
  if (!task.privacy && policy.require_dp) throw new AgentError('FEDVAL_ERR_AGENT_POLICY_REQUIRES_DP', 'set policy.require_dp: false to allow exact releases');
}
