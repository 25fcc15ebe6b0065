// binormal-model.ts — the planner's public assumption about scores: an equal-variance binormal model, calibrated.
//
// Negatives have a latent marker S ~ N(0, 1), positives S ~ N(d, 1), so AUC = Φ(d/√2)
// (Hanley & McNeil 1982; Pepe 2003, §4.4). The score is the calibrated risk
// p = logistic(logit π + d·S − d²/2), the posterior probability of a positive label under prevalence π
// (the log-likelihood ratio of N(d,1) to N(0,1) at S is d·S − d²/2). Floating point is fine here:
// this module only predicts accuracy, it never draws privacy noise.
import type { RandomSource } from './random-source.ts';

const LOG_SQRT_2PI = 0.9189385332046728; // ln √(2π)

/**
 * Standard normal CDF. |x| ≤ 3: Marsaglia (2004) "Evaluating the normal distribution", Taylor series
 * (absolute error ~1e-16); beyond, the tail φ(z)/(z + 1/(z + 2/(z + 3/(z + …)))) (Laplace's continued
 * fraction for the Mills ratio, Abramowitz & Stegun 26.2.14), accurate in relative terms.
 */
export function normalCdf(x: number): number {
  if (x < -38) return 0;
  if (x > 38) return 1;
  if (Math.abs(x) > 3) {
    const z = Math.abs(x);
    let fraction = z;
    for (let k = 120; k >= 1; k -= 1) fraction = z + k / fraction;
    const tail = Math.exp(-0.5 * z * z - LOG_SQRT_2PI) / fraction;
    return x < 0 ? tail : 1 - tail;
  }
  let s = x;
  let t = 0;
  let b = x;
  const q = x * x;
  for (let i = 1; s !== t; ) {
    t = s;
    i += 2;
    b *= q / i;
    s = t + b;
  }
  return 0.5 + s * Math.exp(-0.5 * q - LOG_SQRT_2PI);
}

/** Standard normal quantile: Acklam's rational approximation refined by one Halley step on {@link normalCdf}. */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) return p === 0 ? -Infinity : p === 1 ? Infinity : Number.NaN;
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  let x: number;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  } else if (p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  } else {
    const q = p - 0.5;
    const r = q * q;
    x = ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
  }
  const e = normalCdf(x) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

/** Planning assumptions about the pooled score distribution. */
export interface ScoreModel {
  /** Share of positives, 0 < π < 1. */
  readonly prevalence: number;
  /** Population ROC AUC of the model, 0.5 < AUC < 1. */
  readonly auc: number;
}

function separation(model: ScoreModel): number {
  return Math.SQRT2 * normalQuantile(model.auc);
}

/**
 * Probability that a positive (class 1) or a negative (class 0) falls in each of `bins` equal-width
 * score bins [i/bins, (i+1)/bins) on [0, 1].
 */
export function expectedBinProbabilities(model: ScoreModel, bins: number, positive: boolean): Float64Array {
  return expectedGridBinProbabilities(model, equalWidthScoreEdges(bins), positive);
}

/** The score edges 0, 1/B, …, 1 of the equal-width grid of `bins` bins. */
export function equalWidthScoreEdges(bins: number): Float64Array {
  return Float64Array.from({ length: bins + 1 }, (_, k) => (k === bins ? 1 : k / bins));
}

/**
 * Probability that a positive (class 1) or a negative (class 0) falls in each bin [e_k, e_{k+1}) of a score grid with
 * edges 0 = e₀ < e₁ < … < e_B = 1 (an equal-width grid, or a grid fitted to development scores): the calibrated score
 * is monotone in the latent marker, so the mass of a bin is Φ(s(e_{k+1}) − μ) − Φ(s(e_k) − μ), s the latent value at
 * which the score equals an edge and μ the class's latent mean (0 or d).
 */
