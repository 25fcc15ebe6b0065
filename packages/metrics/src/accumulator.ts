// accumulator.ts — turns one site's predictions, patient by patient, into the additive statistics vector.
import { MetricsError } from './errors.ts';
import { EXCLUSION_REASONS, exclusionIndex } from './exclusion-reasons.ts';
import type { ExclusionReason } from './exclusion-reasons.ts';
import { levelMatcher } from './group-levels.ts';
import type { GroupValue } from './group-levels.ts';
import { reliabilityBinStarts, scoreGridOf } from './score-grid.ts';
import type { ScoreGrid } from './score-grid.ts';
import type { SectionFieldName } from './section-fields.ts';
import { FIXED_POINT_SCALE, fieldSlice } from './statistics-layout.ts';
import type { StatisticsLayout } from './statistics-layout.ts';
import { timeGridOf } from './time-grid.ts';
import type { TimeGrid } from './time-grid.ts';

/**
 * Collects one site's statistics. Labels and scores that cannot be used are counted as exclusions,
 * never thrown: null or undefined is "missing", anything else unusable (NaN, ±Infinity, outside
 * [0, 1], not a class index) is "invalid". Checks run label first, then score; a patient gets one reason.
 * Only programming errors throw (wrong task, wrong number of group values, unknown reason).
 */
export interface StatisticsAccumulator {
  readonly layout: StatisticsLayout;
  /** Binary task: score in [0, 1], label 0 or 1, one raw value per group column. */
  addBinary(score: number | null | undefined, label: number | null | undefined, groups?: readonly GroupValue[]): void;
  /** Multiclass task: K scores in [0, 1] (class order of the spec), the true class index in [0, K). */
  addMulticlass(scores: ArrayLike<number> | null | undefined, labelIndex: number | null | undefined, groups?: readonly GroupValue[]): void;
  /** Regression task: observed y and predicted ŷ, clamped into the spec's regression range. */
  addRegression(y: number | null | undefined, yhat: number | null | undefined, groups?: readonly GroupValue[]): void;
  /**
   * Survival task: follow-up time (>= 0, the spec's unit), event 1 or 0 (censored), predicted risk of the event by the
   * horizon in [0, 1]. A missing time or event is missing_label; a negative or non-finite time, or an event other than
   * 0 or 1, is invalid_label.
   */
  addSurvival(time: number | null | undefined, event: number | null | undefined, score: number | null | undefined, groups?: readonly GroupValue[]): void;
  /** Survival task, columnar: `times` (NaN missing), `labels` the events (1, 0; −1 missing), `scores` the risks. */
  addSurvivalRows(rows: SurvivalRows): void;
  /** Counts a patient left out before prediction (missing features, outside the cohort, …). */
  exclude(reason: ExclusionReason, groups?: readonly GroupValue[]): void;
  /** Binary task, columnar: the same counts as addBinary / exclude row by row (see ColumnarRows). */
  addBinaryRows(rows: BinaryRows): void;
  /** Binary task, rows already counted per cell (label, groups, score bin) by a data engine: see BinaryCells. */
  addBinaryCells(cells: BinaryCells): void;
  /** Multiclass task, columnar: `scores` holds K values per row (class order); `labels` class indexes. */
  addMulticlassRows(rows: MulticlassRows): void;
  /** Regression task, columnar: `labels` holds y (NaN missing, ±Infinity invalid), `scores` ŷ. */
  addRegressionRows(rows: RegressionRows): void;
  /** A copy of the vector; every entry is a safe integer. */
  vector(): Float64Array;
}

/**
 * Rows of one batch, column by column (a data connector's typed columns; no per-row objects). Per row, checks run
 * as row by row: label first (missing, then invalid), then `excluded`, then the score. A score of NaN is missing
 * (row by row, null is missing and NaN invalid); ±Infinity or a value outside the task's range is invalid.
 */
