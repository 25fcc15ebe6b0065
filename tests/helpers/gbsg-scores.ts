// gbsg-scores.ts — site files for end-to-end tests: GBSG recurrence status with a fixed score formula (no model needed).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { DATA_DIR } from './run-cli.ts';

/** `status,score` lines for every GBSG patient, in file order. */
export function gbsgScoreLines(): string[] {
  const rows = parse(readFileSync(join(DATA_DIR, 'gbsg.csv')), { columns: true }) as Record<string, string>[];
  return rows.map((row) => {
    const z = -2 + 0.04 * Number(row.nodes) + 0.3 * Number(row.grade) - 0.002 * Number(row.pgr) + 0.01 * Number(row.age);
    return `${row.status},${(1 / (1 + Math.exp(-z))).toFixed(6)}`;
  });
}

/** Writes `lines` as a site file `dir/name.csv` with a `status,score` header; returns its path. */
export function writeScoreFile(dir: string, name: string, lines: readonly string[]): string {
  const path = join(dir, `${name}.csv`);
  writeFileSync(path, `status,score\n${lines.join('\n')}\n`);
  return path;
}