export function expectedGridBinProbabilities(model: ScoreModel, edges: ArrayLike<number>, positive: boolean): Float64Array {
  const bins = edges.length - 1;
  const dSep = separation(model);
  const logitPrevalence = Math.log(model.prevalence / (1 - model.prevalence));
  const shift = positive ? dSep : 0;
  // Latent value at which the calibrated score equals p.
  const latent = (p: number): number => (Math.log(p / (1 - p)) - logitPrevalence + (dSep * dSep) / 2) / dSep;
  const out = new Float64Array(bins);
  let previous = 0;
  for (let i = 0; i < bins; i += 1) {
    const upper = i === bins - 1 ? 1 : normalCdf(latent(edges[i + 1] as number) - shift);
    out[i] = Math.max(0, upper - previous);
    previous = upper;
  }
  return out;
}

/**
 * The score edges at which the model's pooled score distribution, π·N(d, 1) + (1 − π)·N(0, 1) on the latent scale,
 * reaches the cumulative shares of `shares` (one positive share per bin, normalised): 0 = e₀ < e₁ < … < e_B = 1 with
 * bin k holding shares[k] of the model's patients. The model's ROC does not depend on the score's scale, so a grid
 * known by its shares (a quantile grid) is planned in rank space. Each edge by bisection on the latent scale (200 steps).
 */
export function scoreEdgesOfShares(model: ScoreModel, shares: ArrayLike<number>): Float64Array {
  const dSep = separation(model);
  const offset = Math.log(model.prevalence / (1 - model.prevalence)) - (dSep * dSep) / 2;
  const pooled = (x: number): number => model.prevalence * normalCdf(x - dSep) + (1 - model.prevalence) * normalCdf(x);
  let total = 0;
  for (let k = 0; k < shares.length; k += 1) total += shares[k] as number;
  const edges = new Float64Array(shares.length + 1);
  edges[shares.length] = 1;
  let cumulative = 0;
  for (let k = 1; k < shares.length; k += 1) {
    cumulative += (shares[k - 1] as number) / total;
    let lo = -40;
    let hi = 40;
    for (let i = 0; i < 200; i += 1) {
      const mid = (lo + hi) / 2;
      if (pooled(mid) < cumulative) lo = mid;
      else hi = mid;
    }
    edges[k] = 1 / (1 + Math.exp(-(offset + dSep * ((lo + hi) / 2))));
  }
  return edges;
}

/** A uniform double in [0, 1) with 53 random bits. */
function uniformDouble(rng: RandomSource): number {
  return ((rng.nextUint32() >>> 5) * 67108864 + (rng.nextUint32() >>> 6)) / 9007199254740992;
}

/** Draws `count` standard normals (Box–Muller) into a new array. */
export function standardNormals(rng: RandomSource, count: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i += 2) {
    const u1 = 1 - uniformDouble(rng);
    const u2 = uniformDouble(rng);
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/**
 * Simulates a cohort under the model: `positives` and `negatives` patients binned on `bins`
 * equal-width score bins, or on the grid `binOf` gives (the bin of a score in [0, 1]). Returns the two class histograms.
 */
export function simulateScoreHistograms(
  model: ScoreModel,
  positives: number,
  negatives: number,
  bins: number,
  rng: RandomSource,
  binOf: (score: number) => number = (score) => Math.min(bins - 1, Math.floor(score * bins)),
): { positive: Float64Array; negative: Float64Array } {
  const dSep = separation(model);
  const offset = Math.log(model.prevalence / (1 - model.prevalence)) - (dSep * dSep) / 2;
  const fill = (count: number, shift: number): Float64Array => {
    const histogram = new Float64Array(bins);
    const latent = standardNormals(rng, count);
    for (let i = 0; i < count; i += 1) {
      const score = 1 / (1 + Math.exp(-(offset + dSep * (latent[i]! + shift))));
      histogram[binOf(score)]! += 1;
    }
    return histogram;
  };
  return { positive: fill(positives, dSep), negative: fill(negatives, 0) };
}
