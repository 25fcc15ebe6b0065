// tail-bounds.ts — how large aggregate noise can get: a bound the encryption planner can size the plaintext modulus with.
//
// Both noises are unbounded, so the bound holds with a stated failure probability per coordinate.
// Discrete Gaussian: E[e^{tX}] ≤ e^{t²σ²/2} (Canonne, Kamath & Steinke 2020, §2: the discrete Gaussian is
// σ²-sub-Gaussian), so a sum over k sites is kσ²-sub-Gaussian and P[|S| ≥ B] ≤ 2·exp(−B²/(2kσ²)).
// Skellam: a sum of k shares Poisson(λ) − Poisson(λ) is Sk(kλ, kλ) with E[e^{tS}] = exp(2kλ(cosh t − 1));
// the Chernoff bound P[|S| ≥ B] ≤ 2·min_t exp(2kλ(cosh t − 1) − tB) is attained at sinh t = B/(2kλ).
import type { PlannedBlock } from './allocation.ts';
import { DpError } from './errors.ts';
import { rationalToNumber } from './rational.ts';

function checkInputs(contributingSites: number, failureProbability: number): void {
  if (!Number.isSafeInteger(contributingSites) || contributingSites < 1) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'contributingSites must be a positive integer');
  }
  if (!(failureProbability > 0 && failureProbability < 1)) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'failureProbability must lie strictly between 0 and 1');
  }
}

/** log of the two-sided Chernoff bound for a symmetric Skellam sum with parameter m = kλ at threshold b. */
function skellamLogTail(m: number, b: number): number {
  const t = Math.asinh(b / (2 * m));
  return Math.log(2) + 2 * m * (Math.cosh(t) - 1) - t * b;
}

/**
 * An integer B with P[|aggregate noise| > B] ≤ failureProbability for one coordinate of the block, when
 * `contributingSites` sites each add their share. Use it, with the largest true count, to choose an
 * encryption modulus wide enough that a noisy sum cannot wrap (union-bound over coordinates by
 * dividing the failure probability by the vector length).
 */
export function noiseTailBound(block: PlannedBlock, contributingSites: number, failureProbability: number): number {
  checkInputs(contributingSites, failureProbability);
  const logTarget = Math.log(failureProbability);
  const noise = block.siteNoise;
  if (noise.kind === 'discrete-gaussian') {
    const variance = contributingSites * rationalToNumber(noise.sigma2);
    return Math.ceil(Math.sqrt(2 * variance * Math.log(2 / failureProbability)));
  }
  const m = contributingSites * rationalToNumber(noise.lambda);
  let hi = 1;
  while (skellamLogTail(m, hi) > logTarget) hi *= 2;
  let lo = hi / 2;
  while (hi - lo > 0.5) {
    const mid = (lo + hi) / 2;
    if (skellamLogTail(m, mid) > logTarget) lo = mid;
    else hi = mid;
  }
  return Math.ceil(hi);
}
