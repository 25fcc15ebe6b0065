// site-order.ts — the one canonical order of site ids that fixes mask signs and Shamir x-coordinates.
import { SecaggError } from './errors.ts';

/**
 * Compares two site ids by their UTF-8 bytes, lexicographically (a shorter prefix sorts first). For the
 * protocol's ids (ASCII letters, digits, `. _ : -`) this is plain character-code order.
 */
export function compareSiteIds(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The ids in canonical order; throws FEDVAL_ERR_SECAGG_INVALID_ARGUMENT on an empty or repeated id. */
export function canonicalSiteOrder(siteIds: readonly string[]): string[] {
  const sorted = [...siteIds].sort(compareSiteIds);
  for (let i = 0; i < sorted.length; i++) {
    const id = sorted[i];
    if (typeof id !== 'string' || id.length === 0) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'a site id is empty or not a string');
    if (i > 0 && sorted[i - 1] === id) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', `site id ${JSON.stringify(id)} appears twice`);
  }
  return sorted;
}

/**
 * The sign with which site `self` adds the mask it shares with `peer` (Bonawitz et al. 2017:
 * p_{u,v} = Δ_{u,v}·PRG(s_{u,v}) with Δ = +1 when u < v and −1 when u > v), so each pair's two masks cancel.
 */
export function pairwiseSign(self: string, peer: string): 1 | -1 {
  const order = compareSiteIds(self, peer);
  if (order === 0) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'a site has no pairwise mask with itself');
  return order < 0 ? 1 : -1;
}