export interface ColumnarRows {
  /** Rows in the batch. */
  readonly count: number;
  /** Per row: 0 when the row may be scored, else 1 + the index of its reason in EXCLUSION_REASONS. Default: none. */
  readonly excluded?: Uint8Array | undefined;
  /** Per group column (spec order): per row, the level index (groupLevelIndex order, "(other)" and "(missing)" last). */
  readonly levels: readonly Int32Array[];
}

export interface BinaryRows extends ColumnarRows {
  /** Per row: a score in [0, 1]; NaN = missing. */
  readonly scores: Float64Array;
  /** Per row: 1 positive, 0 negative, −1 missing, any other value invalid. */
  readonly labels: Int8Array | Int32Array;
}

/**
 * A binary task's rows counted per cell by a data engine (label, group levels, score bin) instead of one by one: cell i
 * stands for `weights[i]` rows with the same label and levels whose scores fall in grid bin `bins[i]`. Each row's
 * fixed-point terms are rounded before they are summed, exactly as addBinary rounds them (`Math.round(x · S)`, S =
 * FIXED_POINT_SCALE), so the counts equal addBinaryRows over the same rows entry by entry.
 */
export interface BinaryCells extends ColumnarRows {
  /** Per cell: 1 positive, 0 negative, −1 missing, any other value invalid. */
  readonly labels: Int8Array | Int32Array;
  /** Per cell: the score's grid bin in [0, B); −1 the score is missing (NaN); −2 it is not in [0, 1]. */
  readonly bins: Int32Array;
  /** Per cell: rows in the cell (a positive integer). */
  readonly weights: Float64Array;
  /** Per cell: Σ round(s² · S) over its rows: their Brier terms when the label is 0. */
  readonly brierUnitsIfNegative: Float64Array;
  /** Per cell: Σ round((s − 1)² · S) over its rows: their Brier terms when the label is 1. */
  readonly brierUnitsIfPositive: Float64Array;
  /** Per cell: Σ round(s · S) over its rows (the calibration sums). */
  readonly scoreUnits: Float64Array;
}

export interface MulticlassRows extends ColumnarRows {
  /** Row-major, K per row: scores in [0, 1]; NaN = missing. */
  readonly scores: Float64Array;
  /** Per row: the true class index in [0, K); −1 missing; any other value invalid. */
  readonly labels: Int32Array;
}

export interface RegressionRows extends ColumnarRows {
  /** Per row: ŷ; NaN = missing, ±Infinity invalid. */
  readonly scores: Float64Array;
  /** Per row: y; NaN = missing, ±Infinity invalid. */
  readonly labels: Float64Array;
}

export interface SurvivalRows extends ColumnarRows {
  /** Per row: the predicted risk by the horizon in [0, 1]; NaN = missing. */
  readonly scores: Float64Array;
  /** Per row: 1 event, 0 censored, −1 missing, any other value invalid. */
  readonly labels: Int8Array | Int32Array;
  /** Per row: follow-up time; NaN = missing, negative or ±Infinity invalid. */
  readonly times: Float64Array;
}

export function createAccumulator(layout: StatisticsLayout): StatisticsAccumulator {
  return new SiteStatisticsAccumulator(layout);
}

const S = FIXED_POINT_SCALE;
const MISSING_LABEL = exclusionIndex('missing_label');
const INVALID_LABEL = exclusionIndex('invalid_label');
const MISSING_SCORE = exclusionIndex('missing_score');
const INVALID_SCORE = exclusionIndex('invalid_score');

class SiteStatisticsAccumulator implements StatisticsAccumulator {
  readonly layout: StatisticsLayout;
  readonly #values: Float64Array;
  readonly #matchers: ((raw: GroupValue) => number)[];
  /** Section index of level 0 of each group column. */
  readonly #groupBase: number[];
  /** Sections the current patient touches: overall, then one per group column. */
  readonly #touched: Int32Array;
  readonly #offsets: Partial<Record<SectionFieldName, Int32Array>>;
  readonly #bins: number;
  readonly #grid: ScoreGrid;
  /** Reliability (calibration) bin of each grid bin. */
  readonly #calibrationBinOf: Int32Array;
  readonly #classCount: number;
  readonly #timeGrid: TimeGrid | null;

