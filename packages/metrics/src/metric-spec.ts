// metric-spec.ts — the metric spec that travels inside an evaluation task: its schemas (wire and REST/YAML input), defaults, resolution.
import { listProblems, plainText } from '@fedval/schema';
import { z } from 'zod';
import { MetricsError } from './errors.ts';
import { gridIndex } from './score-grid.ts';
import { sectionFields } from './section-fields.ts';
import { defaultAfterBins, timeGridOf } from './time-grid.ts';

export type TaskType = 'binary' | 'multiclass' | 'regression' | 'survival';
export const TASK_TYPES: readonly TaskType[] = Object.freeze(['binary', 'multiclass', 'regression', 'survival']);

/**
 * A survival task's public time grid (see time-grid.ts). Times are in the data's unit (days in the example): equal-width
 * bins on [0, horizon], the same width continued up to maxTime, then one overflow bin.
 */
export interface SurvivalSpec {
  /** The horizon h: scores are the predicted risk of the event by h; an exact edge of the time grid. */
  horizon: number;
  /** Where the grid ends (>= horizon); later follow-up falls into one overflow bin. Default 2 × horizon. */
  maxTime: number;
  /** Equal-width time bins on [0, horizon]. Default 200. */
  timeBins: number;
  /** Equal-width time bins on (horizon, maxTime]. Default ⌈timeBins · (maxTime − horizon) / horizon / 4⌉ (a quarter of the density). */
  afterBins: number;
}

/**
 * A subgroup column. Exactly one of `levels` (categorical: the declared values, matched exactly)
 * or `cuts` (numeric bands: cuts [50, 70] give "<50", "50-70", ">=70", lower bound inclusive).
 * Every column also gets the levels "(other)" and "(missing)".
 */
export interface GroupSpec {
  column: string;
  levels?: string[];
  cuts?: number[];
}

/** How a fitted score grid's edges were chosen: score quantiles, logit-spaced, or written by hand. */
export type ScoreGridMethod = 'quantile' | 'logit' | 'explicit';
export const SCORE_GRID_METHODS: readonly ScoreGridMethod[] = Object.freeze(['quantile', 'logit', 'explicit']);

/**
 * A score grid the sponsor fixed for the study (public: it travels in every task, so every site bins
 * identically). Bin k holds the scores in [e_k, e_{k+1}) with e₀ = 0 and e_B = 1 implied; B = edges.length + 1.
 */
export interface FittedScoreGrid {
  kind: 'fitted';
  method: ScoreGridMethod;
  /** Interior edges, strictly increasing, each strictly between 0 and 1. Resolution inserts every threshold of the spec. */
  edges: number[];
  /** `sha256:<hex>` of the development data the edges were fitted on (informational). */
  sourceDigest?: string;
}

/** What to compute and how finely, resolved (every default filled, grid values snapped, deep-frozen). It travels inside an evaluation task. */
export interface MetricSpec {
  /** Task type. Default 'binary'. */
  task: TaskType;
  /** Score histogram grid size B over [0, 1]: equal-width bins, or the fitted grid's edges.length + 1. Default 1000. */
  bins: number;
  /** A fitted score grid (absent: `bins` equal-width bins). Binary and multiclass tasks. */
  scoreGrid?: FittedScoreGrid;
  /** Decision threshold: predicted positive means score >= threshold. Must be k/B for an integer 0 <= k < B (a fitted grid gains it as an edge). Default 0.5. */
  threshold: number;
  /** Subgroup columns. Default []. */
  groups: GroupSpec[];
  /** Number of equal-width reliability bins; must divide `bins` (binary task; a fitted grid gains the edges j/C). Default 10. */
  calibrationBins: number;
  /** Disclosure control: subgroup blocks with fewer patients (or fewer of either class) are suppressed. Default 10. */
  minCellSize: number;
  /** Threshold probabilities of the decision curve, each k/B with 0 < k < B, increasing. Default 0.05, 0.10, …, 0.50 (those on an equal-width grid; all on a fitted grid, which gains them as edges). */
  decisionThresholds: number[];
  /** Multiclass only (required there): class labels in order, K = classes.length. */
  classes?: string[];
  /** Regression only (required there): [low, high]; y and ŷ are clamped into it before fixed-point encoding. */
  regressionRange?: [number, number];
  /** Survival only (required there): the horizon and the time grid. */
  survival?: SurvivalSpec;
}

