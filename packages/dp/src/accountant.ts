// accountant.ts — zero-concentrated DP costs of the noise mechanisms, composition, and conversion to (ε, δ).
//
// Meaning of ρ throughout fedval: a release costs ρ when its Rényi divergence between neighbouring
// inputs is at most ρ·α at every integer order α ≥ 2. ρ-zCDP (Bun & Steinke 2016, Def. 1.1) implies
// this; the Skellam bound of Agarwal et al. (2021) is stated for integer orders, so all conversions
// below minimise over integer α only. Rényi divergences of independent releases add at every order,
// so ρ composes by addition (Bun & Steinke 2016, Lemma 2.3).
import { DpError } from './errors.ts';

function checkNonNegative(value: number, name: string): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `${name} must be a finite number ≥ 0`);
  }
}

function checkPositive(value: number, name: string): void {
  if (!Number.isFinite(value) || value <= 0) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `${name} must be a finite number > 0`);
  }
}

function checkDelta(delta: number): void {
  if (!Number.isFinite(delta) || delta <= 0 || delta >= 1) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'δ must lie strictly between 0 and 1');
  }
}

/**
 * ρ of adding N_ℤ(0, σ²) to every coordinate of an integer vector whose L2 sensitivity is
 * √l2SensitivitySquared: ρ = Δ₂² / (2σ²). CKS20 Theorem 4 gives this per coordinate; Rényi
 * divergences of independent coordinates add (van Erven & Harremoës 2014, Theorem 28), which yields
 * the vector form. The same formula is the continuous Gaussian's (Bun & Steinke 2016, Prop. 1.6).
 */
export function discreteGaussianRho(l2SensitivitySquared: number, sigma2: number): number {
  checkNonNegative(l2SensitivitySquared, 'l2SensitivitySquared');
  checkPositive(sigma2, 'σ²');
  return l2SensitivitySquared / (2 * sigma2);
}

/**
 * ρ of the distributed discrete Gaussian: each of n = `shares` parties adds N_ℤ(0, σ_l²) to every one of
 * the `dimension` coordinates, and only the sum is released. Kairouz, Liu & Steinke (2021), "The
 * Distributed Discrete Gaussian Mechanism for Federated Learning with Secure Aggregation", ICML,
 * Proposition 14 (third bound): ρ = ½·(Δ₂/(√n·σ_l) + √d·τ)² with τ = 10·Σ_{k=1}^{n−1} exp(−2π²σ_l²·k/(k+1)).
 * τ measures how far the sum is from N_ℤ(0, nσ_l²); it is below 10⁻⁴⁰ once σ_l² ≥ 10. With n = 1 this
 * is {@link discreteGaussianRho}.
 */
export function distributedDiscreteGaussianRho(l2SensitivitySquared: number, localSigma2: number, shares: number, dimension: number): number {
  checkNonNegative(l2SensitivitySquared, 'l2SensitivitySquared');
  checkPositive(localSigma2, 'local σ²');
  if (!Number.isSafeInteger(shares) || shares < 1 || !Number.isSafeInteger(dimension) || dimension < 1) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'shares and dimension must be positive integers');
  }
  let tau = 0;
  for (let k = 1; k < shares; k += 1) tau += Math.exp(-2 * Math.PI * Math.PI * localSigma2 * (k / (k + 1)));
  tau *= 10;
  const root = Math.sqrt(l2SensitivitySquared / (shares * localSigma2)) + Math.sqrt(dimension) * tau;
  return 0.5 * root * root;
}

/**
 * Rényi divergence bound of the multi-dimensional Skellam mechanism at integer order α > 1
 * (Agarwal, Kairouz & Liu 2021, Theorem 3.5), written for noise of variance μ per coordinate
 * (each coordinate Poisson(μ/2) − Poisson(μ/2)):
 *   ε(α) = α·Δ₂²/(2μ) + min( ((2α − 1)·Δ₂² + 6·Δ₁) / (4μ²), 3·Δ₁/(2μ) ).
 */
export function skellamRenyiDivergence(
  alpha: number,
  l1Sensitivity: number,
  l2SensitivitySquared: number,
  variance: number,
): number {
  if (!Number.isSafeInteger(alpha) || alpha < 2) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'the Skellam bound holds for integer orders α ≥ 2');
  }
  checkNonNegative(l1Sensitivity, 'l1Sensitivity');
  checkNonNegative(l2SensitivitySquared, 'l2SensitivitySquared');
  checkPositive(variance, 'variance');
  const mu = variance;
  return (
    (alpha * l2SensitivitySquared) / (2 * mu) +
    Math.min(((2 * alpha - 1) * l2SensitivitySquared + 6 * l1Sensitivity) / (4 * mu * mu), (3 * l1Sensitivity) / (2 * mu))
  );
}

/**
 * The smallest ρ with skellamRenyiDivergence(α, …) ≤ ρ·α for every integer α ≥ 2:
 *   ρ = Δ₂²/(2μ) + min( Δ₂²/(2μ²) + max(6Δ₁ − Δ₂², 0)/(8μ²), 3Δ₁/(4μ) ).
 * Writing the first branch of the min as α·Δ₂²/(2μ²) + (6Δ₁ − Δ₂²)/(4μ²), its share per unit of α is
 * largest at α = 2 (or tends to Δ₂²/(2μ²) when 6Δ₁ < Δ₂²); the second branch over α is largest at α = 2.
 */