  constructor(layout: StatisticsLayout) {
    this.layout = layout;
    this.#values = new Float64Array(layout.length);
    const { spec } = layout;
    this.#matchers = spec.groups.map((g) => levelMatcher(g));
    this.#groupBase = [];
    let base = 1;
    for (const levels of layout.groupLevels) {
      this.#groupBase.push(base);
      base += levels.length;
    }
    this.#touched = new Int32Array(1 + spec.groups.length);
    this.#offsets = {};
    const first = layout.sections[0];
    if (first) {
      for (const name of Object.keys(first.fields) as SectionFieldName[]) {
        this.#offsets[name] = Int32Array.from(layout.sections, (section) => fieldSlice(section, name).offset);
      }
    }
    this.#bins = spec.bins;
    this.#grid = scoreGridOf(spec);
    this.#calibrationBinOf = new Int32Array(spec.bins);
    if (spec.task === 'binary' || spec.task === 'survival') {
      const starts = reliabilityBinStarts(this.#grid, spec.calibrationBins);
      for (let j = 0; j < spec.calibrationBins; j += 1) this.#calibrationBinOf.fill(j, starts[j], starts[j + 1]);
    }
    this.#classCount = spec.classes?.length ?? 0;
    this.#timeGrid = spec.survival ? timeGridOf(spec.survival) : null;
  }

  addSurvival(time: number | null | undefined, event: number | null | undefined, score: number | null | undefined, groups?: readonly GroupValue[]): void {
    this.#requireTask('survival', 'addSurvival');
    const touched = this.#locate(groups);
    if (time === null || time === undefined || event === null || event === undefined) return this.#count(touched, MISSING_LABEL);
    if (typeof time !== 'number' || !(time >= 0 && time < Infinity) || (event !== 0 && event !== 1)) return this.#count(touched, INVALID_LABEL);
    if (score === null || score === undefined) return this.#count(touched, MISSING_SCORE);
    if (typeof score !== 'number' || !(score >= 0 && score <= 1)) return this.#count(touched, INVALID_SCORE);
    this.#survivalInto(touched, time, event, score);
  }

  addSurvivalRows(rows: SurvivalRows): void {
    this.#requireTask('survival', 'addSurvivalRows');
    this.#requireRows(rows, 1);
    if (rows.times.length < rows.count) throw new MetricsError('FEDVAL_ERR_METRICS_INVALID_INPUT', `times must cover ${rows.count} rows`);
    const { scores, labels, times, excluded } = rows;
    for (let i = 0; i < rows.count; i += 1) {
      const touched = this.#locateRow(rows.levels, i);
      const event = labels[i] as number;
      const time = times[i] as number;
      if (event === -1 || Number.isNaN(time)) this.#count(touched, MISSING_LABEL);
      else if ((event !== 0 && event !== 1) || !(time >= 0 && time < Infinity)) this.#count(touched, INVALID_LABEL);
      else if (excluded !== undefined && excluded[i] !== 0) this.#count(touched, (excluded[i] as number) - 1);
      else {
        const score = scores[i] as number;
        if (Number.isNaN(score)) this.#count(touched, MISSING_SCORE);
        else if (!(score >= 0 && score <= 1)) this.#count(touched, INVALID_SCORE);
        else this.#survivalInto(touched, time, event, score);
      }
    }
  }

  /** One counter (time bin, score bin, status), one Brier term and the score in its calibration group; see section-fields.ts. */
  #survivalInto(touched: Int32Array, time: number, event: number, score: number): void {
    const grid = this.#timeGrid as TimeGrid;
    const k = grid.bin(time);
    const bin = this.#grid.bin(score);
    const counts = this.#field('survival_counts');
    const sums = this.#field('survival_sums');
    const brierSlot = k < grid.horizonBins ? (event === 1 ? k : -1) : grid.horizonBins;
    const brierUnits = brierSlot < 0 ? 0 : Math.round((brierSlot === grid.horizonBins ? score * score : (1 - score) * (1 - score)) * S);
    const calibrationSlot = grid.horizonBins + 1 + (this.#calibrationBinOf[bin] as number);
    const scoreUnits = Math.round(score * S);
    const cell = ((k * this.#bins + bin) * 2) + event;
    const values = this.#values;
    for (let i = 0; i < touched.length; i += 1) {
      const section = touched[i] as number;
      increment(values, (counts[section] as number) + cell, 1);
      if (brierSlot >= 0) increment(values, (sums[section] as number) + brierSlot, brierUnits);
      increment(values, (sums[section] as number) + calibrationSlot, scoreUnits);
    }
  }

  addBinary(score: number | null | undefined, label: number | null | undefined, groups?: readonly GroupValue[]): void {
    this.#requireTask('binary', 'addBinary');
    const touched = this.#locate(groups);
    if (label === null || label === undefined) return this.#count(touched, MISSING_LABEL);
    if (label !== 0 && label !== 1) return this.#count(touched, INVALID_LABEL);
    if (score === null || score === undefined) return this.#count(touched, MISSING_SCORE);
    if (typeof score !== 'number' || !(score >= 0 && score <= 1)) return this.#count(touched, INVALID_SCORE);
    this.#binaryInto(touched, score, label);
  }

  addBinaryRows(rows: BinaryRows): void {
    this.#requireTask('binary', 'addBinaryRows');
    this.#requireRows(rows, 1);
    const { scores, labels, excluded } = rows;
    // The same counting as addBinary row by row, with the layout's offsets looked up once per call, not per row.
    const { positive, negative, brier, calibration, exclusions } = this.#binaryFields();
    const values = this.#values;
    const grid = this.#grid;
    const calibrationBinOf = this.#calibrationBinOf;
    for (let i = 0; i < rows.count; i += 1) {
      const touched = this.#locateRow(rows.levels, i);
      const label = labels[i] as number;
      let reason: number;
      if (label === -1) reason = MISSING_LABEL;
      else if (label !== 0 && label !== 1) reason = INVALID_LABEL;
      else if (excluded !== undefined && excluded[i] !== 0) reason = (excluded[i] as number) - 1;
      else {
        const score = scores[i] as number;
        if (Number.isNaN(score)) reason = MISSING_SCORE;
        else if (!(score >= 0 && score <= 1)) reason = INVALID_SCORE;
        else {
          const bin = grid.bin(score);
          const histogram = label === 1 ? positive : negative;
          const brierUnits = Math.round((score - label) * (score - label) * S);
          const scoreUnits = Math.round(score * S);
          const calibrationBin = calibrationBinOf[bin] as number;
          for (let t = 0; t < touched.length; t += 1) {
            const section = touched[t] as number;
            increment(values, (histogram[section] as number) + bin, 1);
            increment(values, brier[section] as number, brierUnits);
            increment(values, (calibration[section] as number) + calibrationBin, scoreUnits);
          }
          continue;
        }
      }
      for (let t = 0; t < touched.length; t += 1) increment(values, (exclusions[touched[t] as number] as number) + reason, 1);
    }
  }

  addBinaryCells(cells: BinaryCells): void {
    this.#requireTask('binary', 'addBinaryCells');
    const n = cells.count;
    const arrays = [cells.bins, cells.weights, cells.brierUnitsIfNegative, cells.brierUnitsIfPositive, cells.scoreUnits];
    if (arrays.some((array) => array.length < n)) throw new MetricsError('FEDVAL_ERR_METRICS_INVALID_INPUT', `bins, weights and sums must cover ${n} cells`);
    for (let i = 0; i < n; i += 1) {
      const weight = cells.weights[i] as number;
      const bin = cells.bins[i] as number;
      if (!(Number.isSafeInteger(weight) && weight > 0) || !(Number.isInteger(bin) && bin >= -2 && bin < this.#bins)) {
        throw new MetricsError('FEDVAL_ERR_METRICS_INVALID_INPUT', 'a cell has a weight that is not a positive integer or a bin off the grid');
      }
    }
    this.#requireRows({ ...cells, scores: cells.weights, excluded: undefined }, 1);
    const { positive, negative, brier, calibration, exclusions } = this.#binaryFields();
    const values = this.#values;
    for (let i = 0; i < n; i += 1) {
      const touched = this.#locateRow(cells.levels, i);
      const label = cells.labels[i] as number;
      const bin = cells.bins[i] as number;
      const weight = cells.weights[i] as number;
      // The same order of checks as addBinaryRows: label (missing, invalid), then score (missing, invalid).
      let reason = -1;
      if (label === -1) reason = MISSING_LABEL;
      else if (label !== 0 && label !== 1) reason = INVALID_LABEL;
      else if (bin === -1) reason = MISSING_SCORE;
      else if (bin === -2) reason = INVALID_SCORE;
      if (reason >= 0) {
        for (let t = 0; t < touched.length; t += 1) increment(values, (exclusions[touched[t] as number] as number) + reason, weight);
        continue;
      }
      const histogram = label === 1 ? positive : negative;
      const brierUnits = (label === 1 ? cells.brierUnitsIfPositive[i] : cells.brierUnitsIfNegative[i]) as number;
      const calibrationBin = this.#calibrationBinOf[bin] as number;
      const scoreUnits = cells.scoreUnits[i] as number;
      for (let t = 0; t < touched.length; t += 1) {
        const section = touched[t] as number;
        increment(values, (histogram[section] as number) + bin, weight);
        increment(values, brier[section] as number, brierUnits);
        increment(values, (calibration[section] as number) + calibrationBin, scoreUnits);
      }
    }
  }

  /** Offsets per section of a binary layout's fields. */
  #binaryFields(): Record<'positive' | 'negative' | 'brier' | 'calibration' | 'exclusions', Int32Array> {
    return {
      positive: this.#field('positive_histogram'),
      negative: this.#field('negative_histogram'),
      brier: this.#field('brier_sum'),
      calibration: this.#field('calibration_score_sums'),
      exclusions: this.#field('exclusions'),
    };
  }

  #binaryInto(touched: Int32Array, score: number, label: 0 | 1): void {
    const bin = this.#grid.bin(score);
    const histogram = this.#field(label === 1 ? 'positive_histogram' : 'negative_histogram');
    const brier = this.#field('brier_sum');
    const calibration = this.#field('calibration_score_sums');
    const brierUnits = Math.round((score - label) * (score - label) * S);
    const scoreUnits = Math.round(score * S);
    const calibrationBin = this.#calibrationBinOf[bin] as number;
    const values = this.#values;
    for (let i = 0; i < touched.length; i += 1) {
      const section = touched[i] as number;
      increment(values, (histogram[section] as number) + bin, 1);
      increment(values, brier[section] as number, brierUnits);
      increment(values, (calibration[section] as number) + calibrationBin, scoreUnits);
    }
  }

  addMulticlass(scores: ArrayLike<number> | null | undefined, labelIndex: number | null | undefined, groups?: readonly GroupValue[]): void {
    this.#requireTask('multiclass', 'addMulticlass');
    const touched = this.#locate(groups);
    const K = this.#classCount;
    if (labelIndex === null || labelIndex === undefined) return this.#count(touched, MISSING_LABEL);
    if (typeof labelIndex !== 'number' || !Number.isInteger(labelIndex) || labelIndex < 0 || labelIndex >= K) return this.#count(touched, INVALID_LABEL);
    if (scores === null || scores === undefined) return this.#count(touched, MISSING_SCORE);
    if (typeof scores !== 'object' || scores.length !== K) return this.#count(touched, INVALID_SCORE);
    this.#multiclassInto(touched, scores, labelIndex);
  }

  addMulticlassRows(rows: MulticlassRows): void {
    this.#requireTask('multiclass', 'addMulticlassRows');
    const K = this.#classCount;
    this.#requireRows(rows, K);
    const { scores, labels, excluded } = rows;
    for (let i = 0; i < rows.count; i += 1) {
      const touched = this.#locateRow(rows.levels, i);
      const label = labels[i] as number;
      if (label === -1) this.#count(touched, MISSING_LABEL);
      else if (!(label >= 0 && label < K)) this.#count(touched, INVALID_LABEL);
      else if (excluded !== undefined && excluded[i] !== 0) this.#count(touched, (excluded[i] as number) - 1);
      else {
        const row = scores.subarray(i * K, (i + 1) * K);
        if (row.some(Number.isNaN)) this.#count(touched, MISSING_SCORE);
        else this.#multiclassInto(touched, row, label);
      }
    }
  }

  #multiclassInto(touched: Int32Array, scores: ArrayLike<number>, labelIndex: number): void {
    const K = this.#classCount;
    let predicted = 0;
    let brier = 0;
    for (let c = 0; c < K; c += 1) {
      const s = scores[c];
      if (typeof s !== 'number' || !(s >= 0 && s <= 1)) return this.#count(touched, INVALID_SCORE);
      if (s > (scores[predicted] as number)) predicted = c;
      const target = c === labelIndex ? 1 : 0;
      brier += (s - target) * (s - target);
    }
    const brierUnits = Math.round(Math.min(brier, 2) * S);
    const confusion = this.#field('confusion');
    const histograms = this.#field('class_histograms');
    const brierSum = this.#field('brier_sum');
    const B = this.#bins;
    const grid = this.#grid;
    const values = this.#values;
    for (let i = 0; i < touched.length; i += 1) {
      const section = touched[i] as number;
      increment(values, (confusion[section] as number) + labelIndex * K + predicted, 1);
      const base = histograms[section] as number;
      for (let c = 0; c < K; c += 1) {
        const isClass = c === labelIndex ? 1 : 0;
        increment(values, base + (2 * c + isClass) * B + grid.bin(scores[c] as number), 1);
      }
      increment(values, brierSum[section] as number, brierUnits);
    }
  }

  addRegression(y: number | null | undefined, yhat: number | null | undefined, groups?: readonly GroupValue[]): void {
    this.#requireTask('regression', 'addRegression');
    const touched = this.#locate(groups);
    if (y === null || y === undefined) return this.#count(touched, MISSING_LABEL);
    if (typeof y !== 'number' || !Number.isFinite(y)) return this.#count(touched, INVALID_LABEL);
    if (yhat === null || yhat === undefined) return this.#count(touched, MISSING_SCORE);
    if (typeof yhat !== 'number' || !Number.isFinite(yhat)) return this.#count(touched, INVALID_SCORE);
    this.#regressionInto(touched, y, yhat);
  }

  addRegressionRows(rows: RegressionRows): void {
    this.#requireTask('regression', 'addRegressionRows');
    this.#requireRows(rows, 1);
    const { scores, labels, excluded } = rows;
    for (let i = 0; i < rows.count; i += 1) {
      const touched = this.#locateRow(rows.levels, i);
      const y = labels[i] as number;
      const yhat = scores[i] as number;
      if (Number.isNaN(y)) this.#count(touched, MISSING_LABEL);
      else if (!Number.isFinite(y)) this.#count(touched, INVALID_LABEL);
      else if (excluded !== undefined && excluded[i] !== 0) this.#count(touched, (excluded[i] as number) - 1);
      else if (Number.isNaN(yhat)) this.#count(touched, MISSING_SCORE);
      else if (!Number.isFinite(yhat)) this.#count(touched, INVALID_SCORE);
      else this.#regressionInto(touched, y, yhat);
    }
  }

  #regressionInto(touched: Int32Array, y: number, yhat: number): void {
    const [low, high] = this.layout.spec.regressionRange ?? [0, 1];
    const u = (Math.min(Math.max(y, low), high) - low) / (high - low);
    const v = (Math.min(Math.max(yhat, low), high) - low) / (high - low);
    const clamped = y < low || y > high || yhat < low || yhat > high ? 1 : 0;
    const terms = [u, v, u * u, v * v, u * v, Math.abs(u - v), (u - v) * (u - v)];
    const count = this.#field('count');
    const clampedCount = this.#field('clamped');
    const sums = this.#field('regression_sums');
    const values = this.#values;
    for (let i = 0; i < touched.length; i += 1) {
      const section = touched[i] as number;
      increment(values, count[section] as number, 1);
      increment(values, clampedCount[section] as number, clamped);
      const base = sums[section] as number;
      for (let t = 0; t < terms.length; t += 1) increment(values, base + t, Math.round((terms[t] as number) * S));
    }
  }

