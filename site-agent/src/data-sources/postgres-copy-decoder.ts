// postgres-copy-decoder.ts — decodes PostgreSQL's binary COPY stream straight into typed column batches, no per-row objects.
//
// Format: PostgreSQL documentation, "COPY — Binary Format": an 11-byte signature `PGCOPY\n\377\r\n\0`, an int32 flags
// word (bit 16: OIDs included, refused here), an int32 header-extension length and that many bytes; then per tuple an
// int16 field count and per field an int32 length (−1 = NULL) followed by the value in its type's binary send format;
// a field count of −1 ends the data. All integers are big-endian (network order).
import { AgentError } from '../errors.ts';
import { DECIMAL_PATTERN, MISSING_TOKENS } from './data-source.ts';
import type { BatchColumn, ColumnBatch, ColumnKey } from './data-source.ts';
import { decodeNumeric } from './postgres-numeric.ts';

/**
 * How one COPY field is sent: `int2`/`int4`/`int8`/`float8` (int2send … float8send: big-endian two's complement or
 * IEEE 754), `numeric` (numeric_send), or `text` (UTF-8 bytes: textsend/varcharsend/bpcharsend, or any other type
 * sent as its output function's text).
 */
export type CopyFieldForm = 'int2' | 'int4' | 'int8' | 'float8' | 'numeric' | 'text';

/** One requested column: its batch key, how it is read, and the COPY field it comes from. */
export interface CopyTarget {
  readonly key: ColumnKey;
  readonly kind: 'numeric' | 'categorical';
  readonly field: number;
}

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER_BYTES = SIGNATURE.length + 8;
const FIXED_LENGTH: Readonly<Record<CopyFieldForm, number>> = { int2: 2, int4: 4, int8: 8, float8: 8, numeric: -1, text: -1 };
const TWO_32 = 4_294_967_296;

/** Text cell → number, the rule every connector shares: NaN when missing, ±Infinity when present but not a strict decimal. */
export function numericFromText(text: string): number {
  const trimmed = text.trim();
  if (MISSING_TOKENS.has(trimmed)) return Number.NaN;
  if (DECIMAL_PATTERN.test(trimmed)) return Number(trimmed);
  return trimmed.startsWith('-') ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
}

/** A categorical column's dictionary for the whole read: codes by trimmed text, and by integer value for integer fields. */
interface Dictionary {
  readonly byText: Map<string, number>;
  readonly byInteger: Map<number | string, number>;
  readonly levels: string[];
  /** Codes of the integers 0 … SMALL_INTEGERS − 1 seen so far (−2: not yet seen): labels and codes without a Map lookup. */
  readonly smallIntegers: Int32Array;
  /** Code (−1 for a missing token) of each distinct raw text seen, by length and first and last byte: no UTF-8 decoding. */
  readonly rawTexts: Map<number, { bytes: Uint8Array; code: number }[]>;
  rawCount: number;
}

const SMALL_INTEGERS = 1024;
/** Bytes of a new chunk first joined to the unfinished tuple the previous chunk ended with (doubled until it completes). */
const JOIN_BYTES = 1024;
/** Distinct raw texts remembered per column (beyond, each cell is decoded: a column of free text, not a category). */
const RAW_TEXT_LIMIT = 4096;

interface TargetState {
  readonly target: CopyTarget;
  readonly field: number;
  readonly form: CopyFieldForm;
  readonly dictionary: Dictionary | undefined;
  readonly values: Float64Array | Int32Array;
}

function malformed(what: string): AgentError {
  return new AgentError('FEDVAL_ERR_AGENT_DATA_MALFORMED', `PostgreSQL binary COPY stream: ${what}`);
}