const DEFAULT_DECISION_THRESHOLDS: readonly number[] = Object.freeze([0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5]);

export const DEFAULT_METRIC_SPEC = Object.freeze({
  task: 'binary',
  bins: 1000,
  threshold: 0.5,
  groups: Object.freeze([]),
  calibrationBins: 10,
  minCellSize: 10,
  decisionThresholds: DEFAULT_DECISION_THRESHOLDS,
} as const);

/** Upper limits that keep one statistics vector within what a site can encrypt and send. */
export const METRIC_SPEC_LIMITS = Object.freeze({
  maxBins: 100_000, // histogram bins of an equal-width grid
  maxFittedBins: 10_000, // bins of a fitted grid, inserted thresholds included (its edges travel in every task: ~200 KB of JSON)
  maxGroups: 16, // subgroup columns
  maxLevelsPerGroup: 64, // declared levels (or bands) per column, before "(other)" and "(missing)"
  maxClasses: 64, // multiclass K
  maxDecisionThresholds: 1000, // points on the decision curve
  maxVectorLength: 4 * 1024 * 1024, // entries (32 MiB as Float64)
  maxNameLength: 128, // characters in a column, level or class name
  maxTimeBins: 10_000, // survival time bins, overflow included
});

/** Survival defaults: score bins (the counts are time bins × score bins × 2), time bins to the horizon, maxTime / horizon. */
export const DEFAULT_SURVIVAL_SPEC = Object.freeze({ bins: 100, timeBins: 200, maxTimeFactor: 2 });

export const OTHER_LEVEL = '(other)';
export const MISSING_LEVEL = '(missing)';

const L = METRIC_SPEC_LIMITS;
const must = (what: string) => ({ error: `must be ${what}` });
const finite = (what: string) => z.number(must(what)).refine(Number.isFinite, must(what));
const nameText = `a non-empty string of at most ${L.maxNameLength} characters`;
const name = plainText(z.string(must(nameText)).min(1, must(nameText)).max(L.maxNameLength, must(nameText)));
const distinct = (values: readonly unknown[]) => new Set(values).size === values.length;
const nameList = (min: number, max: number) => {
  const what = { error: `must list ${min} to ${max} distinct non-empty names` };
  return z.array(name, what).min(min, what).max(max, what).refine(distinct, what);
};

/** Run the rules between fields even when a field failed (every problem listed at once), but only on an object. */
const always = { when: (payload: { value: unknown }) => payload.value !== null && typeof payload.value === 'object' && !Array.isArray(payload.value) };

const binsText = `an integer from 2 to ${L.maxBins}`;
const groupSchema = z
  .strictObject(
    {
      column: name,
      levels: nameList(1, L.maxLevelsPerGroup)
        .refine((levels) => !levels.some((l) => l === OTHER_LEVEL || l === MISSING_LEVEL), { error: `must not use the reserved names ${OTHER_LEVEL} and ${MISSING_LEVEL}` })
        .optional(),
      cuts: z
        .array(finite('a finite number'))
        .min(1, must(`1 to ${L.maxLevelsPerGroup - 1} finite, strictly increasing numbers`))
        .max(L.maxLevelsPerGroup - 1, must(`1 to ${L.maxLevelsPerGroup - 1} finite, strictly increasing numbers`))
        .refine((cuts) => cuts.every((c, i) => i === 0 || c > (cuts[i - 1] ?? -Infinity)), must(`1 to ${L.maxLevelsPerGroup - 1} finite, strictly increasing numbers`))
        .optional(),
    },
    must('an object { column, levels } or { column, cuts }'),
  )
  .refine((g) => (g.levels === undefined) !== (g.cuts === undefined), { error: 'must have exactly one of levels or cuts', ...always });