  exclude(reason: ExclusionReason, groups?: readonly GroupValue[]): void {
    const index = exclusionIndex(reason);
    if (index < 0) throw new MetricsError('FEDVAL_ERR_METRICS_UNKNOWN_EXCLUSION', `expected one of ${EXCLUSION_REASONS.join(', ')}`);
    this.#count(this.#locate(groups), index);
  }

  vector(): Float64Array {
    return this.#values.slice();
  }

  #requireTask(task: string, method: string): void {
    if (this.layout.spec.task !== task) {
      throw new MetricsError('FEDVAL_ERR_METRICS_TASK_MISMATCH', `${method} on a ${this.layout.spec.task} layout`);
    }
  }

  /** Checks a columnar batch's array lengths and every level index before anything is counted. */
  #requireRows(rows: ColumnarRows & { scores: Float64Array; labels: ArrayLike<number> }, width: number): void {
    const n = rows.count;
    const bad = (what: string) => new MetricsError('FEDVAL_ERR_METRICS_INVALID_INPUT', what);
    if (!Number.isSafeInteger(n) || n < 0) throw bad('count must be a non-negative integer');
    if (rows.scores.length < n * width || rows.labels.length < n) throw bad(`scores and labels must cover ${n} rows`);
    if (rows.excluded !== undefined && rows.excluded.length < n) throw bad(`excluded must cover ${n} rows`);
    if (rows.excluded !== undefined) {
      for (let i = 0; i < n; i += 1) if ((rows.excluded[i] as number) > EXCLUSION_REASONS.length) throw bad('excluded holds an unknown reason');
    }
    if (rows.levels.length !== this.#matchers.length) {
      throw new MetricsError('FEDVAL_ERR_METRICS_GROUP_COUNT', `expected ${this.#matchers.length} level columns, got ${rows.levels.length}`);
    }
    rows.levels.forEach((levels, g) => {
      const limit = (this.layout.groupLevels[g] as readonly string[]).length;
      if (levels.length < n) throw bad(`level column ${g} must cover ${n} rows`);
      for (let i = 0; i < n; i += 1) {
        const level = levels[i] as number;
        if (!(level >= 0 && level < limit)) throw bad(`level column ${g} holds an index outside [0, ${limit})`);
      }
    });
  }

  #locateRow(levels: readonly Int32Array[], row: number): Int32Array {
    const touched = this.#touched;
    for (let g = 0; g < levels.length; g += 1) touched[g + 1] = (this.#groupBase[g] as number) + ((levels[g] as Int32Array)[row] as number);
    return touched;
  }

  #locate(groups: readonly GroupValue[] | undefined): Int32Array {
    const matchers = this.#matchers;
    const given = groups ?? [];
    if (given.length !== matchers.length) {
      throw new MetricsError('FEDVAL_ERR_METRICS_GROUP_COUNT', `expected ${matchers.length} group values, got ${given.length}`);
    }
    const touched = this.#touched;
    for (let g = 0; g < matchers.length; g += 1) {
      touched[g + 1] = (this.#groupBase[g] as number) + (matchers[g] as (raw: GroupValue) => number)(given[g]);
    }
    return touched;
  }

  #count(touched: Int32Array, reasonIndex: number): void {
    const exclusions = this.#field('exclusions');
    for (let i = 0; i < touched.length; i += 1) {
      increment(this.#values, (exclusions[touched[i] as number] as number) + reasonIndex, 1);
    }
  }

  #field(name: SectionFieldName): Int32Array {
    const offsets = this.#offsets[name];
    if (!offsets) throw new MetricsError('FEDVAL_ERR_METRICS_TASK_MISMATCH', `the layout has no ${name} entries`);
    return offsets;
  }
}

function increment(values: Float64Array, index: number, amount: number): void {
  values[index] = (values[index] as number) + amount;
}
