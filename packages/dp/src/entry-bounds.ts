// entry-bounds.ts — per-entry bounds of what one site sends, block by block: what the encryption planner needs so the
// signed sum of every site can never wrap around the plaintext modulus.
import { DpError } from './errors.ts';

/** A run of vector entries sharing one bound. */
interface BoundedBlock {
  readonly name: string;
  readonly offset: number;
  readonly length: number;
}

/**
 * The bound of every entry of a `length`-entry vector one site with `patientsPerSite` patients sends: each block's
 * `boundOf(block, patientsPerSite)`, which must be a safe integer. Throws FEDVAL_ERR_DP_INVALID_ARGUMENT otherwise.
 */
export function entryBoundsPerSite<B extends BoundedBlock>(length: number, blocks: Iterable<B>, patientsPerSite: number, boundOf: (block: B, patientsPerSite: number) => number): Float64Array {
  if (!Number.isSafeInteger(patientsPerSite) || patientsPerSite < 0) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'patientsPerSite must be an integer ≥ 0');
  const bounds = new Float64Array(length);
  for (const block of blocks) {
    const bound = boundOf(block, patientsPerSite);
    if (!Number.isSafeInteger(bound)) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `the bound of block ${block.name} is not a safe integer`);
    bounds.fill(bound, block.offset, block.offset + block.length);
  }
  return bounds;
}

/** The largest of a vector's entry bounds (0 for an empty vector). */
export function maxEntryBound(bounds: Float64Array): number {
  return bounds.reduce((max, bound) => Math.max(max, bound), 0);
}
