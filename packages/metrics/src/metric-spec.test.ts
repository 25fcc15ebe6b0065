// Metric spec defaults, validation (every problem in one error) and freezing.
import { describe, expect, it } from 'vitest';
import { MetricsError } from './errors.ts';
import { z } from 'zod';
import { DEFAULT_METRIC_SPEC, metricSpecInputSchema, metricSpecToInput, metricSpecViewSchema, resolveMetricSpec, resolveMetricSpecInput } from './metric-spec.ts';
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
    expect(problemsOf({ task: 'survival' })).toContain('task must be one of binary, multiclass, regression');
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
    expect(Object.keys(input.properties ?? {}).sort()).toEqual(['bins', 'calibration_bins', 'classes', 'decision_thresholds', 'groups', 'min_cell_size', 'regression_range', 'task', 'threshold']);
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
