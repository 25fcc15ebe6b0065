// threshold.ts — the Shamir threshold of a round: its safe default and the bounds every site checks
// (Bonawitz et al., "Practical Secure Aggregation for Privacy-Preserving Machine Learning", CCS 2017, security analysis).
import { SecaggError } from './errors.ts';

/**
 * The default threshold for n sites: max(⌊2n/3⌋ + 1, minSites), at most n. Since an honest site reveals, per site,
 * a share of one secret only, a malicious server colluding with n_C sites needs 2t ≤ n + n_C to reconstruct both
 * secrets of one honest site (README, "Threshold"); t = ⌊2n/3⌋ + 1 keeps 2t > n + n_C for every n_C < n/3 and
 * tolerates n − t < n/3 dropouts, the active-adversary setting of Bonawitz et al. (2017, with the consistency check).
 */
export function defaultThreshold(sites: number, minSites = 1): number {
  if (!Number.isSafeInteger(sites) || sites < 1) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'sites must be a positive integer');
  if (!Number.isSafeInteger(minSites) || minSites < 1) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'minSites must be a positive integer');
  if (minSites > sites) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_THRESHOLD', `the policy needs ${minSites} sites, the round has ${sites}`);
  return Math.min(sites, Math.max(Math.floor((2 * sites) / 3) + 1, minSites));
}

/**
 * Checks a study's threshold t for n sites against a site's policy.min_sites and the number k of colluding sites it
 * assumes (policy.secagg_max_colluders): minSites ≤ t ≤ n and 2t > n + k. With k = 0, 2t > n is the floor below which a
 * malicious server can split the sites into two groups, ask one for a site's self-mask share and the other for its
 * agreement-key share, and unmask it alone (cf. Bonawitz et al. 2017); k colluding sites answer both requests, so
 * 2t > n + k is needed (README, "Threshold"). minSites ≤ t means at least minSites masked sites are needed before
 * anything can be unmasked. Returns t.
 */
export function validateThreshold(threshold: number, sites: number, minSites = 1, colluders = 0): number {
  if (!Number.isSafeInteger(sites) || sites < 1) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'sites must be a positive integer');
  if (!Number.isSafeInteger(minSites) || minSites < 1) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'minSites must be a positive integer');
  if (!Number.isSafeInteger(colluders) || colluders < 0) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'colluders must be a non-negative integer');
  if (!Number.isSafeInteger(threshold)) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_THRESHOLD', 'threshold must be an integer');
  const problems: string[] = [];
  if (threshold > sites) problems.push(`threshold ${threshold} exceeds the ${sites} sites`);
  if (threshold < minSites) problems.push(`threshold ${threshold} is below the site's policy.min_sites ${minSites}`);
  if (2 * threshold <= sites) problems.push(`threshold ${threshold} is not above half of the ${sites} sites`);
  else if (2 * threshold <= sites + colluders) problems.push(`threshold ${threshold} does not satisfy 2t > n + k for ${sites} sites and ${colluders} colluding sites`);
  if (problems.length > 0) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_THRESHOLD', problems.join('; '));
  return threshold;
}
