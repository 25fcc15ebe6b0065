import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { resolveMetricSpec } from '@fedval/metrics';
import { createCsvSource } from './data-sources/csv-source.ts';
import type { DataSource } from './data-sources/data-source.ts';
import { createParquetSource } from './data-sources/parquet-source.ts';
import { evaluateDataset } from './evaluation.ts';
import type { EvaluationOutcome, EvaluationSpec, LabelRule } from './evaluation.ts';
import { scoreColumnScorer } from './scorers.ts';

// The engine's count (countScoreHistogram: GROUP BY label, subgroup cells and score bin in DuckDB) against the batch
// path (the same source with the count hidden, so evaluateDataset reads column batches), on adversarial rows.

const dir = mkdtempSync(join(tmpdir(), 'fedval-histogram-cells-'));

/**
 * Scores that probe the bin rule, the range checks and the fixed-point rounding (ties at 2^-21 steps); the first ones
 * are the double just below an edge k/B whose product s·B rounds up to k (0.049999999999999996 · 100 = 5), or one on an
 * edge whose product rounds down (0.29 · 100 = 28.999…).
 */
const SCORES = [
  '0.049999999999999996', '0.09999999999999999', '0.33999999999999997', '0.11699999999999999', '0.28099999999999997', '0.40599999999999997',
  '0.1', '0.9', '', 'NA', 'NaN', ' 0.5 ', '1', '0', '-0', '1.0000001', '-0.1', 'inf', '-Infinity', '1e-320', '0.29', '0.57', '0.58',
  '4.76837158203125e-7', '1.430511474609375e-6', '0.4999999999999999', '0.5000000000000001', '0.999', '0.001', '1e400', '+0.3', '.5', '0.99999999999999989',
];
const LABELS = ['1', '0', ' 1 ', '2', 'yes', '', 'NA', '0 ', 'null'];
const SHORT_LEVELS = ['a', ' a', 'b', '', 'NA', 'ü', 'c ', 'N/A'];
const LONG_LEVELS = ['a-very-long-level-name-α', 'short', 'xxxxxxxxxxxxx', ' N/A ', '12', '12.0', 'twelve bytes'];

/** Deterministic rows: adversarial cells mixed with random 17-digit scores and scores exactly on k/1000 and k/100. */
function writeFixture(name: string, rows: number, lateText: boolean): string {
  let state = 12345;
  const next = (): number => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  const lines = ['label,score,g1,g2'];
  for (let i = 0; i < rows; i += 1) {
    const kind = next();
    let score: string;
    if (kind < 0.3) score = pick(SCORES);
    else if (kind < 0.5) score = String(Math.floor(next() * 1001) / 1000);
    else if (kind < 0.6) score = String(Math.floor(next() * 101) / 100);
    else score = String(next());
    // A cell past the engine's type sample (20,480 rows) that is not a number: the typed read starts again as text.
    if (lateText && i === rows - 7) score = 'abc';
    lines.push([pick(LABELS), score, pick(SHORT_LEVELS), `"${pick(LONG_LEVELS)}"`].join(','));
  }
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/** The same source with the engine count hidden: evaluateDataset then reads column batches. */
function batchesOnly(source: DataSource): DataSource {
  return { description: source.description, columnNames: (signal) => source.columnNames(signal), read: (request) => source.read(request), close: () => source.close() };
}

/** Counts the engine counts a source makes. */
function counting(source: DataSource): DataSource & { counts: number } {
  const wrapped = {
    ...batchesOnly(source),
    counts: 0,
    countScoreHistogram: (request: Parameters<NonNullable<DataSource['countScoreHistogram']>>[0]) => {
      wrapped.counts += 1;
      return source.countScoreHistogram!(request);
    },
  };
  return wrapped;
}

interface Case {
  readonly spec: EvaluationSpec;
  readonly label: LabelRule;
}

async function both(open: () => DataSource, { spec, label }: Case, engineCounts = 1): Promise<{ engine: EvaluationOutcome; batches: EvaluationOutcome; fingerprints: [string, string] }> {
  const engineSource = counting(open());
  const hashes = [createHash('sha256'), createHash('sha256')];
  const engine = await evaluateDataset({ source: engineSource, spec, label, scorer: scoreColumnScorer('score'), fingerprint: (bytes) => hashes[0]!.update(bytes) });
  expect(engineSource.counts).toBe(engineCounts);
  const batches = await evaluateDataset({ source: batchesOnly(open()), spec, label, scorer: scoreColumnScorer('score'), fingerprint: (bytes) => hashes[1]!.update(bytes) });
  return { engine, batches, fingerprints: [hashes[0]!.digest('hex'), hashes[1]!.digest('hex')] };
}

function expectSame(result: { engine: EvaluationOutcome; batches: EvaluationOutcome }): void {
  expect(result.engine.layout.groupLevels).toEqual(result.batches.layout.groupLevels);
  expect(result.engine.included).toBe(result.batches.included);
  expect(result.engine.vector.length).toBe(result.batches.vector.length);
  // Entry by entry, bit for bit (toEqual on arrays of numbers would also accept -0 for 0).
  expect(Buffer.from(result.engine.vector.buffer).equals(Buffer.from(result.batches.vector.buffer))).toBe(true);
}

/** A fitted grid of many edges: random doubles, plus some scores of the fixture exactly on an edge. */
function fittedEdges(): number[] {
  let state = 99;
  const edges = new Set<number>([0.29, 0.57, 4.76837158203125e-7, 0.4999999999999999]);
  while (edges.size < 3000) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const edge = state / 2 ** 31;
    if (edge > 0) edges.add(edge);
  }
  return [...edges].sort((a, b) => a - b);
}

