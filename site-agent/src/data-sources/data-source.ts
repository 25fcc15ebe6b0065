// data-source.ts — the one contract every site data connector (CSV, Parquet, PostgreSQL) implements: typed column batches.
//
// The contract, shared by all connectors:
//
// * Columns are named by STUDY name. `columns` in the source options maps study name → local name (default: the
//   same); every name a caller uses, in `describe()` and in a ColumnRequest, is a study name.
// * A caller asks for each column it needs and HOW it reads it: `numeric` (score, regression label, numeric model
//   feature, numeric subgroup cuts) or `categorical` (binary/multiclass label, categorical subgroup, one-hot feature).
//   A column may be asked for both ways (two requests with the same name and different kinds).
// * Numeric column: `Float64Array`, one value per row. A finite value is the cell's number; **NaN means missing**
//   (a null, a missing token, or a floating NaN stored in a typed file); **±Infinity means present but not a usable
//   number** (text that is not a strict decimal, or an infinite value). Consumers turn these into their exclusion
//   reasons: NaN → missing_label / missing_score / missing_features / "(missing)" level; ±Infinity → invalid_label /
//   invalid_score / invalid_features (counted as missing_features today) / "(other)" level.
//   Text is a strict decimal: optional sign, digits with an optional fraction, optional exponent (see DECIMAL_PATTERN).
// * Categorical column: `codes: Int32Array` (−1 = missing) into `levels: string[]`, the column's dictionary. The
//   dictionary is **stable for the whole read and only grows**: a code means the same text in every batch, and
//   `levels` of a batch lists every text seen so far (later batches may append). So subgroup levels are discovered in
//   the same pass as the statistics (the consumer accumulates per code and finalises the level order at the end;
//   no second read). Texts are trimmed; integers in typed files are written in decimal digits, other typed values
//   as their canonical text.
// * Missing cells: SQL/Parquet NULL, floating NaN, and text that trims to one of MISSING_TOKENS.
// * Limits: `maxRows` (refuse more rows: FEDVAL_ERR_AGENT_DATA_LIMIT, raised before statistics are finished, so a
//   caller never releases a partial read) and `batchRows` (rows per batch: memory is bounded by batchRows × columns,
//   never by the number of rows in the source). Connector-specific limits live in their own options.
// * Errors are AgentErrors: FEDVAL_ERR_AGENT_DATA_NOT_FOUND (file/server/table not there or not readable),
//   FEDVAL_ERR_AGENT_DATA_COLUMNS (a requested column is absent: the message names every missing study column and
//   its local name), FEDVAL_ERR_AGENT_DATA_MALFORMED (unparseable or truncated input; the message never quotes a
//   cell, only a position), FEDVAL_ERR_AGENT_DATA_LIMIT, FEDVAL_ERR_AGENT_DATA_CHANGED (the input changed while it
//   was read). A connector's own engine messages may quote data: connectors keep only codes and positions.
// * Dataset commitment: `fingerprint`, when given, receives, in order, the bytes that define the data read:
//   file connectors give every byte of the file (so SHA-256 of them is the file's SHA-256); database connectors give
//   the query text, then a canonical encoding of every batch's requested columns. The caller hashes them (SHA-256)
//   and commits to the digest; a connector never computes the commitment itself.
// * Nothing row-level is logged, printed or put in an error message by a connector.

/** Cell texts (after trimming) that mean "missing" in every connector. */
export const MISSING_TOKENS: ReadonlySet<string> = new Set(['', 'NA', 'N/A', 'NaN', 'null', 'NULL']);

/** A strict decimal number: the only text a numeric column reads as a number (others become ±Infinity: invalid). */
export const DECIMAL_PATTERN = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** How a caller reads one column. */
export type ColumnKind = 'numeric' | 'categorical';

/** One requested column, by study name. */
export interface ColumnRequest {
  readonly name: string;
  readonly kind: ColumnKind;
}

/** A numeric column of one batch: NaN = missing, ±Infinity = present but not a number. */
export interface NumericColumn {
  readonly kind: 'numeric';
  readonly values: Float64Array;
}

/** A categorical column of one batch: codes into a dictionary that is stable for the whole read and only grows. */
export interface CategoricalColumn {
  readonly kind: 'categorical';
  /** Per row: index into `levels`, or −1 when the cell is missing. */
  readonly codes: Int32Array;
  /** Every distinct (trimmed) text seen so far in this column, by code. Never counts. */
  readonly levels: readonly string[];
}

export type BatchColumn = NumericColumn | CategoricalColumn;

/** Key of a requested column in a batch: `numeric:NAME` or `categorical:NAME` (see columnKey). */
export type ColumnKey = `${ColumnKind}:${string}`;

export function columnKey(request: ColumnRequest): ColumnKey {
  return `${request.kind}:${request.name}`;
}

