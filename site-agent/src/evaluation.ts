// evaluation.ts — the local evaluation pipeline: read column batches, score them, reduce to the additive statistics vector.
import { createAccumulator, FIXED_POINT_SCALE, groupLevelIndex, groupLevelNames, scoreGridOf } from '@fedval/metrics';
import type { GroupSpec, MetricSpec, StatisticsAccumulator, StatisticsLayout } from '@fedval/metrics';
import { columnKey } from './data-sources/data-source.ts';
import type { CategoricalColumn, ColumnBatch, ColumnRequest, DataSource, NumericColumn } from './data-sources/data-source.ts';
import { AgentError } from './errors.ts';
import { finalizeOpenGroups, isOpenGroup, MAX_GROUP_LEVELS, provisionalLayout, requireFewLevels } from './open-group-levels.ts';
import type { EvaluationGroup } from './open-group-levels.ts';
import type { RowScorer, ScoredChunk } from './scorers.ts';

/** How the site's label column maps to the positive class. */
export interface LabelRule {
  column: string;
  /** Cell value of the positive class. */
  positive: string;
  /** When set, only this value is negative; other values are excluded as invalid_label. */
  negative?: string | undefined;
  /** Survival: the follow-up time column (numeric); `column` is the event column (positive = event). */
  time?: string | undefined;
}

/** A metric spec whose categorical subgroup columns may leave their levels to be found in the data (eval-local). */
export type EvaluationSpec = Omit<MetricSpec, 'groups'> & { readonly groups: readonly EvaluationGroup[] };

export interface EvaluationOptions {
  source: DataSource;
  spec: EvaluationSpec;
  label: LabelRule;
  scorer: RowScorer;
  /** Receives the bytes that define the data read (see DataSource); hash them for the dataset commitment. */
  fingerprint?: ((bytes: Uint8Array) => void) | undefined;
  /** Called with the share of input read, 0–100. */
  onProgress?: (percent: number) => void;
  signal?: AbortSignal;
}

export interface EvaluationOutcome {
  layout: StatisticsLayout;
  /** The additive statistics vector: the only thing derived from the data that may leave the site (protected). */
  vector: Float64Array;
  /** Patients included in the statistics. Kept at the site: used for the minimum-cohort policy only. */
  included: number;
}