const EDGE_PROBLEMS_LISTED = 5;
const edgesText = `an array of 1 to ${L.maxFittedBins - 1} finite numbers`;
/** Each interior edge strictly between 0 and 1, strictly increasing; the first few problems are listed, then a count. */
const gridEdges = z
  .array(finite('a finite number'), must(edgesText))
  .min(1, must(edgesText))
  .max(L.maxFittedBins - 1, must(edgesText))
  .superRefine((edges, ctx) => {
    let found = 0;
    const problem = (i: number, message: string) => {
      found += 1;
      if (found <= EDGE_PROBLEMS_LISTED) ctx.addIssue({ code: 'custom', path: [i], message });
    };
    edges.forEach((edge, i) => {
      const previous = i > 0 ? (edges[i - 1] as number) : null;
      if (!(edge > 0 && edge < 1)) problem(i, 'must lie strictly between 0 and 1 (the ends 0 and 1 are implied)');
      else if (previous !== null && edge === previous) problem(i, `repeats edges[${i - 1}] (edges must be distinct)`);
      else if (previous !== null && edge < previous) problem(i, `must be greater than edges[${i - 1}] (edges must be sorted, strictly increasing)`);
    });
    if (found > EDGE_PROBLEMS_LISTED) ctx.addIssue({ code: 'custom', path: [], message: `has ${found - EDGE_PROBLEMS_LISTED} more edge problems` });
  });
const gridMethod = z.enum(['quantile', 'logit', 'explicit'], must(`one of ${SCORE_GRID_METHODS.join(', ')}`));
const gridKind = z.literal('fitted', must("'fitted' (an equal-width grid is given by bins alone)"));
const digest = z.string(must('"sha256:" and 64 lowercase hex digits')).regex(/^sha256:[0-9a-f]{64}$/, must('"sha256:" and 64 lowercase hex digits'));
const gridObject = must('an object { kind: "fitted", method, edges }');
const scoreGrid = z.strictObject({ kind: gridKind, method: gridMethod, edges: gridEdges, sourceDigest: digest.optional() }, gridObject).optional();
const scoreGridInputShape = z.strictObject({ kind: gridKind, method: gridMethod, edges: gridEdges, source_digest: digest.optional() }, gridObject);

/** The fields whose spelling is the same on the wire and in REST/YAML. */
const commonFields = {
  task: z.enum(['binary', 'multiclass', 'regression', 'survival'], must(`one of ${TASK_TYPES.join(', ')}`)).optional(),
  bins: z.int(must(binsText)).min(2, must(binsText)).max(L.maxBins, must(binsText)).optional(),
  threshold: finite('a number with 0 <= threshold < 1').min(0, must('a number with 0 <= threshold < 1')).lt(1, must('a number with 0 <= threshold < 1')).optional(),
  groups: z.array(groupSchema, must(`an array of at most ${L.maxGroups} group columns`)).max(L.maxGroups, must(`an array of at most ${L.maxGroups} group columns`)).optional(),
  classes: nameList(2, L.maxClasses).optional(),
};
const calibrationBins = z.int(must('a positive integer')).min(1, must('a positive integer')).optional();
const minCellSize = z.int(must('a positive integer')).min(1, must('a positive integer')).optional();
const thresholdsText = `an array of at most ${L.maxDecisionThresholds} numbers`;
const decisionThresholds = z
  .array(finite('a number with 0 < t < 1').gt(0, must('a number with 0 < t < 1')).lt(1, must('a number with 0 < t < 1')), must(thresholdsText))
  .max(L.maxDecisionThresholds, must(thresholdsText))
  .optional();
