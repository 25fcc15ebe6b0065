// metric-spec.ts — the metric spec that travels inside an evaluation task: defaults, validation, freezing.
import { MetricsError } from './errors.ts';
import { gridIndex } from './score-grid.ts';
import { sectionFields } from './section-fields.ts';

export type TaskType = 'binary' | 'multiclass' | 'regression';
export const TASK_TYPES: readonly TaskType[] = Object.freeze(['binary', 'multiclass', 'regression']);

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

/** What to compute and how finely. JSON-serializable: it travels inside an evaluation task. */
export interface MetricSpec {
  /** Task type. Default 'binary'. */
  task: TaskType;
  /** Score histogram grid size B over [0, 1]. Default 1000. */
  bins: number;
  /** Decision threshold: predicted positive means score >= threshold. Must be k/B for an integer 0 <= k < B. Default 0.5. */
  threshold: number;
  /** Subgroup columns. Default []. */
  groups: GroupSpec[];
  /** Number of equal-width reliability bins; must divide `bins` (binary task). Default 10. */
  calibrationBins: number;
  /** Disclosure control: subgroup blocks with fewer patients (or fewer of either class) are suppressed. Default 10. */
  minCellSize: number;
  /** Threshold probabilities of the decision curve, each k/B with 0 < k < B, increasing. Default 0.05, 0.10, …, 0.50 (those on the grid). */
  decisionThresholds: number[];
  /** Multiclass only (required there): class labels in order, K = classes.length. */
  classes?: string[];
  /** Regression only (required there): [low, high]; y and ŷ are clamped into it before fixed-point encoding. */
  regressionRange?: [number, number];
}

export const DEFAULT_METRIC_SPEC: Readonly<MetricSpec> = Object.freeze({
  task: 'binary',
  bins: 1000,
  threshold: 0.5,
  groups: Object.freeze([]) as unknown as GroupSpec[],
  calibrationBins: 10,
  minCellSize: 10,
  decisionThresholds: Object.freeze([0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5]) as unknown as number[],
});

/** Upper limits that keep one statistics vector within what a site can encrypt and send. */
export const METRIC_SPEC_LIMITS = Object.freeze({
  maxBins: 100_000, // histogram bins
  maxGroups: 16, // subgroup columns
  maxLevelsPerGroup: 64, // declared levels (or bands) per column, before "(other)" and "(missing)"
  maxClasses: 64, // multiclass K
  maxDecisionThresholds: 1000, // points on the decision curve
  maxVectorLength: 4 * 1024 * 1024, // entries (32 MiB as Float64)
  maxNameLength: 128, // characters in a column, level or class name
});

export const OTHER_LEVEL = '(other)';
export const MISSING_LEVEL = '(missing)';

const SPEC_KEYS = new Set(['task', 'bins', 'threshold', 'groups', 'calibrationBins', 'minCellSize', 'decisionThresholds', 'classes', 'regressionRange']);
const GROUP_KEYS = new Set(['column', 'levels', 'cuts']);

/**
 * Fills defaults, validates every field (one error listing every problem) and deep-freezes.
 * Grid values (threshold, decision thresholds) are snapped to exactly k/B.
 */
