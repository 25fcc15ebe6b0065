import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentError } from '../errors.ts';
import { labelOf } from '../evaluation.ts';
import { parseGroupArgument, sortLevels } from '../group-levels.ts';
import { parseDecimal } from '../scorers.ts';
import { createCsvSource } from './csv-source.ts';
import type { CsvSourceOptions } from './csv-source.ts';
import type { ColumnBatch, ColumnRequest } from './data-source.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-csv-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Every batch's columns, copied out (batch arrays are reused), as plain values: numbers, or texts with null for missing. */
async function readAll(options: CsvSourceOptions, columns: readonly ColumnRequest[]): Promise<{ batches: number[]; restarted: boolean; values: Record<string, (number | string | null)[]> }> {
  const values: Record<string, (number | string | null)[]> = Object.fromEntries(columns.map((c) => [`${c.kind}:${c.name}`, []]));
  const batches: number[] = [];
  let restarted = false;
  for await (const batch of createCsvSource(options).read({ columns })) {
    if (batch.restart) {
      restarted = true;
      batches.length = 0;
      for (const key of Object.keys(values)) values[key] = [];
    }
    if (batch.rowCount > 0) batches.push(batch.rowCount);
    collect(batch, values);
  }
  return { batches, restarted, values };
}

function collect(batch: ColumnBatch, into: Record<string, (number | string | null)[]>): void {
  for (const [key, column] of batch.columns) {
    if (column.kind === 'numeric') into[key]!.push(...column.values);
    else into[key]!.push(...Array.from(column.codes, (code) => (code < 0 ? null : column.levels[code]!)));
  }
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(AgentError);
    return (error as AgentError).code;
  }
  throw new Error('expected an AgentError');
}

const num = (name: string): ColumnRequest => ({ name, kind: 'numeric' });
const cat = (name: string): ColumnRequest => ({ name, kind: 'categorical' });

