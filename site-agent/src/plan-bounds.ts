// plan-bounds.ts — what a BFV plan's per-entry bounds may ask of a site: checked against the site's own patient limit before any read, and enforced by saturation after it, so a bound chosen by the coordinator is never a free yes/no question about the data.
import type { BfvPlan } from '@fedval/he';
import type { ExactRelease, PrivateRelease } from '@fedval/dp';
import { AgentError } from './errors.ts';

/** The plan's bound on |entry| for every entry of the vector (its run-length encoded entryBounds, expanded). */
export function planEntryBounds(plan: BfvPlan): Float64Array {
  const bounds = new Float64Array(plan.vectorLength);
  let offset = 0;
  for (const [count, maxAbs] of plan.entryBounds) {
    bounds.fill(maxAbs, offset, offset + count);
    offset += count;
  }
  return bounds;
}

/**
 * Before any data is read: the plan must hold what this site sends with up to `patients` patients (the smaller of
 * policy.min_plan_patients and limits.max_rows), entry by entry, as the release itself bounds it (its per-patient
 * maximum times the patients, plus under DP the noise's tail bound: @fedval/dp entryMaxAbsPerSite). A plan whose bound
 * on some entry is tighter (say 0 on one histogram bin) could only ever serve to ask whether the data exceed it; it is
 * refused here with FEDVAL_ERR_AGENT_PLAN_BOUNDS, a decision that depends on the task and the site's configuration only.
 */
export function checkPlanBounds(plan: BfvPlan, release: PrivateRelease | ExactRelease, patients: number): void {
  if (plan.vectorLength !== release.length) {
    throw new AgentError('FEDVAL_ERR_AGENT_INVALID_TASK', `the encryption plan carries ${plan.vectorLength} entries, the release has ${release.length}`);
  }
  const needed = release.entryMaxAbsPerSite(patients);
  const bounds = planEntryBounds(plan);
  let short = 0;
  for (let e = 0; e < needed.length; e++) if ((needed[e] as number) > (bounds[e] as number)) short += 1;
  if (short > 0) {
    throw new AgentError('FEDVAL_ERR_AGENT_PLAN_BOUNDS', `${short} of ${needed.length} entries cannot hold a site of ${patients} patients (policy.min_plan_patients, limits.max_rows)`);
  }
}

/**
 * After the noise is added: every entry outside the plan's bound is set to the nearest bound (saturation), and the
 * number of entries changed is returned for the site's own log. Saturating the released vector is post-processing of
 * the noisy release, so it costs no privacy (Dwork & Roth 2014, Prop. 2.1), and the site sends a contribution of the
 * same shape whether or not anything was saturated: neither a refusal nor an error tells the coordinator that a count
 * exceeded a bound. The round is charged as every round that reaches encryption is. With checkPlanBounds passed, only a
 * site larger than min_plan_patients, or noise beyond its tail bound, can saturate; the aggregate is then biased, which
 * the site's administrator sees in the site log.
 */
export function saturateToPlan(vector: Float64Array, plan: BfvPlan): { vector: Float64Array; saturated: number } {
  const bounds = planEntryBounds(plan);
  if (bounds.length !== vector.length) return { vector, saturated: 0 }; // a length mismatch is refused by the encryptor
  const out = new Float64Array(vector);
  let saturated = 0;
  for (let e = 0; e < out.length; e++) {
    const bound = bounds[e] as number;
    const value = out[e] as number;
    if (value > bound) out[e] = bound;
    else if (value < -bound) out[e] = -bound;
    else continue;
    saturated += 1;
  }
  return { vector: out, saturated };
}
