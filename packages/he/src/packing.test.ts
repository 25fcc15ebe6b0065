// Reference: entry sums computed directly in BigInt, against slot sums taken modulo t and read centred —
// exactly what BFV's plaintext arithmetic does to the packed values.
import { describe, expect, it } from 'vitest';
import { HeError } from './errors.ts';
import { boundRuns, buildPackingLayout, counterRadix, packVector, summarizePacking, unpackSums } from './packing.ts';
import type { BoundRun, PackingLayout } from './packing.ts';
import { smallestBatchingPrimeAtLeast } from './primes.ts';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Sum of slot vectors modulo t, centred in (−t/2, t/2]: the plaintext side of BFV addition. */
function homomorphicSlotSum(slotVectors: BigInt64Array[], t: bigint): BigInt64Array {
  const out = new BigInt64Array(slotVectors[0]!.length);
  for (let s = 0; s < out.length; s++) {
    let v = 0n;
    for (const slots of slotVectors) v = (v + (slots[s] as bigint)) % t;
    if (v < 0n) v += t;
    out[s] = v > (t - 1n) / 2n ? v - t : v;
  }
  return out;
}

function roundTrip(runs: BoundRun[], sites: number, t: bigint, value: (entry: number, site: number, bound: number) => number): { layout: PackingLayout; got: Float64Array; want: bigint[] } {
  const layout = buildPackingLayout(runs, sites, t);
  const slotCount = Math.ceil(layout.slotsUsed / 64) * 64;
  const want = new Array<bigint>(layout.vectorLength).fill(0n);
  const packed: BigInt64Array[] = [];
  for (let k = 0; k < sites; k++) {
    const values = Float64Array.from(layout.entryBound, (bound, e) => value(e, k, bound));
    values.forEach((v, e) => {
      want[e] = (want[e] as bigint) + BigInt(v);
    });
    const slots = packVector(layout, values, slotCount);
    for (const s of slots) expect(s <= (t - 1n) / 2n && s >= -(t - 1n) / 2n).toBe(true);
    packed.push(slots);
  }
  return { layout, got: unpackSums(layout, homomorphicSlotSum(packed, t), sites), want };
}

describe('boundRuns', () => {
  it('run-length encodes per-entry bounds', () => {
    expect(boundRuns([5, 5, 5, 0, 7, 7])).toEqual([[3, 5], [1, 0], [2, 7]]);
    expect(boundRuns([])).toEqual([]);
  });
});