const survivalText = 'an object { horizon, max_time?, time_bins?, after_bins? } for a survival task';
const positiveFinite = (what: string) => finite(what).gt(0, must(what));
const timeBinsText = `an integer from 1 to ${L.maxTimeBins}`;
const timeBins = z.int(must(timeBinsText)).min(1, must(timeBinsText)).max(L.maxTimeBins, must(timeBinsText)).optional();
const afterBinsText = `an integer from 0 to ${L.maxTimeBins}`;
const afterBins = z.int(must(afterBinsText)).min(0, must(afterBinsText)).max(L.maxTimeBins, must(afterBinsText)).optional();
/** The time grid must stay within maxTimeBins bins, the overflow bin included. */
const survivalRule = (s: { horizon: number; maxTime?: number | undefined; timeBins?: number | undefined; afterBins?: number | undefined }, ctx: z.RefinementCtx): void => {
  const maxTime = s.maxTime ?? DEFAULT_SURVIVAL_SPEC.maxTimeFactor * s.horizon;
  const bins = s.timeBins ?? DEFAULT_SURVIVAL_SPEC.timeBins;
  if (maxTime < s.horizon) ctx.addIssue({ code: 'custom', path: [], message: 'max time must be at least the horizon' });
  else if (s.afterBins !== undefined && (maxTime > s.horizon) !== (s.afterBins > 0)) {
    ctx.addIssue({ code: 'custom', path: [], message: 'after bins must be 0 exactly when max time equals the horizon' });
  } else if (timeGridOf({ horizon: s.horizon, maxTime, timeBins: bins, afterBins: s.afterBins }).bins > L.maxTimeBins) {
    ctx.addIssue({ code: 'custom', path: [], message: `the time grid would have more than ${L.maxTimeBins} bins (time bins × max time / horizon)` });
  }
};
const survivalWire = z
  .strictObject({ horizon: positiveFinite('a finite number > 0'), maxTime: positiveFinite('a finite number > 0').optional(), timeBins, afterBins }, must(survivalText))
  .superRefine(survivalRule)
  .optional();
const survivalInput = z
  .strictObject({ horizon: positiveFinite('a finite number > 0'), max_time: positiveFinite('a finite number > 0').optional(), time_bins: timeBins, after_bins: afterBins }, must(survivalText))
  .superRefine((s, ctx) => survivalRule({ horizon: s.horizon, maxTime: s.max_time, timeBins: s.time_bins, afterBins: s.after_bins }, ctx))
  .optional();
const rangeText = '[low, high] with finite low < high for a regression task';
const regressionRange = z
  .tuple([finite(rangeText), finite(rangeText)], must(rangeText))
  .refine(([low, high]) => low < high, must(rangeText))
  .optional();

/** A metric spec as given (camelCase wire spelling), before defaults. */
export type MetricSpecDraft = {
  task?: TaskType | undefined;
  bins?: number | undefined;
  scoreGrid?: FittedScoreGrid | undefined;
  threshold?: number | undefined;
  groups?: GroupSpec[] | undefined;
  calibrationBins?: number | undefined;
  minCellSize?: number | undefined;
  decisionThresholds?: number[] | undefined;
  classes?: string[] | undefined;
  regressionRange?: [number, number] | undefined;
  survival?: { horizon: number; maxTime?: number | undefined; timeBins?: number | undefined; afterBins?: number | undefined } | undefined;
};

/** How a sender spells the fields whose spelling differs between the wire (camelCase) and REST/YAML (snake_case). */
interface Spelling {
  scoreGrid: string;
  calibrationBins: string;
  minCellSize: string;
  decisionThresholds: string;
  regressionRange: string;
}
const WIRE_SPELLING: Spelling = { scoreGrid: 'scoreGrid', calibrationBins: 'calibrationBins', minCellSize: 'minCellSize', decisionThresholds: 'decisionThresholds', regressionRange: 'regressionRange' };
const INPUT_SPELLING: Spelling = { scoreGrid: 'score_grid', calibrationBins: 'calibration_bins', minCellSize: 'min_cell_size', decisionThresholds: 'decision_thresholds', regressionRange: 'regression_range' };

const isValidBins = (bins: unknown): bins is number => Number.isSafeInteger(bins) && (bins as number) >= 2 && (bins as number) <= L.maxBins;
const isGridNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/**
 * The rules between fields (score grid, task-specific fields, repeated columns, vector length), run
 * whatever else failed so that every problem is listed at once. `draft` may hold invalid values: each
 * rule looks only at fields that are themselves valid.
 */