export function skellamRho(l1Sensitivity: number, l2SensitivitySquared: number, variance: number): number {
  checkNonNegative(l1Sensitivity, 'l1Sensitivity');
  checkNonNegative(l2SensitivitySquared, 'l2SensitivitySquared');
  checkPositive(variance, 'variance');
  const mu = variance;
  const gaussian = l2SensitivitySquared / (2 * mu);
  const growing = l2SensitivitySquared / (2 * mu * mu) + Math.max(6 * l1Sensitivity - l2SensitivitySquared, 0) / (8 * mu * mu);
  const capped = (3 * l1Sensitivity) / (4 * mu);
  return gaussian + Math.min(growing, capped);
}

/** Total ρ of independent releases (Bun & Steinke 2016, Lemma 2.3), summed with Neumaier compensation. */
export function composeRho(rhos: Iterable<number>): number {
  let sum = 0;
  let compensation = 0;
  for (const rho of rhos) {
    checkNonNegative(rho, 'ρ');
    const t = sum + rho;
    compensation += Math.abs(sum) >= Math.abs(rho) ? sum - t + rho : rho - t + sum;
    sum = t;
  }
  return sum + compensation;
}

/**
 * Bun & Steinke (2016), Proposition 1.3: ρ-zCDP implies (ρ + 2√(ρ·ln(1/δ)), δ)-DP. It needs the bound
 * at every real order, so it applies to discrete-Gaussian-only spending; fedval displays
 * {@link epsilonFromRho}, which is tighter and valid for Skellam charges too.
 */
export function bunSteinkeEpsilon(rho: number, delta: number): number {
  checkNonNegative(rho, 'ρ');
  checkDelta(delta);
  return rho + 2 * Math.sqrt(rho * Math.log(1 / delta));
}

/**
 * ε of order α in the conversion of Canonne, Kamath & Steinke (2020), Proposition 12 / Corollary 13:
 * a release whose Rényi divergence at order α is at most αρ is (ε, δ)-DP for
 *   δ = exp((α − 1)(αρ − ε)) / (α − 1) · (1 − 1/α)^α,
 * that is ε = αρ + (ln(1/δ) + α·ln(1 − 1/α) − ln(α − 1)) / (α − 1).
 */
function epsilonAtOrder(alpha: number, rho: number, logInverseDelta: number): number {
  return alpha * rho + (logInverseDelta + alpha * Math.log1p(-1 / alpha) - Math.log(alpha - 1)) / (alpha - 1);
}

function deltaAtOrder(alpha: number, rho: number, epsilon: number): number {
  return Math.exp((alpha - 1) * (alpha * rho - epsilon) + alpha * Math.log1p(-1 / alpha) - Math.log(alpha - 1));
}

/** Minimises f over the integers in [2, hi], f unimodal there; returns the minimising order. */
function argminInteger(f: (alpha: number) => number, hi: number): number {
  let lo = 2;
  while (hi - lo > 4) {
    const m1 = lo + Math.floor((hi - lo) / 3);
    const m2 = hi - Math.floor((hi - lo) / 3);
    if (f(m1) <= f(m2)) hi = m2;
    else lo = m1;
  }
  let best = lo;
  for (let alpha = lo + 1; alpha <= hi; alpha += 1) if (f(alpha) < f(best)) best = alpha;
  return best;
}

function orderSearchLimit(rho: number, logInverseDelta: number): number {
  // The continuous optimum is near 1 + √(ln(1/δ)/ρ); search well past it.
  return Math.min(1e9, Math.max(16, Math.ceil(4 + 4 * Math.sqrt(logInverseDelta / Math.max(rho, 1e-300)))));
}

/**
 * The smallest ε such that ρ (at integer orders) implies (ε, δ)-DP, by the conversion of
 * Canonne, Kamath & Steinke (2020), Corollary 13, minimised over integer α ≥ 2. It is never larger
 * than Bun & Steinke's ρ + 2√(ρ ln(1/δ)) up to the integer restriction, and usually clearly smaller.
 */
export function epsilonFromRho(rho: number, delta: number): number {
  checkNonNegative(rho, 'ρ');
  checkDelta(delta);
  if (rho === 0) return 0;
  const logInverseDelta = Math.log(1 / delta);
  const f = (alpha: number): number => epsilonAtOrder(alpha, rho, logInverseDelta);
  return Math.max(0, f(argminInteger(f, orderSearchLimit(rho, logInverseDelta))));
}

/** The smallest δ such that ρ (at integer orders) implies (ε, δ)-DP (CKS20 Corollary 13, integer α ≥ 2). */
export function deltaFromRho(rho: number, epsilon: number): number {
  checkNonNegative(rho, 'ρ');
  checkNonNegative(epsilon, 'ε');
  if (rho === 0) return 0;
  const logDelta = (alpha: number): number => Math.log(deltaAtOrder(alpha, rho, epsilon));
  const hi = Math.min(1e9, Math.max(16, Math.ceil(4 + 2 * (epsilon + 1) / rho)));
  return Math.min(1, deltaAtOrder(argminInteger(logDelta, hi), rho, epsilon));
}

/**
 * The largest ρ whose conversion {@link epsilonFromRho} is at most ε at the given δ, by bisection
 * (returns the lower end of the final interval, so the result never overshoots ε).
 */
export function rhoFromEpsilon(epsilon: number, delta: number): number {
  checkPositive(epsilon, 'ε');
  checkDelta(delta);
  let lo = 0;
  let hi = epsilon;
  while (epsilonFromRho(hi, delta) <= epsilon) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-15 * hi; i += 1) {
    const mid = (lo + hi) / 2;
    if (epsilonFromRho(mid, delta) <= epsilon) lo = mid;
    else hi = mid;
  }
  return lo;
}
