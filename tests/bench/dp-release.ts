// dp-release.ts — end-to-end accuracy of the private release against the planner's predictions (prints JSON).
//
// Each round: every site protects (encodes and noises) its metrics vector, the protected vectors are
// summed (what the key holder decrypts), decoded and finalized; the result is compared with
// finalizeMetrics on the plain sum of the site vectors (no DP, full score grid).
// Run: node tests/bench/dp-release.ts [--rounds N]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse } from 'csv-parse/sync';
import { createPrivateRelease, planPrivacySpec, seededRandomSource } from '@fedval/dp';
import type { PrivacyContext, ReleasePlan } from '@fedval/dp';
import { addStatistics, createAccumulator, createStatisticsLayout, finalizeMetrics } from '@fedval/metrics';
import type { BinaryMetricsReport } from '@fedval/metrics';
import { normal, rotterdamScore } from './rotterdam-score.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '100' } } });
const rounds = Number(values.rounds);
const privacySpec = { epsilon: 1, delta: 1e-6, minSites: 3 };
const layout = createStatisticsLayout({ groups: [{ column: 'meno', levels: ['0', '1'] }] });

/** One site's metrics vector and how many rows (patients, excluded ones included) it read. */
interface Site {
  vector: Float64Array;
  rows: number;
}

function rotterdamSites(): Site[] {
  return ['a', 'b', 'c'].map((site) => {
    const file = new URL(`../../examples/rotterdam/data/site-${site}.csv`, import.meta.url);
    const rows = parse(readFileSync(file, 'utf8'), { columns: true, skip_empty_lines: true }) as Record<string, string>[];
    const accumulator = createAccumulator(layout);
    for (const row of rows) {
      const label = row['event5y'] === '' ? null : Number(row['event5y']);
      accumulator.addBinary(rotterdamScore(row), label, [row['meno'] ?? null]);
    }
    return { vector: accumulator.vector(), rows: rows.length };
  });
}

// Equal-variance binormal model (Hanley & McNeil 1982): AUC = Φ(d/√2), so AUC 0.75 needs d = √2·Φ⁻¹(0.75),
// with Φ⁻¹(0.75) = 0.6744897501960817 (the upper quartile of the standard normal).
const SEPARATION_AUC_075 = Math.SQRT2 * 0.6744897501960817;

/** A generated binormal cohort (calibrated scores, AUC 0.75), spread over `sites` sites, half in each meno level. */
function binormalSites(patients: number, prevalence: number, sites: number): Site[] {
  const rng = seededRandomSource('dp-release bench cohort');
  const d = SEPARATION_AUC_075;
  const offset = Math.log(prevalence / (1 - prevalence)) - (d * d) / 2;
  const accumulators = Array.from({ length: sites }, () => createAccumulator(layout));
  for (let i = 0; i < patients; i += 1) {
    const label = rng.nextUint32() / 4294967296 < prevalence ? 1 : 0;
    const score = 1 / (1 + Math.exp(-(offset + d * (normal(rng) + label * d))));
    accumulators[i % sites]!.addBinary(score, label, [i % 2 ? '1' : '0']);
  }
  return accumulators.map((a, s) => ({ vector: a.vector(), rows: Math.ceil((patients - s) / sites) }));
}

