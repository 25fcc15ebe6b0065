// scorers.ts — turns data rows into model scores: a score column already in the data, or a model bundle run locally.
import type { DataRow } from './csv-source.ts';
import { parseDecimal } from '@fedval/metrics';

/** Strict decimal parsing, as the command-line options parse numbers (@fedval/metrics). */
export { parseDecimal };

/** Why a row got no score. */
export type ScoreExclusion = 'missing_score' | 'missing_features';

export interface ScoredChunk {
  /** Scores per row (row-major, `width` per row); NaN where the row is excluded or a score is not a number. */
  scores: Float64Array;
  /** Scores per row: 1 for binary and regression, K for multiclass. */
  width: number;
  /** Per row: null, or why the row has no score. */
  excluded: (ScoreExclusion | null)[];
}

export interface RowScorer {
  /** Study columns the scorer reads. */
  readonly requiredColumns: readonly string[];
  /** A short, data-free description for logs and audit (column name, or model name, version and backend). */
  readonly description: string;
  /** A multiclass model's classes in the order of its scores (its manifest's); a multiclass task must list the same. */
  readonly classes?: readonly string[];
  score(rows: readonly DataRow[]): Promise<ScoredChunk>;
}


/**
 * Scores already present in the data: one column (a probability for binary tasks, a prediction for
 * regression) or one probability column per class, in class order (multiclass).
 */
export function scoreColumnScorer(columns: string | readonly string[]): RowScorer {
  const list = typeof columns === 'string' ? [columns] : [...columns];
  const width = list.length;
  return {
    requiredColumns: list,
    description: `score column${width > 1 ? 's' : ''} ${list.join(', ')}`,
    async score(rows) {
      const scores = new Float64Array(rows.length * width);
      const excluded: (ScoreExclusion | null)[] = new Array(rows.length).fill(null);
      rows.forEach((row, i) => {
        for (let c = 0; c < width; c += 1) {
          const cell = row[list[c]!] ?? null;
          if (cell === null) excluded[i] = 'missing_score';
          scores[i * width + c] = cell === null ? Number.NaN : parseDecimal(cell);
        }
      });
      return { scores, width, excluded };
    },
  };
}