/** Columns a task needs from the data: label, score inputs and subgroup columns, each with how it is read. */
export function columnRequests(spec: EvaluationSpec, label: LabelRule, scorer: RowScorer): ColumnRequest[] {
  const requests: ColumnRequest[] = [
    { name: label.column, kind: spec.task === 'regression' ? 'numeric' : 'categorical' },
    ...(spec.task === 'survival' && label.time !== undefined ? [{ name: label.time, kind: 'numeric' as const }] : []),
    ...scorer.requests,
    ...spec.groups.map((group): ColumnRequest => ({ name: group.column, kind: group.cuts ? 'numeric' : 'categorical' })),
  ];
  const seen = new Set<string>();
  return requests.filter((request) => {
    const key = columnKey(request);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Runs one evaluation over a data source and returns the statistics vector; the source is read once. */
export async function evaluateDataset(options: EvaluationOptions): Promise<EvaluationOutcome> {
  const { spec, label, scorer, source } = options;
  const { groups, ...rest } = spec;
  const layout = provisionalLayout(rest, groups);
  const width = spec.task === 'multiclass' ? spec.classes!.length : 1;
  if (spec.task === 'multiclass' && scorer.classes !== undefined && JSON.stringify(scorer.classes) !== JSON.stringify(spec.classes)) {
    throw new AgentError('FEDVAL_ERR_AGENT_INVALID_TASK', `the task's classes ${JSON.stringify(spec.classes)} are not the model's ${JSON.stringify(scorer.classes)}, in order`);
  }
  if (spec.task === 'survival' && label.time === undefined) {
    throw new AgentError('FEDVAL_ERR_AGENT_INVALID_TASK', 'a survival task needs a follow-up time column (data.label.time, --time)');
  }
  const counted = await countInEngine(options, layout);
  if (counted) return counted;
  let state = startRead(layout, groups, label, spec);
  // A scorer that copies what it needs (a model on worker threads) gets up to `concurrency` batches at once: the
  // workers score while this thread reads the next rows. Batches are added in the order they were read.
  const depth = Math.max(1, scorer.concurrency ?? 1);
  const inFlight: { scoring: Promise<ScoredChunk>; rows: BatchRows }[] = [];
  const addNext = async (): Promise<void> => {
    const { scoring, rows } = inFlight.shift()!;
    addRows(state, spec, width, rows, await scoring);
    if (rows.percent !== null) options.onProgress?.(rows.percent);
  };
  for await (const batch of source.read({ columns: columnRequests(spec, label, scorer), fingerprint: options.fingerprint, signal: options.signal })) {
    options.signal?.throwIfAborted();
    if (batch.restart) {
      inFlight.length = 0; // their scores belong to the abandoned read (a rejection was already marked handled)
      state = startRead(layout, groups, label, spec);
    }
    if (batch.rowCount === 0) continue;
    const scoring = scorer.score(batch);
    scoring.catch(() => undefined); // awaited in order below; a batch dropped by an error or a restart must not go unhandled
    // With one batch at a time it is added before the next is read, so its rows need no copy.
    inFlight.push({ scoring, rows: batchRows(state, spec, label, batch, depth > 1) });
    if (inFlight.length >= depth) await addNext();
  }
  while (inFlight.length > 0) await addNext();
  options.onProgress?.(100);
  return finishRead(spec, layout, state);
}

/** What a batch contributes besides its scores: labels, subgroup levels, times (copies when the batch is kept). */
interface BatchRows {
  count: number;
  labels: Int32Array | Float64Array;
  levels: Int32Array[];
  times: Float64Array | null;
  percent: number | null;
}

/** The rows' labels, levels and times, as the accumulator takes them; `keep` copies them out of the reused buffers. */
function batchRows(state: ReadState, spec: EvaluationSpec, label: LabelRule, batch: ColumnBatch, keep: boolean): BatchRows {
  const count = batch.rowCount;
  const levels = state.levelsOf(batch);
  const labelColumn = batch.columns.get(columnKey({ name: label.column, kind: spec.task === 'regression' ? 'numeric' : 'categorical' }))!;
  const labels = spec.task === 'regression' ? (labelColumn as NumericColumn).values.subarray(0, count) : state.labelsOf(labelColumn as CategoricalColumn, count);
  const times = spec.task === 'survival' ? (batch.columns.get(columnKey({ name: label.time!, kind: 'numeric' })) as NumericColumn).values.subarray(0, count) : null;
  if (!keep) return { count, labels, levels, times, percent: batch.percent };
  return { count, labels: labels.slice(), levels: levels.map((level) => level.slice()), times: times?.slice() ?? null, percent: batch.percent };
}

/** Adds one scored batch to the read's accumulator. */
function addRows(state: ReadState, spec: EvaluationSpec, width: number, rows: BatchRows, scored: ScoredChunk): void {
  if (scored.width !== width) {
    throw new AgentError('FEDVAL_ERR_AGENT_INVALID_TASK', `a ${spec.task} task needs ${width} score column(s), the scorer gives ${scored.width}`);
  }
  const { count, levels } = rows;
  const excluded = scored.excluded ?? undefined;
  if (spec.task === 'regression') {
    state.accumulator.addRegressionRows({ count, scores: scored.scores, labels: rows.labels as Float64Array, excluded, levels });
    return;
  }
  const labels = rows.labels as Int32Array;
  if (spec.task === 'binary') state.accumulator.addBinaryRows({ count, scores: scored.scores, labels, excluded, levels });
  else if (spec.task === 'survival') state.accumulator.addSurvivalRows({ count, scores: scored.scores, labels, times: rows.times!, excluded, levels });
  else state.accumulator.addMulticlassRows({ count, scores: scored.scores, labels, excluded, levels });
}

/**
 * A binary task scored by a column of the data, on an equal-width grid, with categorical subgroups only, on a connector
 * whose engine counts:
 * the engine groups the rows by label, subgroup cells and score bin on all its threads, and the cells are counted
 * here with the same label and level rules as batches (the same vector, entry by entry). Otherwise null: read batches.
 */
async function countInEngine(options: EvaluationOptions, layout: StatisticsLayout): Promise<EvaluationOutcome | null> {
  const { spec, label, scorer, source } = options;
  const { groups } = spec;
  if (spec.task !== 'binary' || scorer.scoreColumn === undefined || source.countScoreHistogram === undefined) return null;
  if (groups.some((group) => group.cuts)) return null;
  const columns = columnRequests(spec, label, { ...scorer, requests: [] });
  // A fitted grid's bin is a search over its edges: measured slower in SQL (an ASOF join, or a binary search over a
  // list) than reading batches, so fitted grids read batches.
  const grid = scoreGridOf(layout.spec);
  if (grid.kind !== 'equal_width') return null;
  const cells = await source.countScoreHistogram({
    columns,
    score: scorer.scoreColumn,
    bins: grid.bins,
    fixedPointScale: FIXED_POINT_SCALE,
    fingerprint: options.fingerprint,
    signal: options.signal,
    onProgress: options.onProgress,
  });
  options.signal?.throwIfAborted();
  const state = startRead(layout, groups, label, spec);
  const labelColumn = cells.columns.get(columnKey({ name: label.column, kind: 'categorical' })) as CategoricalColumn;
  state.accumulator.addBinaryCells({ ...cells, count: cells.rowCount, labels: state.labelsOf(labelColumn, cells.rowCount), levels: state.levelsOf(cells) });
  options.onProgress?.(100);
  return finishRead(spec, layout, state);
}

/** The statistics of a finished read in the final layout (open subgroup levels in natural order). */
function finishRead(spec: EvaluationSpec, layout: StatisticsLayout, state: ReadState): EvaluationOutcome {
  const { groups, ...rest } = spec;
  const dictionaries = groups.map((group, g) => (isOpenGroup(group) ? state.dictionaryOf(g) : null));
  const final = finalizeOpenGroups(rest, groups, dictionaries, layout, state.accumulator.vector());
  return { layout: final.layout, vector: final.vector, included: includedCount(final.layout, final.vector) };
}

interface ReadState {
  readonly accumulator: StatisticsAccumulator;
  /** Per group column, per row of the batch: the level index in the (provisional) layout. */
  levelsOf(batch: ColumnBatch): Int32Array[];
  /** Label per row: binary 1/0, class index, −1 missing, −2 invalid. */
  labelsOf(column: CategoricalColumn, count: number): Int32Array;
  /** The texts of an open group column's dictionary, by code. */
  dictionaryOf(group: number): readonly string[];
}

/** Per-read state: the accumulator and the code → level / code → label tables, grown as dictionaries grow. */
function startRead(layout: StatisticsLayout, groups: readonly EvaluationGroup[], label: LabelRule, spec: EvaluationSpec): ReadState {
  const accumulator = createAccumulator(layout);
  const dictionaries: (readonly string[])[] = groups.map(() => []);
  const tables = groups.map(() => new Int32Array(0));
  let labelTable = new Int32Array(0);
  const classIndex = new Map((spec.classes ?? []).map((name, i) => [name, i]));
  const levelBuffers = groups.map(() => new Int32Array(0));
  let labelBuffer = new Int32Array(0);
  return {
    accumulator,
    levelsOf(batch) {
      return groups.map((group, g) => {
        if (levelBuffers[g]!.length < batch.rowCount) levelBuffers[g] = new Int32Array(batch.rowCount);
        const out = levelBuffers[g]!.subarray(0, batch.rowCount);
        const names = layout.groupLevels[g]!;
        const missing = names.length - 1;
        if (group.cuts) {
          const values = (batch.columns.get(columnKey({ name: group.column, kind: 'numeric' })) as NumericColumn).values;
          for (let i = 0; i < batch.rowCount; i += 1) {
            const v = values[i] as number;
            out[i] = Number.isNaN(v) ? missing : groupLevelIndex(group as GroupSpec, v);
          }
          return out;
        }
        const column = batch.columns.get(columnKey({ name: group.column, kind: 'categorical' })) as CategoricalColumn;
        if (tables[g]!.length !== column.levels.length) {
          if (isOpenGroup(group)) requireFewLevels(group.column, column.levels);
          // Open column: the level is the code itself (provisional layout). Declared levels: matched exactly, else (other).
          const declared = isOpenGroup(group) ? null : groupLevelNames(group as GroupSpec);
          tables[g] = Int32Array.from(column.levels, (text, code) => (declared ? groupLevelIndex(group as GroupSpec, text) : code));
          dictionaries[g] = column.levels;
        }
        const table = tables[g]!;
        const { codes } = column;
        for (let i = 0; i < batch.rowCount; i += 1) {
          const code = codes[i] as number;
          out[i] = code < 0 ? missing : (table[code] as number);
        }
        return out;
      });
    },
    labelsOf(column, count) {
      if (labelTable.length !== column.levels.length) {
        labelTable = Int32Array.from(column.levels, (text) => {
          if (spec.task === 'multiclass') return classIndex.get(text) ?? -2;
          if (text === label.positive) return 1;
          return label.negative === undefined || text === label.negative ? 0 : -2;
        });
      }
      if (labelBuffer.length < count) labelBuffer = new Int32Array(count);
      const out = labelBuffer.subarray(0, count);
      const { codes } = column;
      for (let i = 0; i < count; i += 1) {
        const code = codes[i] as number;
        out[i] = code < 0 ? -1 : (labelTable[code] as number);
      }
      return out;
    },
    dictionaryOf(g) {
      return dictionaries[g]!.slice(0, MAX_GROUP_LEVELS + 1);
    },
  };
}

/** Patients counted in the overall statistics (binary: both histograms; multiclass: the confusion matrix; regression: count; survival: the counts). */
function includedCount(layout: StatisticsLayout, vector: Float64Array): number {
  const overall = layout.sections[0]!.fields;
  const task = layout.spec.task;
  const slices = task === 'binary' ? [overall.positive_histogram, overall.negative_histogram] : task === 'multiclass' ? [overall.confusion] : task === 'survival' ? [overall.survival_counts] : [overall.count];
  let total = 0;
  for (const slice of slices) if (slice) for (let i = 0; i < slice.length; i += 1) total += vector[slice.offset + i] as number;
  return total;
}

/** Binary task: maps a label cell to 0/1, or to the reason the row is excluded. */
export function labelOf(cell: string | null, rule: LabelRule): 0 | 1 | 'missing_label' | 'invalid_label' {
  if (cell === null) return 'missing_label';
  if (cell === rule.positive) return 1;
  if (rule.negative === undefined || cell === rule.negative) return 0;
  return 'invalid_label';
}