function sum(vectors: Float64Array[]): Float64Array {
  return vectors.reduce((a, b) => addStatistics(a, b));
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = values.map(Math.abs).sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function describeLayout(plan: ReleasePlan): string {
  const bins = plan.layout.edges.length - 1;
  return plan.layout.tree ? `tree b=${plan.layout.tree.branching}, ${bins} bins, ${plan.layout.placement}` : `flat, ${bins} bins, ${plan.layout.placement}`;
}

function runScenario(name: string, sites: Site[], context: Omit<PrivacyContext, 'layout'>, minSites: number, target: number): object {
  const { privacy, plan } = planPrivacySpec({ ...privacySpec, minSites }, { layout, ...context });
  const release = createPrivateRelease(layout, privacy);
  const siteVectors = sites.map((s) => s.vector);
  const truth = finalizeMetrics(layout, sum(siteVectors)) as BinaryMetricsReport;
  const coarseOnly = finalizeMetrics(layout, release.decode(sum(siteVectors.map((v) => release.encode(v))), siteVectors.length).vector) as BinaryMetricsReport;
  const rng = seededRandomSource(`dp-release bench noise ${name}`);
  const errors = { auc: [] as number[], sensitivity: [] as number[], specificity: [] as number[], brier: [] as number[], subgroupAuc: [] as number[] };
  let suppressed = 0;
  let protectMs = 0;
  let decodeMs = 0;
  for (let r = 0; r < rounds; r += 1) {
    let start = performance.now();
    const protectedVectors = siteVectors.map((v) => release.protect(v, rng));
    protectMs += (performance.now() - start) / siteVectors.length;
    start = performance.now();
    const { vector, blockVariances } = release.decode(sum(protectedVectors), siteVectors.length);
    decodeMs += performance.now() - start;
    const noisy = finalizeMetrics(layout, vector, { noise: { blockVariances } }) as BinaryMetricsReport;
    errors.auc.push(noisy.roc_auc! - truth.roc_auc!);
    errors.sensitivity.push(noisy.at_threshold.sensitivity! - truth.at_threshold.sensitivity!);
    errors.specificity.push(noisy.at_threshold.specificity! - truth.at_threshold.specificity!);
    errors.brier.push(noisy.brier_score! - truth.brier_score!);
    const level = noisy.by_group['meno']!['1']!;
    const exactLevel = truth.by_group['meno']!['1']!;
    if (level.suppressed || exactLevel.suppressed) suppressed += 1;
    else errors.subgroupAuc.push(level.roc_auc! - exactLevel.roc_auc!);
  }
  const index = plan!.request.thresholds.indexOf(layout.spec.threshold);
  return {
    scenario: name,
    patients: truth.n,
    positives: truth.positives,
    sites: siteVectors.length,
    minSites,
    planningContext: context,
    layout: describeLayout(plan!),
    releaseEntries: release.length,
    metricsEntries: layout.length,
    rho: release.rho,
    epsilon: release.epsilon,
    noiseStdPerBlock: Object.fromEntries(release.summary().blocks.map((b) => [b.name, Number(b.sigma.toPrecision(4))])),
    maxAbsPerSite: release.maxAbsPerSite(Math.max(...sites.map((s) => s.rows))),
    exact: { roc_auc: truth.roc_auc, sensitivity: truth.at_threshold.sensitivity, specificity: truth.at_threshold.specificity },
    coarseningOnly: { roc_auc: coarseOnly.roc_auc, sensitivity: coarseOnly.at_threshold.sensitivity, specificity: coarseOnly.at_threshold.specificity },
    medianAbsError: {
      roc_auc: { observed: median(errors.auc), predicted: plan!.overall.auc.medianAbsError, target: target, meetsTarget: (median(errors.auc) ?? 1) <= target },
      sensitivity: { observed: median(errors.sensitivity), predicted: plan!.overall.sensitivity[index]!.medianAbsError },
      specificity: { observed: median(errors.specificity), predicted: plan!.overall.specificity[index]!.medianAbsError },
      brier_score: { observed: median(errors.brier) },
      subgroupLevelAuc: { observed: median(errors.subgroupAuc), predicted: plan!.subgroups[0]!.auc.medianAbsError, roundsSuppressed: suppressed },
    },
    msPerSiteProtect: Number((protectMs / rounds).toFixed(2)),
    msDecode: Number((decodeMs / rounds).toFixed(2)),
  };
}

const scenarios = [
  runScenario('rotterdam example sites (real data, fixed logistic score)', rotterdamSites(), { expectedPatients: 2000, expectedPrevalence: 0.5, sites: 3 }, 3, 0.02),
  runScenario('generated binormal, 4 sites, shares for 3', binormalSites(20_000, 0.3, 4), { expectedPatients: 20_000, expectedPrevalence: 0.3, sites: 4 }, 3, 0.005),
];
console.log(JSON.stringify({ bench: 'dp-release', rounds, privacy: privacySpec, subgroup: 'meno (2 levels) in the same budget', scenarios }, null, 2));
