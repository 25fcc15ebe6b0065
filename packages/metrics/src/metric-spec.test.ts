// Metric spec defaults, validation (every problem in one error) and freezing.
import { describe, expect, it } from 'vitest';
import { MetricsError } from './errors.ts';
import { z } from 'zod';
import { DEFAULT_METRIC_SPEC, METRIC_SPEC_LIMITS, metricSpecInputSchema, metricSpecToInput, metricSpecViewSchema, resolveMetricSpec, resolveMetricSpecInput } from './metric-spec.ts';
import type { MetricSpec } from './metric-spec.ts';

function problemsOf(partial: unknown): string {
  try {
    resolveMetricSpec(partial as Partial<MetricSpec>);
  } catch (error) {
    expect(error).toBeInstanceOf(MetricsError);
    expect((error as MetricsError).code).toBe('FEDVAL_ERR_METRICS_INVALID_SPEC');
    return (error as Error).message;
  }
  throw new Error('expected the spec to be refused');
}

describe('resolveMetricSpec', () => {
  it('fills the documented defaults', () => {
    const spec = resolveMetricSpec({});
    expect(spec).toEqual({
      task: 'binary',
      bins: 1000,
      threshold: 0.5,
      groups: [],
      calibrationBins: 10,
      minCellSize: 10,
      decisionThresholds: [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5],
    });
    expect(DEFAULT_METRIC_SPEC.bins).toBe(1000);
  });

  it('deep-freezes the result and is idempotent', () => {
    const spec = resolveMetricSpec({ groups: [{ column: 'sex', levels: ['F', 'M'] }], decisionThresholds: [0.1] });
    expect(Object.isFrozen(spec)).toBe(true);
    expect(Object.isFrozen(spec.groups)).toBe(true);
    expect(Object.isFrozen(spec.groups[0])).toBe(true);
    expect(Object.isFrozen(spec.groups[0]?.levels)).toBe(true);
    expect(Object.isFrozen(spec.decisionThresholds)).toBe(true);
    expect(resolveMetricSpec(spec)).toEqual(spec);
  });

  it('keeps the default decision thresholds that lie on a coarse grid', () => {
    expect(resolveMetricSpec({ bins: 10 }).decisionThresholds).toEqual([0.1, 0.2, 0.3, 0.4, 0.5]);
  });

  it('snaps grid values to exactly k/B', () => {
    const spec = resolveMetricSpec({ bins: 100, threshold: 0.1 * 3, decisionThresholds: [0.1 + 0.2] });
    expect(spec.threshold).toBe(30 / 100);
    expect(spec.decisionThresholds).toEqual([0.3]);
  });

  it('lists every problem in one error', () => {
    const message = problemsOf({
      bins: 1000,
      threshold: 0.5004,
      calibrationBins: 7,
      minCellSize: 0,
      decisionThresholds: [0.2, 0.1, 1],
      groups: [{ column: 'sex', levels: ['F', 'M'] }, { column: 'age', cuts: [70, 50] }, { column: 'sex', levels: ['x'] }, { column: 'bmi' }, { column: 'eth', levels: ['a', 'a'] }],
      extra: true,
    });
    for (const fragment of [
      'unknown property "extra"',
      'threshold must lie on the score grid (a multiple of 1/1000)',
      'calibrationBins must divide bins (1000)',
      'minCellSize must be a positive integer',
      'decisionThresholds must be strictly increasing',
      'decisionThresholds[2] must be a number with 0 < t < 1',
      'groups[4].levels must list 1 to 64 distinct non-empty names',
      'groups[1].cuts must be 1 to 63 finite, strictly increasing numbers',
      'groups[2].column repeats an earlier column',
      'groups[3] must have exactly one of levels or cuts',
    ]) {
      expect(message).toContain(fragment);
    }
  });

  it('checks the default threshold against the grid too', () => {
    expect(problemsOf({ bins: 3 })).toContain('threshold must lie on the score grid (a multiple of 1/3)');
    expect(inputProblemsOf({ bins: 3, calibration_bins: 3 })).toBe('invalid metric spec: threshold must lie on the score grid (a multiple of 1/3)');
  });

  it('names the task types', () => {
    expect(problemsOf({ task: 'cox' })).toContain('task must be one of binary, multiclass, regression, survival');
  });

  it('requires classes for multiclass and a range for regression, and refuses them elsewhere', () => {
    expect(problemsOf({ task: 'multiclass' })).toContain('classes must list 2 to 64 distinct non-empty names');
    expect(problemsOf({ task: 'multiclass', classes: ['a'] })).toContain('classes must list');
    expect(problemsOf({ task: 'regression', regressionRange: [5, 5] })).toContain('regressionRange must be [low, high]');
    expect(problemsOf({ classes: ['a', 'b'] })).toContain('classes applies only to a multiclass task');
    expect(problemsOf({ regressionRange: [0, 1] })).toContain('regressionRange applies only to a regression task');
    expect(resolveMetricSpec({ task: 'multiclass', classes: ['a', 'b', 'c'] }).classes).toEqual(['a', 'b', 'c']);
    expect(resolveMetricSpec({ task: 'regression', regressionRange: [0, 120] }).regressionRange).toEqual([0, 120]);
  });

  it('refuses reserved level names, bad types and vectors above the length limit', () => {
    expect(problemsOf({ groups: [{ column: 'x', levels: ['(missing)'] }] })).toContain('reserved names');
    expect(problemsOf(null)).toBe('invalid metric spec: must be an object');
    expect(problemsOf({ bins: 1.5 })).toContain('bins must be an integer from 2 to 100000');
    expect(problemsOf({ threshold: 1 })).toContain('threshold must be a number with 0 <= threshold < 1');
    const wide = Array.from({ length: 16 }, (_, i) => ({ column: `c${i}`, levels: Array.from({ length: 64 }, (__, j) => `l${j}`) }));
    expect(problemsOf({ bins: 100_000, calibrationBins: 10, decisionThresholds: [], groups: wide })).toContain('above the limit of 4194304');
  });

  it('never echoes long unknown keys in full', () => {
    expect(problemsOf({ ['k'.repeat(500)]: 1 })).not.toContain('k'.repeat(100));
  });
});

