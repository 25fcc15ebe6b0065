// contribution-aggregator.ts — the seam every aggregation strategy implements: add on arrival, finish once.
import type { Contribution } from '@fedval/protocol';

/** The aggregate of a closed round, before any finalization into metrics. */
export type Aggregate =
  | { kind: 'plaintext'; vector: Float64Array; contributions: number; sites: string[] }
  | { kind: 'bfv'; ciphertexts: Uint8Array[]; contributions: number; sites: string[] };

/**
 * Adds site contributions as they arrive into one running aggregate, so memory does not grow
 * with the number of sites. `add` either adds the whole contribution or throws a
 * CoordinatorError and leaves the aggregate unchanged.
 */
export interface ContributionAggregator {
  add(siteId: string, contribution: Contribution): void;
  /** Contributions added so far. */
  readonly count: number;
  /** Returns the aggregate; the aggregator accepts nothing afterwards. */
  finish(): Aggregate;
}
