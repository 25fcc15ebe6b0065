// bfv-aggregator.ts — the running homomorphic sum of BFV contributions; the coordinator can add but never decrypt.
import { EncryptedSum } from '@fedval/he';
import type { HeContext } from '@fedval/he';
import type { Contribution } from '@fedval/protocol';
import { CoordinatorError } from '../errors.ts';
import type { Aggregate, ContributionAggregator } from './contribution-aggregator.ts';

/**
 * Adds each site's ciphertexts on arrival into one encrypted running sum (constant memory).
 * @fedval/he checks each ciphertext's plan fingerprint, sizes, checksums and coefficient ranges
 * before it counts; a rejected contribution leaves the sum unchanged.
 */
export class BfvAggregator implements ContributionAggregator {
  readonly #sum: EncryptedSum;
  readonly #sites: string[] = [];
  #finished = false;

  constructor(context: HeContext) {
    this.#sum = new EncryptedSum(context);
  }

  get count(): number {
    return this.#sites.length;
  }

  add(siteId: string, contribution: Contribution): void {
    if (this.#finished) throw new CoordinatorError('FEDVAL_ERR_COORD_ROUND_CLOSED');
    if (this.#sites.includes(siteId)) throw new CoordinatorError('FEDVAL_ERR_COORD_DUPLICATE_CONTRIBUTION');
    if (contribution.kind !== 'bfv') {
      throw new CoordinatorError('FEDVAL_ERR_COORD_INVALID_CONTRIBUTION', `expected a bfv contribution, got ${contribution.kind}`);
    }
    this.#sum.add({ ciphertexts: contribution.ciphertexts });
    this.#sites.push(siteId);
  }

  finish(): Aggregate {
    this.#finished = true;
    const ciphertexts = this.#sites.length > 0 ? this.#sum.toEncryptedVector().ciphertexts : [];
    return { kind: 'bfv', ciphertexts, contributions: this.#sites.length, sites: [...this.#sites] };
  }
}
