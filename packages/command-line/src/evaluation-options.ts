// evaluation-options.ts — commander declarations of the evaluation options (@fedval/metrics EVALUATION_OPTIONS), shared by
// `fedval-agent eval-local` and `fedval simulate` so both take exactly the same options.
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { EVALUATION_OPTIONS, metricSpecFromOptions, parseDecimal } from '@fedval/metrics';
import type { EvaluationCommandOptions, MetricSpec, MetricsError } from '@fedval/metrics';

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

/** The metric spec the options ask for (without subgroups); inconsistent options become the caller's usage error. */
export function metricSpecOrUsageError(options: EvaluationCommandOptions, usageError: (message: string) => Error): Partial<MetricSpec> {
  try {
    return metricSpecFromOptions(options);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'FEDVAL_ERR_METRICS_INVALID_SPEC') throw usageError((error as MetricsError).detail ?? (error as Error).message);
    throw error;
  }
}