export function resolveMetricSpec(partial: Partial<MetricSpec>): Readonly<MetricSpec> {
  const problems: string[] = [];
  if (partial === null || typeof partial !== 'object' || Array.isArray(partial)) {
    throw new MetricsError('FEDVAL_ERR_METRICS_INVALID_SPEC', 'the spec must be an object');
  }
  for (const key of Object.keys(partial)) {
    if (!SPEC_KEYS.has(key)) problems.push(`unknown property "${truncate(key)}"`);
  }
  const given = partial as Record<string, unknown>;
  const pick = (key: keyof MetricSpec): unknown => (given[key] === undefined ? (DEFAULT_METRIC_SPEC as unknown as Record<string, unknown>)[key] : given[key]);

  const task = pick('task');
  if (!TASK_TYPES.includes(task as TaskType)) problems.push(`task must be one of ${TASK_TYPES.join(', ')}`);

  const bins = pick('bins');
  const binsValid = isInteger(bins) && bins >= 2 && bins <= METRIC_SPEC_LIMITS.maxBins;
  if (!binsValid) problems.push(`bins must be an integer from 2 to ${METRIC_SPEC_LIMITS.maxBins}`);
  const B = binsValid ? (bins as number) : 0;

  let threshold = pick('threshold');
  if (typeof threshold !== 'number' || !Number.isFinite(threshold) || threshold < 0 || threshold >= 1) {
    problems.push('threshold must be a number with 0 <= threshold < 1');
  } else if (binsValid) {
    const k = gridIndex(threshold, B);
    if (k === null) problems.push(`threshold must lie on the score grid (a multiple of 1/${B})`);
    else threshold = k / B;
  }

  const calibrationBins = pick('calibrationBins');
  if (!isInteger(calibrationBins) || calibrationBins < 1) problems.push('calibrationBins must be a positive integer');
  else if (task === 'binary' && binsValid && (calibrationBins > B || B % calibrationBins !== 0)) problems.push(`calibrationBins must divide bins (${B})`);

  const minCellSize = pick('minCellSize');
  if (!isInteger(minCellSize) || minCellSize < 1) problems.push('minCellSize must be a positive integer');

  // The default decision thresholds are those of DEFAULT_METRIC_SPEC that lie on the grid; given ones must all lie on it.
  const decisionThresholds =
    given['decisionThresholds'] === undefined && binsValid
      ? DEFAULT_METRIC_SPEC.decisionThresholds.filter((t) => gridIndex(t, B) !== null)
      : pick('decisionThresholds');
  const snappedThresholds: number[] = [];
  if (!Array.isArray(decisionThresholds) || decisionThresholds.length > METRIC_SPEC_LIMITS.maxDecisionThresholds) {
    problems.push(`decisionThresholds must be an array of at most ${METRIC_SPEC_LIMITS.maxDecisionThresholds} numbers`);
  } else {
    let previous = -Infinity;
    decisionThresholds.forEach((value: unknown, i) => {
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value >= 1) {
        problems.push(`decisionThresholds[${i}] must be a number with 0 < t < 1`);
        return;
      }
      if (!binsValid) return;
      const k = gridIndex(value, B);
      if (k === null) {
        problems.push(`decisionThresholds[${i}] must lie on the score grid (a multiple of 1/${B})`);
        return;
      }
      if (k / B <= previous) problems.push('decisionThresholds must be strictly increasing');
      previous = k / B;
      snappedThresholds.push(k / B);
    });
  }

  const groups = pick('groups');
  const frozenGroups: GroupSpec[] = [];
  if (!Array.isArray(groups) || groups.length > METRIC_SPEC_LIMITS.maxGroups) {
    problems.push(`groups must be an array of at most ${METRIC_SPEC_LIMITS.maxGroups} group columns`);
  } else {
    const columns = new Set<string>();
    groups.forEach((group: unknown, i) => {
      const resolved = validateGroup(group, `groups[${i}]`, problems);
      if (!resolved) return;
      if (columns.has(resolved.column)) problems.push(`groups[${i}].column repeats an earlier column`);
      columns.add(resolved.column);
      frozenGroups.push(resolved);
    });
  }

  const classes = given['classes'];
  if (task === 'multiclass') {
    if (!isNameList(classes, 2, METRIC_SPEC_LIMITS.maxClasses)) {
      problems.push(`classes must list 2 to ${METRIC_SPEC_LIMITS.maxClasses} distinct non-empty names for a multiclass task`);
    }
  } else if (classes !== undefined) {
    problems.push('classes applies only to a multiclass task');
  }

  const range = given['regressionRange'];
  if (task === 'regression') {
    if (!Array.isArray(range) || range.length !== 2 || !range.every((v) => typeof v === 'number' && Number.isFinite(v)) || !((range[0] as number) < (range[1] as number))) {
      problems.push('regressionRange must be [low, high] with finite low < high for a regression task');
    }
  } else if (range !== undefined) {
    problems.push('regressionRange applies only to a regression task');
  }

  if (problems.length === 0) {
    const sections = 1 + frozenGroups.reduce((sum, g) => sum + groupLevelCount(g), 0);
    const K = Array.isArray(classes) ? classes.length : 0;
    const perSection = sectionFields(task as TaskType, B, calibrationBins as number, K).reduce((sum, f) => sum + f.length, 0);
    if (sections * perSection > METRIC_SPEC_LIMITS.maxVectorLength) {
      problems.push(`the statistics vector would hold ${sections * perSection} entries, above the limit of ${METRIC_SPEC_LIMITS.maxVectorLength}`);
    }
  }

  if (problems.length > 0) throw new MetricsError('FEDVAL_ERR_METRICS_INVALID_SPEC', problems.join('; '));

  const spec: MetricSpec = {
    task: task as TaskType,
    bins: B,
    threshold: threshold as number,
    groups: Object.freeze(frozenGroups) as GroupSpec[],
    calibrationBins: calibrationBins as number,
    minCellSize: minCellSize as number,
    decisionThresholds: Object.freeze(snappedThresholds) as number[],
  };
  if (task === 'multiclass') spec.classes = Object.freeze([...(classes as string[])]) as string[];
  if (task === 'regression') spec.regressionRange = Object.freeze([...(range as [number, number])]) as [number, number];
  return Object.freeze(spec);
}

