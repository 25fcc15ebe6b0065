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
  // A cache made with reuseBuffers keeps the buffers from batch to batch (fresh memory each batch costs page faults and
  // grows the process between collections); otherwise every matrix has its own.
  if (!cache.reuseBuffers || cache.buffers === undefined || cache.buffers.reasons.length < rowCount || cache.buffers.values.length < rowCount * width) {
    cache.buffers = { values: new Float32Array(rowCount * width), reasons: new Uint8Array(rowCount), rowIndex: new Uint32Array(rowCount) };
  }
  const values = cache.buffers.values.subarray(0, rowCount * width).fill(0);
  // Per row: 0 = included so far, 1 = missing_features, 2 = invalid_features (first failing feature wins).
  const reasons = cache.buffers.reasons.subarray(0, rowCount).fill(0);
  let offset = 0;
  for (let j = 0; j < inputs.length; j += 1) {
    const feature = inputs[j]!;
    const column = columnOf(j);
    if (feature.kind === 'numeric') {
      if (column.kind !== 'numeric') throw new TypeError(`feature ${feature.column} needs a numeric column`);
      encodeNumeric(feature, column.values, rowCount, values, width, offset, reasons);
      offset += 1;
      continue;
    }
    if (column.kind !== 'categorical') throw new TypeError(`feature ${feature.column} needs a categorical column`);
    encodeOneHot(feature, categoryLookup(cache, j, feature, column.levels), column.codes, rowCount, values, width, offset, reasons);
    offset += feature.categories.length;
  }
  const rowIndex = cache.buffers.rowIndex.subarray(0, rowCount);
  let included = 0;
  for (let r = 0; r < rowCount; r += 1) {
    if (reasons[r] !== 0) continue;
    if (included !== r) values.copyWithin(included * width, r * width, (r + 1) * width);
    rowIndex[included] = r;
    included += 1;
  }
  let excluded: (FeatureExclusion | null)[] | undefined;
  return {
    width,
    values: values.subarray(0, included * width),
    rowIndex: rowIndex.subarray(0, included),
    reasons,
    // The per-row array is made only when someone reads it (the columnar scorer reads `reasons`).
    get excluded() {
      excluded ??= Array.from(reasons, (reason) => (reason === 0 ? null : reason === 1 ? 'missing_features' : 'invalid_features'));
      return excluded;
    },
    set excluded(value) {
      excluded = value;
    },
  };
}

/**
 * One numeric feature into column `offset` of `values`: missing → excluded (reason 1) or imputed on the raw scale, then
 * the transform, then `(x − mean) / sd`; not a number or a non-finite result → invalid (reason 2). Rows already
 * excluded by an earlier feature are skipped. A loop of its own per transform, so the hot loop has no indirect call.
 */
function encodeNumeric(
  feature: Extract<FeatureSpec, { kind: 'numeric' }>,
  source: Float64Array,
  rowCount: number,
  values: Float32Array,
  width: number,
  offset: number,
  reasons: Uint8Array,
): void {
  const mean = feature.standardize?.mean ?? 0;
  const sd = feature.standardize?.sd ?? 1;
  const impute = feature.missing === 'exclude' ? Number.NaN : feature.missing.impute;
  const imputes = feature.missing !== 'exclude';
  const transform = feature.transform ?? null;
  for (let r = 0, at = offset; r < rowCount; r += 1, at += width) {
    if (reasons[r] !== 0) continue;
    let x = source[r] as number;
    if (x !== x) {
      if (!imputes) {
        reasons[r] = 1;
        continue;
      }
      x = impute;
    } else if (x === Infinity || x === -Infinity) {
      reasons[r] = 2;
      continue;
    }
    if (transform !== null) x = transform === 'log1p' ? Math.log1p(x) : transform === 'log' ? Math.log(x) : Math.sqrt(x);
    x = (x - mean) / sd;
    if (x - x !== 0) {
      // NaN or ±Infinity after the transform (log of a negative number, log 0).
      reasons[r] = 2;
      continue;
    }
    values[at] = x;
  }
}

/** One one-hot feature into columns `offset…` of `values` (see buildFeatureMatrixFromColumns for the rules). */
function encodeOneHot(
  feature: Extract<FeatureSpec, { kind: 'one_hot' }>,
  lookup: Int32Array,
  codes: Int32Array,
  rowCount: number,
  values: Float32Array,
  width: number,
  offset: number,
  reasons: Uint8Array,
): void {
  const imputed = typeof feature.missing === 'object' ? feature.categories.indexOf(feature.missing.impute) : -1;
  const excludeMissing = feature.missing === 'exclude';
  const excludeUnknown = feature.unknown === 'exclude';
  for (let r = 0, at = offset; r < rowCount; r += 1, at += width) {
    if (reasons[r] !== 0) continue;
    const code = codes[r] as number;
    let category: number;
    if (code < 0) {
      if (excludeMissing) {
        reasons[r] = 1;
        continue;
      }
      category = imputed;
    } else {
      category = lookup[code] as number;
      if (category === UNKNOWN) {
        if (excludeUnknown) {
          reasons[r] = 2;
          continue;
        }
        category = -1;
      }
    }
    if (category >= 0) values[at + category] = 1;
  }
}

const UNKNOWN = -2;

/**
 * Per one-hot feature: dictionary code → category index (UNKNOWN when not a category), grown as codes appear; and the
 * buffers the last matrix was built in.
 */
export interface FeatureCodeCache {
  readonly lookups: Map<number, Int32Array>;
  /** When true, the next call with this cache builds its matrix in the same buffers: a matrix is valid until then. */
  readonly reuseBuffers: boolean;
  buffers?: { values: Float32Array; reasons: Uint8Array; rowIndex: Uint32Array } | undefined;
}

/** A cache for one read; `reuseBuffers` (default false) for a caller that is done with each matrix before the next. */
export function createFeatureCodeCache(options: { reuseBuffers?: boolean } = {}): FeatureCodeCache {
  return { lookups: new Map(), reuseBuffers: options.reuseBuffers ?? false };
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
