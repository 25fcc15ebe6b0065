// coarsening.ts — merging a fine score histogram into fewer bins before noise is added.
//
// A coarse bin is a run of adjacent fine bins, given by edges e₀ = 0 < e₁ < … < e_k = B (fine-bin
// indices): coarse bin i holds fine bins [eᵢ, eᵢ₊₁). One patient still increments one bin, so
// sensitivity is unchanged while each cumulative count sums fewer noisy terms. Edges must not depend on
// the data (they come from the study definition or the planner's public assumptions).
import { DpError } from './errors.ts';

/** Throws unless edges start at 0, end at fineBins and strictly increase. */
export function checkEdges(edges: Int32Array, fineBins: number): void {
  if (edges.length < 2 || edges[0] !== 0 || edges[edges.length - 1] !== fineBins) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `edges must run from 0 to ${fineBins}`);
  }
  for (let i = 1; i < edges.length; i += 1) {
    if (edges[i]! <= edges[i - 1]!) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'edges must strictly increase');
  }
}

/**
 * Moves, for each threshold edge (a fine-bin index where a decision threshold falls), the nearest
 * interior edge not yet pinned onto it, so confusion counts at that threshold stay exact and the number
 * of coarse bins does not change. When thresholds crowd together (a fitted score grid puts several in
 * consecutive fine bins) and no free edge lies between their neighbours, the layout is refused, or, with
 * `crowded`, {@link pinCrowdedThresholds} places them instead.
 */
function pinThresholds(edges: Int32Array, thresholdEdges: readonly number[], crowded: boolean): void {
  const fineBins = edges[edges.length - 1]!;
  const coarseBins = edges.length - 1;
  const original = Int32Array.from(edges);
  const pinned = new Set<number>([0, coarseBins]);
  for (const threshold of thresholdEdges) {
    if (!Number.isSafeInteger(threshold) || threshold <= 0 || threshold >= fineBins) {
      throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'threshold edges must be interior fine-bin indices');
    }
    const existing = edges.indexOf(threshold);
    if (existing >= 0) {
      pinned.add(existing);
      continue;
    }
    let best = -1;
    for (let i = 1; i < coarseBins; i += 1) {
      if (pinned.has(i)) continue;
      // Moving edge i to the threshold must keep the edges strictly increasing.
      if (edges[i - 1]! >= threshold || edges[i + 1]! <= threshold) continue;
      if (best < 0 || Math.abs(edges[i]! - threshold) < Math.abs(edges[best]! - threshold)) best = i;
    }
    if (best < 0 && crowded) {
      edges.set(pinCrowdedThresholds(original, thresholdEdges));
      return;
    }
    if (best < 0) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'too many threshold edges for the number of coarse bins');
    edges[best] = threshold;
    pinned.add(best);
  }
}

/**
 * The same number of edges, every threshold among them: 0, fineBins and the thresholds, then the original
 * edges farthest from those already chosen, then (when the original edges ran out) the middle of the widest
 * coarse bin, until the count is reached.
 */
function pinCrowdedThresholds(original: Int32Array, thresholdEdges: readonly number[]): Int32Array {
  const fineBins = original[original.length - 1]!;
  const wanted = original.length;
  const chosen = new Set<number>([0, fineBins, ...thresholdEdges]);
  if (chosen.size > wanted) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'too many threshold edges for the number of coarse bins');
  const distance = (edge: number): number => Math.min(...[...chosen].map((c) => Math.abs(c - edge)));
  const candidates = Array.from(original).filter((edge) => !chosen.has(edge));
  while (chosen.size < wanted && candidates.length > 0) {
    let best = 0;
    for (let i = 1; i < candidates.length; i += 1) if (distance(candidates[i]!) > distance(candidates[best]!)) best = i;
    chosen.add(candidates[best]!);
    candidates.splice(best, 1);
  }
  while (chosen.size < wanted) {
    const sorted = [...chosen].sort((a, b) => a - b);
    let widest = 0;
    for (let i = 1; i < sorted.length - 1; i += 1) if (sorted[i + 1]! - sorted[i]! > sorted[widest + 1]! - sorted[widest]!) widest = i;
    chosen.add(sorted[widest]! + Math.floor((sorted[widest + 1]! - sorted[widest]!) / 2));
  }
  return Int32Array.from([...chosen].sort((a, b) => a - b));
}

