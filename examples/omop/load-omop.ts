// load-omop.ts — loads one of the bundled validation cohorts (examples/rotterdam/data/site-*.csv) into OMOP CDM v5.4
// tables on PostgreSQL (person, observation_period, condition_occurrence, measurement, observation), with the concept
// ids listed in README.md "Concepts". Usage:
//   PGPASSWORD=… node examples/omop/load-omop.ts --url postgres://admin@host:5432/db --csv examples/rotterdam/data/site-a.csv [--schema cdm] [--grant fedval_reader]
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse } from 'csv-parse/sync';
import pg from 'pg';

/** Standard OMOP concepts (OHDSI Athena vocabularies). */
export const STANDARD_CONCEPTS = Object.freeze({
  female: 8532, // Gender: FEMALE
  noMatchingConcept: 0, // race and ethnicity are not recorded in the source data
  malignantTumorOfBreast: 4112853, // SNOMED 254837009 "Malignant tumor of breast"
  registry: 32879, // Type Concept: Registry (tumour bank and trial records)
});

/**
 * Study-specific concepts. OMOP reserves concept ids above 2,000,000,000 for a site's local concepts; these are the
 * example's, documented in README.md, because the study's coded variables have no single standard concept.
 */
export const LOCAL_CONCEPTS = Object.freeze({
  tumourSizeClass: 2000000101, // measurement; value_as_concept_id one of the three below
  sizeUpTo20: 2000000111, // '<=20' mm
  size20To50: 2000000112, // '20-50' mm
  sizeOver50: 2000000113, // '>50' mm
  tumourGrade: 2000000102, // measurement, value_as_number 1–3
  positiveNodes: 2000000103, // measurement, number of positive lymph nodes
  progesteroneReceptor: 2000000104, // measurement, fmol/l
  oestrogenReceptor: 2000000105, // measurement, fmol/l
  menopausalStatus: 2000000201, // observation, value_as_number 1 = postmenopausal, 0 = premenopausal
  hormonalTherapy: 2000000202, // observation, value_as_number 1 = given
  recurrenceOrDeath5y: 2000000301, // observation, value_as_number 1 = recurrence or death within 5 years, 0 = neither
});

/** The synthetic index date (surgery / diagnosis) of every patient: the source files keep ages, not dates. */
export const INDEX_DATE = '2000-01-01';
const INDEX_YEAR = 2000;
/** End of each observation period: index date + 1826 days (the 5-year outcome window). */
export const FOLLOW_UP_END = '2004-12-31';

const SIZE_CONCEPTS: Readonly<Record<string, number>> = {
  '<=20': LOCAL_CONCEPTS.sizeUpTo20,
  '20-50': LOCAL_CONCEPTS.size20To50,
  '>50': LOCAL_CONCEPTS.sizeOver50,
};

const MISSING = new Set(['', 'NA']);

/** The rows of each OMOP table for one cohort file; person_id is the row's position (1-based), nothing else. */
export interface OmopRows {
  person: unknown[][];
  observation_period: unknown[][];
  condition_occurrence: unknown[][];
  measurement: unknown[][];
  observation: unknown[][];
}

export const OMOP_COLUMNS: Readonly<Record<keyof OmopRows, readonly string[]>> = {
  person: ['person_id', 'gender_concept_id', 'year_of_birth', 'month_of_birth', 'day_of_birth', 'birth_datetime', 'race_concept_id', 'ethnicity_concept_id', 'person_source_value', 'gender_source_value'],
  observation_period: ['observation_period_id', 'person_id', 'observation_period_start_date', 'observation_period_end_date', 'period_type_concept_id'],
  condition_occurrence: ['condition_occurrence_id', 'person_id', 'condition_concept_id', 'condition_start_date', 'condition_type_concept_id', 'condition_source_value'],
  measurement: ['measurement_id', 'person_id', 'measurement_concept_id', 'measurement_date', 'measurement_type_concept_id', 'value_as_number', 'value_as_concept_id', 'measurement_source_value', 'value_source_value'],
  observation: ['observation_id', 'person_id', 'observation_concept_id', 'observation_date', 'observation_type_concept_id', 'value_as_number', 'value_as_concept_id', 'observation_source_value', 'value_source_value'],
};

