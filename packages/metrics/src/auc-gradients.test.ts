import { describe, expect, it } from 'vitest';
import { aucGradients, mannWhitneyAuc, rocAuc } from './binary-metrics.ts';

describe('AUC and its DeLong gradients', () => {
  const negative = Float64Array.from([5, 3, 2, 1, 0, 1]);
  const positive = Float64Array.from([0, 1, 1, 2, 4, 3]);

  it('is the Mann–Whitney probability that a positive outranks a negative, ties one half (counted pair by pair)', () => {
    let wins = 0;
    for (let i = 0; i < positive.length; i += 1) {
      for (let j = 0; j < negative.length; j += 1) wins += positive[i]! * negative[j]! * (i > j ? 1 : i === j ? 0.5 : 0);
    }
    expect(mannWhitneyAuc({ negative, positive })).toBeCloseTo(wins / (11 * 12), 14);
  });

  it('has gradients equal to central finite differences of the AUC in every count', () => {
    const g = aucGradients({ negative, positive })!;
    const h = 1e-6;
    for (let k = 0; k < positive.length; k += 1) {
      for (const [name, counts] of [['positive', positive], ['negative', negative]] as const) {
        const up = Float64Array.from(counts);
        const down = Float64Array.from(counts);
        up[k]! += h;
        down[k]! -= h;
        const at = (c: Float64Array) => mannWhitneyAuc(name === 'positive' ? { negative, positive: c } : { negative: c, positive })!;
        expect(g[name][k]).toBeCloseTo((at(up) - at(down)) / (2 * h), 7);
      }
    }
  });

  it('is unclipped and null for an empty class; rocAuc clips', () => {
    const noisy = { negative: [3, -1], positive: [-1, 3] };
    expect(mannWhitneyAuc(noisy)).toBeGreaterThan(1);
    expect(rocAuc(noisy)).toBe(1);
    expect(mannWhitneyAuc({ negative: [0, 0], positive: [1, 2] })).toBeNull();
    expect(aucGradients({ negative: [0, 0], positive: [1, 2] })).toBeNull();
  });
});
