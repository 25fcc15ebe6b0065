// score-grid.ts — the fixed score grid over [0, 1]: which bin a score falls in, which grid point a threshold is.

/**
 * Bin of a score s in [0, 1] on a grid of `bins` bins: the largest k with s >= k/bins (k/bins as a
 * correctly rounded double, the threshold a user would write), capped at bins - 1 so s = 1 lands
 * in the top bin. This is min(floor(s·B), B-1) made exact at the bin edges, where s·B can round
 * across an integer (0.29 · 100 = 28.999…). Predicted positive at grid threshold k/B is then
 * exactly "bin >= k". The caller guarantees 0 <= s <= 1.
 */
export function scoreBin(score: number, bins: number): number {
  let k = Math.floor(score * bins);
  if (k >= bins) return bins - 1;
  if (k < 0) k = 0;
  if (score < k / bins) k -= 1;
  else if (k + 1 < bins && score >= (k + 1) / bins) k += 1;
  return k;
}

/** Grid index k of a value that lies on the grid (|value·B − k| <= 1e-6), or null when it does not. */
export function gridIndex(value: number, bins: number): number | null {
  const k = Math.round(value * bins);
  return Math.abs(value * bins - k) <= 1e-6 ? k : null;
}