describe('CSV source', () => {
  it('reads columns in batches: missing cells NaN or null, non-numbers +Infinity, study names mapped, quotes and a BOM handled', async () => {
    const path = file('a.csv', '\uFEFFAge,Outcome,score,note\n50,1,0.25, a \n,NA,"0.5","x, ""y"""\n70,0,,NULL\n61,0,abc,a\n');
    const { batches, values } = await readAll({ path, columns: { age: 'Age' }, batchRows: 2 }, [num('age'), cat('Outcome'), num('score'), cat('note')]);
    expect(batches).toEqual([2, 2]);
    expect(values['numeric:age']).toEqual([50, Number.NaN, 70, 61]);
    expect(values['categorical:Outcome']).toEqual(['1', null, '0', '0']);
    expect(values['numeric:score']).toEqual([0.25, 0.5, Number.NaN, Number.POSITIVE_INFINITY]);
    expect(values['categorical:note']).toEqual(['a', 'x, "y"', null, 'a']);
    expect(await createCsvSource({ path, columns: { age: 'Age' } }).columnNames()).toEqual(['age', 'Outcome', 'score', 'note']);
  });

  it('keeps dictionary codes stable across batches and reads a column both as numbers and as text', async () => {
    const path = file('codes.csv', 'g\nb\na\nb\nc\n');
    const seen: { codes: number[]; levels: string[] }[] = [];
    for await (const batch of createCsvSource({ path, batchRows: 2 }).read({ columns: [cat('g'), num('g')] })) {
      const column = batch.columns.get('categorical:g')!;
      if (column.kind === 'categorical') seen.push({ codes: [...column.codes], levels: [...column.levels] });
      expect(batch.columns.get('numeric:g')!.kind).toBe('numeric');
    }
    expect(seen).toEqual([
      { codes: [0, 1], levels: ['b', 'a'] },
      { codes: [0, 2], levels: ['b', 'a', 'c'] },
    ]);
  });

  it('reads strict decimals only, as the command line does', async () => {
    const cells = ['1e-3', '.5', '+2', '-0.25', '0x10', 'Infinity', '1,5', '5 kg'];
    const path = file('decimals.csv', `x\n${cells.map((c) => `"${c}"`).join('\n')}\n`);
    const { values } = await readAll({ path }, [num('x')]);
    expect(values['numeric:x']).toEqual(cells.map((c) => (Number.isNaN(parseDecimal(c)) ? Number.POSITIVE_INFINITY : parseDecimal(c))));
  });

  it('starts again with text parsing when a numeric-looking column holds a non-number past the sampled rows', async () => {
    const rows = 30_000;
    const path = file('late.csv', `x,y\n${Array.from({ length: rows }, (_, i) => `${i % 7},${i}`).join('\n')}\nabc,${rows}\n`);
    const { restarted, values } = await readAll({ path, batchRows: 4096 }, [num('x'), num('y')]);
    expect(restarted).toBe(true);
    expect(values['numeric:x']).toHaveLength(rows + 1);
    expect(values['numeric:x']!.at(-1)).toBe(Number.POSITIVE_INFINITY);
    expect(values['numeric:x']!.slice(0, 8)).toEqual([0, 1, 2, 3, 4, 5, 6, 0]);
    expect(values['numeric:y']!.at(-1)).toBe(rows);
  });

  it('feeds the file bytes to the fingerprint: their SHA-256 is the file SHA-256', async () => {
    const path = file('fingerprint.csv', `x,y\n${Array.from({ length: 5000 }, (_, i) => `${i},${i * 2}`).join('\n')}\n`);
    const hash = createHash('sha256');
    for await (const _batch of createCsvSource({ path, batchRows: 1000 }).read({ columns: [num('x')], fingerprint: (bytes) => hash.update(bytes) }));
    expect(hash.digest('hex')).toBe(createHash('sha256').update(readFileSync(path)).digest('hex'));
  });

  it('refuses a file that changes while it is read', async () => {
    const path = file('growing.csv', `x\n${Array.from({ length: 5000 }, (_, i) => `${i}`).join('\n')}\n`);
    const read = async () => {
      for await (const _batch of createCsvSource({ path, batchRows: 1000 }).read({ columns: [num('x')] })) appendFileSync(path, '1\n');
    };
    expect(await codeOf(read())).toBe('FEDVAL_ERR_AGENT_DATA_CHANGED');
  });

  it('reads the header of a file without rows', async () => {
    const path = file('empty.csv', 'x,y\n');
    expect(await createCsvSource({ path }).columnNames()).toEqual(['x', 'y']);
    expect((await readAll({ path }, [num('x'), cat('y')])).batches).toEqual([]);
  });

  it('names every missing column, with its local name', async () => {
    const path = file('b.csv', 'x,y\n1,2\n');
    try {
      await readAll({ path, columns: { label: 'Outcome' } }, [num('x'), cat('label'), num('score')]);
      throw new Error('accepted');
    } catch (error) {
      expect((error as AgentError).code).toBe('FEDVAL_ERR_AGENT_DATA_COLUMNS');
      expect((error as Error).message).toContain('label (local Outcome)');
      expect((error as Error).message).toContain('score');
    }
  });

  it('refuses missing files, ragged rows, bad quotes, duplicate columns and files over the row limit, without quoting cells', async () => {
    expect(await codeOf(readAll({ path: join(dir, 'absent.csv') }, [num('x')]))).toBe('FEDVAL_ERR_AGENT_DATA_NOT_FOUND');
    expect(await codeOf(readAll({ path: dir }, [num('x')]))).toBe('FEDVAL_ERR_AGENT_DATA_NOT_FOUND');
    for (const [name, text] of [
      ['ragged.csv', 'x,y\n1,2\nSECRET-MRN-77,2,3\n'],
      ['short.csv', 'x,y\n1,2\nSECRET-MRN-77\n'],
      ['quote.csv', 'x,y\n1,2\n"SECRET-MRN-77,2\n'],
    ] as const) {
      try {
        await readAll({ path: file(name, text) }, [cat('x'), cat('y')]);
        throw new Error(`accepted ${name}`);
      } catch (error) {
        expect((error as AgentError).code).toBe('FEDVAL_ERR_AGENT_DATA_MALFORMED');
        expect((error as Error).message).not.toContain('SECRET');
      }
    }
    expect(await codeOf(readAll({ path: file('dup.csv', 'x,x\n1,2\n') }, [num('x')]))).toBe('FEDVAL_ERR_AGENT_DATA_MALFORMED');
    expect(await codeOf(readAll({ path: file('long.csv', 'x\n1\n2\n3\n'), maxRows: 2 }, [num('x')]))).toBe('FEDVAL_ERR_AGENT_DATA_LIMIT');
    expect(() => createCsvSource({ path: 'x.csv', delimiter: '"' })).toThrow(AgentError);
    // A name the engine would expand to several files is refused, whatever exists on disk.
    file('data-1.csv', 'x\n1\n');
    expect(() => createCsvSource({ path: join(dir, 'data-*.csv') })).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_AGENT_CONFIG' }));
  });
});

describe('labels, numbers and subgroup arguments', () => {
  it('maps label cells to classes or exclusion reasons', () => {
    expect(labelOf('1', { column: 'y', positive: '1' })).toBe(1);
    expect(labelOf('0', { column: 'y', positive: '1' })).toBe(0);
    expect(labelOf('2', { column: 'y', positive: '1' })).toBe(0);
    expect(labelOf('2', { column: 'y', positive: '1', negative: '0' })).toBe('invalid_label');
    expect(labelOf(null, { column: 'y', positive: '1' })).toBe('missing_label');
  });

  it('parses decimals strictly', () => {
    expect(parseDecimal('0.25')).toBe(0.25);
    expect(parseDecimal('1e-3')).toBe(0.001);
    expect(parseDecimal('.5')).toBe(0.5);
    for (const text of ['0x10', 'Infinity', '1,5', ' ', 'abc', '']) expect(Number.isNaN(parseDecimal(text))).toBe(true);
  });

  it('parses subgroup arguments and orders levels naturally', () => {
    expect(parseGroupArgument('meno')).toEqual({ column: 'meno' });
    expect(parseGroupArgument('age:50,70')).toEqual({ column: 'age', cuts: [50, 70] });
    expect(() => parseGroupArgument('age:70,50')).toThrow(AgentError);
    expect(() => parseGroupArgument('age:x')).toThrow(AgentError);
    expect(sortLevels(['10', '9', 'b', 'a', '1'])).toEqual(['1', '9', '10', 'a', 'b']);
  });
});