function checkBinCounts(fineBins: number, coarseBins: number): void {
  if (!Number.isSafeInteger(fineBins) || fineBins < 1 || !Number.isSafeInteger(coarseBins) || coarseBins < 1 || coarseBins > fineBins) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'need 1 ≤ coarseBins ≤ fineBins');
  }
}

/**
 * Edges of `coarseBins` bins of (nearly) equal width over `fineBins` fine bins, thresholds pinned; `crowded`
 * (default false) places thresholds that crowd together instead of refusing (see pinThresholds).
 */
export function equalWidthEdges(fineBins: number, coarseBins: number, thresholdEdges: readonly number[] = [], crowded = false): Int32Array {
  checkBinCounts(fineBins, coarseBins);
  const edges = new Int32Array(coarseBins + 1);
  for (let i = 0; i <= coarseBins; i += 1) edges[i] = Math.round((i * fineBins) / coarseBins);
  pinThresholds(edges, thresholdEdges, crowded);
  checkEdges(edges, fineBins);
  return edges;
}

/**
 * Edges of `coarseBins` bins holding (nearly) equal shares of an assumed score distribution given as
 * a mass per fine bin — for example the planner's binormal model, a public assumption, never the data.
 * Every coarse bin keeps at least one fine bin; thresholds are pinned as in {@link equalWidthEdges}.
 */
export function equalMassEdges(fineMass: Float64Array, coarseBins: number, thresholdEdges: readonly number[] = [], crowded = false): Int32Array {
  const fineBins = fineMass.length;
  checkBinCounts(fineBins, coarseBins);
  let total = 0;
  for (const m of fineMass) {
    if (!Number.isFinite(m) || m < 0) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'fine-bin masses must be finite and ≥ 0');
    total += m;
  }
  if (total <= 0) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'fine-bin masses must not all be 0');
  const edges = new Int32Array(coarseBins + 1);
  edges[coarseBins] = fineBins;
  let cumulative = 0;
  let j = 0;
  for (let i = 1; i < coarseBins; i += 1) {
    const target = (i / coarseBins) * total;
    while (j < fineBins && cumulative + fineMass[j]! / 2 < target) cumulative += fineMass[j++]!;
    // At least one fine bin per coarse bin on both sides.
    edges[i] = Math.min(Math.max(j, edges[i - 1]! + 1), fineBins - (coarseBins - i));
  }
  pinThresholds(edges, thresholdEdges, crowded);
  checkEdges(edges, fineBins);
  return edges;
}

/** Sums fine[offset + eᵢ … offset + eᵢ₊₁ − 1] into coarse bin i. */
export function coarsenHistogram(fine: Float64Array, edges: Int32Array, offset = 0): Float64Array {
  const fineBins = edges[edges.length - 1] ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + fineBins > fine.length) {
    throw new DpError('FEDVAL_ERR_DP_BLOCK_OUT_OF_RANGE', `[${offset}, ${offset + fineBins}) of ${fine.length}`);
  }
  checkEdges(edges, fineBins);
  const coarse = new Float64Array(edges.length - 1);
  for (let i = 0; i < coarse.length; i += 1) {
    let sum = 0;
    for (let j = edges[i]!; j < edges[i + 1]!; j += 1) sum += fine[offset + j]!;
    coarse[i] = sum;
  }
  return coarse;
}

/**
 * A coarsening of coarse edges (issue 18, per-class layouts): every `factor`-th edge of `edges`, the edges in `keep` (the
 * pinned threshold, decision-curve and calibration edges; each must be one of `edges`) and both ends, so the result is a
 * subset of `edges` — every bin of it is a union of bins of `edges` — that still has every kept edge.
 */
export function mergeEdges(edges: Int32Array, factor: number, keep: readonly number[]): Int32Array {
  const fineBins = edges[edges.length - 1] ?? 0;
  checkEdges(edges, fineBins);
  if (!Number.isSafeInteger(factor) || factor < 1) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'factor must be a positive integer');
  const present = new Set(edges);
  if (!keep.every((edge) => present.has(edge))) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'every kept edge must be one of the edges');
  const kept = new Set(keep);
  return edges.filter((edge, i) => i % factor === 0 || i === edges.length - 1 || kept.has(edge));
}