function inputProblemsOf(input: unknown): string {
  try {
    resolveMetricSpecInput(input);
  } catch (error) {
    expect(error).toBeInstanceOf(MetricsError);
    expect((error as MetricsError).code).toBe('FEDVAL_ERR_METRICS_INVALID_SPEC');
    return (error as Error).message;
  }
  throw new Error('expected the spec to be refused');
}

describe('metricSpecInputSchema (REST API and YAML, snake_case)', () => {
  it('resolves to the same spec as the wire spelling', () => {
    const input = { bins: 100, threshold: 0.3, calibration_bins: 5, min_cell_size: 20, decision_thresholds: [0.1, 0.2], groups: [{ column: 'sex', levels: ['F', 'M'] }] };
    const wire = { bins: 100, threshold: 0.3, calibrationBins: 5, minCellSize: 20, decisionThresholds: [0.1, 0.2], groups: [{ column: 'sex', levels: ['F', 'M'] }] };
    expect(resolveMetricSpecInput(input)).toEqual(resolveMetricSpec(wire));
    expect(metricSpecInputSchema.parse({ task: 'regression', regression_range: [0, 120] }).regressionRange).toEqual([0, 120]);
    expect(metricSpecInputSchema.parse({}).calibrationBins).toBe(10);
  });

  it('names every problem in the snake_case spelling, all at once', () => {
    const message = inputProblemsOf({ bins: 1000, threshold: 0.5004, calibration_bins: 7, min_cell_size: 0, decision_thresholds: [0.2, 0.1], regression_range: [0, 1], calibrationBins: 10 });
    for (const fragment of [
      'threshold must lie on the score grid (a multiple of 1/1000)',
      'calibration_bins must divide bins (1000)',
      'min_cell_size must be a positive integer',
      'decision_thresholds must be strictly increasing',
      'regression_range applies only to a regression task',
      'unknown property "calibrationBins"',
    ]) {
      expect(message).toContain(fragment);
    }
    expect(message).not.toMatch(/minCellSize|decisionThresholds|regressionRange/);
    expect(inputProblemsOf({ task: 'regression' })).toContain('regression_range must be [low, high]');
    expect(inputProblemsOf({ decision_thresholds: [0.1, 0.2004] })).toContain('decision_thresholds[1] must lie on the score grid');
    expect(inputProblemsOf({ groups: [{ column: 'age', cuts: [70, 50] }] })).toContain('groups[0].cuts must be 1 to 63 finite, strictly increasing numbers');
  });

  it('gives back what metricSpecToInput writes', () => {
    const spec = resolveMetricSpec({ task: 'multiclass', classes: ['a', 'b', 'c'], bins: 50, groups: [{ column: 'age', cuts: [50, 70] }] });
    const input = metricSpecToInput(spec);
    expect(input).toEqual({ task: 'multiclass', bins: 50, threshold: 0.5, groups: [{ column: 'age', cuts: [50, 70] }], calibration_bins: 10, min_cell_size: 10, decision_thresholds: spec.decisionThresholds, classes: ['a', 'b', 'c'] });
    expect(resolveMetricSpecInput(input)).toEqual(spec);
    expect(metricSpecViewSchema.parse(input)).toEqual(input);
    expect(metricSpecViewSchema.safeParse({ ...input, calibration_bins: undefined }).success).toBe(false);
  });

  it('describes the REST documents as JSON Schema (for OpenAPI)', () => {
    const input = z.toJSONSchema(metricSpecInputSchema, { io: 'input' });
    expect(Object.keys(input.properties ?? {}).sort()).toEqual(['bins', 'calibration_bins', 'classes', 'decision_thresholds', 'groups', 'min_cell_size', 'regression_range', 'score_grid', 'survival', 'task', 'threshold']);
    expect(input.required ?? []).toEqual([]);
    const view = z.toJSONSchema(metricSpecViewSchema);
    expect(view.required).toEqual(['task', 'bins', 'threshold', 'groups', 'calibration_bins', 'min_cell_size', 'decision_thresholds']);
  });

  it('refuses what is not an object, and a group that is not one', () => {
    expect(inputProblemsOf([])).toBe('invalid metric spec: must be an object');
    expect(inputProblemsOf({ groups: [null, 'sex'] })).toContain('groups[0] must be an object { column, levels } or { column, cuts }');
    expect(inputProblemsOf({ groups: [null, 'sex'] })).toContain('groups[1] must be an object');
  });
});

