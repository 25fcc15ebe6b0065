// tree.ts — hierarchical (b-ary tree) release of a histogram, consistent estimation, and its exact variances.
//
// Hay, Rastogi, Miklau & Suciu (2010), "Boosting the accuracy of differentially private histograms
// through consistency", PVLDB 3(1). Every node of a complete b-ary tree over the bins holds the count
// of its range; one patient changes one leaf and each of its ancestors, so the L1 and squared L2
// sensitivities both equal the number of levels. With equal noise on every node, the least-squares
// (best linear unbiased) estimate is computed in two passes (their Theorem 3), and any range count —
// in particular any cumulative count — is a sum of O(b·log_b B) nodes, so its noise grows
// polylogarithmically in the number of bins B instead of linearly.
import { DpError } from './errors.ts';

/** The shape of a complete b-ary tree over a histogram; leaves beyond `bins` are padding (always 0). */
export interface TreeShape {
  /** Histogram bins (real leaves). */
  readonly bins: number;
  readonly branching: number;
  /** Levels of nodes, root to leaves; also the L1 and squared L2 sensitivity of one patient. */
  readonly levels: number;
  /** branching^(levels − 1) ≥ bins. */
  readonly paddedLeaves: number;
  /** Number of nodes, (b^levels − 1)/(b − 1). */
  readonly nodeCount: number;
}

/** Options of {@link treeShape}. */
export interface TreeShapeOptions {
  /** Largest node vector accepted. Default 4,194,304 nodes. */
  maxNodes: number;
}

export const DEFAULT_TREE_SHAPE_OPTIONS: Readonly<TreeShapeOptions> = Object.freeze({
  maxNodes: 4 * 1024 * 1024, // nodes
});

/**
 * The smallest complete b-ary tree with at least `bins` leaves. Nodes are stored level by level from
 * the root (heap order: the children of node i are b·i + 1 … b·i + b); the leaves come last.
 */
export function treeShape(bins: number, branching: number, options?: Partial<TreeShapeOptions>): TreeShape {
  const { maxNodes } = { ...DEFAULT_TREE_SHAPE_OPTIONS, ...options };
  if (!Number.isSafeInteger(bins) || bins < 1) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'bins must be a positive integer');
  if (!Number.isSafeInteger(branching) || branching < 2) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'branching must be an integer ≥ 2');
  }
  let levels = 1;
  let paddedLeaves = 1;
  let nodeCount = 1;
  while (paddedLeaves < bins) {
    paddedLeaves *= branching;
    nodeCount += paddedLeaves;
    levels += 1;
    if (nodeCount > maxNodes) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `tree needs more than ${maxNodes} nodes`);
  }
  return Object.freeze({ bins, branching, levels, paddedLeaves, nodeCount });
}

/** Sensitivity of the node vector when one patient is added or removed: one node per level. */
export function treeSensitivity(shape: TreeShape): { l1Sensitivity: number; l2SensitivitySquared: number } {
  return { l1Sensitivity: shape.levels, l2SensitivitySquared: shape.levels };
}

/** The node counts of a histogram (length shape.bins): leaves, zero padding, and every ancestor sum. */
export function encodeTree(histogram: Float64Array, shape: TreeShape): Float64Array {
  if (histogram.length !== shape.bins) throw new DpError('FEDVAL_ERR_DP_TREE_SHAPE', `expected ${shape.bins} bins, got ${histogram.length}`);
  const nodes = new Float64Array(shape.nodeCount);
  const firstLeaf = shape.nodeCount - shape.paddedLeaves;
  nodes.set(histogram, firstLeaf);
  const b = shape.branching;
  for (let i = firstLeaf - 1; i >= 0; i -= 1) {
    let sum = 0;
    for (let c = b * i + 1; c <= b * i + b; c += 1) sum += nodes[c]!;
    nodes[i] = sum;
  }
  return nodes;
}

/**
 * The least-squares node values given noisy counts on every node (equal noise variance), by the two
 * passes of Hay et al. (2010), Theorem 3. With heights counted from 1 at the leaves:
 *   bottom-up  z[v] = (bⁱ − bⁱ⁻¹)/(bⁱ − 1)·y[v] + (bⁱ⁻¹ − 1)/(bⁱ − 1)·Σ_children z[u]   (z = y at leaves)
 *   top-down   x[root] = z[root];  x[u] = z[u] + (x[parent] − Σ_siblings z[s]) / b.
 * The result is consistent: every node equals the sum of its children.
 */
