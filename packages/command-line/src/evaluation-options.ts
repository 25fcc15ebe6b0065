// evaluation-options.ts — commander declarations of the evaluation options (@fedval/metrics EVALUATION_OPTIONS), shared by
// `fedval-agent eval-local` and `fedval simulate` so both take exactly the same options.
import { readFileSync, statSync } from 'node:fs';
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { EVALUATION_OPTIONS, metricSpecFromOptions, outcomeColumnsFromOptions, parseDecimal, resolveScoreGridInput } from '@fedval/metrics';
import type { EvaluationCommandOptions, FittedScoreGrid, MetricSpec, MetricsError, OutcomeColumns } from '@fedval/metrics';

/** Largest `--score-grid` file read, in bytes (4 MiB): a grid of the 10 000-bin limit is about 250 KB of JSON. */
export const MAX_SCORE_GRID_FILE_BYTES = 4 * 1024 * 1024;

/** Argument parser of a repeatable option: every use appended. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Argument parser of a decimal option (strict: no hex, no blanks, no Infinity). */
export function decimal(name: string) {
  return (value: string): number => {
    const parsed = parseDecimal(value);
    if (!Number.isFinite(parsed)) throw new InvalidArgumentError(`${name} must be a number`);
    return parsed;
  };
}

/** Adds every evaluation option to `command`. */
export function withEvaluationOptions(command: Command): Command {
  for (const declared of EVALUATION_OPTIONS) {
    const option = new Option(declared.flags, declared.description).makeOptionMandatory(declared.required === true);
    if (declared.kind === 'decimal') option.argParser(decimal(declared.flags.split(' ')[0]!));
    else if (declared.kind === 'repeatable') option.argParser(collect);
    command.addOption(declared.defaultValue === undefined ? option : option.default(declared.defaultValue));
  }
  return command;
}

/**
 * The metric spec the options ask for (without subgroups), with the `--score-grid` file read and checked;
 * inconsistent options and an unreadable or invalid grid file become the caller's usage error.
 */
export function metricSpecOrUsageError(options: EvaluationCommandOptions, usageError: (message: string) => Error): Partial<MetricSpec> {
  try {
    return metricSpecFromOptions(options, options.scoreGrid === undefined ? undefined : readScoreGridFile(options.scoreGrid, usageError));
  } catch (error) {
    if ((error as { code?: unknown }).code === 'FEDVAL_ERR_METRICS_INVALID_SPEC') throw usageError((error as MetricsError).detail ?? (error as Error).message);
    throw error;
  }
}

/** The outcome columns the options name (outcomeColumnsFromOptions); a missing or misplaced column becomes the caller's usage error. */
export function outcomeColumnsOrUsageError(options: EvaluationCommandOptions, usageError: (message: string) => Error): OutcomeColumns {
  try {
    return outcomeColumnsFromOptions(options);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'FEDVAL_ERR_METRICS_INVALID_SPEC') throw usageError((error as MetricsError).detail ?? (error as Error).message);
    throw error;
  }
}

/** A fitted score grid file (`fedval grid fit` writes it): at most MAX_SCORE_GRID_FILE_BYTES of JSON, checked by the metric spec's grid schema. */
export function readScoreGridFile(path: string, usageError: (message: string) => Error): FittedScoreGrid {
  const unreadable = (error: unknown) => usageError(`--score-grid ${path}: cannot be read (${(error as { code?: string }).code ?? 'error'})`);
  let text: string;
  try {
    if (statSync(path).size > MAX_SCORE_GRID_FILE_BYTES) throw Object.assign(new Error('too large'), { code: `larger than ${MAX_SCORE_GRID_FILE_BYTES} bytes` });
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw unreadable(error);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw usageError(`--score-grid ${path}: not a JSON document`);
  }
  try {
    return resolveScoreGridInput(document);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'FEDVAL_ERR_METRICS_INVALID_SPEC') throw usageError(`--score-grid ${path}: ${(error as MetricsError).detail ?? ''}`);
    throw error;
  }
}
