import { describe, expect, it } from 'vitest';
import { EVALUATION_OPTIONS, metricSpecFromOptions, outcomeColumnsFromOptions, parseDecimal } from './command-line.ts';
import { resolveMetricSpec } from './metric-spec.ts';

const base = { label: 'y', task: 'binary', positive: '1', score: 'p', group: [], threshold: 0.3, bins: 100, calibrationBins: 10, minCell: 10 };

describe('evaluation command-line options', () => {
  it('declare every option once, with the defaults the metric spec documents', () => {
    const flags = EVALUATION_OPTIONS.map((option) => option.flags.split(' ')[0]);
    expect(new Set(flags).size).toBe(flags.length);
    const defaults = Object.fromEntries(EVALUATION_OPTIONS.map((option) => [option.flags.split(' ')[0], option.defaultValue]));
    const spec = resolveMetricSpec({});
    // --bins has no default value in the parser (so that --score-grid can refuse it), the spec's 1000 applies.
    expect(defaults['--bins']).toBeUndefined();
    expect(resolveMetricSpec(metricSpecFromOptions({ ...base, bins: undefined })).bins).toBe(1000);
    expect(defaults).toMatchObject({ '--threshold': spec.threshold, '--calibration-bins': spec.calibrationBins, '--min-cell': spec.minCellSize, '--task': spec.task });
  });

  it('turn binary, multiclass and regression options into specs resolveMetricSpec accepts', () => {
    expect(resolveMetricSpec(metricSpecFromOptions(base))).toMatchObject({ task: 'binary', bins: 100, threshold: 0.3 });
    expect(resolveMetricSpec(metricSpecFromOptions({ ...base, task: 'multiclass', classes: 'a,b,c', score: 'pa,pb,pc' }))).toMatchObject({ task: 'multiclass', classes: ['a', 'b', 'c'] });
    expect(resolveMetricSpec(metricSpecFromOptions({ ...base, task: 'regression', range: '0,2.5e1' }))).toMatchObject({ task: 'regression', regressionRange: [0, 25] });
  });

  it('turn survival options into a spec and outcome columns: the event column, 1 event, 0 censored, the time column', () => {
    const options = { ...base, label: undefined, task: 'survival', time: 'days', event: 'status', horizon: 1826, maxTime: 3000 };
    expect(resolveMetricSpec(metricSpecFromOptions(options))).toMatchObject({ task: 'survival', bins: 100, survival: { horizon: 1826, maxTime: 3000, timeBins: 200, afterBins: 33 } });
    expect(outcomeColumnsFromOptions(options)).toEqual({ column: 'status', positive: '1', negative: '0', time: 'days' });
    expect(outcomeColumnsFromOptions(base)).toEqual({ column: 'y', positive: '1', negative: undefined });
  });

  it('refuse inconsistent options with FEDVAL_ERR_METRICS_INVALID_SPEC naming the option', () => {
    const refused = (options: Record<string, unknown>, fragment: string) =>
      expect(() => metricSpecFromOptions({ ...base, ...options } as typeof base)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_METRICS_INVALID_SPEC', message: expect.stringContaining(fragment) }));
    refused({ score: undefined }, '--score or --model');
    refused({ model: './m' }, '--score or --model');
    refused({ score: undefined, model: './m', task: 'regression', range: '0,1' }, 'binary or multiclass tasks only');
    refused({ task: 'multiclass' }, '--classes');
    refused({ task: 'regression', range: '0,x' }, '--range');
    refused({ task: 'cox' }, '--task must be binary, multiclass, regression or survival');
    refused({ task: 'survival', label: undefined, time: 't', event: 'e' }, '--task survival needs --horizon T');
    refused({ horizon: 5 }, '--horizon applies only to --task survival');
    const columns = (options: Record<string, unknown>, fragment: string) =>
      expect(() => outcomeColumnsFromOptions({ ...base, ...options } as typeof base)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_METRICS_INVALID_SPEC', message: expect.stringContaining(fragment) }));
    columns({ task: 'survival' }, '--task survival takes --time and --event instead of --label');
    columns({ task: 'survival', label: undefined, time: 't' }, '--task survival needs --time COL and --event COL');
    columns({ label: undefined }, 'give --label COL');
    refused({ scoreGrid: 'grid.json' }, 'give --bins (equal-width bins) or --score-grid (a fitted grid), not both');
    refused({ scoreGrid: 'grid.json', bins: undefined }, 'the grid must be read from its file by the caller');
  });

  it('take a fitted grid read from --score-grid in place of --bins', () => {
    const grid = { kind: 'fitted' as const, method: 'quantile' as const, edges: [0.2, 0.3, 0.6] };
    const spec = resolveMetricSpec(metricSpecFromOptions({ ...base, bins: undefined, scoreGrid: 'grid.json' }, grid));
    expect(spec.scoreGrid?.method).toBe('quantile');
    expect(spec.scoreGrid?.edges).toEqual(expect.arrayContaining([0.2, 0.3, 0.6]));
    expect(spec.bins).toBe((spec.scoreGrid?.edges.length ?? 0) + 1);
  });

  it('parse decimals strictly', () => {
    expect([parseDecimal('0.25'), parseDecimal('-1e-3'), parseDecimal('.5')]).toEqual([0.25, -0.001, 0.5]);
    for (const text of ['0x10', 'Infinity', '1,5', ' ', '']) expect(parseDecimal(text)).toBeNaN();
  });
});
