import { createRelease } from '@fedval/dp';
import { planBfvParameters } from '@fedval/he';
import { createStatisticsLayout, resolveMetricSpec } from '@fedval/metrics';
import { describe, expect, it } from 'vitest';
import { checkPlanBounds, planEntryBounds, saturateToPlan } from './plan-bounds.ts';

const codeOf = (run: () => unknown): string | undefined => {
  try {
    run();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
};

describe('plan bounds at the site', () => {
  const release = createRelease(createStatisticsLayout(resolveMetricSpec({ task: 'binary', bins: 10 })), undefined);
  const planFor = (patients: number) => {
    const bounds = release.entryMaxAbsPerSite(patients);
    return planBfvParameters({ vectorLength: release.length, maxSites: 3, maxAbsPerSite: bounds.reduce((m, b) => Math.max(m, b), 1), entryMaxAbs: bounds });
  };

  it('expands the run-length bounds and admits a plan made for at least the required patients', () => {
    const plan = planFor(1000);
    expect(Array.from(planEntryBounds(plan))).toEqual(Array.from(release.entryMaxAbsPerSite(1000)));
    expect(codeOf(() => checkPlanBounds(plan, release, 1000))).toBeUndefined();
    expect(codeOf(() => checkPlanBounds(plan, release, 999))).toBeUndefined();
    expect(codeOf(() => checkPlanBounds(plan, release, 1001))).toBe('FEDVAL_ERR_AGENT_PLAN_BOUNDS');
  });

  it('saturates entries beyond their bound to it and counts them, leaving the others as they are', () => {
    const plan = planFor(5);
    const bounds = planEntryBounds(plan);
    const vector = new Float64Array(bounds.length);
    vector[0] = (bounds[0] as number) + 7;
    vector[1] = -(bounds[1] as number) - 1;
    vector[2] = bounds[2] as number;
    const { vector: out, saturated } = saturateToPlan(vector, plan);
    expect(saturated).toBe(2);
    expect([out[0], out[1], out[2], out[3]]).toEqual([bounds[0], -(bounds[1] as number), bounds[2], 0]);
    expect(vector[0]).toBe((bounds[0] as number) + 7); // the input is not modified
  });
});