/**
 * Decodes a binary COPY stream pushed in chunks of any size (a tuple may span chunks) into batches of `batchRows`
 * rows. Numeric targets get NaN for NULL and for missing texts, ±Infinity for texts that are not strict decimals,
 * the value otherwise (int8 rounded to the nearest double, as Number() of its text). Categorical targets get codes
 * into a dictionary that only grows: integers by their decimal text, texts trimmed, NULL and missing tokens −1.
 * Throws FEDVAL_ERR_AGENT_DATA_LIMIT on row maxRows + 1, FEDVAL_ERR_AGENT_DATA_MALFORMED on a stream that breaks the
 * format (messages give positions, never cell values).
 */
export class CopyBatchDecoder {
  readonly #forms: readonly CopyFieldForm[];
  readonly #targets: TargetState[];
  readonly #batchRows: number;
  readonly #maxRows: number;
  readonly #starts: Int32Array;
  readonly #lengths: Int32Array;
  /** Per field: its fixed byte length, or −1 (numeric, text). */
  readonly #fixed: Int32Array;
  #pending: Buffer | null = null;
  #headerDone = false;
  #ended = false;
  #row = 0;
  #total = 0;

  constructor(forms: readonly CopyFieldForm[], targets: readonly CopyTarget[], batchRows: number, maxRows: number) {
    this.#forms = forms;
    this.#batchRows = batchRows;
    this.#maxRows = maxRows;
    this.#starts = new Int32Array(forms.length);
    this.#lengths = new Int32Array(forms.length);
    this.#fixed = Int32Array.from(forms, (form) => FIXED_LENGTH[form]);
    this.#targets = targets.map((target) => {
      const form = forms[target.field]!;
      if (target.kind === 'categorical' && (form === 'float8' || form === 'numeric')) throw new Error(`a categorical column needs an integer or text field, not ${form}`);
      return {
        target,
        field: target.field,
        form,
        dictionary: target.kind === 'categorical' ? { byText: new Map(), byInteger: new Map(), levels: [], smallIntegers: new Int32Array(SMALL_INTEGERS).fill(-2), rawTexts: new Map(), rawCount: 0 } : undefined,
        values: target.kind === 'numeric' ? new Float64Array(batchRows) : new Int32Array(batchRows),
      };
    });
  }

  /** Rows decoded so far. */
  get rows(): number {
    return this.#total;
  }

  /**
   * Decodes a chunk, yielding each batch as it is completed (usually none or one per chunk). A batch's arrays are
   * reused by the next batch: take what you need from it before asking for the next (as a DataSource's consumer does).
   */
  *push(chunk: Buffer): Generator<ColumnBatch, void, undefined> {
    if (this.#ended) {
      if (chunk.length > 0) throw malformed('data after the end marker');
      return;
    }
    const pending = this.#pending;
    this.#pending = null;
    let pos = 0;
    if (pending !== null) {
      // The previous chunk ended inside a tuple (or the header): complete it from the first bytes of this chunk, as
      // few as it needs (doubling), rather than copying the whole chunk after it (measured: a third of the reader's
      // time went to that copy and its garbage).
      let take = Math.min(chunk.length, Math.max(JOIN_BYTES, pending.length));
      for (;;) {
        const joined = Buffer.concat([pending, chunk.subarray(0, take)]);
        const stop = yield* this.#decode(joined, 0);
        if (this.#ended) {
          if (take < chunk.length) throw malformed('data after the end marker');
          return;
        }
        if (stop >= pending.length) {
          pos = stop - pending.length;
          break;
        }
        if (take === chunk.length) {
          this.#pending = joined.subarray(stop);
          return;
        }
        take = Math.min(chunk.length, take * 2);
      }
    }
    const stop = yield* this.#decode(chunk, pos);
    if (!this.#ended && stop < chunk.length) this.#pending = chunk.subarray(stop);
  }

  /** Decodes the header (once) and every whole tuple of `bytes` from `pos`; returns where it stopped (an unfinished tuple or the end). */
  *#decode(bytes: Buffer, pos: number): Generator<ColumnBatch, number, undefined> {
    if (!this.#headerDone) {
      if (bytes.length - pos < HEADER_BYTES) return pos;
      if (!bytes.subarray(pos, pos + SIGNATURE.length).equals(SIGNATURE)) throw malformed('no PGCOPY signature');
      const flags = bytes.readUInt32BE(pos + SIGNATURE.length);
      if ((flags & 0xffff0000) !== 0) throw malformed('unsupported header flags');
      const extension = bytes.readUInt32BE(pos + SIGNATURE.length + 4);
      if (bytes.length - pos < HEADER_BYTES + extension) return pos;
      pos += HEADER_BYTES + extension;
      this.#headerDone = true;
    }
    const end = bytes.length;
    const fields = this.#forms.length;
    const starts = this.#starts;
    const lengths = this.#lengths;
    const fixedLengths = this.#fixed;
    for (;;) {
      if (end - pos < 2) break;
      const count = (((bytes[pos]! << 8) | bytes[pos + 1]!) << 16) >> 16;
      if (count === -1) {
        this.#ended = true;
        if (pos + 2 !== end) throw malformed('data after the end marker');
        pos = end;
        break;
      }
      if (count !== fields) throw malformed(`a tuple of ${count} fields, expected ${fields} (row ${this.#total + 1})`);
      // First find the whole tuple (it may continue in the next chunk), then decode it.
      let p = pos + 2;
      let complete = true;
      for (let f = 0; f < fields; f += 1) {
        if (end - p < 4) {
          complete = false;
          break;
        }
        const length = (bytes[p]! << 24) | (bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!;
        p += 4;
        if (length === -1) {
          lengths[f] = -1;
          continue;
        }
        if (length < 0) throw malformed(`a negative field length (row ${this.#total + 1})`);
        const fixed = fixedLengths[f]!;
        if (fixed !== -1 && length !== fixed) throw malformed(`field ${f + 1} of ${length} bytes, expected ${fixed} (row ${this.#total + 1})`);
        if (end - p < length) {
          complete = false;
          break;
        }
        starts[f] = p;
        lengths[f] = length;
        p += length;
      }
      if (!complete) break;
      this.#total += 1;
      if (this.#total > this.#maxRows) throw new AgentError('FEDVAL_ERR_AGENT_DATA_LIMIT', `more than ${this.#maxRows} rows`);
      this.#decodeRow(bytes);
      pos = p;
      if (this.#row === this.#batchRows) yield this.#emit();
    }
    return pos;
  }

  /** The end of the stream: the rows not yet in a batch, or null. Throws if the stream stopped before its end marker. */
  finish(): ColumnBatch | null {
    if (!this.#ended) throw malformed(this.#headerDone ? `truncated after row ${this.#total}` : 'truncated header');
    return this.#row > 0 ? this.#emit() : null;
  }

  #decodeRow(bytes: Buffer): void {
    const r = this.#row;
    const targets = this.#targets;
    for (let t = 0; t < targets.length; t += 1) {
      const state = targets[t]!;
      const field = state.field;
      const start = this.#starts[field]!;
      const length = this.#lengths[field]!;
      if (state.dictionary === undefined) {
        (state.values as Float64Array)[r] = length === -1 ? Number.NaN : numberAt(bytes, start, length, state.form);
      } else {
        (state.values as Int32Array)[r] = length === -1 ? -1 : codeAt(bytes, start, length, state.form, state.dictionary);
      }
    }
    this.#row = r + 1;
  }

  #emit(): ColumnBatch {
    const rowCount = this.#row;
    const columns = new Map<ColumnKey, BatchColumn>();
    for (const state of this.#targets) {
      // The same arrays for every batch (see push): no fresh 8 × batchRows bytes per column and batch for the
      // allocator to churn through (measured: the reader's memory grew with the rows read at 4 M rows/s).
      const values = rowCount === this.#batchRows ? state.values : state.values.subarray(0, rowCount);
      columns.set(
        state.target.key,
        state.dictionary === undefined ? { kind: 'numeric', values: values as Float64Array } : { kind: 'categorical', codes: values as Int32Array, levels: state.dictionary.levels },
      );
    }
    this.#row = 0;
    return { rowCount, columns, percent: null };
  }
}

function int32At(bytes: Buffer, p: number): number {
  return (bytes[p]! << 24) | (bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!;
}

/** The value of a non-NULL field read as a number. */
function numberAt(bytes: Buffer, start: number, length: number, form: CopyFieldForm): number {
  switch (form) {
    case 'int2':
      return (((bytes[start]! << 8) | bytes[start + 1]!) << 16) >> 16;
    case 'int4':
      return int32At(bytes, start);
    case 'int8':
      // hi · 2^32 is exact and the sum is rounded once: the nearest double, as Number() of the decimal text.
      return int32At(bytes, start) * TWO_32 + (int32At(bytes, start + 4) >>> 0);
    case 'float8':
      return bytes.readDoubleBE(start);
    case 'numeric':
      return decodeNumeric(bytes, start, length);
    case 'text':
      return numericFromText(bytes.toString('utf8', start, start + length));
  }
}

/** The dictionary code of a non-NULL field read as a category (−1 when its text is a missing token). */
function codeAt(bytes: Buffer, start: number, length: number, form: CopyFieldForm, dictionary: Dictionary): number {
  if (form === 'text') return textCode(bytes, start, length, dictionary);
  if (form !== 'int8') {
    const value = form === 'int4' ? int32At(bytes, start) : (((bytes[start]! << 8) | bytes[start + 1]!) << 16) >> 16;
    if (value >= 0 && value < SMALL_INTEGERS) {
      let code = dictionary.smallIntegers[value]!;
      if (code === -2) dictionary.smallIntegers[value] = code = integerCode(value, dictionary);
      return code;
    }
    return integerCode(value, dictionary);
  }
  // int8: keyed by value, or by decimal text beyond 2^53, where doubles would merge distinct values.
  const value = int32At(bytes, start) * TWO_32 + (int32At(bytes, start + 4) >>> 0);
  return integerCode(Number.isSafeInteger(value) ? value : bytes.readBigInt64BE(start).toString(), dictionary);
}

/** An integer's code; its level is the decimal text PostgreSQL's int2out/int4out/int8out print. */
function integerCode(key: number | string, dictionary: Dictionary): number {
  let code = dictionary.byInteger.get(key);
  if (code === undefined) {
    code = addLevel(dictionary, String(key));
    dictionary.byInteger.set(key, code);
  }
  return code;
}

/** A text's code: trimmed, missing tokens −1. Raw byte sequences seen before are recognised without decoding them. */
function textCode(bytes: Buffer, start: number, length: number, dictionary: Dictionary): number {
  const key = length === 0 ? 0 : length * 65_536 + bytes[start]! * 256 + bytes[start + length - 1]!;
  const candidates = dictionary.rawTexts.get(key);
  if (candidates !== undefined) {
    for (const candidate of candidates) {
      const known = candidate.bytes;
      let same = true;
      for (let i = 1; i < length - 1; i += 1) {
        if (known[i] !== bytes[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return candidate.code;
    }
  }
  const trimmed = bytes.toString('utf8', start, start + length).trim();
  let code: number;
  if (MISSING_TOKENS.has(trimmed)) code = -1;
  else code = dictionary.byText.get(trimmed) ?? addLevel(dictionary, trimmed);
  if (dictionary.rawCount < RAW_TEXT_LIMIT) {
    dictionary.rawCount += 1;
    const entry = { bytes: Uint8Array.prototype.slice.call(bytes, start, start + length), code };
    if (candidates === undefined) dictionary.rawTexts.set(key, [entry]);
    else candidates.push(entry);
  }
  return code;
}

/** Appends a level (its code is the next index); byText keeps every level's text so the dictionary never repeats one. */
function addLevel(dictionary: Dictionary, text: string): number {
  let code = dictionary.byText.get(text);
  if (code === undefined) {
    code = dictionary.levels.length;
    dictionary.levels.push(text);
    dictionary.byText.set(text, code);
  }
  return code;
}
