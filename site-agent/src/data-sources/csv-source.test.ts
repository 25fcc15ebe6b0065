import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCsvChunks, readCsvColumns, requireColumns } from './csv-source.ts';
import type { DataRow } from './csv-source.ts';
import { AgentError } from './errors.ts';
import { labelOf } from './evaluation.ts';
import { parseGroupArgument, sortLevels } from './group-levels.ts';
import { parseDecimal } from './scorers.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-csv-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function all(path: string, options: Partial<Parameters<typeof readCsvChunks>[0]> = {}): Promise<DataRow[]> {
  const rows: DataRow[] = [];
  for await (const chunk of readCsvChunks({ path, ...options })) rows.push(...chunk.rows);
  return rows;
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

describe('CSV source', () => {
  it('streams rows in chunks with missing cells as null and study names mapped', async () => {
    const path = file('a.csv', '\uFEFFAge,Outcome,score\n50,1,0.25\n,NA,"0.5"\n70,0,\n');
    const chunks = [];
    for await (const chunk of readCsvChunks({ path, columns: { age: 'Age' }, chunkRows: 2 })) chunks.push(chunk);
    expect(chunks.map((chunk) => chunk.rows.length)).toEqual([2, 1]);
    expect(chunks.at(-1)!.percent).toBe(100);
    expect(chunks[0]!.rows[1]).toEqual({ age: null, Outcome: null, score: '0.5' });
    expect(await readCsvColumns({ path, columns: { age: 'Age' } })).toEqual(['age', 'Outcome', 'score']);
  });

  it('reads the header of a file without rows', async () => {
    const path = file('empty.csv', 'x,y\n');
    expect(await readCsvColumns({ path })).toEqual(['x', 'y']);
    expect(await all(path)).toEqual([]);
  });

  it('names every missing column', async () => {
    const path = file('b.csv', 'x,y\n1,2\n');
    try {
      await requireColumns({ path, columns: { label: 'Outcome' } }, ['x', 'label', 'score']);
      throw new Error('accepted');
    } catch (error) {
      expect((error as AgentError).code).toBe('FEDVAL_ERR_AGENT_DATA_COLUMNS');
      expect((error as Error).message).toContain('label (local Outcome)');
      expect((error as Error).message).toContain('score');
    }
  });

  it('refuses missing files, ragged rows, duplicate columns and files over the row limit, without quoting cells', async () => {
    expect(await codeOf(all(join(dir, 'absent.csv')))).toBe('FEDVAL_ERR_AGENT_DATA_NOT_FOUND');
    expect(await codeOf(all(dir))).toBe('FEDVAL_ERR_AGENT_DATA_NOT_FOUND');
    const ragged = file('ragged.csv', 'x,y\n1,2\nSECRET-MRN-77,2,3\n');
    try {
      await all(ragged);
      throw new Error('accepted');
    } catch (error) {
      expect((error as AgentError).code).toBe('FEDVAL_ERR_AGENT_DATA_MALFORMED');
      expect((error as Error).message).not.toContain('SECRET');
    }
    expect(await codeOf(all(file('dup.csv', 'x,x\n1,2\n')))).toBe('FEDVAL_ERR_AGENT_DATA_MALFORMED');
    expect(await codeOf(all(file('long.csv', 'x\n1\n2\n3\n'), { maxRows: 2 }))).toBe('FEDVAL_ERR_AGENT_DATA_LIMIT');
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
