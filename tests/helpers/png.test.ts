// png.test.ts — the screenshot checker's PNG decoder against a hand-made known-answer image (Sub and Up filters).
import { describe, expect, it } from 'vitest';
import { decodePng, distinctColours } from './png.ts';

// A 2×2 RGB PNG built with Python's zlib and struct: row 0 Sub-filtered, row 1 Up-filtered; its pixels, written by hand,
// are (10,20,30) (15,25,35) / (10,20,30) (0,0,0).
const KNOWN = '89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a730000001649444154789c63e4129163656565626060f8f8fc2e0008eb030453b1d1bf0000000049454e44ae426082';

describe('decodePng', () => {
  it('unfilters a known image and counts its colours', () => {
    const png = decodePng(Buffer.from(KNOWN, 'hex'));
    expect([png.width, png.height, png.channels]).toEqual([2, 2, 3]);
    expect([...png.pixels]).toEqual([10, 20, 30, 15, 25, 35, 10, 20, 30, 0, 0, 0]);
    expect(distinctColours(png)).toBe(3);
  });
});
