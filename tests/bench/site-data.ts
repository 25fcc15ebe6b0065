// site-data.ts — writes a large synthetic site CSV for the throughput bench by resampling the bundled site rows (not committed).
import { createWriteStream, readFileSync } from 'node:fs';
import { once } from 'node:events';

const SITE_FILES = ['site-a.csv', 'site-b.csv', 'site-c.csv'].map((name) => new URL(`../../examples/rotterdam/data/${name}`, import.meta.url));

/** Columns of the generated file: the bundled sites' columns plus `score`, a probability with 4 decimals. */
export const SITE_DATA_COLUMNS = ['age', 'meno', 'size', 'grade', 'nodes', 'pgr', 'er', 'hormon', 'event5y', 'score'] as const;

/**
 * Writes `rows` data rows (plus a header) drawn with replacement from the bundled sites' rows by a fixed
 * xorshift32 sequence, each with a score column; the same `rows` always gives the same bytes.
 */
export async function writeSiteCsv(path: string, rows: number): Promise<number> {
  const source: string[] = [];
  for (const url of SITE_FILES) {
    const [, ...lines] = readFileSync(url, 'utf8').trim().split('\n');
    source.push(...lines);
  }
  const out = createWriteStream(path);
  let bytes = 0;
  const write = async (text: string): Promise<void> => {
    bytes += Buffer.byteLength(text);
    if (!out.write(text)) await once(out, 'drain');
  };
  await write(`${SITE_DATA_COLUMNS.join(',')}\n`);
  let state = 0x9e3779b9;
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  let block = '';
  for (let i = 0; i < rows; i += 1) {
    const line = source[Math.floor(next() * source.length)] as string;
    block += `${line},${next().toFixed(4)}\n`;
    if (block.length > 1 << 16) {
      await write(block);
      block = '';
    }
  }
  await write(block);
  out.end();
  await once(out, 'finish');
  return bytes;
}