function checkCrossFieldRules(draft: { readonly [field: string]: unknown }, spelling: Spelling, ctx: z.RefinementCtx): void {
  const problem = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  const task = draft['task'] ?? DEFAULT_METRIC_SPEC.task;
  const bins = draft['bins'] ?? (task === 'survival' ? DEFAULT_SURVIVAL_SPEC.bins : DEFAULT_METRIC_SPEC.bins);
  // A fitted grid gains every threshold as an edge: the equal-width rules (thresholds k/B, C dividing B) do not apply.
  const grid = draft['scoreGrid'];
  const fitted = grid !== undefined;
  const B = !fitted && isValidBins(bins) ? bins : 0;
  if (fitted) {
    const edges = grid !== null && typeof grid === 'object' ? (grid as { edges?: unknown }).edges : undefined;
    if (draft['bins'] !== undefined && Array.isArray(edges) && draft['bins'] !== edges.length + 1) {
      problem(['bins'], `must be left out with a fitted ${spelling.scoreGrid}, or equal its ${edges.length + 1} bins`);
    }
    if (task === 'regression') problem([spelling.scoreGrid], 'applies only to binary and multiclass tasks');
  }
  const threshold = draft['threshold'] ?? DEFAULT_METRIC_SPEC.threshold;
  if (B > 0 && isGridNumber(threshold) && threshold >= 0 && threshold < 1 && gridIndex(threshold, B) === null) {
    problem(['threshold'], `must lie on the score grid (a multiple of 1/${B})`);
  }
  const calibration = draft['calibrationBins'] ?? DEFAULT_METRIC_SPEC.calibrationBins;
  if ((task === 'binary' || task === 'survival') && B > 0 && Number.isSafeInteger(calibration) && (calibration as number) >= 1 && ((calibration as number) > B || B % (calibration as number) !== 0)) {
    problem([spelling.calibrationBins], `must divide bins (${B})`);
  }
  const thresholds = draft['decisionThresholds'];
  if ((B > 0 || fitted) && Array.isArray(thresholds)) {
    let previous = -Infinity;
    let increasing = true;
    thresholds.forEach((value: unknown, i) => {
      if (!isGridNumber(value) || value <= 0 || value >= 1) return;
      const k = fitted ? value : gridIndex(value, B);
      if (k === null) problem([spelling.decisionThresholds, i], `must lie on the score grid (a multiple of 1/${B})`);
      else {
        const point = fitted ? value : k / B;
        if (point <= previous) increasing = false;
        previous = point;
      }
    });
    if (!increasing) problem([spelling.decisionThresholds], 'must be strictly increasing');
  }
  const groups = draft['groups'];
  if (Array.isArray(groups)) {
    const columns = new Set<unknown>();
    groups.forEach((group: unknown, i) => {
      const column = group !== null && typeof group === 'object' ? (group as { column?: unknown }).column : undefined;
      if (typeof column !== 'string') return;
      if (columns.has(column)) problem(['groups', i, 'column'], 'repeats an earlier column');
      columns.add(column);
    });
  }
  if (task === 'multiclass' && draft['classes'] === undefined) problem(['classes'], `must list 2 to ${L.maxClasses} distinct non-empty names for a multiclass task`);
  if (task !== 'multiclass' && draft['classes'] !== undefined) problem(['classes'], 'applies only to a multiclass task');
  if (task === 'regression' && draft['regressionRange'] === undefined) problem([spelling.regressionRange], `must be ${rangeText}`);
  if (task !== 'regression' && draft['regressionRange'] !== undefined) problem([spelling.regressionRange], 'applies only to a regression task');
  if (task === 'survival' && draft['survival'] === undefined) problem(['survival'], `must be ${survivalText}`);
  if (task !== 'survival' && draft['survival'] !== undefined) problem(['survival'], 'applies only to a survival task');
}

