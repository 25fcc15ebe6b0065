// Fitting a score grid from development scores: quantile and logit edges against hand-computed values, and the refusals.
import { describe, expect, it } from 'vitest';
import { MetricsError } from './errors.ts';
import { resolveMetricSpec } from './metric-spec.ts';
import { fittedGrid } from './score-grid.ts';
import { fitScoreGrid } from './score-grid-fit.ts';

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(MetricsError);
    return `${(error as MetricsError).code}: ${(error as MetricsError).message}`;
  }
  throw new Error('expected a MetricsError');
}

describe('fitScoreGrid, method quantile', () => {
  // n = 8; cumulative counts over the distinct scores 0.1, 0.2, 0.3, 0.4, 0.9: 2, 3, 4, 7, 8.
  const scores = [0.4, 0.1, 0.9, 0.3, 0.4, 0.1, 0.2, 0.4];

  it('cuts after the distinct score where the cumulative count reaches i·n/B, between two distinct scores', () => {
    // B = 4: targets 2, 4, 6 are reached at 0.1, 0.3 and 0.4; the cuts are the midpoints 0.15, 0.35, 0.65.
    expect(fitScoreGrid(scores, { bins: 4, method: 'quantile' }).grid.edges).toEqual([0.1 + (0.2 - 0.1) / 2, 0.3 + (0.4 - 0.3) / 2, 0.4 + (0.9 - 0.4) / 2]);
    // B = 2: target 4 is reached at 0.3.
    expect(fitScoreGrid(scores, { bins: 2, method: 'quantile' }).grid.edges).toEqual([0.35]);
  });

  it('never splits equal scores: repeated cuts collapse into fewer bins', () => {
    // B = 3 on 1, 1, 1, 1, 1, 2 (as tenths): targets 2 and 4 are both reached at the first distinct score.
    const { grid, summary } = fitScoreGrid([0.1, 0.1, 0.1, 0.1, 0.1, 0.2], { bins: 3, method: 'quantile' });
    expect(grid.edges).toEqual([0.1 + (0.2 - 0.1) / 2]);
    expect(summary).toEqual({ scores: 6, distinctScores: 2, bins: 2, binsWithSeveralScores: 0 });
  });

  it('gives every distinct score its own bin when there are at most B of them', () => {
    let seed = 99;
    const random = (): number => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const distinct = Array.from({ length: 300 }, () => Math.round(random() * 1e6) / 1e6);
    const scores = [...distinct, ...distinct.slice(0, 100)];
    const { grid, summary } = fitScoreGrid(scores, { bins: 1000, method: 'quantile' });
    const unique = [...new Set(distinct)];
    expect(summary.distinctScores).toBe(unique.length);
    expect(summary.bins).toBe(unique.length);
    expect(summary.binsWithSeveralScores).toBe(0);
    const bins = new Set(unique.map((s) => fittedGrid(grid.edges).bin(s)));
    expect(bins.size).toBe(unique.length);
  });

  it('cuts between two adjacent doubles at the upper one', () => {
    const a = 0.3;
    const b = a + Number.EPSILON / 4; // the next double above 0.3
    expect(b).toBeGreaterThan(a);
    const { grid } = fitScoreGrid([a, b], { bins: 2, method: 'quantile' });
    expect(grid.edges).toEqual([b]);
    expect(fittedGrid(grid.edges).bin(a)).toBe(0);
    expect(fittedGrid(grid.edges).bin(b)).toBe(1);
  });

  it('counts bins that hold several distinct scores when there are more distinct scores than bins', () => {
    const scores = Array.from({ length: 100 }, (_, i) => (i + 0.5) / 100);
    const { grid, summary } = fitScoreGrid(scores, { bins: 10, method: 'quantile' });
    expect(grid.edges).toEqual(Array.from({ length: 9 }, (_, i) => (i * 10 + 9.5) / 100 + ((i * 10 + 10.5) / 100 - (i * 10 + 9.5) / 100) / 2));
    expect(summary.binsWithSeveralScores).toBe(10);
  });
});

