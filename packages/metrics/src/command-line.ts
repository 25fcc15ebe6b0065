// command-line.ts — the evaluation options `fedval simulate` and `fedval-agent eval-local` share: declared once, as data
// any command-line parser can take, and turned into a metric spec once.
import { MetricsError } from './errors.ts';
import { DEFAULT_SURVIVAL_SPEC } from './metric-spec.ts';
import { defaultAfterBins } from './time-grid.ts';
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
  { flags: '--label <column>', description: 'outcome column (every task but survival)', kind: 'text' },
  { flags: '--task <type>', description: 'binary, multiclass, regression or survival', kind: 'text', defaultValue: 'binary' },
  { flags: '--time <column>', description: 'survival: follow-up time column (>= 0, in the unit of --horizon)', kind: 'text' },
  { flags: '--event <column>', description: 'survival: event column (--positive value = event, default 1; 0 = censored; other values invalid)', kind: 'text' },
  { flags: '--horizon <t>', description: 'survival: the horizon the score predicts the risk of the event by (same unit as --time)', kind: 'decimal' },
  { flags: '--max-time <t>', description: 'survival: end of the time grid (default 2 × horizon); later follow-up shares one overflow bin', kind: 'decimal' },
  { flags: '--time-bins <n>', description: 'survival: equal-width time bins up to the horizon (default 200)', kind: 'decimal' },
  { flags: '--after-bins <n>', description: 'survival: equal-width time bins from the horizon to --max-time (default: a quarter of the density before it)', kind: 'decimal' },
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
  label?: string | undefined;
  task: string;
  time?: string | undefined;
  event?: string | undefined;
  horizon?: number | undefined;
  maxTime?: number | undefined;
  timeBins?: number | undefined;
  afterBins?: number | undefined;
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
  if (options.task === 'survival') {
    if (options.horizon === undefined) problem('--task survival needs --horizon T');
  } else {
    for (const [flag, value] of [['--time', options.time], ['--event', options.event], ['--horizon', options.horizon], ['--max-time', options.maxTime], ['--time-bins', options.timeBins], ['--after-bins', options.afterBins]] as const) {
      if (value !== undefined) problem(`${flag} applies only to --task survival`);
    }
  }
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
    case 'survival':
      return {
        task: 'survival',
        survival: {
          horizon: options.horizon!,
          maxTime: options.maxTime ?? DEFAULT_SURVIVAL_SPEC.maxTimeFactor * options.horizon!,
          timeBins: options.timeBins ?? DEFAULT_SURVIVAL_SPEC.timeBins,
          afterBins: options.afterBins ?? defaultAfterBins(options.horizon!, options.maxTime ?? DEFAULT_SURVIVAL_SPEC.maxTimeFactor * options.horizon!, options.timeBins ?? DEFAULT_SURVIVAL_SPEC.timeBins),
        },
        ...shared,
      };
    default:
      return problem('--task must be binary, multiclass, regression or survival');
  }
}

/** Which columns hold the outcome, and how the label column's values read (a site's `data.label`). */
export interface OutcomeColumns {
  /** The label column; for survival, the event column. */
  column: string;
  /** Value of the positive class (survival: of an event). */
  positive: string;
  /** When set, the only negative value (survival: censored; default '0'); other values are invalid_label. */
  negative?: string | undefined;
  /** Survival: the follow-up time column. */
  time?: string | undefined;
}

/**
 * The outcome columns the options name (a site's `data.label`): `--label`, or for survival `--event` and `--time`.
 * Missing or misplaced columns throw FEDVAL_ERR_METRICS_INVALID_SPEC naming the option: callers report it as a usage error.
 */
export function outcomeColumnsFromOptions(options: EvaluationCommandOptions): OutcomeColumns {
  const problem = (message: string): never => {
    throw new MetricsError('FEDVAL_ERR_METRICS_INVALID_SPEC', message);
  };
  if (options.task === 'survival') {
    if (options.label !== undefined) problem('--task survival takes --time and --event instead of --label');
    if (!options.time || !options.event) problem('--task survival needs --time COL and --event COL');
    return { column: options.event!, positive: options.positive, negative: options.negative ?? '0', time: options.time };
  }
  if (!options.label) problem('give --label COL (the outcome column)');
  return { column: options.label!, positive: options.positive, negative: options.negative };
}