function leastSquaresNodes(noisy: Float64Array, shape: TreeShape): Float64Array {
  const b = shape.branching;
  const z = Float64Array.from(noisy);
  const firstLeaf = shape.nodeCount - shape.paddedLeaves;
  // Bottom-up, level by level; levelStart[k] is the first node of depth k.
  const levelStart: number[] = [0];
  for (let k = 1, width = 1; k < shape.levels; k += 1, width *= b) levelStart.push(levelStart[k - 1]! + width);
  for (let depth = shape.levels - 2; depth >= 0; depth -= 1) {
    const height = shape.levels - depth; // leaves have height 1
    const bi = b ** height;
    const bi1 = b ** (height - 1);
    const own = (bi - bi1) / (bi - 1);
    const fromChildren = (bi1 - 1) / (bi - 1);
    const end = depth + 1 < shape.levels ? levelStart[depth + 1]! : firstLeaf;
    for (let v = levelStart[depth]!; v < end; v += 1) {
      let childSum = 0;
      for (let c = b * v + 1; c <= b * v + b; c += 1) childSum += z[c]!;
      z[v] = own * noisy[v]! + fromChildren * childSum;
    }
  }
  const x = new Float64Array(shape.nodeCount);
  x[0] = z[0]!;
  for (let v = 0; v < firstLeaf; v += 1) {
    let childSum = 0;
    for (let c = b * v + 1; c <= b * v + b; c += 1) childSum += z[c]!;
    const correction = (x[v]! - childSum) / b;
    for (let c = b * v + 1; c <= b * v + b; c += 1) x[c] = z[c]! + correction;
  }
  return x;
}

/**
 * The consistent histogram (length shape.bins) estimated from noisy node counts: the best linear
 * unbiased estimate when every node carries independent noise of the same variance.
 */
export function estimateTreeHistogram(noisyNodes: Float64Array, shape: TreeShape): Float64Array {
  if (noisyNodes.length !== shape.nodeCount) {
    throw new DpError('FEDVAL_ERR_DP_TREE_SHAPE', `expected ${shape.nodeCount} nodes, got ${noisyNodes.length}`);
  }
  const x = leastSquaresNodes(noisyNodes, shape);
  const firstLeaf = shape.nodeCount - shape.paddedLeaves;
  return x.slice(firstLeaf, firstLeaf + shape.bins);
}

/**
 * Variance of Σ_j w_j·x̂_j for the estimated histogram x̂, when every node has noise variance
 * `nodeVariance`: nodeVariance · wᵀ(HᵀH)⁻¹w, H the node-by-leaf incidence matrix. Since the estimator
 * is x̂ = (HᵀH)⁻¹Hᵀy, feeding it y = w on the leaves and 0 elsewhere (so Hᵀy = w) yields (HᵀH)⁻¹w.
 */
export function treeQueryVariance(shape: TreeShape, weights: Float64Array, nodeVariance: number): number {
  if (weights.length !== shape.bins) throw new DpError('FEDVAL_ERR_DP_TREE_SHAPE', `expected ${shape.bins} weights, got ${weights.length}`);
  const y = new Float64Array(shape.nodeCount);
  const firstLeaf = shape.nodeCount - shape.paddedLeaves;
  y.set(weights, firstLeaf);
  const u = leastSquaresNodes(y, shape);
  let quadratic = 0;
  for (let j = 0; j < shape.bins; j += 1) quadratic += weights[j]! * u[firstLeaf + j]!;
  return nodeVariance * quadratic;
}

/**
 * Variances of the estimated cumulative counts Σ_{j<k} x̂_j for k = 0 … bins (entry 0 is 0), with
 * node noise variance `nodeVariance`. Cost O(bins · nodes).
 */
export function treePrefixVariances(shape: TreeShape, nodeVariance: number): Float64Array {
  const out = new Float64Array(shape.bins + 1);
  const weights = new Float64Array(shape.bins);
  for (let k = 1; k <= shape.bins; k += 1) {
    weights[k - 1] = 1;
    out[k] = treeQueryVariance(shape, weights, nodeVariance);
  }
  return out;
}
