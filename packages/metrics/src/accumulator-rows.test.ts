// The columnar methods must count exactly what the row-by-row methods (covered by the reference tests) count.
import { describe, expect, it } from 'vitest';
import { createAccumulator } from './accumulator.ts';
import { EXCLUSION_REASONS } from './exclusion-reasons.ts';
import { groupLevelNames } from './group-levels.ts';
import { resolveMetricSpec } from './metric-spec.ts';
import { createStatisticsLayout } from './statistics-layout.ts';

function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const groups = [{ column: 'sex', levels: ['F', 'M'] }, { column: 'age', cuts: [50, 70] }];
const N = 500;

describe('columnar accumulation', () => {
  it('binary, multiclass and regression rows give the row-by-row vectors, exclusions and subgroups included', () => {
    const next = rng(42);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
    for (const task of ['binary', 'multiclass', 'regression'] as const) {
      const spec = resolveMetricSpec({ task, groups, ...(task === 'multiclass' ? { classes: ['a', 'b', 'c'] } : {}), ...(task === 'regression' ? { regressionRange: [0, 10] } : {}) });
      const layout = createStatisticsLayout(spec);
      const rows = createAccumulator(layout);
      const cols = createAccumulator(layout);
      const K = task === 'multiclass' ? 3 : 1;
      const scores = new Float64Array(N * K);
      const labels = task === 'regression' ? new Float64Array(N) : new Int32Array(N);
      const excluded = new Uint8Array(N);
      const levels = groups.map(() => new Int32Array(N));
      for (let i = 0; i < N; i += 1) {
        const g = groups.map((group) => groupLevelNames(group).length);
        g.forEach((count, k) => (levels[k]![i] = Math.floor(next() * count)));
        for (let c = 0; c < K; c += 1) scores[i * K + c] = pick([next(), next(), Number.NaN, 1.5, -0.1, Number.POSITIVE_INFINITY, 0, 1]) * (task === 'regression' ? 10 : 1);
        labels[i] = task === 'regression' ? pick([next() * 12, Number.NaN, Number.NEGATIVE_INFINITY]) : pick(task === 'binary' ? [0, 1, 1, 0, -1, 7] : [0, 1, 2, -1, 5]);
        excluded[i] = next() < 0.1 ? 1 + EXCLUSION_REASONS.indexOf('missing_features') : 0;
      }
      for (let i = 0; i < N; i += 1) {
        // Row by row: the level indexes are passed as the level names they stand for (numeric bands as a number inside them).
        const values = groups.map((group, k) => {
          const index = levels[k]![i]!;
          const names = groupLevelNames(group);
          if (index === names.length - 1) return null;
          if (group.levels) return index < group.levels.length ? group.levels[index]! : 'unlisted';
          return index === names.length - 2 ? 'not a number' : [0, 60, 80][index]!;
        });
        const label = labels[i]!;
        const missingLabel = task === 'regression' ? Number.isNaN(label) : label === -1;
        const score = Array.from(scores.subarray(i * K, (i + 1) * K));
        const missingScore = score.some(Number.isNaN);
        if (missingLabel) rows.exclude('missing_label', values);
        else if (task === 'binary' && label !== 0 && label !== 1) rows.exclude('invalid_label', values);
        else if (task === 'multiclass' && !(label >= 0 && label < K)) rows.exclude('invalid_label', values);
        else if (task === 'regression' && !Number.isFinite(label)) rows.exclude('invalid_label', values);
        else if (excluded[i]) rows.exclude('missing_features', values);
        else if (missingScore) rows.exclude('missing_score', values);
        else if (task === 'binary') rows.addBinary(score[0], label, values);
        else if (task === 'multiclass') rows.addMulticlass(score, label, values);
        else rows.addRegression(label, score[0], values);
      }
      if (task === 'binary') cols.addBinaryRows({ count: N, scores, labels: labels as Int32Array, excluded, levels });
      else if (task === 'multiclass') cols.addMulticlassRows({ count: N, scores, labels: labels as Int32Array, excluded, levels });
      else cols.addRegressionRows({ count: N, scores, labels: labels as Float64Array, excluded, levels });
      expect(Array.from(cols.vector())).toEqual(Array.from(rows.vector()));
      expect(cols.vector().some((v) => v !== 0)).toBe(true);
    }
  });

  it('refuses level indexes outside the layout and arrays too short, before counting anything', () => {
    const layout = createStatisticsLayout(resolveMetricSpec({ task: 'binary', groups }));
    const accumulator = createAccumulator(layout);
    const base = { count: 2, scores: new Float64Array([0.5, 0.5]), labels: new Int32Array([1, 0]) };
    expect(() => accumulator.addBinaryRows({ ...base, levels: [new Int32Array([0, 4]), new Int32Array([0, 0])] })).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_METRICS_INVALID_INPUT' }));
    expect(() => accumulator.addBinaryRows({ ...base, levels: [new Int32Array([0, 0])] })).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_METRICS_GROUP_COUNT' }));
    expect(() => accumulator.addBinaryRows({ ...base, count: 3, levels: [new Int32Array(3), new Int32Array(3)] })).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_METRICS_INVALID_INPUT' }));
    expect(() => accumulator.addRegressionRows({ ...base, labels: new Float64Array(2), levels: [] })).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_METRICS_TASK_MISMATCH' }));
    expect(accumulator.vector().every((v) => v === 0)).toBe(true);
  });

  it('binary cells (rows counted per label, levels and bin by an engine) give the row-by-row vector', () => {
    const next = rng(7);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
    const spec = resolveMetricSpec({ task: 'binary', groups, bins: 20, calibrationBins: 4, threshold: 0.5, decisionThresholds: [0.25] });
    const layout = createStatisticsLayout(spec);
    const rows = createAccumulator(layout);
    // The cells are built here by hand: key (label, levels, bin) → weight and the rounded fixed-point sums.
    const cells = new Map<string, { label: number; levels: number[]; bin: number; weight: number; q0: number; q1: number; s: number }>();
    const S = 2 ** 20;
    for (let i = 0; i < N; i += 1) {
      const levels = groups.map((group) => Math.floor(next() * groupLevelNames(group).length));
      const label = pick([0, 1, 1, 0, -1, 7]);
      const score = pick([next(), next(), Math.floor(next() * 21) / 20, Number.NaN, 1.5, -0.1, 0, 1]);
      rows.addBinary(Number.isNaN(score) ? null : score, label === -1 ? null : label, levels.map((level, g) => groupLevelNames(groups[g]!)[level]!).map((name, g) => (groups[g]!.cuts ? [40, 60, 80, Number.POSITIVE_INFINITY, null][levels[g]!]! : name === '(missing)' ? null : name)));
      const bin = Number.isNaN(score) ? -1 : !(score >= 0 && score <= 1) ? -2 : Math.min(19, Math.floor(score * 20 + 1e-9));
      const key = `${label}|${levels.join(',')}|${bin}`;
      const cell = cells.get(key) ?? { label, levels, bin, weight: 0, q0: 0, q1: 0, s: 0 };
      cell.weight += 1;
      if (bin >= 0) {
        cell.q0 += Math.round(score * score * S);
        cell.q1 += Math.round((score - 1) * (score - 1) * S);
        cell.s += Math.round(score * S);
      }
      cells.set(key, cell);
    }
    const list = [...cells.values()];
    const counted = createAccumulator(layout);
    counted.addBinaryCells({
      count: list.length,
      labels: Int32Array.from(list, (c) => c.label),
      levels: groups.map((_, g) => Int32Array.from(list, (c) => c.levels[g]!)),
      bins: Int32Array.from(list, (c) => c.bin),
      weights: Float64Array.from(list, (c) => c.weight),
      brierUnitsIfNegative: Float64Array.from(list, (c) => c.q0),
      brierUnitsIfPositive: Float64Array.from(list, (c) => c.q1),
      scoreUnits: Float64Array.from(list, (c) => c.s),
    });
    expect(Array.from(counted.vector())).toEqual(Array.from(rows.vector()));
    const bad = { count: 1, labels: new Int32Array([1]), levels: [new Int32Array(1), new Int32Array(1)], brierUnitsIfNegative: new Float64Array(1), brierUnitsIfPositive: new Float64Array(1), scoreUnits: new Float64Array(1) };
    expect(() => counted.addBinaryCells({ ...bad, bins: new Int32Array([20]), weights: new Float64Array([1]) })).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_METRICS_INVALID_INPUT' }));
    expect(() => counted.addBinaryCells({ ...bad, bins: new Int32Array([0]), weights: new Float64Array([0]) })).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_METRICS_INVALID_INPUT' }));
    expect(() => counted.addBinaryCells({ ...bad, bins: new Int32Array([0]), weights: new Float64Array([1.5]) })).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_METRICS_INVALID_INPUT' }));
  });
});
