// The binary COPY decoder on streams written by hand from PostgreSQL's "COPY — Binary Format" and each type's send
// format: values, NULLs, tuples split across chunks at every byte, reused batch arrays, limits and malformed streams.
import { describe, expect, it } from 'vitest';
import { AgentError } from '../errors.ts';
import { copyColumnBatch } from './data-source.ts';
import type { CategoricalColumn, ColumnBatch, NumericColumn } from './data-source.ts';
import { CopyBatchDecoder } from './postgres-copy-decoder.ts';
import type { CopyFieldForm, CopyTarget } from './postgres-copy-decoder.ts';
import { decodeNumeric } from './postgres-numeric.ts';

const int16 = (v: number) => Buffer.from([(v >> 8) & 0xff, v & 0xff]);
const int32 = (v: number) => Buffer.from([(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
const field = (bytes: Buffer | null) => (bytes === null ? int32(-1) : Buffer.concat([int32(bytes.length), bytes]));
const HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), int32(0), int32(0)]);
const TRAILER = int16(-1);
const tuple = (...fields: (Buffer | null)[]) => Buffer.concat([int16(fields.length), ...fields.map(field)]);

/** numeric_send: ndigits, weight, sign, dscale, then the base-10000 digits. */
function numeric(digits: number[], weight: number, sign: 'pos' | 'neg' | 'nan' | 'pinf' | 'ninf' = 'pos', dscale = 0): Buffer {
  const word = { pos: 0x0000, neg: 0x4000, nan: 0xc000, pinf: 0xd000, ninf: 0xf000 }[sign];
  return Buffer.concat([int16(digits.length), int16(weight), int16(word), int16(dscale), ...digits.map(int16)]);
}
const i4 = (v: number) => int32(v);
const i8 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v);
  return b;
};
const f8 = (v: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v);
  return b;
};
const text = (v: string) => Buffer.from(v, 'utf8');

const FORMS: CopyFieldForm[] = ['int4', 'int8', 'float8', 'numeric', 'text', 'text'];
const TARGETS: CopyTarget[] = [
  { key: 'categorical:label', kind: 'categorical', field: 0 },
  { key: 'numeric:label', kind: 'numeric', field: 0 },
  { key: 'categorical:id', kind: 'categorical', field: 1 },
  { key: 'numeric:score', kind: 'numeric', field: 2 },
  { key: 'numeric:dose', kind: 'numeric', field: 3 },
  { key: 'categorical:site', kind: 'categorical', field: 4 },
  { key: 'numeric:typed', kind: 'numeric', field: 5 },
];
const ROWS = [
  tuple(i4(1), i8(9007199254740993n), f8(0.25), numeric([61, 5000], 0, 'pos', 1), text('Zürich'), text(' 42 ')),
  tuple(i4(0), i8(9007199254740992n), f8(Number.NaN), null, text(' NA '), text('abc')),
  tuple(null, i8(-5n), f8(Number.POSITIVE_INFINITY), numeric([], 0, 'nan'), null, text('-x')),
  tuple(i4(-7), i8(9007199254740993n), f8(-0.5), numeric([1, 2345, 6789, 1234, 5678, 9000], 2, 'neg', 9), text('Zürich'), text('1e3')),
  tuple(i4(1), i8(-5n), null, numeric([100], -8), text('東京'), null),
];
const STREAM = Buffer.concat([HEADER, ...ROWS, TRAILER]);

/** Every batch of the stream, each copied as it is handed over (the decoder reuses its arrays for the next one). */
function decodeAll(chunks: Buffer[], batchRows = 1000, maxRows = 1000, forms = FORMS, targets = TARGETS): ColumnBatch[] {
  const decoder = new CopyBatchDecoder(forms, targets, batchRows, maxRows);
  const batches: ColumnBatch[] = [];
  for (const chunk of chunks) for (const batch of decoder.push(chunk)) batches.push(copyColumnBatch(batch));
  const last = decoder.finish();
  return last ? [...batches, copyColumnBatch(last)] : batches;
}

function numbers(batches: ColumnBatch[], key: `numeric:${string}`): number[] {
  return batches.flatMap((batch) => [...(batch.columns.get(key) as NumericColumn).values]);
}

function categories(batches: ColumnBatch[], key: `categorical:${string}`): (string | null)[] {
  return batches.flatMap((batch) => {
    const column = batch.columns.get(key) as CategoricalColumn;
    return [...column.codes].map((code) => (code === -1 ? null : column.levels[code]!));
  });
}

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(AgentError);
    return (error as AgentError).code;
  }
  throw new Error('expected a coded error');
}

