// goodness-of-fit.ts — Pearson chi-square tests of integer samples against a closed-form pmf (test helper only).
//
// The p-value is the regularised upper incomplete gamma Q(dof/2, χ²/2): series for x < a + 1,
// Lentz continued fraction otherwise (Press et al., Numerical Recipes, 3rd ed., §6.2), with the
// Lanczos log-gamma (ibid. §6.1). Checked against scipy.stats.chi2.sf in goodness-of-fit.test.ts.

const LANCZOS = [57.1562356658629235, -59.5979603554754912, 14.1360979747417471, -0.491913816097620199, 0.339946499848118887e-4,
  0.465236289270485756e-4, -0.983744753048795646e-4, 0.158088703224912494e-3, -0.210264441724104883e-3, 0.217439618115212643e-3,
  -0.164318106536763890e-3, 0.844182239838527433e-4, -0.261908384015814087e-4, 0.368991826595316234e-5];

/** ln Γ(x) for x > 0. */
export function lnGamma(x: number): number {
  let y = x;
  const tmp = x + 5.24218750000000000 - (x + 0.5) * Math.log(x + 5.24218750000000000);
  let ser = 0.999999999999997092;
  for (const c of LANCZOS) ser += c / ++y;
  return -tmp + Math.log((2.5066282746310005 * ser) / x);
}

/** Regularised upper incomplete gamma Q(a, x). */
export function upperIncompleteGamma(a: number, x: number): number {
  if (x <= 0) return 1;
  const logPrefix = -x + a * Math.log(x) - lnGamma(a);
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 100_000; n += 1) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return 1 - sum * Math.exp(logPrefix);
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 100_000; i += 1) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(logPrefix) * h;
}

/** P[χ²_dof ≥ statistic]. */
export function chiSquareSurvival(statistic: number, dof: number): number {
  return upperIncompleteGamma(dof / 2, statistic / 2);
}

export interface ChiSquareResult {
  statistic: number;
  dof: number;
  pValue: number;
  cells: number;
}

/**
 * Pearson's chi-square test of integer samples against pmf on the support [lo, hi] (the mass of pmf
 * outside must be negligible; samples outside land in the end cells). Adjacent values are merged
 * until every cell expects at least `minExpected` samples.
 */
export function chiSquareGoodnessOfFit(
  samples: ArrayLike<number>,
  pmf: (k: number) => number,
  lo: number,
  hi: number,
  minExpected = 20,
): ChiSquareResult {
  const n = samples.length;
  const observedByValue = new Map<number, number>();
  for (let i = 0; i < n; i += 1) {
    const k = Math.min(hi, Math.max(lo, samples[i]!));
    observedByValue.set(k, (observedByValue.get(k) ?? 0) + 1);
  }
  const cells: { expected: number; observed: number }[] = [];
  let current = { expected: 0, observed: 0 };
  for (let k = lo; k <= hi; k += 1) {
    current.expected += n * pmf(k);
    current.observed += observedByValue.get(k) ?? 0;
    if (current.expected >= minExpected) {
      cells.push(current);
      current = { expected: 0, observed: 0 };
    }
  }
  if (cells.length === 0) throw new Error('not enough expected mass for a chi-square test');
  const last = cells[cells.length - 1]!;
  last.expected += current.expected;
  last.observed += current.observed;
  let statistic = 0;
  for (const cell of cells) statistic += (cell.observed - cell.expected) ** 2 / cell.expected;
  const dof = cells.length - 1;
  return { statistic, dof, pValue: chiSquareSurvival(statistic, dof), cells: cells.length };
}

/** Normalised pmf of N_ℤ(0, σ²), the normalising constant summed in float over ±(60σ + 60). */
export function discreteGaussianPmf(sigma2: number): (k: number) => number {
  const span = Math.ceil(60 * Math.sqrt(sigma2) + 60);
  let z = 0;
  for (let k = -span; k <= span; k += 1) z += Math.exp(-(k * k) / (2 * sigma2));
  return (k) => Math.exp(-(k * k) / (2 * sigma2)) / z;
}

/** Poisson(λ) pmf, e^{−λ} λ^k / k!. */
export function poissonPmf(lambda: number): (k: number) => number {
  return (k) => (k < 0 ? 0 : Math.exp(-lambda + k * Math.log(lambda) - lnGamma(k + 1)));
}
