// logistic-calibration.ts — calibration slope and intercept: the logistic recalibration fit, as additive Newton statistics.
import { MetricsError } from './errors.ts';

/**
 * Scores are clamped into [ε, 1 − ε] before the logit, so a score of exactly 0 or 1 has a finite
 * logit (±18.42) and one patient's contribution stays bounded.
 */
export const LOGIT_EPSILON = 1e-8;

/** Entry order of the vector returned by logisticCalibrationStatistics. */
export const LOGISTIC_CALIBRATION_STATISTICS = Object.freeze([
  'weight',
  'gradient_intercept',
  'gradient_slope',
  'information_intercept_intercept',
  'information_intercept_slope',
  'information_slope_slope',
  'log_likelihood',
] as const);

/** logit(clamp(p, ε, 1 − ε)). */
export function clampedLogit(p: number): number {
  const q = Math.min(Math.max(p, LOGIT_EPSILON), 1 - LOGIT_EPSILON);
  return Math.log(q / (1 - q));
}

/**
 * What one site adds for one Newton step of the recalibration model logit P(y = 1) = a + b·x with
 * x = logit(score) (Cox 1958, Biometrika 45:562–565; Van Calster et al. 2016, J Clin Epidemiol
 * 74:167–176). At the current (a, b), with μ = expit(a + b·x) and optional case weights w:
 * gradient (Σ w(y − μ), Σ w(y − μ)x), information Σ wμ(1 − μ)·[1, x; x, x²], and the log-likelihood.
 * Every entry is a plain sum over patients, so sites' vectors add and the coordinator can take the
 * Newton step (a, b) += I⁻¹g on the pooled sums, round after round. (A federated fit would also
 * encode these sums in fixed point with noise; that protocol is not built here.)
 */
export function logisticCalibrationStatistics(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  intercept: number,
  slope: number,
  weights?: ArrayLike<number>,
): Float64Array {
  checkInputs(scores, labels, weights);
  const out = new Float64Array(LOGISTIC_CALIBRATION_STATISTICS.length);
  for (let i = 0; i < scores.length; i += 1) {
    const w = weights ? (weights[i] as number) : 1;
    if (w === 0) continue;
    const x = clampedLogit(scores[i] as number);
    const y = labels[i] as number;
    const eta = intercept + slope * x;
    const mu = 1 / (1 + Math.exp(-eta));
    const residual = y - mu;
    const information = mu * (1 - mu);
    out[0] = (out[0] as number) + w;
    out[1] = (out[1] as number) + w * residual;
    out[2] = (out[2] as number) + w * residual * x;
    out[3] = (out[3] as number) + w * information;
    out[4] = (out[4] as number) + w * information * x;
    out[5] = (out[5] as number) + w * information * x * x;
    // log μ = −log(1 + e^{−η}), log(1 − μ) = −log(1 + e^{η}), written to stay finite for large |η|.
    out[6] = (out[6] as number) - w * (y === 1 ? softplus(-eta) : softplus(eta));
  }
  return out;
}

export interface LogisticCalibrationFit {
  /** Calibration slope b of logit P(y = 1) = a + b·logit(p). Ideal 1. */
  slope: number;
  /** The intercept a fitted together with the slope. */
  slopeModelIntercept: number;
  /** Calibration intercept: a of logit P(y = 1) = a + logit(p) (slope fixed at 1). Ideal 0. */
  intercept: number;
  iterations: number;
}

export interface LogisticCalibrationOptions {
  /** Newton iterations before giving up. Default 100. */
  maxIterations?: number;
  /** Stop when every parameter moves less than this (logit units). Default 1e-10. */
  tolerance?: number;
}

export const DEFAULT_LOGISTIC_CALIBRATION_OPTIONS: Readonly<Required<LogisticCalibrationOptions>> = Object.freeze({
  maxIterations: 100, // Newton steps
  tolerance: 1e-10, // logit units
});

/**
 * Single-site fit by Newton–Raphson on logisticCalibrationStatistics (step halving when the
 * log-likelihood would fall). Null when the fit does not exist: one class only, all logits equal,
 * or no convergence (separation).
 */
export function fitLogisticCalibration(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  weights?: ArrayLike<number>,
  options: LogisticCalibrationOptions = {},
): LogisticCalibrationFit | null {
  checkInputs(scores, labels, weights);
  const { maxIterations, tolerance } = { ...DEFAULT_LOGISTIC_CALIBRATION_OPTIONS, ...options };
  const statistics = (a: number, b: number): Float64Array => logisticCalibrationStatistics(scores, labels, a, b, weights);

  let a = 0;
  let b = 1;
  let current = statistics(a, b);
  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations && !converged) {
    iterations += 1;
    const [, g0, g1, i00, i01, i11] = current as unknown as number[];
    const determinant = (i00 as number) * (i11 as number) - (i01 as number) * (i01 as number);
    if (!(determinant > 1e-300) || !Number.isFinite(determinant)) return null;
    let da = ((i11 as number) * (g0 as number) - (i01 as number) * (g1 as number)) / determinant;
    let db = ((i00 as number) * (g1 as number) - (i01 as number) * (g0 as number)) / determinant;
    let next = statistics(a + da, b + db);
    for (let halvings = 0; halvings < 30 && (next[6] as number) < (current[6] as number); halvings += 1) {
      da /= 2;
      db /= 2;
      next = statistics(a + da, b + db);
    }
    a += da;
    b += db;
    current = next;
    converged = Math.abs(da) < tolerance && Math.abs(db) < tolerance;
  }
  if (!converged || !Number.isFinite(a) || !Number.isFinite(b)) return null;

  let offset = 0;
  let offsetConverged = false;
  for (let i = 0; i < maxIterations && !offsetConverged; i += 1) {
    const s = statistics(offset, 1);
    const information = s[3] as number;
    if (!(information > 0)) return null;
    const step = (s[1] as number) / information;
    offset += step;
    offsetConverged = Math.abs(step) < tolerance;
  }
  if (!offsetConverged || !Number.isFinite(offset)) return null;
  return { slope: b, slopeModelIntercept: a, intercept: offset, iterations };
}

function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

function checkInputs(scores: ArrayLike<number>, labels: ArrayLike<number>, weights?: ArrayLike<number>): void {
  if (scores.length !== labels.length || (weights && weights.length !== scores.length)) {
    throw new MetricsError('FEDVAL_ERR_METRICS_INVALID_INPUT', 'scores, labels and weights must have the same length');
  }
  for (let i = 0; i < scores.length; i += 1) {
    const s = scores[i] as number;
    const y = labels[i] as number;
    const w = weights ? (weights[i] as number) : 1;
    if (!(s >= 0 && s <= 1) || (y !== 0 && y !== 1) || !(w >= 0 && Number.isFinite(w))) {
      throw new MetricsError('FEDVAL_ERR_METRICS_INVALID_INPUT', `entry ${i}: scores must lie in [0, 1], labels be 0 or 1, weights be finite and >= 0`);
    }
  }
}
