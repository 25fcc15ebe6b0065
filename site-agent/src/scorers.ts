// scorers.ts — turns data rows into model scores: a score column already in the data, or a model bundle run locally.
import type { DataRow } from './csv-source.ts';

/** Why a row got no score. */
export type ScoreExclusion = 'missing_score' | 'missing_features';

export interface ScoredChunk {
  /** One score per row; NaN where the row is excluded or its score is not a number. */
  scores: Float64Array;
  /** Per row: null, or why the row has no score. */
  excluded: (ScoreExclusion | null)[];
}

export interface RowScorer {
  /** Study columns the scorer reads. */
  readonly requiredColumns: readonly string[];
  /** A short, data-free description for logs and audit (column name, or model name, version and backend). */
  readonly description: string;
  score(rows: readonly DataRow[]): Promise<ScoredChunk>;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Parses a decimal number strictly: no hex, no blanks, no 'Infinity'. NaN otherwise. */
export function parseDecimal(text: string): number {
  return DECIMAL.test(text) ? Number(text) : Number.NaN;
}

/** Scores already present in the data, one column of probabilities. */
export function scoreColumnScorer(column: string): RowScorer {
  return {
    requiredColumns: [column],
    description: `score column ${column}`,
    async score(rows) {
      const scores = new Float64Array(rows.length);
      const excluded: (ScoreExclusion | null)[] = new Array(rows.length).fill(null);
      rows.forEach((row, i) => {
        const cell = row[column] ?? null;
        if (cell === null) {
          scores[i] = Number.NaN;
          excluded[i] = 'missing_score';
        } else {
          scores[i] = parseDecimal(cell);
        }
      });
      return { scores, excluded };
    },
  };
}