describe('binary COPY decoder', () => {
  it('reads every form into numbers and categories: NULL and missing tokens missing, texts trimmed, non-decimals ±Infinity', () => {
    const batches = decodeAll([STREAM]);
    expect(batches.map((b) => b.rowCount)).toEqual([5]);
    expect(categories(batches, 'categorical:label')).toEqual(['1', '0', null, '-7', '1']);
    expect(numbers(batches, 'numeric:label')).toEqual([1, 0, Number.NaN, -7, 1]);
    // int8 beyond 2^53: distinct levels, each PostgreSQL's decimal text.
    expect(categories(batches, 'categorical:id')).toEqual(['9007199254740993', '9007199254740992', '-5', '9007199254740993', '-5']);
    expect(numbers(batches, 'numeric:score')).toEqual([0.25, Number.NaN, Number.POSITIVE_INFINITY, -0.5, Number.NaN]);
    expect(numbers(batches, 'numeric:dose')).toEqual([61.5, Number.NaN, Number.NaN, -123456789.123456789, 1e-30]);
    expect(categories(batches, 'categorical:site')).toEqual(['Zürich', null, null, 'Zürich', '東京']);
    expect(numbers(batches, 'numeric:typed')).toEqual([42, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1000, Number.NaN]);
  });

  it('gives the same batches whatever the chunking: every split point, and one byte at a time', () => {
    const whole = decodeAll([STREAM], 2);
    for (let cut = 0; cut <= STREAM.length; cut += 1) {
      expect(decodeAll([STREAM.subarray(0, cut), STREAM.subarray(cut)], 2)).toEqual(whole);
    }
    expect(decodeAll([...STREAM].map((byte) => Buffer.from([byte])), 2)).toEqual(whole);
  });

  it('completes a tuple longer than the first bytes it joins from the next chunk (split anywhere), and refuses bytes after the end marker there', () => {
    const long = 'x'.repeat(5000);
    const targets: CopyTarget[] = [{ key: 'categorical:t', kind: 'categorical', field: 0 }];
    const stream = Buffer.concat([HEADER, tuple(text('a')), tuple(text(long)), tuple(text('b')), TRAILER]);
    for (let cut = 0; cut <= stream.length; cut += 97) {
      const batches = decodeAll([stream.subarray(0, cut), stream.subarray(cut)], 1000, 1000, ['text'], targets);
      expect(categories(batches, 'categorical:t')).toEqual(['a', long, 'b']);
    }
    const cut = stream.length - 10;
    expect(codeOf(() => decodeAll([stream.subarray(0, cut), Buffer.concat([stream.subarray(cut), Buffer.alloc(3000)])], 1000, 1000, ['text'], targets))).toBe(
      'FEDVAL_ERR_AGENT_DATA_MALFORMED',
    );
  });

  it('hands over each batch in the same arrays (reused, not reallocated per batch)', () => {
    const decoder = new CopyBatchDecoder(FORMS, TARGETS, 2, 1000);
    const arrays = [...decoder.push(STREAM)].map((batch) => (batch.columns.get('numeric:score') as NumericColumn).values.buffer);
    expect(arrays).toHaveLength(2);
    expect(arrays[1]).toBe(arrays[0]);
  });

  it('cuts batches of batchRows rows whose dictionaries only grow', () => {
    const batches = decodeAll([STREAM], 2);
    expect(batches.map((b) => b.rowCount)).toEqual([2, 2, 1]);
    expect(categories(batches, 'categorical:site')).toEqual(['Zürich', null, null, 'Zürich', '東京']);
    // Fed one tuple at a time: the levels a batch carries when it is handed over, then at the end (same codes).
    const decoder = new CopyBatchDecoder(FORMS, TARGETS, 2, 1000);
    const seen: string[][] = [];
    for (const chunk of [HEADER, ...ROWS, TRAILER]) {
      for (const batch of decoder.push(chunk)) seen.push([...(batch.columns.get('categorical:site') as CategoricalColumn).levels]);
    }
    seen.push([...(decoder.finish()!.columns.get('categorical:site') as CategoricalColumn).levels]);
    expect(seen).toEqual([['Zürich'], ['Zürich'], ['Zürich', '東京']]);
  });

  it('tells apart texts of one length with the same first and last byte, and codes any number of distinct texts', () => {
    const texts = ['a1c', 'a2c', 'a1c', ' a1c', 'a1c ', 'NA', ' NA', 'a2c', 'é', 'è', ''];
    const many = Array.from({ length: 5000 }, (_, i) => `level-${i}`);
    const decoder = new CopyBatchDecoder(['text'], [{ key: 'categorical:t', kind: 'categorical', field: 0 }], 100_000, 100_000);
    expect([...decoder.push(Buffer.concat([HEADER, ...[...texts, ...many, ...texts, ...many].map((t) => tuple(text(t))), TRAILER]))]).toEqual([]);
    const column = decoder.finish()!.columns.get('categorical:t') as CategoricalColumn;
    const decoded = [...column.codes].map((code) => (code === -1 ? null : column.levels[code]!));
    const expected = [...texts, ...many].map((t) => (t.trim() === 'NA' || t.trim() === '' ? null : t.trim()));
    expect(decoded).toEqual([...expected, ...expected]);
    expect(column.levels).toHaveLength(4 + 5000);
  });

  it('refuses row maxRows + 1 with FEDVAL_ERR_AGENT_DATA_LIMIT, and accepts exactly maxRows', () => {
    expect(decodeAll([STREAM], 1000, 5).reduce((n, b) => n + b.rowCount, 0)).toBe(5);
    expect(codeOf(() => decodeAll([STREAM], 1000, 4))).toBe('FEDVAL_ERR_AGENT_DATA_LIMIT');
  });

  it('refuses a truncated or malformed stream with FEDVAL_ERR_AGENT_DATA_MALFORMED', () => {
    expect(codeOf(() => decodeAll([STREAM.subarray(0, STREAM.length - 2)]))).toBe('FEDVAL_ERR_AGENT_DATA_MALFORMED'); // no end marker
    expect(codeOf(() => decodeAll([STREAM.subarray(0, 10)]))).toBe('FEDVAL_ERR_AGENT_DATA_MALFORMED'); // header cut
    expect(codeOf(() => decodeAll([Buffer.concat([text('PGCOPX\n\xff\r\n\0'), STREAM.subarray(11)])]))).toBe('FEDVAL_ERR_AGENT_DATA_MALFORMED');
    expect(codeOf(() => decodeAll([Buffer.concat([HEADER, tuple(i4(1)), TRAILER])]))).toBe('FEDVAL_ERR_AGENT_DATA_MALFORMED'); // 1 field, 6 expected
    const shortInt = tuple(int16(1), i8(1n), f8(1), null, null, null); // an int4 field of 2 bytes
    expect(codeOf(() => decodeAll([Buffer.concat([HEADER, shortInt, TRAILER])]))).toBe('FEDVAL_ERR_AGENT_DATA_MALFORMED');
    expect(codeOf(() => decodeAll([Buffer.concat([STREAM, int16(0)])]))).toBe('FEDVAL_ERR_AGENT_DATA_MALFORMED'); // after the end
    const oids = Buffer.concat([HEADER.subarray(0, 11), int32(1 << 16), int32(0), TRAILER]);
    expect(codeOf(() => decodeAll([oids]))).toBe('FEDVAL_ERR_AGENT_DATA_MALFORMED');
  });
});

