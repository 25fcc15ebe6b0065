import { describe, expect, it } from 'vitest';
import { CoordinatorError } from '../errors.ts';
import { PlaintextAggregator } from './plaintext-aggregator.ts';

/** Deterministic signed integers from a linear congruential generator (Numerical Recipes constants). */
function integers(seed: number, length: number, magnitude: number): Float64Array<ArrayBuffer> {
  const out = new Float64Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i += 1) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = (state % (2 * magnitude + 1)) - magnitude;
  }
  return out;
}

function codeOf(work: () => void): string {
  try {
    work();
  } catch (error) {
    if (error instanceof CoordinatorError) return error.code;
    throw error;
  }
  return 'none';
}

describe('PlaintextAggregator', () => {
  it('sums vectors exactly, matching an independent BigInt sum', () => {
    const length = 257;
    const vectors = [1, 2, 3, 4, 5].map((seed) => integers(seed, length, 2 ** 40));
    const aggregator = new PlaintextAggregator(length);
    vectors.forEach((vector, i) => aggregator.add(`site-${i}`, { kind: 'plaintext', vector }));
    const { vector, contributions, sites } = aggregator.finish();
    expect(contributions).toBe(5);
    expect(sites).toEqual(['site-0', 'site-1', 'site-2', 'site-3', 'site-4']);
    for (let i = 0; i < length; i += 1) {
      const expected = vectors.reduce((sum, v) => sum + BigInt(v[i] as number), 0n);
      expect(BigInt(vector[i] as number)).toBe(expected);
    }
  });

  it('refuses a wrong length, a fraction, NaN, an infinity and an unsafe integer, leaving the sum unchanged', () => {
    const aggregator = new PlaintextAggregator(3);
    aggregator.add('a', { kind: 'plaintext', vector: Float64Array.of(1, 2, 3) });
    const bad = [Float64Array.of(1, 2), Float64Array.of(1, 0.5, 1), Float64Array.of(1, Number.NaN, 1), Float64Array.of(1, 1, Infinity), Float64Array.of(2 ** 53, 0, 0)];
    for (const vector of bad) {
      expect(codeOf(() => aggregator.add('b', { kind: 'plaintext', vector }))).toBe('FEDVAL_ERR_COORD_INVALID_CONTRIBUTION');
    }
    expect(codeOf(() => aggregator.add('b', { kind: 'bfv', ciphertexts: [new Uint8Array(4)] }))).toBe('FEDVAL_ERR_COORD_INVALID_CONTRIBUTION');
    expect(aggregator.count).toBe(1);
    expect([...aggregator.finish().vector]).toEqual([1, 2, 3]);
  });

  it('refuses a contribution whose sum would leave the safe integer range, and a second one from the same site', () => {
    const aggregator = new PlaintextAggregator(2);
    aggregator.add('a', { kind: 'plaintext', vector: Float64Array.of(Number.MAX_SAFE_INTEGER, -5) });
    expect(codeOf(() => aggregator.add('b', { kind: 'plaintext', vector: Float64Array.of(1, 0) }))).toBe('FEDVAL_ERR_COORD_CONTRIBUTION_OVERFLOW');
    expect(codeOf(() => aggregator.add('a', { kind: 'plaintext', vector: Float64Array.of(0, 0) }))).toBe('FEDVAL_ERR_COORD_DUPLICATE_CONTRIBUTION');
    aggregator.add('c', { kind: 'plaintext', vector: Float64Array.of(-1, 5) });
    expect([...aggregator.finish().vector]).toEqual([Number.MAX_SAFE_INTEGER - 1, 0]);
    expect(codeOf(() => aggregator.add('d', { kind: 'plaintext', vector: Float64Array.of(0, 0) }))).toBe('FEDVAL_ERR_COORD_ROUND_CLOSED');
  });
});
