// reference-data.ts — test support: reads the committed reference inputs and values in ../references.
import { readFileSync } from 'node:fs';

const REFERENCES = new URL('../../references/', import.meta.url);

/** A committed reference JSON file. */
export function readReferenceJson<T = unknown>(name: string): T {
  return JSON.parse(readFileSync(new URL(name, REFERENCES), 'utf8')) as T;
}

/** A committed reference CSV written by make_references.py (no quoting, no embedded commas) as records. */
export function readReferenceCsv(name: string): Record<string, string>[] {
  const [header, ...lines] = readFileSync(new URL(name, REFERENCES), 'utf8').trimEnd().split('\n');
  const columns = (header ?? '').split(',');
  return lines.map((line) => {
    const cells = line.split(',');
    return Object.fromEntries(columns.map((column, i) => [column, cells[i] ?? '']));
  });
}

/** '' (an unknown label in the reference CSVs) becomes null, anything else a number. */
export function numberOrNull(cell: string | undefined): number | null {
  return cell === undefined || cell === '' ? null : Number(cell);
}
