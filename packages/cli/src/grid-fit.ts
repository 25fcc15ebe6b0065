// grid-fit.ts — `fedval grid fit`: a study's score grid fitted from the sponsor's development scores (a CSV column), written as JSON.
import { createHash } from 'node:crypto';
import { createReadStream, statSync, writeFileSync } from 'node:fs';
import { parse } from 'csv-parse';
import { fitScoreGrid, parseDecimal, scoreGridToInput } from '@fedval/metrics';
import type { ScoreGridFitSummary, ScoreGridInput } from '@fedval/metrics';
import { CliError } from './errors.ts';

export interface GridFitOptions {
  /** CSV file with a header row: the sponsor's development data. */
  scores: string;
  /** Column of `scores` holding the model's predicted probability. */
  column: string;
  /** Bins to fit (2 … 10 000). */
  bins: number;
  method: 'quantile' | 'logit';
  /** Decision thresholds kept as exact edges (comma-separated decimals). */
  thresholds?: string | undefined;
  /** Where the grid's JSON is written. */
  out: string;
}

export interface GridFitResult {
  grid: ScoreGridInput;
  summary: ScoreGridFitSummary & { missing: number };
}

function scoresError(detail: string, cause?: unknown): CliError {
  return new CliError('FEDVAL_ERR_CLI_SCORES', detail, cause === undefined ? undefined : { cause });
}

/**
 * Reads the score column (cells that are empty or `NA` are counted as missing and left out; any other cell must be a
 * decimal number, named by its row when it is not — never its value), digests the file (SHA-256 of its bytes, stored as
 * the grid's `source_digest`), fits the grid (@fedval/metrics fitScoreGrid) and writes it to `out` in the spelling of a
 * metric spec's `score_grid`.
 */
export async function fitGridFromFile(options: GridFitOptions): Promise<GridFitResult> {
  const thresholds = options.thresholds === undefined ? [] : options.thresholds.split(',').map(parseDecimal);
  if (thresholds.some((t) => !Number.isFinite(t))) throw new CliError('FEDVAL_ERR_CLI_USAGE', '--thresholds must be comma-separated decimal numbers');
  if (options.method !== 'quantile' && options.method !== 'logit') throw new CliError('FEDVAL_ERR_CLI_USAGE', '--method must be quantile or logit');
  try {
    if (!statSync(options.scores).isFile()) throw Object.assign(new Error('not a file'), { code: 'not a file' });
  } catch (cause) {
    throw scoresError(`${options.scores}: cannot be read (${(cause as { code?: string }).code ?? 'error'})`, cause);
  }
  const hash = createHash('sha256');
  const input = createReadStream(options.scores);
  input.on('data', (chunk) => hash.update(chunk));
  const parser = input.pipe(parse({ bom: true, skip_empty_lines: true }));
  input.on('error', (error) => parser.destroy(error));
  const scores: number[] = [];
  let missing = 0;
  let index = -1;
  let row = 0;
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      if (index < 0) {
        index = record.indexOf(options.column);
        if (index < 0) throw scoresError(`${options.scores}: no column ${JSON.stringify(options.column.slice(0, 80))} in the header`);
        continue;
      }
      row += 1;
      const cell = (record[index] ?? '').trim();
      if (cell === '' || cell.toUpperCase() === 'NA') {
        missing += 1;
        continue;
      }
      const score = parseDecimal(cell);
      if (!(score >= 0 && score <= 1)) throw scoresError(`${options.scores}: data row ${row} of column ${JSON.stringify(options.column.slice(0, 80))} is not a number in [0, 1]`);
      scores.push(score);
    }
  } catch (cause) {
    if (cause instanceof CliError) throw cause;
    throw scoresError(`${options.scores}: not a readable CSV file (${(cause as Error).message.slice(0, 200)})`, cause);
  } finally {
    input.destroy();
  }
  if (index < 0) throw scoresError(`${options.scores}: no header row`);
  const { grid, summary } = fitScoreGrid(scores, { bins: options.bins, method: options.method, thresholds, sourceDigest: `sha256:${hash.digest('hex')}` });
  const document = scoreGridToInput(grid);
  writeFileSync(options.out, `${JSON.stringify(document, null, 2)}\n`);
  return { grid: document, summary: { ...summary, missing } };
}

/** The sponsor's summary of a fit, and the reminder that the grid is public. */
export function describeGridFit(result: GridFitResult, out: string): string {
  const { summary, grid } = result;
  const sharing = summary.binsWithSeveralScores === 0 ? 'no two distinct scores share a bin' : `${summary.binsWithSeveralScores} bins hold several distinct scores`;
  return [
    `fitted a ${grid.method} grid of ${summary.bins} bins from ${summary.scores} scores (${summary.distinctScores} distinct, ${summary.missing} missing): ${sharing}`,
    `wrote ${out} (source_digest ${grid.source_digest ?? 'none'})`,
    'the edges are public: every site and the coordinator see them, and quantile edges follow the development scores (see the README, score grid)',
  ].join('\n');
}