/** A batch of rows, column by column. Never leaves the site. Its arrays may be reused by the next batch: copy what you keep. */
export interface ColumnBatch {
  /** Rows in this batch (every column has this many entries); 1 ≤ rowCount ≤ batchRows. */
  readonly rowCount: number;
  /** Each requested column, by columnKey(request). */
  readonly columns: ReadonlyMap<ColumnKey, BatchColumn>;
  /** Share of the input read so far, 0–100, when the connector can tell; otherwise null. */
  readonly percent: number | null;
  /**
   * True on the first batch after the connector started its read again from the beginning (a fast typed path met a
   * cell it could not convert and the read goes on with text parsing): discard everything taken from earlier batches,
   * dictionary codes included. The fingerprint is not fed twice.
   */
  readonly restart?: boolean | undefined;
}

/** A batch whose arrays are its own (for a consumer that keeps batches: a connector may reuse the arrays it hands over). */
export function copyColumnBatch(batch: ColumnBatch): ColumnBatch {
  const columns = new Map<ColumnKey, BatchColumn>();
  for (const [key, column] of batch.columns) {
    columns.set(key, column.kind === 'numeric' ? { kind: 'numeric', values: column.values.slice() } : { kind: 'categorical', codes: column.codes.slice(), levels: [...column.levels] });
  }
  return { ...batch, columns };
}

/** What a connector is asked to read. */
export interface ReadRequest {
  readonly columns: readonly ColumnRequest[];
  /** Receives the bytes that define the data read, in order (see the module comment); the caller hashes them. */
  readonly fingerprint?: ((bytes: Uint8Array) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Options every connector takes. */
export interface DataSourceLimits {
  /** Rows per batch. Default 65,536 (DEFAULT_BATCH_ROWS). */
  readonly batchRows?: number | undefined;
  /** Refuse inputs with more rows than this. Default 50,000,000 (DEFAULT_MAX_ROWS). */
  readonly maxRows?: number | undefined;
  /** Study column name → local column name. Default: the same names. */
  readonly columns?: Readonly<Record<string, string>> | undefined;
}

export const DEFAULT_BATCH_ROWS = 65_536;
export const DEFAULT_MAX_ROWS = 50_000_000;

/**
 * A binary task's score histogram, asked of a connector whose engine can count it itself (in parallel, without handing
 * rows to JavaScript): the rows grouped by their categorical columns (label, subgroups) and the score's grid bin.
 */
export interface ScoreHistogramRequest {
  /** The categorical columns rows are grouped by (label and subgroup columns; all `kind: 'categorical'`). */
  readonly columns: readonly ColumnRequest[];
  /** The score column (read as numbers: NaN missing, ±Infinity invalid, as in a numeric request). */
  readonly score: string;
  /** Bins B of the study's equal-width grid: bin k holds the scores in [k/B, (k+1)/B), the top bin also 1 (scoreBin of @fedval/metrics). */
  readonly bins: number;
  /** The fixed-point scale S of the sums (FIXED_POINT_SCALE of @fedval/metrics). */
  readonly fixedPointScale: number;
  readonly fingerprint?: ((bytes: Uint8Array) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Called with the share of the input read, 0–100, while the engine counts. */
  readonly onProgress?: ((percent: number) => void) | undefined;
}

/**
 * The counted cells: `columns` holds each requested categorical column as codes per cell (the same dictionary rules as
 * a read: trimmed texts, missing tokens −1), and per cell its bin (−1 missing score, −2 invalid score), its rows, and
 * the sums Σ round(s²·S), Σ round((s−1)²·S), Σ round(s·S) over its rows with a score in [0, 1] (0 otherwise).
 */
export interface ScoreHistogramCells extends ColumnBatch {
  readonly bins: Int32Array;
  readonly weights: Float64Array;
  readonly brierUnitsIfNegative: Float64Array;
  readonly brierUnitsIfPositive: Float64Array;
  readonly scoreUnits: Float64Array;
  /** Rows read (Σ weights). */
  readonly rows: number;
}

/** A site's data, readable as typed column batches. Connectors: csv-source.ts, parquet-source.ts, postgres-source.ts. */
export interface DataSource {
  /** Data-free description for logs and audit: connector and file base name or table/query name, never a path or URL with secrets. */
  readonly description: string;
  /** The study column names the source provides (after mapping), reading only its schema/header. */
  columnNames(signal?: AbortSignal): Promise<string[]>;
  /**
   * Reads the requested columns in batches, in source order, once. Fails with FEDVAL_ERR_AGENT_DATA_COLUMNS naming
   * every requested column that is absent, before the first batch. Yields nothing for an input without rows.
   */
  read(request: ReadRequest): AsyncGenerator<ColumnBatch, void, undefined>;
  /**
   * Optional (connectors with a query engine: CSV, Parquet): counts a binary task's score histogram in the engine, with
   * the same column mapping, missing-value rules, limits, coded errors and fingerprint as `read`; the caller's counts
   * from the cells equal those from reading the batches (evaluation.ts; tested by score-histogram-cells.test.ts).
   */
  countScoreHistogram?(request: ScoreHistogramRequest): Promise<ScoreHistogramCells>;
  /** Frees the engine's resources (connections, handles). Safe to call twice. */
  close(): Promise<void>;
}
