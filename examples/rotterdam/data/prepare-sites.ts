// prepare-sites.ts — derives the harmonized development and site CSVs of the Rotterdam → GBSG scenario.
// Run: node examples/rotterdam/data/prepare-sites.ts (rewrites development.csv and site-{a,b,c}.csv here).
import { parse } from 'csv-parse/sync';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Five years in days: the outcome horizon. */
const HORIZON_DAYS = 1826;
/** Rotterdam patients diagnosed up to this year form the development cohort; later ones are site A. */
const LAST_DEVELOPMENT_YEAR = 1987;

export const SITE_COLUMNS = ['age', 'meno', 'size', 'grade', 'nodes', 'pgr', 'er', 'hormon', 'event5y'] as const;
type SiteRow = Record<(typeof SITE_COLUMNS)[number], string>;
/** The survival view's site files: the same predictors, follow-up time in days and the event (recurrence or death). */
export const RFS_COLUMNS = ['age', 'meno', 'size', 'grade', 'nodes', 'pgr', 'er', 'hormon', 'rfstime', 'status'] as const;
type RfsRow = Record<(typeof RFS_COLUMNS)[number], string>;
type SourceRow = Record<string, string>;

const here = import.meta.dirname;

function readCsv(file: string): SourceRow[] {
  return parse(readFileSync(path.join(here, file)), { columns: true, skip_empty_lines: true, trim: true }) as SourceRow[];
}

function int(row: SourceRow, column: string): number {
  const value = Number(row[column]);
  if (!Number.isInteger(value)) throw new Error(`column ${column} is not an integer in row ${JSON.stringify(row)}`);
  return value;
}

/**
 * Recurrence or death within 5 years: '1', '0', or '' when the patient was censored event-free
 * before 5 years (outcome unknown). `time` is the time to the first event or to the end of follow-up.
 */
export function outcomeWithin(horizon: number, event: boolean, time: number): '' | '0' | '1' {
  if (event && time <= horizon) return '1';
  return time >= horizon ? '0' : '';
}

/** GBSG tumour size is in mm; Rotterdam records the classes <=20, 20-50, >50. */
export function sizeClass(mm: number): string {
  if (mm <= 20) return '<=20';
  return mm <= 50 ? '20-50' : '>50';
}

function predictors(row: SourceRow, size: string): Omit<SiteRow, 'event5y'> {
  return { age: row.age!, meno: row.meno!, size, grade: row.grade!, nodes: row.nodes!, pgr: row.pgr!, er: row.er!, hormon: row.hormon! };
}

/**
 * Rotterdam relapse-free survival as in the `survival` package's documentation (the liberal
 * definition: deaths after the last recurrence follow-up count): time = rtime if recur, else dtime.
 */
function rotterdamRow(row: SourceRow): SiteRow {
  const recur = int(row, 'recur') === 1;
  const death = int(row, 'death') === 1;
  const time = recur ? int(row, 'rtime') : int(row, 'dtime');
  return { ...predictors(row, row.size!), event5y: outcomeWithin(HORIZON_DAYS, recur || death, time) };
}

/** Recurrence-free survival, uncensored by the horizon: time and event as in rotterdamRow / gbsgRow, kept whole. */
function rotterdamRfsRow(row: SourceRow): RfsRow {
  const recur = int(row, 'recur') === 1;
  const time = recur ? int(row, 'rtime') : int(row, 'dtime');
  return { ...predictors(row, row.size!), rfstime: String(time), status: recur || int(row, 'death') === 1 ? '1' : '0' };
}

function gbsgRfsRow(row: SourceRow): RfsRow {
  return { ...predictors(row, sizeClass(int(row, 'size'))), rfstime: row.rfstime!, status: row.status! };
}

function writeRfs(file: string, rows: readonly RfsRow[]): void {
  const lines = [RFS_COLUMNS.join(','), ...rows.map((r) => RFS_COLUMNS.map((c) => csvCell(r[c])).join(','))];
  writeFileSync(path.join(here, file), `${lines.join('\n')}\n`);
  const early = rows.filter((r) => r.status === '0' && Number(r.rfstime) < HORIZON_DAYS).length;
  process.stderr.write(`${file}: ${rows.length} rows, ${rows.filter((r) => r.status === '1').length} events, ${early} censored before ${HORIZON_DAYS} days\n`);
}

function gbsgRow(row: SourceRow): SiteRow {
  return { ...predictors(row, sizeClass(int(row, 'size'))), event5y: outcomeWithin(HORIZON_DAYS, int(row, 'status') === 1, int(row, 'rfstime')) };
}

function csvCell(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function writeSite(file: string, rows: readonly SiteRow[]): void {
  const lines = [SITE_COLUMNS.join(','), ...rows.map((r) => SITE_COLUMNS.map((c) => csvCell(r[c])).join(','))];
  writeFileSync(path.join(here, file), `${lines.join('\n')}\n`);
  const count = (v: string): number => rows.filter((r) => r.event5y === v).length;
  process.stderr.write(`${file}: ${rows.length} rows, ${count('1')} events, ${count('0')} event-free, ${count('')} unknown outcome\n`);
}

if (import.meta.main) {
  const rotterdam = readCsv('rotterdam.csv');
  const gbsg = readCsv('gbsg.csv');
  writeSite('development.csv', rotterdam.filter((r) => int(r, 'year') <= LAST_DEVELOPMENT_YEAR).map(rotterdamRow));
  writeSite('site-a.csv', rotterdam.filter((r) => int(r, 'year') > LAST_DEVELOPMENT_YEAR).map(rotterdamRow));
  writeSite('site-b.csv', gbsg.filter((r) => int(r, 'meno') === 0).map(gbsgRow));
  writeSite('site-c.csv', gbsg.filter((r) => int(r, 'meno') === 1).map(gbsgRow));
  writeRfs('development-rfs.csv', rotterdam.filter((r) => int(r, 'year') <= LAST_DEVELOPMENT_YEAR).map(rotterdamRfsRow));
  writeRfs('site-a-rfs.csv', rotterdam.filter((r) => int(r, 'year') > LAST_DEVELOPMENT_YEAR).map(rotterdamRfsRow));
  writeRfs('site-b-rfs.csv', gbsg.filter((r) => int(r, 'meno') === 0).map(gbsgRfsRow));
  writeRfs('site-c-rfs.csv', gbsg.filter((r) => int(r, 'meno') === 1).map(gbsgRfsRow));
}
