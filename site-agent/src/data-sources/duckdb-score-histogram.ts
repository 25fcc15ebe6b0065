// duckdb-score-histogram.ts — counts a binary task's score histogram inside DuckDB (all engine threads), per label, subgroup cells and score bin.
import { AgentError } from '../errors.ts';
import { CategoricalDictionary } from './categorical-dictionary.ts';
import { DEFAULT_MAX_ROWS } from './data-source.ts';
import type { BatchColumn, ColumnKey, ScoreHistogramCells } from './data-source.ts';
import { planColumn } from './duckdb-table-reader.ts';
import type { DuckDbEngine, RelationColumn } from './duckdb-table-reader.ts';

export interface CountRelationOptions {
  readonly engine: DuckDbEngine;
  /** SQL of the relation read, e.g. `read_parquet('x.parquet')`. */
  readonly relation: string;
  /** The categorical columns the rows are grouped by (label and subgroup columns). */
  readonly columns: readonly RelationColumn[];
  /** The score column (a numeric request). */
  readonly score: RelationColumn;
  /** Bins B of the equal-width grid (edges k/B). */
  readonly bins: number;
  readonly fixedPointScale: number;
  readonly maxRows?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ((percent: number) => void) | undefined;
  /** Maps an engine error to a coded AgentError that quotes no cell. */
  readonly describeError: (error: unknown) => AgentError;
}

/** How often the engine's progress is reported while it counts, ms. */
const PROGRESS_INTERVAL_MS = 250;

/** A double as SQL: its shortest round-trip text, cast by the engine's correctly rounded parser. */
function sqlDouble(value: number): string {
  return `'${String(value)}'::DOUBLE`;
}

/**
 * The score's bin on the equal-width grid of B bins as SQL: scoreBin's arithmetic of @fedval/metrics (floor(s·B), then
 * corrected at the edges k/B), every step the same IEEE double operation as in JavaScript. `k` is floor(s·B); `s` is
 * in [0, 1] where the value is used.
 */
function binSql(bins: number): string {
  const B = sqlDouble(bins);
  return `CASE WHEN k >= ${B} THEN ${bins - 1} WHEN s < k / ${B} THEN k - 1 WHEN k + 1 < ${B} AND s >= (k + 1) / ${B} THEN k + 1 ELSE k END`;
}

/**
 * Counts the relation's rows per (categorical columns, score bin) in one query the engine runs on all its threads, and
 * hands back the cells with each column's codes from the same dictionary rules as a streamed read (the engine groups
 * by the cell as read; the dictionary trims and finds missing tokens, so cells that differ only by spaces meet there).
 */
export async function countScoreHistogram(options: CountRelationOptions): Promise<ScoreHistogramCells> {
  const planned = options.columns.map(planColumn);
  const score = planColumn(options.score);
  const S = sqlDouble(options.fixedPointScale);
  const keys = planned.map((p, i) => `${p.expression} AS c${i}`);
  const rows = `(SELECT ${[...keys, `coalesce(${score.expression}, 'NaN'::DOUBLE) AS s`].join(', ')} FROM ${options.relation})`;
  const bin = `CASE WHEN isnan(s) THEN -1 WHEN NOT (s >= 0 AND s <= 1) THEN -2 ELSE (${binSql(options.bins)})::INTEGER END`;
  // Each row's term is rounded before the sum, as the accumulator rounds it (Math.round of a non-negative double is C's
  // round: half away from zero), from the same IEEE products in the same order. The terms are integers in [0, S]
  // (S = 2^20), so every partial sum is an integer below 2^53 (a cell has fewer than 2^33 rows) and the double sum is
  // exact in any order. A cell of missing or invalid scores (b < 0) sums the terms of 0 instead: the caller never reads
  // its sums.
  const sum = (term: string): string => `sum(round(${term}))`;
  const groupKeys = planned.map((_, i) => `c${i}`);
  const sql =
    `SELECT ${[...groupKeys, 'b', 'count(*)::DOUBLE AS n', sum(`v * v * ${S}`), sum(`(v - 1::DOUBLE) * (v - 1::DOUBLE) * ${S}`), sum(`v * ${S}`)].join(', ')} ` +
    `FROM (SELECT *, CASE WHEN b >= 0 THEN s ELSE 0::DOUBLE END AS v FROM (SELECT *, ${bin} AS b FROM (SELECT *, floor(s * ${sqlDouble(options.bins)}) AS k FROM ${rows}))) GROUP BY ${[...groupKeys, 'b'].join(', ')}`;
  const { connection } = options.engine;
  const abort = (): void => connection.interrupt();
  options.signal?.addEventListener('abort', abort, { once: true });
  const progress = options.onProgress
    ? setInterval(() => {
        try {
          const percent = connection.progress.percentage;
          if (percent >= 0) options.onProgress!(Math.min(100, percent));
        } catch {
          // No progress while the engine cannot tell it.
        }
      }, PROGRESS_INTERVAL_MS)
    : null;
  let columns;
  try {
    columns = await (await connection.run(sql)).getColumns();
  } catch (error) {
    options.engine.failed(error);
    options.signal?.throwIfAborted();
    throw options.describeError(error);
  } finally {
    if (progress) clearInterval(progress);
    options.signal?.removeEventListener('abort', abort);
  }
  options.signal?.throwIfAborted();
  const cells = columns[planned.length]!.length;
  const numbers = (values: readonly unknown[]): Float64Array => Float64Array.from(values, (value) => Number(value));
  const weights = numbers(columns[planned.length + 1]!);
  let total = 0;
  for (let i = 0; i < cells; i += 1) total += weights[i] as number;
  const maxRows = options.maxRows ?? DEFAULT_MAX_ROWS;
  if (total > maxRows) throw new AgentError('FEDVAL_ERR_AGENT_DATA_LIMIT', `more than ${maxRows} rows`);
  const batchColumns = new Map<ColumnKey, BatchColumn>();
  planned.forEach((p, c) => {
    const dictionary = new CategoricalDictionary();
    const codes = Int32Array.from(columns[c]!, (value) => {
      if (value === null) return -1;
      if (typeof value === 'number') return dictionary.codeOfNumber(value);
      return dictionary.codeOfText(String(value));
    });
    batchColumns.set(p.key, { kind: 'categorical', codes, levels: dictionary.levels });
  });
  return {
    rowCount: cells,
    columns: batchColumns,
    percent: 100,
    bins: Int32Array.from(columns[planned.length]!, (value) => Number(value)),
    weights,
    brierUnitsIfNegative: numbers(columns[planned.length + 2]!),
    brierUnitsIfPositive: numbers(columns[planned.length + 3]!),
    scoreUnits: numbers(columns[planned.length + 4]!),
    rows: total,
  };
}
