// noisy-counts.ts — makes DP-noised counts usable: non-negative histograms with monotone cumulative sums.

/**
 * The histogram nearest to a noisy one whose cumulative sums are monotone: the cumulative sums
 * c_k = h_0 + … + h_k (k < B−1) are projected onto non-decreasing sequences by least squares
 * (pool-adjacent-violators, Barlow et al. 1972, "Statistical Inference under Order Restrictions"),
 * clipped into [0, total] with total = max(0, Σ h), and differenced back. Every bin is then >= 0,
 * the bins add up to the clamped total, and a histogram with no negative bin comes back unchanged,
 * so exact (noise-free) vectors give exact metrics. Clamping each bin at 0 instead would add about
 * σ/√(2π) phantom patients per empty bin.
 */
export function monotoneHistogram(raw: ArrayLike<number>): Float64Array {
  const B = raw.length;
  const result = Float64Array.from(raw);
  let negative = false;
  let total = 0;
  for (let k = 0; k < B; k += 1) {
    const value = result[k] as number;
    total += value;
    if (value < 0) negative = true;
  }
  if (!negative) return result;
  total = Math.max(0, total);
  if (B === 1) {
    result[0] = total;
    return result;
  }
  const cumulative = new Float64Array(B - 1);
  let running = 0;
  for (let k = 0; k < B - 1; k += 1) {
    running += result[k] as number;
    cumulative[k] = running;
  }
  const fitted = isotonicNonDecreasing(cumulative);
  let previous = 0;
  for (let k = 0; k < B - 1; k += 1) {
    const value = Math.min(Math.max(fitted[k] as number, previous), total);
    result[k] = value - previous;
    previous = value;
  }
  result[B - 1] = total - previous;
  return result;
}

/** Least-squares non-decreasing fit with unit weights (pool-adjacent-violators). */
export function isotonicNonDecreasing(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const blockSum = new Float64Array(n);
  const blockSize = new Int32Array(n);
  let blocks = 0;
  for (let i = 0; i < n; i += 1) {
    blockSum[blocks] = values[i] as number;
    blockSize[blocks] = 1;
    blocks += 1;
    while (blocks > 1 && (blockSum[blocks - 2] as number) / (blockSize[blocks - 2] as number) > (blockSum[blocks - 1] as number) / (blockSize[blocks - 1] as number)) {
      blockSum[blocks - 2] = (blockSum[blocks - 2] as number) + (blockSum[blocks - 1] as number);
      blockSize[blocks - 2] = (blockSize[blocks - 2] as number) + (blockSize[blocks - 1] as number);
      blocks -= 1;
    }
  }
  const fitted = new Float64Array(n);
  let i = 0;
  for (let b = 0; b < blocks; b += 1) {
    const mean = (blockSum[b] as number) / (blockSize[b] as number);
    for (let j = 0; j < (blockSize[b] as number); j += 1) fitted[i++] = mean;
  }
  return fitted;
}

/** A noisy count made usable: rounded to an integer, at least 0. */
export function nonNegativeCount(value: number): number {
  return Math.max(0, Math.round(value));
}