/** The vector-length limit, checked once the spec is otherwise valid (it needs the resolved layout sizes). */
function checkVectorLength(spec: MetricSpec, ctx: z.RefinementCtx): void {
  if (spec.scoreGrid && spec.bins > L.maxFittedBins) {
    ctx.addIssue({ code: 'custom', path: [], message: `the fitted score grid would have ${spec.bins} bins with the thresholds inserted as edges, above the limit of ${L.maxFittedBins}` });
    return;
  }
  const sections = 1 + spec.groups.reduce((sum, g) => sum + groupLevelCount(g), 0);
  const K = spec.classes?.length ?? 0;
  const perSection = sectionFields(spec.task, spec.bins, spec.calibrationBins, K, spec.survival).reduce((sum, f) => sum + f.length, 0);
  if (sections * perSection > L.maxVectorLength) {
    ctx.addIssue({ code: 'custom', path: [], message: `the statistics vector would hold ${sections * perSection} entries, above the limit of ${L.maxVectorLength}` });
  }
}

/** Fills defaults, snaps grid values to exactly k/B (or inserts them into a fitted grid's edges) and deep-freezes. The draft has passed every rule. */
function resolveDraft(draft: MetricSpecDraft): Readonly<MetricSpec> {
  const task = draft.task ?? DEFAULT_METRIC_SPEC.task;
  const given = draft.decisionThresholds;
  const calibrationBins = draft.calibrationBins ?? DEFAULT_METRIC_SPEC.calibrationBins;
  const common = { groups: Object.freeze((draft.groups ?? []).map(freezeGroup)) as GroupSpec[], minCellSize: draft.minCellSize ?? DEFAULT_METRIC_SPEC.minCellSize };
  let spec: MetricSpec;
  if (draft.scoreGrid) {
    const threshold = draft.threshold ?? DEFAULT_METRIC_SPEC.threshold;
    const decisionThresholds = given ?? [...DEFAULT_DECISION_THRESHOLDS];
    const reliabilityEdges = task === 'binary' || task === 'survival' ? Array.from({ length: calibrationBins - 1 }, (_, j) => (j + 1) / calibrationBins) : [];
    const edges = insertEdges(draft.scoreGrid.edges, [threshold, ...decisionThresholds, ...reliabilityEdges]);
    const scoreGrid: FittedScoreGrid = { kind: 'fitted', method: draft.scoreGrid.method, edges: Object.freeze(edges) as number[] };
    if (draft.scoreGrid.sourceDigest !== undefined) scoreGrid.sourceDigest = draft.scoreGrid.sourceDigest;
    spec = {
      task,
      bins: edges.length + 1,
      scoreGrid: Object.freeze(scoreGrid),
      threshold,
      groups: common.groups,
      calibrationBins,
      minCellSize: common.minCellSize,
      decisionThresholds: Object.freeze(decisionThresholds) as number[],
    };
  } else {
    const B = draft.bins ?? (task === 'survival' ? DEFAULT_SURVIVAL_SPEC.bins : DEFAULT_METRIC_SPEC.bins);
    const snap = (t: number) => (gridIndex(t, B) ?? 0) / B;
    spec = {
      task,
      bins: B,
      threshold: snap(draft.threshold ?? DEFAULT_METRIC_SPEC.threshold),
      groups: common.groups,
      calibrationBins,
      minCellSize: common.minCellSize,
      decisionThresholds: Object.freeze(given ? given.map(snap) : DEFAULT_DECISION_THRESHOLDS.filter((t) => gridIndex(t, B) !== null).map(snap)) as number[],
    };
  }
  if (task === 'multiclass' && draft.classes) spec.classes = Object.freeze([...draft.classes]) as string[];
  if (task === 'regression' && draft.regressionRange) spec.regressionRange = Object.freeze([draft.regressionRange[0], draft.regressionRange[1]]) as [number, number];
  if (task === 'survival' && draft.survival) {
    const { horizon } = draft.survival;
    const maxTime = draft.survival.maxTime ?? DEFAULT_SURVIVAL_SPEC.maxTimeFactor * horizon;
    const timeBins = draft.survival.timeBins ?? DEFAULT_SURVIVAL_SPEC.timeBins;
    spec.survival = Object.freeze({ horizon, maxTime, timeBins, afterBins: draft.survival.afterBins ?? defaultAfterBins(horizon, maxTime, timeBins) });
  }
  return Object.freeze(spec);
}

