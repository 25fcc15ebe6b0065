// make-parquet.ts — writes site-a.parquet, a Parquet copy of site-a.csv (same rows, typed columns), with DuckDB.
// Run: node examples/rotterdam/data/make-parquet.ts           (rewrites site-a.parquet here)
//      node examples/rotterdam/data/make-parquet.ts --check   (fails unless site-a.parquet holds exactly site-a.csv's rows)
//      node examples/rotterdam/data/make-parquet.ts --csv site-c.csv --out /tmp/site-c.parquet   (the same copy of another site)
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const here = import.meta.dirname;
const args = parseArgs({ options: { check: { type: 'boolean' }, csv: { type: 'string' }, out: { type: 'string' } } }).values;
if (args.check && (args.csv !== undefined || args.out !== undefined)) throw new Error('make-parquet: --check compares the committed site-a.parquet only');
const CSV = path.resolve(args.csv ?? path.join(here, 'site-a.csv'));
const PARQUET = path.resolve(args.out ?? path.join(here, 'site-a.parquet'));

/** Column types of the copy: integers stay integers, the tumour size class is text; empty cells (NA) become NULL. */
const COLUMNS = {
  age: 'INTEGER', meno: 'INTEGER', size: 'VARCHAR', grade: 'INTEGER', nodes: 'INTEGER', pgr: 'INTEGER', er: 'INTEGER', hormon: 'INTEGER', event5y: 'INTEGER',
} as const;

const quote = (text: string): string => `'${text.replaceAll("'", "''")}'`;
const columns = `{${Object.entries(COLUMNS).map(([name, type]) => `${quote(name)}: ${quote(type)}`).join(', ')}}`;
const fromCsv = `SELECT * FROM read_csv(${quote(CSV)}, header = true, auto_detect = false, columns = ${columns}, nullstr = ['', 'NA'])`;

const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
const connection = await instance.connect();
async function write(target: string): Promise<void> {
  // One row group, rows in file order, so the copy reads back in the CSV's order.
  await connection.run(`COPY (${fromCsv}) TO ${quote(target)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000)`);
}

if (args.check) {
  const dir = mkdtempSync(path.join(tmpdir(), 'fedval-parquet-'));
  try {
    const fresh = path.join(dir, 'site-a.parquet');
    await write(fresh);
    const count = async (sql: string): Promise<number> => Number((await connection.runAndReadAll(sql)).getRows()[0]![0]);
    const rows = await count(`SELECT count(*) FROM read_parquet(${quote(PARQUET)})`);
    const csvRows = await count(`SELECT count(*) FROM (${fromCsv})`);
    // Row by row, in order: the committed copy, a fresh copy and the CSV must agree on every column (NULLs included).
    const numbered = (relation: string) => `(SELECT row_number() OVER () AS n, * FROM ${relation})`;
    const differing = async (a: string, b: string) => count(`SELECT count(*) FROM (SELECT * FROM ${numbered(a)} EXCEPT ALL SELECT * FROM ${numbered(b)})`);
    const schema = JSON.stringify((await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${quote(PARQUET)})`)).getRows().map((r) => [r[0], r[1]]));
    const expected = JSON.stringify(Object.entries(COLUMNS));
    const problems = [
      rows !== csvRows ? `site-a.parquet has ${rows} rows, site-a.csv ${csvRows}` : '',
      (await differing(`read_parquet(${quote(PARQUET)})`, `(${fromCsv})`)) > 0 ? 'site-a.parquet rows differ from site-a.csv' : '',
      (await differing(`read_parquet(${quote(fresh)})`, `read_parquet(${quote(PARQUET)})`)) > 0 ? 'a fresh copy differs from site-a.parquet' : '',
      schema !== expected ? `site-a.parquet columns ${schema}, expected ${expected}` : '',
    ].filter(Boolean);
    if (problems.length > 0) {
      process.stderr.write(`make-parquet --check: ${problems.join('; ')}\n`);
      process.exit(1);
    }
    process.stdout.write(`make-parquet --check: site-a.parquet holds the ${rows} rows of site-a.csv\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  await write(PARQUET);
  process.stdout.write(`wrote ${PARQUET}\n`);
}
connection.closeSync();
instance.closeSync();