describe('packing', () => {
  it('recovers exact sums at the bounds for 1, 3 and 1000 sites, two counters per slot', () => {
    for (const sites of [1, 3, 1000]) {
      const m = 100_000;
      const r = counterRadix(m, sites);
      const t = smallestBatchingPrimeAtLeast(r * r, 4096) as bigint;
      const random = rng(sites);
      const { layout, got, want } = roundTrip([[500, m]], sites, t, (e, k, bound) => {
        if (e === 0) return bound; // every site at +M
        if (e === 1) return -bound; // every site at −M
        if (e === 2) return k % 2 === 0 ? bound : -bound;
        return Math.round((2 * random() - 1) * bound);
      });
      expect(layout.slotsUsed).toBe(250);
      expect(got[0]).toBe(sites * m);
      expect(got[1]).toBe(-sites * m);
      expect(Array.from(got, BigInt)).toEqual(want);
    }
  });

  it('splits entries too large for t into balanced limbs and recombines them exactly', () => {
    const runs: BoundRun[] = [[40, 100_000], [6, 2 ** 40], [3, 0], [10, 1], [2, 2 ** 44 + 3]];
    const sites = 20;
    const t = smallestBatchingPrimeAtLeast(1n << 30n, 2048) as bigint;
    const summary = summarizePacking(runs, sites, t);
    expect(summary?.splitEntries).toBe(8);
    const random = rng(7);
    const { got, want } = roundTrip(runs, sites, t, (_e, k, bound) => (k === 0 ? bound : k === 1 ? -bound : Math.round((2 * random() - 1) * bound)));
    expect(Array.from(got, BigInt)).toEqual(want);
  });

  it('never puts more into a slot than t can hold', () => {
    const random = rng(11);
    let feasible = 0;
    let split = 0;
    for (let trial = 0; trial < 200; trial++) {
      const runs: BoundRun[] = Array.from({ length: 1 + Math.floor(random() * 6) }, () => [
        1 + Math.floor(random() * 300),
        [0, 1, 7, 1000, 2 ** 20, 2 ** 33][Math.floor(random() * 6)] as number,
      ]);
      const sites = 1 + Math.floor(random() * 2000);
      const t = smallestBatchingPrimeAtLeast(1n << BigInt(22 + Math.floor(random() * 38)), 1024) as bigint;
      const summary = summarizePacking(runs, sites, t);
      if (!summary) continue;
      feasible += 1;
      split += summary.splitEntries > 0 ? 1 : 0;
      const layout = buildPackingLayout(runs, sites, t);
      const products = new Map<number, bigint>();
      const counts = new Map<number, number>();
      layout.counterSlot.forEach((slot, c) => {
        products.set(slot, (products.get(slot) ?? 1n) * (layout.counterRadix[c] as bigint));
        counts.set(slot, (counts.get(slot) ?? 0) + 1);
      });
      for (const p of products.values()) expect(p <= t).toBe(true);
      // The run-length summary the planner scores with must describe the materialized layout.
      expect(summary.slotsUsed).toBe(layout.slotsUsed);
      expect(summary.counters).toBe(layout.counterSlot.length);
      expect(summary.maxCountersPerSlot).toBe(Math.max(...counts.values()));
      expect(summary.maxSlotProduct).toBe([...products.values()].reduce((a, b) => (a > b ? a : b), 1n));
    }
    expect(feasible).toBeGreaterThan(100);
    expect(split).toBeGreaterThan(20);
  });

  it('reports layouts t cannot hold', () => {
    expect(summarizePacking([[3, 5]], 10, 15n)).toBeUndefined(); // not even a ±1 limb summed over 10 sites
    expect(summarizePacking([[3, 0]], 10, 15n)?.slotsUsed).toBe(1);
  });

  it('refuses values it cannot carry, naming the entry but not the value', () => {
    const layout = buildPackingLayout([[4, 10]], 3, 100_003n);
    const check = (values: number[]): string | undefined => {
      try {
        packVector(layout, values, 64);
      } catch (error) {
        expect(error).toBeInstanceOf(HeError);
        expect((error as HeError).message).not.toContain('12345');
        return (error as HeError).code;
      }
      return undefined;
    };
    expect(check([0, 0, 0])).toBe('FEDVAL_ERR_HE_VECTOR_LENGTH');
    expect(check([0, 12345, 0, 0])).toBe('FEDVAL_ERR_HE_VALUE_OUT_OF_RANGE');
    expect(check([0, 0, 1.5, 0])).toBe('FEDVAL_ERR_HE_VALUE_OUT_OF_RANGE');
    expect(check([0, 0, 0, Number.NaN])).toBe('FEDVAL_ERR_HE_VALUE_OUT_OF_RANGE');
    expect(check([-10, 10, -0, 0])).toBeUndefined();
  });

  it('rejects decrypted slots that no honest sum can produce', () => {
    const t = 100_003n;
    const layout = buildPackingLayout([[4, 10]], 3, t);
    const slots = packVector(layout, [10, 10, 10, 10], 64);
    // Three contributions at +10 decode; claiming fewer contributions leaves digits out of range.
    const sum = homomorphicSlotSum([slots, slots, slots], t);
    expect(Array.from(unpackSums(layout, sum, 3))).toEqual([30, 30, 30, 30]);
    expect(() => unpackSums(layout, sum, 2)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_HE_DECRYPTION_FAILED' }));
    const padded = BigInt64Array.from(sum);
    padded[63] = 1n;
    expect(() => unpackSums(layout, padded, 3)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_HE_DECRYPTION_FAILED' }));
  });
});
