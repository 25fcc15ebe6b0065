// command-line.ts — the evaluation options `fedval simulate` and `fedval-agent eval-local` share: declared once, as data
// any command-line parser can take, and turned into a metric spec once.
import { MetricsError } from './errors.ts';
import type { FittedScoreGrid, MetricSpec } from './metric-spec.ts';

export interface EvaluationOptionDeclaration {
  /** Commander-style flags, e.g. `--bins <B>`. */
  flags: string;
  description: string;
  /** `text`: as given; `decimal`: a strict decimal number (parseDecimal); `repeatable`: each use appended to an array. */
  kind: 'text' | 'decimal' | 'repeatable';
  required?: boolean;
  defaultValue?: string | number | string[];
}

/** In the order `--help` lists them. */
export const EVALUATION_OPTIONS: readonly EvaluationOptionDeclaration[] = Object.freeze([
  { flags: '--label <column>', description: 'outcome column', kind: 'text', required: true },
  { flags: '--task <type>', description: 'binary, multiclass or regression', kind: 'text', defaultValue: 'binary' },
  { flags: '--classes <a,b,...>', description: 'multiclass: class labels in order, as written in the label column', kind: 'text' },
  { flags: '--range <low,high>', description: 'regression: range outcomes and predictions are clamped into', kind: 'text' },
  { flags: '--positive <value>', description: 'label value of the positive class', kind: 'text', defaultValue: '1' },
  {
    flags: '--negative <value>',
    description: 'label value of the negative class (others are excluded as invalid_label); default: every other value',
    kind: 'text',
  },
  {
    flags: '--score <column>',
    description:
      'column with the predicted probability of the positive class (multiclass: one column per class, comma-separated; regression: the prediction)',
    kind: 'text',
  },
  { flags: '--model <dir>', description: 'model bundle directory (manifest.json + TF.js or ONNX model); binary or multiclass tasks', kind: 'text' },
  { flags: '--group <column[:cuts]>', description: 'subgroup column, repeatable; numeric bands with cuts, e.g. age:50,70', kind: 'repeatable', defaultValue: [] },
  { flags: '--threshold <t>', description: 'decision threshold on the score grid', kind: 'decimal', defaultValue: 0.5 },
  { flags: '--bins <B>', description: 'equal-width score histogram bins over [0, 1] (default 1000)', kind: 'decimal' },
  { flags: '--score-grid <file>', description: 'a fitted score grid instead of --bins: the JSON file `fedval grid fit` writes', kind: 'text' },
  { flags: '--calibration-bins <n>', description: 'reliability bins', kind: 'decimal', defaultValue: 10 },
  { flags: '--min-cell <n>', description: 'suppress subgroup levels with fewer patients', kind: 'decimal', defaultValue: 10 },
] satisfies EvaluationOptionDeclaration[]);

/** The parsed values of EVALUATION_OPTIONS (camel-cased as commander names them). */
export interface EvaluationCommandOptions {
  label: string;
  task: string;
  classes?: string | undefined;
  range?: string | undefined;
  positive: string;
  negative?: string | undefined;
  score?: string | undefined;
  model?: string | undefined;
  group: string[];
  threshold: number;
  bins?: number | undefined;
  /** Path of a fitted score grid file (read by the caller, passed to {@link metricSpecFromOptions}). */
  scoreGrid?: string | undefined;
  calibrationBins: number;
  minCell: number;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Parses a decimal number strictly: no hex, no blanks, no 'Infinity'. NaN otherwise. */
export function parseDecimal(text: string): number {
  return DECIMAL.test(text) ? Number(text) : Number.NaN;
}

/**
 * The metric spec the options ask for, without its subgroups (their levels come from the data). `scoreGrid` is the
 * grid read from the `--score-grid` file (the caller reads it: this module does no I/O). Inconsistent options throw
 * FEDVAL_ERR_METRICS_INVALID_SPEC naming the option: callers report it as a usage error.
 */
export function metricSpecFromOptions(options: EvaluationCommandOptions, scoreGrid?: FittedScoreGrid): Partial<MetricSpec> {
  const problem = (message: string): never => {
    throw new MetricsError('FEDVAL_ERR_METRICS_INVALID_SPEC', message);
  };
  if (Boolean(options.score) === Boolean(options.model)) problem('give exactly one of --score or --model');
  if (options.model && options.task === 'regression') problem('--model bundles predict probabilities: binary or multiclass tasks only');
  if (options.scoreGrid !== undefined && options.bins !== undefined) problem('give --bins (equal-width bins) or --score-grid (a fitted grid), not both');
  if ((options.scoreGrid !== undefined) !== (scoreGrid !== undefined)) problem('--score-grid: the grid must be read from its file by the caller');
  const grid = scoreGrid ? { scoreGrid } : options.bins !== undefined ? { bins: options.bins } : {};
  const shared = { ...grid, threshold: options.threshold, calibrationBins: options.calibrationBins, minCellSize: options.minCell };
  switch (options.task) {
    case 'binary':
      return { task: 'binary', ...shared };
    case 'multiclass':
      if (!options.classes) problem('--task multiclass needs --classes a,b,...');
      return { task: 'multiclass', classes: options.classes!.split(','), ...shared };
    case 'regression': {
      const range = (options.range ?? '').split(',').map(parseDecimal);
      if (range.length !== 2 || !range.every(Number.isFinite)) problem('--task regression needs --range low,high');
      return { task: 'regression', regressionRange: [range[0]!, range[1]!], ...shared };
    }
    default:
      return problem('--task must be binary, multiclass or regression');
  }
}
