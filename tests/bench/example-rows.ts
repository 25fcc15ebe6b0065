// example-rows.ts — the inference benches' shared input (site-a's rows repeated, in chunks) and their timer.
import type { RawRow } from '@fedval/models';
import { readFileSync } from 'node:fs';

const SITE_CSV = new URL('../../examples/rotterdam/data/site-a.csv', import.meta.url);
export const CHUNK_ROWS = 4096;

/** `totalRows` rows cycling through site-a.csv (written by prepare-sites.ts: a header and plain unquoted cells), as row objects and in chunks of 4096. */
export function exampleRows(totalRows: number): { rows: RawRow[]; chunks: RawRow[][] } {
  const [header, ...lines] = readFileSync(SITE_CSV, 'utf8').trim().split('\n');
  const columns = (header as string).split(',');
  const siteRows: RawRow[] = lines.map((line) => {
    const cells = line.split(',');
    return Object.fromEntries(columns.map((c, i) => [c, cells[i] ?? null]));
  });
  const rows: RawRow[] = Array.from({ length: totalRows }, (_, i) => siteRows[i % siteRows.length] as RawRow);
  const chunks: RawRow[][] = [];
  for (let i = 0; i < rows.length; i += CHUNK_ROWS) chunks.push(rows.slice(i, i + CHUNK_ROWS));
  return { rows, chunks };
}

/** Best of three timed runs after one warm-up, as rows per second. */
export async function rowsPerSecond(run: () => Promise<void>, rowCount: number): Promise<number> {
  await run();
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    await run();
    best = Math.min(best, performance.now() - start);
  }
  return Math.round(rowCount / (best / 1000));
}
