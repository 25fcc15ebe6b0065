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
 * Edges of `coarseBins` bins of (nearly) equal width over `fineBins` fine bins. Each threshold edge
 * (a fine-bin index where a decision threshold falls) replaces the nearest free interior edge, so
 * confusion counts at that threshold stay exact and the number of bins stays `coarseBins`.
 */
export function equalWidthEdges(fineBins: number, coarseBins: number, thresholdEdges: readonly number[] = []): Int32Array {
  if (!Number.isSafeInteger(fineBins) || fineBins < 1 || !Number.isSafeInteger(coarseBins) || coarseBins < 1 || coarseBins > fineBins) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'need 1 ≤ coarseBins ≤ fineBins');
  }
  const edges = new Int32Array(coarseBins + 1);
  for (let i = 0; i <= coarseBins; i += 1) edges[i] = Math.round((i * fineBins) / coarseBins);
  const pinned = new Set<number>([0, coarseBins]);
  for (const threshold of thresholdEdges) {
    if (!Number.isSafeInteger(threshold) || threshold <= 0 || threshold >= fineBins) {
      throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'threshold edges must be interior fine-bin indices');
    }
    if (edges.includes(threshold)) {
      pinned.add(edges.indexOf(threshold));
      continue;
    }
    let best = -1;
    for (let i = 1; i < coarseBins; i += 1) {
      if (pinned.has(i)) continue;
      // Moving edge i to the threshold must keep the edges strictly increasing.
      if (edges[i - 1]! >= threshold || edges[i + 1]! <= threshold) continue;
      if (best < 0 || Math.abs(edges[i]! - threshold) < Math.abs(edges[best]! - threshold)) best = i;
    }
    if (best < 0) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'too many threshold edges for the number of coarse bins');
    edges[best] = threshold;
    pinned.add(best);
  }
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
