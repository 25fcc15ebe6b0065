// plaintext-aggregator.ts — exact running sum of plaintext statistics vectors (the unencrypted test seam).
import type { Contribution } from '@fedval/protocol';
import { CoordinatorError } from '../errors.ts';
import type { Aggregate, ContributionAggregator } from './contribution-aggregator.ts';

/**
 * Sums plaintext statistics vectors of a fixed length. Every entry must be a safe integer and
 * every partial sum must stay one, so the float64 sum is exact (integers up to 2^53 − 1 are
 * represented exactly, IEEE 754-2019 §3.3).
 */
export class PlaintextAggregator implements ContributionAggregator {
  readonly #sum: Float64Array;
  readonly #sites: string[] = [];
  #finished = false;

  constructor(length: number) {
    if (!Number.isSafeInteger(length) || length < 1) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'vector length must be a positive integer');
    this.#sum = new Float64Array(length);
  }

  get count(): number {
    return this.#sites.length;
  }

  add(siteId: string, contribution: Contribution): void {
    if (this.#finished) throw new CoordinatorError('FEDVAL_ERR_COORD_ROUND_CLOSED');
    if (this.#sites.includes(siteId)) throw new CoordinatorError('FEDVAL_ERR_COORD_DUPLICATE_CONTRIBUTION');
    if (contribution.kind !== 'plaintext') {
      throw new CoordinatorError('FEDVAL_ERR_COORD_INVALID_CONTRIBUTION', `expected a plaintext contribution, got ${contribution.kind}`);
    }
    const { vector } = contribution;
    const sum = this.#sum;
    if (vector.length !== sum.length) {
      throw new CoordinatorError('FEDVAL_ERR_COORD_INVALID_CONTRIBUTION', `vector has ${vector.length} entries, the study layout has ${sum.length}`);
    }
    for (let i = 0; i < vector.length; i += 1) {
      const value = vector[i] as number;
      if (!Number.isSafeInteger(value)) {
        throw new CoordinatorError('FEDVAL_ERR_COORD_INVALID_CONTRIBUTION', `entry ${i} is not a safe integer`);
      }
      if (!Number.isSafeInteger((sum[i] as number) + value)) {
        throw new CoordinatorError('FEDVAL_ERR_COORD_CONTRIBUTION_OVERFLOW', `entry ${i}`);
      }
    }
    for (let i = 0; i < vector.length; i += 1) sum[i] = (sum[i] as number) + (vector[i] as number);
    this.#sites.push(siteId);
  }

  finish(): Extract<Aggregate, { kind: 'plaintext' }> {
    this.#finished = true;
    return { kind: 'plaintext', vector: this.#sum, contributions: this.#sites.length, sites: [...this.#sites] };
  }
}