/** A fitted grid's interior edges with every interior threshold added (exactly as given), sorted and distinct. */
function insertEdges(edges: readonly number[], thresholds: readonly number[]): number[] {
  const present = new Set(edges);
  const missing = thresholds.filter((t) => t > 0 && t < 1 && !present.has(t));
  if (missing.length === 0) return [...edges];
  return [...new Set([...edges, ...missing])].sort((a, b) => a - b);
}

function freezeGroup(group: GroupSpec): GroupSpec {
  const frozen: GroupSpec = { column: group.column };
  if (group.levels !== undefined) frozen.levels = Object.freeze([...group.levels]) as string[];
  else if (group.cuts !== undefined) frozen.cuts = Object.freeze([...group.cuts]) as number[];
  return Object.freeze(frozen);
}

const objectError = must('an object');

function finish(draft: MetricSpecDraft, ctx: z.RefinementCtx): Readonly<MetricSpec> {
  const spec = resolveDraft(draft);
  checkVectorLength(spec, ctx);
  return spec;
}

/**
 * The metric spec as it crosses the wire (camelCase, inside the evaluation task) and as the packages
 * pass it around. Parsing fills defaults, checks every field and every rule between fields, and
 * yields the resolved, deep-frozen {@link MetricSpec}; resolving a resolved spec gives it back.
 */
export const metricSpecSchema = z
  .strictObject({ ...commonFields, scoreGrid, calibrationBins, minCellSize, decisionThresholds, regressionRange, survival: survivalWire }, objectError)
  .superRefine((draft, ctx) => checkCrossFieldRules(draft, WIRE_SPELLING, ctx), always)
  .transform(finish);

const metricSpecInputShape = z.strictObject(
  {
    ...commonFields,
    score_grid: scoreGridInputShape.optional(),
    calibration_bins: calibrationBins,
    min_cell_size: minCellSize,
    decision_thresholds: decisionThresholds,
    regression_range: regressionRange,
    survival: survivalInput,
  },
  objectError,
);

/** What {@link metricSpecInputSchema} accepts: the snake_case spelling. */
export type MetricSpecInput = z.input<typeof metricSpecInputShape>;

/**
 * The metric spec as a person writes it: the REST API's `metric_spec` and YAML (snake_case:
 * `calibration_bins`, `min_cell_size`, `decision_thresholds`, `regression_range`). Every field is
 * optional (defaults as in {@link DEFAULT_METRIC_SPEC}, except `classes` for a multiclass task and
 * `regression_range` for a regression task); problems name the fields in this spelling.
 */
export const metricSpecInputSchema = metricSpecInputShape
  .superRefine((input, ctx) => checkCrossFieldRules(inputToDraft(input), INPUT_SPELLING, ctx), always)
  .transform((input, ctx) => finish(inputToDraft(input), ctx));

function inputToDraft(input: z.output<typeof metricSpecInputShape>): MetricSpecDraft {
  const { score_grid, calibration_bins, min_cell_size, decision_thresholds, regression_range, survival, ...common } = input;
  return {
    ...common,
    scoreGrid: score_grid ? scoreGridFromInput(score_grid) : undefined,
    calibrationBins: calibration_bins,
    minCellSize: min_cell_size,
    decisionThresholds: decision_thresholds,
    regressionRange: regression_range,
    survival: survival === undefined ? undefined : { horizon: survival.horizon, maxTime: survival.max_time, timeBins: survival.time_bins, afterBins: survival.after_bins },
  };
}

function scoreGridFromInput(grid: z.output<typeof scoreGridInputShape>): FittedScoreGrid {
  const { source_digest, ...rest } = grid;
  return source_digest === undefined ? rest : { ...rest, sourceDigest: source_digest };
}

/**
 * A resolved spec as the REST API answers with it (snake_case, every default filled): what
 * {@link metricSpecToInput} writes, and what {@link metricSpecInputSchema} resolves back to the same spec.
 */
