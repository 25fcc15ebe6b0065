// rotterdam-score.ts — the DP benches' fixed logistic risk score for the Rotterdam example sites, and a seeded normal draw.
import type { RandomSource } from '@fedval/dp';

/**
 * The fixed logistic score of packages/metrics/references/make_references.py (recurrence or death
 * within 5 years), applied to a row of the example's harmonized site files.
 */
export function rotterdamScore(row: Record<string, string>): number {
  const lp =
    -1.6 +
    0.55 * Math.log1p(Number(row['nodes'])) +
    0.35 * (row['grade'] === '3' ? 1 : 0) +
    0.45 * (row['size'] === '20-50' ? 1 : 0) +
    0.85 * (row['size'] === '>50' ? 1 : 0) -
    0.09 * Math.log1p(Number(row['pgr'])) +
    0.004 * (Number(row['age']) - 55) +
    0.15 * (row['hormon'] === '1' ? 1 : 0);
  return 1 / (1 + Math.exp(-lp));
}

/** Standard normal by Box–Muller from the seeded source (generated cohorts only; DP noise uses the exact samplers). */
export function normal(rng: RandomSource): number {
  const u1 = (rng.nextUint32() + 1) / 4294967297;
  const u2 = rng.nextUint32() / 4294967296;
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}