/** Declared levels (or bands) plus "(other)" and "(missing)". */
export function groupLevelCount(group: GroupSpec): number {
  return (group.levels ? group.levels.length : (group.cuts?.length ?? 0) + 1) + 2;
}

function validateGroup(group: unknown, where: string, problems: string[]): GroupSpec | null {
  if (group === null || typeof group !== 'object' || Array.isArray(group)) {
    problems.push(`${where} must be an object`);
    return null;
  }
  const g = group as Record<string, unknown>;
  const before = problems.length;
  for (const key of Object.keys(g)) if (!GROUP_KEYS.has(key)) problems.push(`${where} has unknown property "${truncate(key)}"`);
  const column = g['column'];
  if (typeof column !== 'string' || column.length === 0 || column.length > METRIC_SPEC_LIMITS.maxNameLength) {
    problems.push(`${where}.column must be a non-empty string of at most ${METRIC_SPEC_LIMITS.maxNameLength} characters`);
  }
  const levels = g['levels'];
  const cuts = g['cuts'];
  if ((levels === undefined) === (cuts === undefined)) {
    problems.push(`${where} must have exactly one of levels or cuts`);
  } else if (levels !== undefined) {
    if (!isNameList(levels, 1, METRIC_SPEC_LIMITS.maxLevelsPerGroup)) {
      problems.push(`${where}.levels must list 1 to ${METRIC_SPEC_LIMITS.maxLevelsPerGroup} distinct non-empty names`);
    } else if ((levels as string[]).some((l) => l === OTHER_LEVEL || l === MISSING_LEVEL)) {
      problems.push(`${where}.levels must not use the reserved names ${OTHER_LEVEL} and ${MISSING_LEVEL}`);
    }
  } else {
    const valid =
      Array.isArray(cuts) &&
      cuts.length >= 1 &&
      cuts.length < METRIC_SPEC_LIMITS.maxLevelsPerGroup &&
      cuts.every((c, i) => typeof c === 'number' && Number.isFinite(c) && (i === 0 || c > (cuts[i - 1] as number)));
    if (!valid) problems.push(`${where}.cuts must be 1 to ${METRIC_SPEC_LIMITS.maxLevelsPerGroup - 1} finite, strictly increasing numbers`);
  }
  if (problems.length > before) return null;
  const resolved: GroupSpec = { column: column as string };
  if (levels !== undefined) resolved.levels = Object.freeze([...(levels as string[])]) as string[];
  else resolved.cuts = Object.freeze([...(cuts as number[])]) as number[];
  return Object.freeze(resolved);
}

function isInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

function isNameList(value: unknown, min: number, max: number): value is string[] {
  return (
    Array.isArray(value) &&
    value.length >= min &&
    value.length <= max &&
    value.every((v) => typeof v === 'string' && v.length > 0 && v.length <= METRIC_SPEC_LIMITS.maxNameLength) &&
    new Set(value).size === value.length
  );
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