describe('fitScoreGrid, method logit', () => {
  it('spaces B bins evenly in logit between the smallest and largest score', () => {
    // logit(0.1) = −ln 9 and logit(0.9) = ln 9: four bins of width ln 9 / 2 put the edges at expit(−ln 3) = 0.25, 0.5 and 0.75.
    const { grid } = fitScoreGrid([0.9, 0.3, 0.1, 0.5], { bins: 4, method: 'logit' });
    expect(grid.method).toBe('logit');
    expect(grid.edges).toHaveLength(3);
    [0.25, 0.5, 0.75].forEach((edge, i) => expect(grid.edges[i]).toBeCloseTo(edge, 14));
  });

  it('clamps scores of 0 and 1 to 1e-6 and 1 − 1e-6 before the logit', () => {
    const { grid } = fitScoreGrid([0, 1], { bins: 2, method: 'logit' });
    expect(grid.edges).toHaveLength(1);
    expect(grid.edges[0]).toBeCloseTo(0.5, 10); // logit(1 − 1e-6) is −logit(1e-6) up to rounding
  });
});

describe('fitScoreGrid thresholds, digest and refusals', () => {
  it('keeps the thresholds as exact edges and stores the digest; the spec takes the grid as fitted', () => {
    const digest = `sha256:${'0f'.repeat(32)}`;
    const { grid, summary } = fitScoreGrid([0.1, 0.2, 0.3, 0.4], { bins: 4, method: 'quantile', thresholds: [0.2, 0.333], sourceDigest: digest });
    expect(grid).toEqual({ kind: 'fitted', method: 'quantile', edges: [0.1 + (0.2 - 0.1) / 2, 0.2, 0.2 + (0.3 - 0.2) / 2, 0.333, 0.3 + (0.4 - 0.3) / 2], sourceDigest: digest });
    expect(summary.bins).toBe(6);
    // The threshold 0.2 splits the bin of the score 0.2 at that score: still no two distinct scores in one bin.
    expect(summary.binsWithSeveralScores).toBe(0);
    const spec = resolveMetricSpec({ scoreGrid: grid, threshold: 0.333, decisionThresholds: [0.2], calibrationBins: 2 });
    expect(spec.scoreGrid?.edges).toEqual([...grid.edges, 0.5].sort((a, b) => a - b));
  });

  it('refuses bad bins, method, scores and thresholds with FEDVAL_ERR_METRICS_INVALID_GRID, never echoing a score', () => {
    expect(codeOf(() => fitScoreGrid([0.1, 0.2], { bins: 1, method: 'quantile' }))).toBe('FEDVAL_ERR_METRICS_INVALID_GRID: cannot fit a score grid: bins must be an integer from 2 to 10000');
    expect(codeOf(() => fitScoreGrid([0.1, 0.2], { bins: 10_001, method: 'quantile' }))).toContain('bins must be an integer from 2 to 10000');
    expect(codeOf(() => fitScoreGrid([0.1, 0.2], { bins: 10, method: 'median' as 'quantile' }))).toContain('method must be quantile or logit');
    const badScores = codeOf(() => fitScoreGrid([0.1, 1.7312, Number.NaN, 0.2], { bins: 10, method: 'quantile' }));
    expect(badScores).toContain('2 scores are not a number in [0, 1] (the first is score 2)');
    expect(badScores).not.toContain('1.7312');
    expect(codeOf(() => fitScoreGrid([0.3, 0.3, 0.3], { bins: 10, method: 'quantile' }))).toContain('at least two distinct values');
    expect(codeOf(() => fitScoreGrid([], { bins: 10, method: 'logit' }))).toContain('at least two distinct values');
    expect(codeOf(() => fitScoreGrid([0, 1e-7], { bins: 10, method: 'logit' }))).toContain('logit edges need development scores that differ after clamping');
    expect(codeOf(() => fitScoreGrid([0.1, 0.2], { bins: 10, method: 'quantile', thresholds: [0.5, 1] }))).toContain('threshold 2 must be a number strictly between 0 and 1');
  });
});
