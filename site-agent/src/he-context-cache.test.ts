import { planBfvParameters } from '@fedval/he';
import { describe, expect, it } from 'vitest';
import { HeContextCache } from './he-context-cache.ts';

const plan = (vectorLength: number) => planBfvParameters({ vectorLength, maxSites: 10, maxAbsPerSite: 1000 });

describe('SEAL contexts per plan', () => {
  it('builds one context per plan, keeps the most recently used ones, and disposes the one it evicts', async () => {
    const cache = new HeContextCache(2);
    const [a, b, c] = [plan(10), plan(20), plan(30)];
    const first = await cache.get(a);
    expect(await cache.get(structuredClone(a))).toBe(first); // the same plan as received again
    const second = await cache.get(b);
    expect(second).not.toBe(first);
    await cache.get(a); // a is now the most recently used: b goes next
    await cache.get(c);
    await new Promise((resolve) => setImmediate(resolve));
    expect(() => second.seal).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_HE_DISPOSED' }));
    expect(() => first.seal).not.toThrow();
    expect(await cache.get(b)).not.toBe(second);
  });

  it('does not keep a plan it refused: the same invalid plan is refused again', async () => {
    const cache = new HeContextCache(2);
    const invalid = { ...plan(10), polyModulusDegree: 12345 };
    await expect(cache.get(invalid)).rejects.toMatchObject({ code: expect.stringMatching(/^FEDVAL_ERR_HE_/) });
    await expect(cache.get(invalid)).rejects.toMatchObject({ code: expect.stringMatching(/^FEDVAL_ERR_HE_/) });
  });
});
