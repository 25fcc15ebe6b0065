// statistics-vector.ts — adding statistics vectors: pooling sites is entry-wise addition of integers.
import { MetricsError } from './errors.ts';

/** a + b as a new vector. Throws when the lengths differ or a sum is not a safe integer. */
export function addStatistics(a: Float64Array, b: Float64Array): Float64Array {
  return addStatisticsInPlace(a.slice(), b);
}

/** target += addend, entry by entry; returns target. Same checks as addStatistics, made before target changes. */
export function addStatisticsInPlace(target: Float64Array, addend: Float64Array): Float64Array {
  if (target.length !== addend.length) {
    throw new MetricsError('FEDVAL_ERR_METRICS_VECTOR_LENGTH', `cannot add a vector of ${addend.length} entries to one of ${target.length}`);
  }
  for (let i = 0; i < target.length; i += 1) {
    if (!Number.isSafeInteger((target[i] as number) + (addend[i] as number))) {
      throw new MetricsError('FEDVAL_ERR_METRICS_VECTOR_NOT_SAFE_INTEGER', `entry ${i}`);
    }
  }
  for (let i = 0; i < target.length; i += 1) target[i] = (target[i] as number) + (addend[i] as number);
  return target;
}
