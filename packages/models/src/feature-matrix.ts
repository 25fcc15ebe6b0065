// feature-matrix.ts — turns raw data cells into the model's input matrix as the manifest's features say.
import type { FeatureSpec } from './manifest.ts';
import { featureWidth } from './manifest.ts';

/** One data row as read from a CSV file: column name → raw cell text; null or undefined is missing. */
export type RawRow = Readonly<Record<string, string | null | undefined>>;

/** Why a row got no score. */
export const FEATURE_EXCLUSIONS = ['missing_features', 'invalid_features'] as const;
export type FeatureExclusion = (typeof FEATURE_EXCLUSIONS)[number];

/** How raw cells are read. */
export interface FeatureMatrixOptions {
  /** Cell texts, after trimming spaces, that mean "missing" (null and undefined always do). Default `['', 'NA']`. */
  missingTokens: readonly string[];
}

export const DEFAULT_FEATURE_MATRIX_OPTIONS: Readonly<FeatureMatrixOptions> = Object.freeze({
  missingTokens: Object.freeze(['', 'NA']),
});

/** The model inputs of one chunk of rows; only included rows have a row in `values`. */
export interface FeatureMatrix {
  /** Columns per row (see `featureWidth`). */
  width: number;
  /** Row-major values of the included rows: `rowIndex.length × width`. */
  values: Float32Array;
  /** For each row of `values`, the index of the input row it came from. */
  rowIndex: Uint32Array;
  /** Per input row: null when included, otherwise why it was excluded. */
  excluded: (FeatureExclusion | null)[];
  /**
   * The same per input row as a typed array, when the builder has it (buildFeatureMatrixFromColumns): 0 = included,
   * 1 = missing_features, 2 = invalid_features. Reading it costs no per-row object.
   */
  reasons?: Uint8Array | undefined;
}

type Encoder = (cell: string | null, out: Float32Array, offset: number) => FeatureExclusion | null;

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

const TRANSFORMS = {
  log1p: Math.log1p,
  log: Math.log,
  sqrt: Math.sqrt,
} as const;

function numericEncoder(feature: Extract<FeatureSpec, { kind: 'numeric' }>): Encoder {
  const transform = feature.transform ? TRANSFORMS[feature.transform] : null;
  const mean = feature.standardize?.mean ?? 0;
  const sd = feature.standardize?.sd ?? 1;
  const { missing } = feature;
  return (cell, out, offset) => {
    let x: number;
    if (cell === null) {
      if (missing === 'exclude') return 'missing_features';
      x = missing.impute;
    } else if (DECIMAL.test(cell)) {
      x = Number(cell);
    } else {
      return 'invalid_features';
    }
    if (transform) x = transform(x);
    x = (x - mean) / sd;
    if (!Number.isFinite(x)) return 'invalid_features';
    out[offset] = x;
    return null;
  };
}

function oneHotEncoder(feature: Extract<FeatureSpec, { kind: 'one_hot' }>): Encoder {
  const index = new Map(feature.categories.map((c, i) => [c, i]));
  const { missing, unknown } = feature;
  const imputed = typeof missing === 'object' ? (index.get(missing.impute) ?? -1) : -1;
  return (cell, out, offset) => {
    let i: number;
    if (cell === null) {
      if (missing === 'exclude') return 'missing_features';
      i = imputed;
    } else {
      const found = index.get(cell);
      if (found === undefined && unknown === 'exclude') return 'invalid_features';
      i = found ?? -1;
    }
    if (i >= 0) out[offset + i] = 1;
    return null;
  };
}

/**
 * Encodes `rows` into model inputs. Per numeric feature: a missing cell is excluded or imputed
 * (the imputed value is on the raw scale), then the transform, then `(x − mean) / sd`; a cell that
 * is not a decimal number, or a non-finite result, is invalid. Per one-hot feature: one column per
 * category, a missing cell excluded, imputed or all zeros, an unknown category excluded or all zeros.
 * A row is excluded with the reason of its first failing feature in manifest order.
 */
export function buildFeatureMatrix(
  inputs: readonly FeatureSpec[],
  rows: readonly RawRow[],
  options: Partial<FeatureMatrixOptions> = {},
): FeatureMatrix {
  const missingTokens = new Set(options.missingTokens ?? DEFAULT_FEATURE_MATRIX_OPTIONS.missingTokens);
  const width = featureWidth(inputs);
  const encoders = inputs.map((f) => (f.kind === 'numeric' ? numericEncoder(f) : oneHotEncoder(f)));
  const offsets: number[] = [];
  let next = 0;
  for (const f of inputs) {
    offsets.push(next);
    next += f.kind === 'numeric' ? 1 : f.categories.length;
  }

  const values = new Float32Array(rows.length * width);
  const rowIndex = new Uint32Array(rows.length);
  const excluded: (FeatureExclusion | null)[] = new Array<FeatureExclusion | null>(rows.length).fill(null);
  const scratch = new Float32Array(width);
  let included = 0;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r] as RawRow;
    scratch.fill(0);
    let reason: FeatureExclusion | null = null;
    for (let j = 0; j < encoders.length && reason === null; j++) {
      const raw = row[inputs[j]!.column];
      const cell = raw === null || raw === undefined ? null : raw.trim();
      reason = (encoders[j] as Encoder)(cell === null || missingTokens.has(cell) ? null : cell, scratch, offsets[j] as number);
    }
    if (reason !== null) {
      excluded[r] = reason;
      continue;
    }
    values.set(scratch, included * width);
    rowIndex[included] = r;
    included++;
  }
  return { width, values: values.subarray(0, included * width), rowIndex: rowIndex.subarray(0, included), excluded };
}
