// scorers.ts — turns column batches into model scores: score columns already in the data, or a model bundle run locally.
import { EXCLUSION_REASONS, parseDecimal } from '@fedval/metrics';
import { columnKey } from './data-sources/data-source.ts';
import type { ColumnBatch, ColumnRequest, NumericColumn } from './data-sources/data-source.ts';

/** Strict decimal parsing, as the command-line options parse numbers (@fedval/metrics). */
export { parseDecimal };

/** `excluded` entry for a reason: 1 + its index in EXCLUSION_REASONS (0 = not excluded). */
export const EXCLUDED_MISSING_FEATURES = 1 + EXCLUSION_REASONS.indexOf('missing_features');

export interface ScoredChunk {
  /** Scores per row (row-major, `width` per row); NaN where the row has no score (missing). */
  scores: Float64Array;
  /** Scores per row: 1 for binary and regression, K for multiclass. */
  width: number;
  /** Per row: 0, or 1 + the EXCLUSION_REASONS index of why the row was left out before scoring; null when none is. */
  excluded: Uint8Array | null;
}

export interface RowScorer {
  /** Columns the scorer reads, and how. */
  readonly requests: readonly ColumnRequest[];
  /** A short, data-free description for logs and audit (column name, or model name, version and backend). */
  readonly description: string;
  /** A multiclass model's classes in the order of its scores (its manifest's); a multiclass task must list the same. */
  readonly classes?: readonly string[];
  /** A scorer that takes a single column's values as its scores names it: an engine may then count the histogram itself. */
  readonly scoreColumn?: string | undefined;
  /**
   * Batches that may be scored at once (default 1). Above 1, `score` takes everything it needs from the batch before it
   * returns its promise, so the caller may read (and the connector reuse the arrays of) the next batches meanwhile.
   */
  readonly concurrency?: number | undefined;
  /** Scores one batch. With `concurrency` 1 the result is used before the next batch is read. */
  score(batch: ColumnBatch): Promise<ScoredChunk>;
  /** Frees what the scorer holds (a model's worker threads); call it once the reads are done, on every path. */
  close?(): Promise<void>;
}

/** Runs `read` with the scorer, then closes it (a model's worker threads end) however `read` ends. */
export async function withScorer<T>(scorer: RowScorer, read: (scorer: RowScorer) => Promise<T>): Promise<T> {
  try {
    return await read(scorer);
  } finally {
    await scorer.close?.();
  }
}

/**
 * Scores already present in the data: one column (a probability for binary tasks, a prediction for
 * regression) or one probability column per class, in class order (multiclass). A missing cell is a missing score;
 * a cell that is not a number an invalid one.
 */
export function scoreColumnScorer(columns: string | readonly string[]): RowScorer {
  const list = typeof columns === 'string' ? [columns] : [...columns];
  const width = list.length;
  const requests = list.map((name): ColumnRequest => ({ name, kind: 'numeric' }));
  let interleaved = new Float64Array(0);
  return {
    requests,
    description: `score column${width > 1 ? 's' : ''} ${list.join(', ')}`,
    ...(width === 1 ? { scoreColumn: list[0] } : {}),
    async score(batch) {
      const values = requests.map((request) => (batch.columns.get(columnKey(request)) as NumericColumn).values);
      if (width === 1) return { scores: values[0]!, width, excluded: null };
      if (interleaved.length < batch.rowCount * width) interleaved = new Float64Array(batch.rowCount * width);
      const scores = interleaved.subarray(0, batch.rowCount * width);
      values.forEach((column, c) => {
        for (let i = 0; i < batch.rowCount; i += 1) scores[i * width + c] = column[i] as number;
      });
      return { scores, width, excluded: null };
    },
  };
}
