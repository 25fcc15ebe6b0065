import { describe, expect, it } from 'vitest';
import { canonicalSiteOrder, compareSiteIds, pairwiseSign } from './site-order.ts';

describe('canonical site order and the pairwise sign', () => {
  it('orders ids by their UTF-8 bytes', () => {
    expect(canonicalSiteOrder(['site-b', 'Site-Z', 'site-a', 'site', 'site-10', 'site-9', 'hospital.c'])).toEqual(
      ['Site-Z', 'hospital.c', 'site', 'site-10', 'site-9', 'site-a', 'site-b'],
    );
    // UTF-8 byte order, not UTF-16 code-unit order: U+FF5E (EF BD 9E) sorts before U+1F600 (F0 9F 98 80).
    expect(compareSiteIds('\u{ff5e}', '\u{1f600}')).toBeLessThan(0);
  });

  it('gives +1 to the lower id and −1 to the higher, so each pair\'s masks cancel', () => {
    expect(pairwiseSign('site-a', 'site-b')).toBe(1);
    expect(pairwiseSign('site-b', 'site-a')).toBe(-1);
    expect(pairwiseSign('site-10', 'site-9')).toBe(1);
  });

  it('refuses a repeated or empty id and a pair of one site', () => {
    expect(() => canonicalSiteOrder(['a', 'b', 'a'])).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_ARGUMENT' }));
    expect(() => canonicalSiteOrder(['a', ''])).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_ARGUMENT' }));
    expect(() => pairwiseSign('a', 'a')).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_ARGUMENT' }));
  });
});
