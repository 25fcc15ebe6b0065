// dp-utility.ts — planner predictions vs Monte Carlo for the issue-5 targets: AUC error at ε = 1, δ = 1e-6 (prints JSON).
// Run: node tests/bench/dp-utility.ts [--trials N]
import { planRelease, simulateRelease } from '@fedval/dp';
import type { PlanReleaseRequest, ReleasePlan } from '@fedval/dp';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '400' } } });
const trials = Number(values.trials);

const TARGETS = [
  { patients: 2000, target: 0.02 },
  { patients: 20000, target: 0.005 },
] as const;
const PREVALENCES = [0.1, 0.2, 0.3, 0.5] as const;
const SCENARIOS: { name: string; request: Partial<PlanReleaseRequest> & { sites: number } }[] = [
  { name: 'skellam, 3 sites, shares for 3', request: { sites: 3, mechanism: 'skellam' } },
  { name: 'skellam, 4 sites, shares for 3 (one dropout allowed)', request: { sites: 4, minSites: 3, mechanism: 'skellam' } },
  { name: 'discrete gaussian at each of 4 sites', request: { sites: 4, mechanism: 'discrete-gaussian' } },
];

function describeLayout(plan: ReleasePlan): string {
  const bins = plan.layout.edges.length - 1;
  return plan.layout.tree ? `tree b=${plan.layout.tree.branching}, ${bins} bins, ${plan.layout.placement}` : `flat, ${bins} bins, ${plan.layout.placement}`;
}

const rows = [];
for (const { patients, target } of TARGETS) {
  for (const prevalence of PREVALENCES) {
    for (const { name, request } of SCENARIOS) {
      const plan = planRelease({ patients, prevalence, epsilon: 1, delta: 1e-6, subgroupLevels: [2], ...request });
      const start = performance.now();
      const simulated = simulateRelease(plan, { trials, seed: `dp-utility ${patients} ${prevalence} ${name}` });
      rows.push({
        patients,
        prevalence,
        scenario: name,
        layout: describeLayout(plan),
        epsilon: plan.epsilon,
        rho: plan.rho,
        aggregateNoiseStd: plan.aggregateNoiseStd,
        aucTarget: target,
        aucMedianAbsError: { predicted: plan.overall.auc.medianAbsError, simulated: simulated.overall.auc },
        aucCoarseningBias: plan.overall.auc.bias,
        sensitivityAt05: { predicted: plan.overall.sensitivity[0]!.medianAbsError, simulated: simulated.overall.sensitivity[0] },
        specificityAt05: { predicted: plan.overall.specificity[0]!.medianAbsError, simulated: simulated.overall.specificity[0] },
        subgroupLevelAuc: { predicted: plan.subgroups[0]!.auc.medianAbsError, simulated: simulated.subgroups[0]!.auc },
        meetsTarget: plan.overall.auc.medianAbsError <= target && simulated.overall.auc <= target,
        simulationMs: Math.round(performance.now() - start),
      });
    }
  }
}
console.log(JSON.stringify({ bench: 'dp-utility', trials, epsilon: 1, delta: 1e-6, subgroupLevels: [2], assumedAuc: 0.75, rows }, null, 2));