/** Maps a cohort CSV (columns age, meno, size, grade, nodes, pgr, er, hormon, event5y) to OMOP rows. */
export function omopRowsFromCsv(csvText: string): OmopRows {
  const records = parse(csvText, { columns: true, skip_empty_lines: true, trim: true }) as Record<string, string>[];
  const rows: OmopRows = { person: [], observation_period: [], condition_occurrence: [], measurement: [], observation: [] };
  const { registry } = STANDARD_CONCEPTS;
  records.forEach((record, i) => {
    const id = i + 1;
    const cell = (column: string): string | null => {
      const value = record[column];
      if (value === undefined) throw new Error(`the cohort file has no ${column} column`);
      return MISSING.has(value) ? null : value;
    };
    const age = cell('age');
    if (age === null || !/^\d+$/.test(age)) throw new Error(`row ${id}: age must be a whole number of years (OMOP person.year_of_birth is required)`);
    const birthYear = INDEX_YEAR - Number(age);
    rows.person.push([id, STANDARD_CONCEPTS.female, birthYear, 1, 1, `${birthYear}-01-01 00:00:00`, 0, 0, `row-${id}`, 'F']);
    rows.observation_period.push([id, id, INDEX_DATE, FOLLOW_UP_END, registry]);
    rows.condition_occurrence.push([id, id, STANDARD_CONCEPTS.malignantTumorOfBreast, INDEX_DATE, registry, 'primary breast cancer']);
    const measure = (concept: number, column: string): void => {
      const value = cell(column);
      if (value === null) return;
      if (column === 'size') {
        const valueConcept = SIZE_CONCEPTS[value];
        if (valueConcept === undefined) throw new Error(`row ${id}: size class must be one of ${Object.keys(SIZE_CONCEPTS).join(', ')}`);
        rows.measurement.push([rows.measurement.length + 1, id, concept, INDEX_DATE, registry, null, valueConcept, column, value]);
      } else {
        rows.measurement.push([rows.measurement.length + 1, id, concept, INDEX_DATE, registry, value, null, column, value]);
      }
    };
    const observe = (concept: number, column: string): void => {
      const value = cell(column);
      if (value === null) return;
      rows.observation.push([rows.observation.length + 1, id, concept, INDEX_DATE, registry, value, null, column, value]);
    };
    measure(LOCAL_CONCEPTS.tumourSizeClass, 'size');
    measure(LOCAL_CONCEPTS.tumourGrade, 'grade');
    measure(LOCAL_CONCEPTS.positiveNodes, 'nodes');
    measure(LOCAL_CONCEPTS.progesteroneReceptor, 'pgr');
    measure(LOCAL_CONCEPTS.oestrogenReceptor, 'er');
    observe(LOCAL_CONCEPTS.menopausalStatus, 'meno');
    observe(LOCAL_CONCEPTS.hormonalTherapy, 'hormon');
    observe(LOCAL_CONCEPTS.recurrenceOrDeath5y, 'event5y');
  });
  return rows;
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The DDL of omop-ddl.sql for a schema (its psql variable :"schema" substituted). */
export function omopDdl(schema: string): string {
  const text = readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'omop-ddl.sql'), 'utf8');
  return text.replaceAll(':"schema"', quoteIdentifier(schema));
}

export interface LoadOmopOptions {
  /** Schema to create the tables in. Default 'cdm' (the schema cohort.sql reads). */
  schema?: string;
  /** A role granted USAGE on the schema and SELECT on its tables (the site's read-only role). */
  grant?: string;
}

/** Creates the five tables and loads a cohort file into them, in one transaction. Returns the number of persons. */
export async function loadOmop(client: pg.ClientBase, csvText: string, options: LoadOmopOptions = {}): Promise<number> {
  const schema = options.schema ?? 'cdm';
  const rows = omopRowsFromCsv(csvText);
  await client.query('BEGIN');
  try {
    await client.query(omopDdl(schema));
    for (const table of Object.keys(OMOP_COLUMNS) as (keyof OmopRows)[]) {
      const columns = OMOP_COLUMNS[table];
      for (let start = 0; start < rows[table].length; start += 500) {
        const chunk = rows[table].slice(start, start + 500);
        const placeholders = chunk.map((_, r) => `(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`).join(', ');
        await client.query(`INSERT INTO ${quoteIdentifier(schema)}.${table} (${columns.join(', ')}) VALUES ${placeholders}`, chunk.flat());
      }
    }
    if (options.grant) {
      await client.query(`GRANT USAGE ON SCHEMA ${quoteIdentifier(schema)} TO ${quoteIdentifier(options.grant)}`);
      await client.query(`GRANT SELECT ON ALL TABLES IN SCHEMA ${quoteIdentifier(schema)} TO ${quoteIdentifier(options.grant)}`);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
  return rows.person.length;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { url: { type: 'string' }, csv: { type: 'string' }, schema: { type: 'string', default: 'cdm' }, grant: { type: 'string' } },
  });
  if (!values.url || !values.csv) {
    process.stderr.write('usage: PGPASSWORD=… node examples/omop/load-omop.ts --url postgres://admin@host:5432/db --csv FILE [--schema cdm] [--grant ROLE]\n');
    process.exit(2);
  }
  // The password comes from PGPASSWORD (or ~/.pgpass), as for psql: never from the command line.
  const client = new pg.Client({ connectionString: values.url });
  await client.connect();
  try {
    const persons = await loadOmop(client, readFileSync(values.csv, 'utf8'), { schema: values.schema, ...(values.grant ? { grant: values.grant } : {}) });
    process.stdout.write(`loaded ${persons} persons into ${values.schema}.person, observation_period, condition_occurrence, measurement, observation\n`);
  } finally {
    await client.end();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    process.stderr.write(`load-omop: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