describe('a fitted score grid (score_grid)', () => {
  const digest = `sha256:${'ab'.repeat(32)}`;
  const grid = { kind: 'fitted', method: 'quantile', edges: [0.013, 0.2, 0.31, 0.7], source_digest: digest };

  it('keeps every threshold of the spec as an exact edge: inserted when missing, counted in bins', () => {
    const spec = resolveMetricSpecInput({ score_grid: grid, threshold: 0.31, decision_thresholds: [0.1, 0.2], calibration_bins: 4 });
    // Edges: the fitted 0.013, 0.2, 0.31, 0.7, plus 0.1 (decision curve), 0.25, 0.5, 0.75 (reliability bins j/4).
    expect(spec.scoreGrid?.edges).toEqual([0.013, 0.1, 0.2, 0.25, 0.31, 0.5, 0.7, 0.75]);
    expect(spec.bins).toBe(9);
    expect(spec.threshold).toBe(0.31);
    expect(spec.decisionThresholds).toEqual([0.1, 0.2]);
    expect(spec.scoreGrid).toEqual({ kind: 'fitted', method: 'quantile', edges: [0.013, 0.1, 0.2, 0.25, 0.31, 0.5, 0.7, 0.75], sourceDigest: digest });
    expect(Object.isFrozen(spec.scoreGrid)).toBe(true);
    expect(Object.isFrozen(spec.scoreGrid?.edges)).toBe(true);
  });

  it('takes thresholds that are not multiples of 1/B, and every default decision threshold', () => {
    const spec = resolveMetricSpec({ scoreGrid: { kind: 'fitted', method: 'explicit', edges: [0.5] }, threshold: 0.1234567, calibrationBins: 1 });
    expect(spec.threshold).toBe(0.1234567);
    expect(spec.decisionThresholds).toEqual([0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5]);
    expect(spec.scoreGrid?.edges).toEqual([0.05, 0.1, 0.1234567, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5]);
    expect(spec.bins).toBe(12);
  });

  it('is idempotent and round-trips through the REST spelling', () => {
    const spec = resolveMetricSpecInput({ score_grid: grid, groups: [{ column: 'sex', levels: ['F', 'M'] }] });
    expect(resolveMetricSpec(spec)).toEqual(spec);
    const input = metricSpecToInput(spec);
    expect(input.score_grid).toEqual({ kind: 'fitted', method: 'quantile', edges: spec.scoreGrid?.edges, source_digest: digest });
    expect(input.bins).toBe(spec.bins);
    expect(resolveMetricSpecInput(input)).toEqual(spec);
    expect(metricSpecViewSchema.parse(input)).toEqual(input);
  });

  it('refuses unsorted, repeated and out-of-range edges, naming each', () => {
    const message = inputProblemsOf({ score_grid: { kind: 'fitted', method: 'quantile', edges: [0.2, 0.1, 0.1, 0, 1.5] } });
    expect(message).toContain('score_grid.edges[1] must be greater than edges[0] (edges must be sorted, strictly increasing)');
    expect(message).toContain('score_grid.edges[2] repeats edges[1] (edges must be distinct)');
    expect(message).toContain('score_grid.edges[3] must lie strictly between 0 and 1');
    expect(message).toContain('score_grid.edges[4] must lie strictly between 0 and 1');
    const many = inputProblemsOf({ score_grid: { kind: 'fitted', method: 'quantile', edges: Array.from({ length: 12 }, () => 0.5) } });
    expect(many).toContain('score_grid.edges[5] repeats edges[4]');
    expect(many).not.toContain('edges[6]');
    expect(many).toContain('score_grid.edges has 6 more edge problems');
    expect(inputProblemsOf({ score_grid: { kind: 'fitted', method: 'quantile', edges: [] } })).toContain('score_grid.edges must be an array of 1 to 9999 finite numbers');
    expect(inputProblemsOf({ score_grid: { kind: 'fitted', method: 'quantile', edges: [0.5, Number.NaN] } })).toContain('score_grid.edges[1] must be a finite number');
  });

  it('refuses more bins than the documented limit, inserted thresholds included', () => {
    const limit = METRIC_SPEC_LIMITS.maxFittedBins;
    expect(limit).toBe(10_000);
    const edges = Array.from({ length: limit - 1 }, (_, i) => (i + 1) / (limit + 7));
    expect(inputProblemsOf({ score_grid: { kind: 'fitted', method: 'quantile', edges: [...edges, 0.9999999] } })).toContain(`score_grid.edges must be an array of 1 to ${limit - 1} finite numbers`);
    // The defaults add 14 edges: the decision curve's 0.05 … 0.5 and the reliability bins' 0.6 … 0.9.
    expect(inputProblemsOf({ score_grid: { kind: 'fitted', method: 'quantile', edges } })).toContain('the fitted score grid would have 10014 bins with the thresholds inserted as edges, above the limit of 10000');
    expect(resolveMetricSpecInput({ score_grid: { kind: 'fitted', method: 'quantile', edges: edges.slice(0, limit - 15) } }).bins).toBe(limit);
  });

  it('refuses a bins that disagrees with the edges, a regression task, an unknown method or kind, a malformed digest', () => {
    const message = inputProblemsOf({
      bins: 1000,
      task: 'regression',
      regression_range: [0, 1],
      score_grid: { kind: 'fitted', method: 'magic', edges: [0.5], source_digest: 'md5:1' },
    });
    expect(message).toContain('bins must be left out with a fitted score_grid, or equal its 2 bins');
    expect(message).toContain('score_grid applies only to binary and multiclass tasks');
    expect(message).toContain('score_grid.method must be one of quantile, logit, explicit');
    expect(message).toContain('score_grid.source_digest must be "sha256:" and 64 lowercase hex digits');
    expect(inputProblemsOf({ score_grid: { kind: 'equal_width', method: 'quantile', edges: [0.5] } })).toContain("score_grid.kind must be 'fitted'");
    expect(problemsOf({ scoreGrid: { kind: 'fitted', method: 'quantile', edges: [0.5], source_digest: digest } })).toContain('unknown property "scoreGrid.source_digest"');
    expect(resolveMetricSpecInput({ bins: 6, score_grid: { kind: 'fitted', method: 'explicit', edges: [0.05, 0.1, 0.2, 0.5, 0.7] }, decision_thresholds: [0.1], calibration_bins: 1 }).bins).toBe(6);
  });

  it('still checks the decision thresholds increase', () => {
    expect(inputProblemsOf({ score_grid: grid, decision_thresholds: [0.3, 0.2] })).toContain('decision_thresholds must be strictly increasing');
  });
});