describe('binary numeric', () => {
  const at = (bytes: Buffer) => decodeNumeric(bytes, 0, bytes.length);
  it('is the double nearest the exact decimal, as Number() of its text (expected values are JavaScript literals)', () => {
    expect(at(numeric([61, 5000], 0, 'pos', 1))).toBe(61.5);
    expect(at(numeric([1000], -1, 'pos', 1))).toBe(0.1);
    expect(at(numeric([7], 0, 'neg'))).toBe(-7);
    expect(at(numeric([], 0))).toBe(0);
    expect(at(numeric([1, 2345, 6789, 1234, 5678, 9000], 2, 'neg', 9))).toBe(-123456789.123456789);
    expect(at(numeric([1234, 5678, 9012, 3456, 7890, 1234, 5678, 9012], 7))).toBe(12345678901234567890123456789012);
    expect(at(numeric([1234, 5678, 9012, 3456, 7890, 1234, 5678, 9012], -1, 'pos', 32))).toBe(0.12345678901234567890123456789012);
    expect(at(numeric([9007, 1992, 5474, 993], 3))).toBe(9007199254740993); // 2^53 + 1: ties to even
    expect(at(numeric([100], -8))).toBe(1e-30);
    expect(at(numeric([1], 100))).toBe(Number.POSITIVE_INFINITY); // 1e400
    expect(at(numeric([1], -100, 'neg'))).toBe(-0); // -1e-400
    expect(at(numeric([], 0, 'nan'))).toBeNaN();
    expect(at(numeric([], 0, 'pinf'))).toBe(Number.POSITIVE_INFINITY);
    expect(at(numeric([], 0, 'ninf'))).toBe(Number.NEGATIVE_INFINITY);
  });

  it('refuses bytes that are not numeric_send', () => {
    expect(codeOf(() => at(Buffer.alloc(6)))).toBe('FEDVAL_ERR_AGENT_DATA_MALFORMED');
    expect(codeOf(() => at(numeric([10000], 0)))).toBe('FEDVAL_ERR_AGENT_DATA_MALFORMED');
    expect(codeOf(() => at(Buffer.concat([numeric([1, 2], 0), int16(3)])))).toBe('FEDVAL_ERR_AGENT_DATA_MALFORMED');
    expect(codeOf(() => at(Buffer.concat([int16(0), int16(0), int16(0x1234), int16(0)])))).toBe('FEDVAL_ERR_AGENT_DATA_MALFORMED');
  });
});