export const metricSpecViewSchema = z.strictObject({
  task: commonFields.task.unwrap(),
  bins: commonFields.bins.unwrap(),
  score_grid: scoreGridInputShape.optional(),
  threshold: commonFields.threshold.unwrap(),
  groups: commonFields.groups.unwrap(),
  calibration_bins: calibrationBins.unwrap(),
  min_cell_size: minCellSize.unwrap(),
  decision_thresholds: decisionThresholds.unwrap(),
  classes: commonFields.classes,
  regression_range: regressionRange,
  survival: z.strictObject({ horizon: positiveFinite('a finite number > 0'), max_time: positiveFinite('a finite number > 0'), time_bins: timeBins.unwrap(), after_bins: afterBins.unwrap() }).optional(),
});
export type MetricSpecView = z.output<typeof metricSpecViewSchema>;

/** A resolved spec in the input spelling: what the REST API answers with, and what {@link metricSpecInputSchema} gives back unchanged. */
export function metricSpecToInput(spec: Readonly<MetricSpec>): MetricSpecView {
  return {
    task: spec.task,
    bins: spec.bins,
    ...(spec.scoreGrid ? { score_grid: scoreGridToInput(spec.scoreGrid) } : {}),
    threshold: spec.threshold,
    groups: spec.groups.map((g) => ({ ...g })),
    calibration_bins: spec.calibrationBins,
    min_cell_size: spec.minCellSize,
    decision_thresholds: [...spec.decisionThresholds],
    ...(spec.classes ? { classes: [...spec.classes] } : {}),
    ...(spec.regressionRange ? { regression_range: [spec.regressionRange[0], spec.regressionRange[1]] as [number, number] } : {}),
    ...(spec.survival ? { survival: { horizon: spec.survival.horizon, max_time: spec.survival.maxTime, time_bins: spec.survival.timeBins, after_bins: spec.survival.afterBins } } : {}),
  };
}

/** A fitted grid in the REST/YAML spelling (`source_digest`): what `fedval grid fit` writes and `score_grid` takes. */
export function scoreGridToInput(grid: Readonly<FittedScoreGrid>): z.output<typeof scoreGridInputShape> {
  return { kind: grid.kind, method: grid.method, edges: [...grid.edges], ...(grid.sourceDigest !== undefined ? { source_digest: grid.sourceDigest } : {}) };
}

/** A fitted score grid as a person writes it (`score_grid` of the REST API and YAML; the file `fedval grid fit` writes). */
export const scoreGridInputSchema = scoreGridInputShape;
export type ScoreGridInput = z.output<typeof scoreGridInputShape>;

function refuse(error: z.ZodError): MetricsError {
  return new MetricsError('FEDVAL_ERR_METRICS_INVALID_SPEC', listProblems(error).join('; '));
}

/**
 * Parses a wire-spelled (camelCase) spec with {@link metricSpecSchema}: fills defaults, validates every
 * field (one FEDVAL_ERR_METRICS_INVALID_SPEC listing every problem), snaps grid values to exactly k/B
 * and deep-freezes. Idempotent.
 */
export function resolveMetricSpec(partial: unknown): Readonly<MetricSpec> {
  const result = metricSpecSchema.safeParse(partial);
  if (!result.success) throw refuse(result.error);
  return result.data;
}

/**
 * A fitted score grid as a person writes it (the file `fedval grid fit` writes, `score_grid` of the REST API), checked
 * with {@link scoreGridInputSchema}: one FEDVAL_ERR_METRICS_INVALID_SPEC listing every problem. Thresholds are inserted
 * later, when the grid becomes part of a metric spec.
 */
export function resolveScoreGridInput(input: unknown): FittedScoreGrid {
  const result = scoreGridInputShape.safeParse(input);
  if (!result.success) throw refuse(result.error);
  return scoreGridFromInput(result.data);
}

/** {@link resolveMetricSpec} for the snake_case spelling of the REST API and YAML ({@link metricSpecInputSchema}). */
export function resolveMetricSpecInput(input: unknown): Readonly<MetricSpec> {
  const result = metricSpecInputSchema.safeParse(input);
  if (!result.success) throw refuse(result.error);
  return result.data;
}

/** Declared levels (or bands) plus "(other)" and "(missing)". */
export function groupLevelCount(group: GroupSpec): number {
  return (group.levels ? group.levels.length : (group.cuts?.length ?? 0) + 1) + 2;
}
