// feature-columns.ts — builds the model's input matrix from typed data columns (no per-row objects), as the manifest's features say.
import type { FeatureExclusion, FeatureMatrix } from './feature-matrix.ts';
import type { FeatureSpec } from './manifest.ts';
import { featureWidth } from './manifest.ts';

/**
 * One data column as a columnar connector gives it. Numeric: NaN = missing, ±Infinity = present but not a number.
 * Categorical: codes into `levels` (trimmed texts), −1 = missing; codes keep their meaning from batch to batch.
 */
export type FeatureColumn =
  | { readonly kind: 'numeric'; readonly values: Float64Array }
  | { readonly kind: 'categorical'; readonly codes: Int32Array; readonly levels: readonly string[] };

/** Per input feature, the column to read: numeric features need a numeric column, one-hot features a categorical one. */
export function featureColumnKinds(inputs: readonly FeatureSpec[]): { column: string; kind: 'numeric' | 'categorical' }[] {
  return inputs.map((f) => ({ column: f.column, kind: f.kind === 'numeric' ? 'numeric' : 'categorical' }));
}

const TRANSFORMS = { log1p: Math.log1p, log: Math.log, sqrt: Math.sqrt } as const;

/**
 * Encodes `rowCount` rows with the same rules as buildFeatureMatrix: per numeric feature, a missing value is
 * excluded or imputed (on the raw scale), then the transform, then `(x − mean) / sd`; a value that is not a number,
 * or a non-finite result, is invalid. Per one-hot feature, a missing cell is excluded, imputed or all zeros, an
 * unknown category excluded or all zeros. A row takes the reason of its first failing feature in manifest order.
 * `columnOf(i)` gives the column of input feature i (see featureColumnKinds). `cache` keeps per-feature code lookups
 * from batch to batch (pass the same object for one read).
 */
export function buildFeatureMatrixFromColumns(
  inputs: readonly FeatureSpec[],
  columnOf: (featureIndex: number) => FeatureColumn,
  rowCount: number,
  cache: FeatureCodeCache = createFeatureCodeCache(),
): FeatureMatrix {
  const width = featureWidth(inputs);
  const values = new Float32Array(rowCount * width);
  // Per row: 0 = included so far, 1 = missing_features, 2 = invalid_features (first failing feature wins).
  const reasons = new Uint8Array(rowCount);
  let offset = 0;
  inputs.forEach((feature, j) => {
    const column = columnOf(j);
    if (feature.kind === 'numeric') {
      if (column.kind !== 'numeric') throw new TypeError(`feature ${feature.column} needs a numeric column`);
      const transform = feature.transform ? TRANSFORMS[feature.transform] : null;
      const mean = feature.standardize?.mean ?? 0;
      const sd = feature.standardize?.sd ?? 1;
      const impute = feature.missing === 'exclude' ? null : feature.missing.impute;
      const source = column.values;
      for (let r = 0; r < rowCount; r += 1) {
        if (reasons[r] !== 0) continue;
        let x = source[r] as number;
        if (Number.isNaN(x)) {
          if (impute === null) {
            reasons[r] = 1;
            continue;
          }
          x = impute;
        } else if (!Number.isFinite(x)) {
          reasons[r] = 2;
          continue;
        }
        if (transform) x = transform(x);
        x = (x - mean) / sd;
        if (!Number.isFinite(x)) {
          reasons[r] = 2;
          continue;
        }
        values[r * width + offset] = x;
      }
      offset += 1;
      return;
    }
    if (column.kind !== 'categorical') throw new TypeError(`feature ${feature.column} needs a categorical column`);
    const lookup = categoryLookup(cache, j, feature, column.levels);
    const imputed = typeof feature.missing === 'object' ? feature.categories.indexOf(feature.missing.impute) : -1;
    const { codes } = column;
    for (let r = 0; r < rowCount; r += 1) {
      if (reasons[r] !== 0) continue;
      const code = codes[r] as number;
      let category: number;
      if (code < 0) {
        if (feature.missing === 'exclude') {
          reasons[r] = 1;
          continue;
        }
        category = imputed;
      } else {
        category = lookup[code] as number;
        if (category === UNKNOWN) {
          if (feature.unknown === 'exclude') {
            reasons[r] = 2;
            continue;
          }
          category = -1;
        }
      }
      if (category >= 0) values[r * width + offset + category] = 1;
    }
    offset += feature.categories.length;
  });
  const rowIndex = new Uint32Array(rowCount);
  const excluded: (FeatureExclusion | null)[] = new Array<FeatureExclusion | null>(rowCount).fill(null);
  let included = 0;
  for (let r = 0; r < rowCount; r += 1) {
    const reason = reasons[r];
    if (reason === 1) excluded[r] = 'missing_features';
    else if (reason === 2) excluded[r] = 'invalid_features';
    else {
      if (included !== r) values.copyWithin(included * width, r * width, (r + 1) * width);
      rowIndex[included] = r;
      included += 1;
    }
  }
  return { width, values: values.subarray(0, included * width), rowIndex: rowIndex.subarray(0, included), excluded };
}

const UNKNOWN = -2;

/** Per one-hot feature: dictionary code → category index (UNKNOWN when not a category), grown as codes appear. */
export interface FeatureCodeCache {
  readonly lookups: Map<number, Int32Array>;
}

export function createFeatureCodeCache(): FeatureCodeCache {
  return { lookups: new Map() };
}

function categoryLookup(cache: FeatureCodeCache, featureIndex: number, feature: Extract<FeatureSpec, { kind: 'one_hot' }>, levels: readonly string[]): Int32Array {
  const known = cache.lookups.get(featureIndex);
  if (known && known.length === levels.length) return known;
  const lookup = new Int32Array(levels.length);
  const index = new Map(feature.categories.map((c, i) => [c, i]));
  for (let code = 0; code < levels.length; code += 1) lookup[code] = index.get(levels[code] as string) ?? UNKNOWN;
  cache.lookups.set(featureIndex, lookup);
  return lookup;
}