const BOTH_CLASSES: LabelRule = { column: 'label', positive: '1', negative: '0' };
const OPEN_GROUPS = [{ column: 'g1' }, { column: 'g2' }];

describe('score histogram counted by the engine', () => {
  const csv = writeFixture('cells.csv', 4000, false);
  const late = writeFixture('late-text.csv', 21_000, true);

  it('CSV: the same vector, levels and fingerprint as column batches on adversarial cells (1000 and 100 equal-width bins, open and declared levels)', async () => {
    const cases: Case[] = [
      { spec: { ...resolveMetricSpec({ task: 'binary' }), groups: OPEN_GROUPS }, label: BOTH_CLASSES },
      { spec: { ...resolveMetricSpec({ task: 'binary', bins: 100, calibrationBins: 5, threshold: 0.29 }), groups: [{ column: 'g2' }] }, label: { column: 'label', positive: '1' } },
      { spec: resolveMetricSpec({ task: 'binary', groups: [{ column: 'g1', levels: ['a', 'b', 'NA'] }, { column: 'g2', levels: ['12', 'short'] }] }), label: BOTH_CLASSES },
      { spec: { ...resolveMetricSpec({ task: 'binary', bins: 7, calibrationBins: 7, threshold: 3 / 7, decisionThresholds: [1 / 7] }), groups: [{ column: 'label' }] }, label: { column: 'label', positive: ' 1 ' } },
    ];
    for (const c of cases) {
      const result = await both(() => createCsvSource({ path: csv, batchRows: 1000 }), c);
      expectSame(result);
      expect(result.fingerprints[0]).toBe(createHash('sha256').update(readFileSync(csv)).digest('hex'));
      expect(result.fingerprints[1]).toBe(result.fingerprints[0]);
    }
  });

  it('CSV: a typed read that starts again as text; a fitted grid of 3,000 edges and numeric cuts read batches (the engine is not asked)', async () => {
    expectSame(await both(() => createCsvSource({ path: late }), { spec: { ...resolveMetricSpec({ task: 'binary' }), groups: OPEN_GROUPS }, label: BOTH_CLASSES }));
    const fitted = resolveMetricSpec({ task: 'binary', scoreGrid: { kind: 'fitted', method: 'explicit', edges: fittedEdges() } });
    expectSame(await both(() => createCsvSource({ path: csv }), { spec: { ...fitted, groups: OPEN_GROUPS }, label: BOTH_CLASSES }, 0));
    expectSame(await both(() => createCsvSource({ path: csv }), { spec: resolveMetricSpec({ task: 'binary', groups: [{ column: 'score', cuts: [0.5] }] }), label: BOTH_CLASSES }, 0));
  });

  it('Parquet: typed columns (integer label, double score with NaN and NULL, text levels) give the same vector as column batches', async () => {
    const parquet = join(dir, 'cells.parquet');
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    await connection.run(
      `COPY (SELECT TRY_CAST(trim(label) AS INTEGER) AS label, CASE WHEN trim(score) = 'NaN' THEN 'NaN'::DOUBLE ELSE TRY_CAST(score AS DOUBLE) END AS score, g1, g2 ` +
        `FROM read_csv('${csv}', all_varchar = true)) TO '${parquet}' (FORMAT parquet)`,
    );
    connection.closeSync();
    instance.closeSync();
    const spec: EvaluationSpec = { ...resolveMetricSpec({ task: 'binary' }), groups: [...OPEN_GROUPS, { column: 'label' }] };
    expectSame(await both(() => createParquetSource({ path: parquet, batchRows: 777 }), { spec, label: BOTH_CLASSES }));
  });

  it('refuses what column batches refuse, with the same codes: too many levels, too many rows, a missing column', async () => {
    const many = join(dir, 'many.csv');
    writeFileSync(many, `label,score,id\n${Array.from({ length: 70 }, (_, i) => `1,0.5,p${i}`).join('\n')}\n`);
    const spec = (groups: EvaluationSpec['groups']): EvaluationSpec => ({ ...resolveMetricSpec({ task: 'binary' }), groups });
    const run = (source: DataSource, s: EvaluationSpec) => evaluateDataset({ source, spec: s, label: BOTH_CLASSES, scorer: scoreColumnScorer('score') });
    for (const wrap of [counting, batchesOnly]) {
      await expect(run(wrap(createCsvSource({ path: many })), spec([{ column: 'id' }]))).rejects.toMatchObject({ code: 'FEDVAL_ERR_AGENT_INVALID_TASK' });
      await expect(run(wrap(createCsvSource({ path: csv, maxRows: 3999 })), spec([]))).rejects.toMatchObject({ code: 'FEDVAL_ERR_AGENT_DATA_LIMIT' });
      await expect(run(wrap(createCsvSource({ path: csv })), spec([{ column: 'nope' }]))).rejects.toMatchObject({ code: 'FEDVAL_ERR_AGENT_DATA_COLUMNS' });
    }
    // Exactly max_rows rows is allowed.
    expectSame(await both(() => createCsvSource({ path: csv, maxRows: 4000 }), { spec: spec([]), label: BOTH_CLASSES }));
  });
});
