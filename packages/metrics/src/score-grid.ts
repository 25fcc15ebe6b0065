// score-grid.ts — the study's fixed score grid over [0, 1] (equal-width, or fitted edges): which bin a score falls in, which edge a threshold is.

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

/**
 * A score grid of B bins over [0, 1] with edges 0 = e₀ < e₁ < … < e_B = 1: bin k holds the scores in
 * [e_k, e_{k+1}), the top bin also holds 1. Predicted positive at threshold e_k is exactly "bin >= k".
 */
export interface ScoreGrid {
  readonly kind: 'equal_width' | 'fitted';
  readonly bins: number;
  /** Edge k for 0 <= k <= bins: e₀ = 0, e_B = 1 (k/B on an equal-width grid). */
  edge(k: number): number;
  /** Bin of a score in [0, 1] (the caller checks the range): the largest k < B with score >= e_k. */
  bin(score: number): number;
  /** Index k of an edge: exact for a fitted grid; within 1e-6 of k/B on an equal-width grid. Null off the grid. */
  index(value: number): number | null;
}

/** The equal-width grid of `bins` bins: edges k/B ({@link scoreBin}, {@link gridIndex}). */
export function equalWidthGrid(bins: number): ScoreGrid {
  return Object.freeze({
    kind: 'equal_width' as const,
    bins,
    edge: (k: number) => k / bins,
    bin: (score: number) => scoreBin(score, bins),
    index: (value: number) => gridIndex(value, bins),
  });
}

/**
 * A fitted grid from its interior edges (strictly increasing, each strictly between 0 and 1; the
 * metric spec checks them): B = edges.length + 1 bins. A score's bin is found by binary search
 * (⌈log₂ B⌉ comparisons), with the same rule as {@link scoreBin}: the largest k with s >= e_k.
 */
export function fittedGrid(interior: readonly number[]): ScoreGrid {
  const bins = interior.length + 1;
  const edges = new Float64Array(bins + 1);
  edges.set(interior, 1);
  edges[bins] = 1;
  const indexOf = new Map<number, number>();
  edges.forEach((edge, k) => indexOf.set(edge, k));
  return Object.freeze({
    kind: 'fitted' as const,
    bins,
    edge: (k: number) => edges[k] as number,
    bin: (score: number) => {
      let low = 0;
      let high = bins - 1;
      while (low < high) {
        const middle = (low + high + 1) >>> 1;
        if (score >= (edges[middle] as number)) low = middle;
        else high = middle - 1;
      }
      return low;
    },
    index: (value: number) => indexOf.get(value) ?? null,
  });
}

/** What {@link scoreGridOf} needs of a resolved metric spec. */
export interface ScoreGridSpec {
  readonly bins: number;
  readonly scoreGrid?: { readonly edges: readonly number[] } | undefined;
}

const grids = new WeakMap<object, ScoreGrid>();

/** The score grid of a resolved metric spec: its fitted edges, or `bins` equal-width bins. Cached per (frozen) spec. */
export function scoreGridOf(spec: ScoreGridSpec): ScoreGrid {
  const cached = grids.get(spec);
  if (cached) return cached;
  const grid = spec.scoreGrid ? fittedGrid(spec.scoreGrid.edges) : equalWidthGrid(spec.bins);
  grids.set(spec, grid);
  return grid;
}

/**
 * Where each of C equal-width reliability bins starts on the grid: start[j] is the index of the edge j/C
 * (start[0] = 0, start[C] = B), so reliability bin j is made of grid bins start[j] … start[j+1] − 1. The
 * metric spec guarantees every j/C is an edge (it divides B, or it was inserted into the fitted edges).
 */
export function reliabilityBinStarts(grid: ScoreGrid, calibrationBins: number): Int32Array {
  const starts = new Int32Array(calibrationBins + 1);
  for (let j = 1; j < calibrationBins; j += 1) starts[j] = grid.index(j / calibrationBins) ?? Math.round((j * grid.bins) / calibrationBins);
  starts[calibrationBins] = grid.bins;
  return starts;
}
