// Finalization of DP-noised vectors: no NaN, sensible clamping, and intervals that widen by the noise.
import { describe, expect, it } from 'vitest';
import { createAccumulator } from './accumulator.ts';
import { delongVariance, proportionNoiseVariance, rocAuc } from './binary-metrics.ts';
import { MetricsError } from './errors.ts';
import { finalizeMetrics } from './finalize.ts';
import type { BinaryMetricsReport, MetricsReport } from './finalize.ts';
import { isotonicNonDecreasing, monotoneHistogram } from './noisy-counts.ts';
import { createStatisticsLayout } from './statistics-layout.ts';
import type { StatisticsLayout } from './statistics-layout.ts';
import { numberOrNull, readReferenceCsv } from './testing/reference-data.ts';

/** Seeded Park–Miller generator and Box–Muller normals (test noise only; production noise lives in @fedval/dp). */
function normals(seed: number): () => number {
  let state = seed;
  const uniform = (): number => (state = (state * 48271) % 2147483647) / 2147483647;
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

function withNoise(layout: StatisticsLayout, vector: Float64Array, sigma: (block: string) => number, seed: number): Float64Array {
  const normal = normals(seed);
  const noisy = vector.slice();
  for (const block of layout.blocks) {
    const s = sigma(block.name);
    for (let i = block.offset; i < block.offset + block.length; i += 1) noisy[i] = (noisy[i] as number) + Math.round(s * normal());
  }
  return noisy;
}

function rotterdam(spec: object = {}): { layout: StatisticsLayout; vector: Float64Array } {
  const layout = createStatisticsLayout({ groups: [{ column: 'meno', levels: ['0', '1'] }], ...spec });
  const accumulator = createAccumulator(layout);
  for (const row of readReferenceCsv('rotterdam_binary.csv')) accumulator.addBinary(Number(row['score']), numberOrNull(row['label']), [row['meno'] ?? null]);
  return { layout, vector: accumulator.vector() };
}

function numbersOf(report: MetricsReport): number[] {
  const out: number[] = [];
  JSON.stringify(report, (_, value: unknown) => {
    if (typeof value === 'number') out.push(value);
    return value;
  });
  return out;
}

describe('monotoneHistogram', () => {
  it('returns a non-negative histogram unchanged', () => {
    expect(Array.from(monotoneHistogram([0, 3, 0, 7]))).toEqual([0, 3, 0, 7]);
  });

  it('removes negative bins, keeps the clamped total, and projects cumulative sums by least squares', () => {
    const h = monotoneHistogram([5, -2, 1, -1, 4]);
    expect(Array.from(h).every((x) => x >= 0)).toBe(true);
    expect(h.reduce((a, b) => a + b, 0)).toBeCloseTo(7, 12);
    // Cumulative sums 5, 3, 4, 3 → isotonic fit 3.75 ×4 (the mean of the pooled block).
    expect(Array.from(isotonicNonDecreasing([5, 3, 4, 3]))).toEqual([3.75, 3.75, 3.75, 3.75]);
    expect(Array.from(h)).toEqual([3.75, 0, 0, 0, 3.25]);
    expect(Array.from(monotoneHistogram([-3, -1]))).toEqual([0, 0]);
    expect(Array.from(isotonicNonDecreasing([1, 3, 2, 4]))).toEqual([1, 2.5, 2.5, 4]);
  });
});

describe('finalizing noisy vectors', () => {
  const { layout, vector } = rotterdam();
  const exact = finalizeMetrics(layout, vector) as BinaryMetricsReport;

  it('never produces NaN or out-of-range values, even with overwhelming noise', () => {
    for (const sigma of [1, 10, 1000]) {
      for (const seed of [1, 2, 3]) {
        const noisy = withNoise(layout, vector, (name) => (name.endsWith('.sums') ? sigma * 1000 : sigma), seed);
        const report = finalizeMetrics(layout, noisy) as BinaryMetricsReport;
        expect(numbersOf(report).every((x) => Number.isFinite(x))).toBe(true);
        for (const value of [report.roc_auc, report.average_precision, report.brier_score, report.prevalence, report.at_threshold.sensitivity, report.calibration.ece]) {
          if (value !== null) {
            expect(value).toBeGreaterThanOrEqual(0);
            expect(value).toBeLessThanOrEqual(1);
          }
        }
        expect(Object.values(report.excluded).every((c) => c >= 0)).toBe(true);
        for (const bin of report.calibration.bins) {
          if (bin.mean_predicted !== null) {
            expect(bin.mean_predicted).toBeGreaterThanOrEqual(bin.lower);
            expect(bin.mean_predicted).toBeLessThanOrEqual(bin.upper);
          }
        }
      }
    }
  });

  it('is nearly unbiased under noise (clamping each bin at 0 would not be)', () => {
    // σ = 2 per bin over 2 × 1000 bins moves the AUC by about 0.027 (delta method; measured 0.026),
    // so single draws differ; the mean of 60 draws has a standard error near 0.0035.
    const draws = Array.from({ length: 60 }, (_, seed) => finalizeMetrics(layout, withNoise(layout, vector, (name) => (name.endsWith('.sums') ? 2000 : 2), seed + 100)) as BinaryMetricsReport);
    const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
    expect(Math.abs(mean(draws.map((r) => r.roc_auc as number)) - (exact.roc_auc as number))).toBeLessThan(0.012);
    expect(Math.abs(mean(draws.map((r) => r.brier_score as number)) - (exact.brier_score as number))).toBeLessThan(0.005);
    expect(Math.abs(mean(draws.map((r) => r.n)) - exact.n)).toBeLessThan(40);
    expect(Math.abs(mean(draws.map((r) => r.at_threshold.sensitivity as number)) - (exact.at_threshold.sensitivity as number))).toBeLessThan(0.02);
  });

  it('widens intervals by the declared noise variance, and only then', () => {
    const plain = finalizeMetrics(layout, vector, { noise: { blockVariances: { 'overall.counts': 0 } } }) as BinaryMetricsReport;
    expect(plain).toEqual({ ...exact });
    const widened = finalizeMetrics(layout, vector, { noise: { blockVariances: { 'overall.counts': 25, 'by_group.meno.counts': 25 } } }) as BinaryMetricsReport;
    expect(widened.noise_in_intervals).toBe(true);
    expect(exact.noise_in_intervals).toBe(false);
    const width = (i: [number, number] | null): number => (i ? i[1] - i[0] : Number.NaN);
    expect(width(widened.roc_auc_ci95)).toBeGreaterThan(width(exact.roc_auc_ci95));
    for (const key of ['sensitivity_ci95', 'specificity_ci95', 'ppv_ci95', 'npv_ci95', 'accuracy_ci95'] as const) {
      expect(width(widened.at_threshold[key])).toBeGreaterThan(width(exact.at_threshold[key]));
    }
    expect(widened.roc_auc).toBe(exact.roc_auc);
  });

  it('refuses unknown blocks, bad variances, wrong lengths and non-finite entries', () => {
    const codeOf = (fn: () => void): string => {
      try {
        fn();
      } catch (error) {
        expect(error).toBeInstanceOf(MetricsError);
        return (error as MetricsError).code;
      }
      return 'no error';
    };
    expect(codeOf(() => finalizeMetrics(layout, vector, { noise: { blockVariances: { nope: 1 } } }))).toBe('FEDVAL_ERR_METRICS_INVALID_NOISE');
    expect(codeOf(() => finalizeMetrics(layout, vector, { noise: { blockVariances: { 'overall.counts': -1 } } }))).toBe('FEDVAL_ERR_METRICS_INVALID_NOISE');
    // Below z = Φ⁻¹(0.95) = 1.6448536269514722 (scipy.stats.norm.ppf(0.95)) a level under the minimum cell would be
    // released in more than 5 % of rounds: refused.
    for (const marginSds of [0, -1, 0.5, 1, 1.6448, 1.644853626951, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(codeOf(() => finalizeMetrics(layout, vector, { noise: { blockVariances: {}, marginSds } }))).toBe('FEDVAL_ERR_METRICS_INVALID_NOISE');
    }
    for (const marginSds of [1.6448536269514722, 1.645, 3]) expect(codeOf(() => finalizeMetrics(layout, vector, { noise: { blockVariances: {}, marginSds } }))).toBe('no error');
    expect(codeOf(() => finalizeMetrics(layout, vector.subarray(1)))).toBe('FEDVAL_ERR_METRICS_VECTOR_LENGTH');
    const broken = vector.slice();
    broken[3] = Number.NaN;
    expect(codeOf(() => finalizeMetrics(layout, broken))).toBe('FEDVAL_ERR_METRICS_VECTOR_NOT_FINITE');
  });
});

describe('suppression margins with a separate positives class-total variance (per-class layouts)', () => {
  it("uses the positives' variance for the positives' margin and the class-total variance for the negatives'", () => {
    // One level with 30 positives and 400 negatives; minimum cell 10, margin z = 3.
    const layout = createStatisticsLayout({ minCellSize: 10, groups: [{ column: 'g', levels: ['a', 'b'] }] });
    const accumulator = createAccumulator(layout);
    for (let i = 0; i < 430; i += 1) accumulator.addBinary(i < 30 ? 0.9 : 0.1, i < 30 ? 1 : 0, ['a']);
    for (let i = 0; i < 430; i += 1) accumulator.addBinary(i < 200 ? 0.9 : 0.1, i < 200 ? 1 : 0, ['b']);
    const vector = accumulator.vector();
    const blockVariances = { 'overall.counts': 1e-9, 'by_group.g.counts': 1e-9 };
    const suppressed = (noise: object): boolean => {
      const report = finalizeMetrics(layout, vector, { noise: { blockVariances, ...noise } }) as BinaryMetricsReport;
      return report.by_group['g']!['a']!.suppressed;
    };
    // Class total SD 7 for both classes: 30 − 3·7 = 9 < 10, withheld (for its positives).
    expect(suppressed({ classTotalVariances: { 'by_group.g.counts': 49 } })).toBe(true);
    // The positives' own total SD 6: 30 − 3·6 = 12 ≥ 10, released (the negatives' SD 7 keeps 400 − 21 and n clear).
    expect(suppressed({ classTotalVariances: { 'by_group.g.counts': 49 }, positiveTotalVariances: { 'by_group.g.counts': 36 } })).toBe(false);
    // The negatives' margin still uses classTotalVariances: SD 131 puts 400 − 393 below 10.
    expect(suppressed({ classTotalVariances: { 'by_group.g.counts': 131 ** 2 }, positiveTotalVariances: { 'by_group.g.counts': 1 } })).toBe(true);
    expect(() => finalizeMetrics(layout, vector, { noise: { blockVariances, positiveTotalVariances: { nope: 1 } } })).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_METRICS_INVALID_NOISE' }));
  });
});

describe('noise variance by the delta method', () => {
  it('predicts the Monte Carlo variance of the AUC under Gaussian bin noise', () => {
    const { layout, vector } = rotterdam({ bins: 100 });
    const overall = layout.sections[0];
    const negative = overall?.fields.negative_histogram;
    const positive = overall?.fields.positive_histogram;
    if (!negative || !positive) throw new Error('layout');
    const h = { negative: vector.slice(negative.offset, negative.offset + 100), positive: vector.slice(positive.offset, positive.offset + 100) };
    const auc = rocAuc(h) as number;
    const sigma = 3;
    const predicted = delongVariance(h, auc, sigma * sigma)?.noise as number;
    const normal = normals(2024);
    const draws: number[] = [];
    for (let r = 0; r < 2000; r += 1) {
      const noisy = { negative: h.negative.map((x) => x + sigma * normal()), positive: h.positive.map((x) => x + sigma * normal()) };
      draws.push(rocAuc(noisy) as number);
    }
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    const variance = draws.reduce((a, b) => a + (b - mean) ** 2, 0) / (draws.length - 1);
    // The sample variance of 2000 draws is within ±10% of the truth with high probability.
    expect(variance / predicted).toBeGreaterThan(0.85);
    expect(variance / predicted).toBeLessThan(1.15);
  });

  it('predicts the Monte Carlo variance of a proportion under count noise', () => {
    const normal = normals(77);
    const [x, y, vx, vy] = [300, 700, 400, 900];
    const draws = Array.from({ length: 4000 }, () => {
      const nx = x + Math.sqrt(vx) * normal();
      const ny = y + Math.sqrt(vy) * normal();
      return nx / (nx + ny);
    });
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    const variance = draws.reduce((a, b) => a + (b - mean) ** 2, 0) / (draws.length - 1);
    const predicted = proportionNoiseVariance(x, y, vx, vy);
    expect(variance / predicted).toBeGreaterThan(0.9);
    expect(variance / predicted).toBeLessThan(1.1);
  });
});

describe('disclosure control under noise', () => {
  it('does not release an empty level on the strength of its noise, and keeps real levels', () => {
    const { layout, vector } = rotterdam({ bins: 20, calibrationBins: 10 });
    // Give the empty "(missing)" level of meno a noise-sized count of 30 in each class.
    const missing = layout.sections.find((section) => section.column === 'meno' && section.level === '(missing)')!;
    const noisy = vector.slice();
    noisy[missing.fields.negative_histogram!.offset + 3] = 30;
    noisy[missing.fields.positive_histogram!.offset + 15] = 30;
    const exact = finalizeMetrics(layout, noisy) as BinaryMetricsReport;
    expect(exact.by_group.meno!['(missing)']).not.toMatchObject({ suppressed: true }); // 60 patients, no noise declared
    const blockVariances = Object.fromEntries(layout.blocks.map((block) => [block.name, block.kind === 'count' ? 4 : 0]));
    const report = finalizeMetrics(layout, noisy, { noise: { blockVariances } }) as BinaryMetricsReport;
    // σ of a class count = sqrt(20 bins × 4) ≈ 8.9; 30 − 3σ < 10: suppressed, and no complementary suppression of real levels.
    expect(report.by_group.meno!['(missing)']).toMatchObject({ suppressed: true });
    expect(report.by_group.meno!['0']).toMatchObject({ suppressed: false });
    expect(report.by_group.meno!['1']).toMatchObject({ suppressed: false });
  });
});
