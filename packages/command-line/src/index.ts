// @fedval/command-line — the commander boundary of fedval's three programs: how they are built, take the shared
// evaluation options, report errors and exit.
export { createProgram, runProgram, describeFailure, exitStatusOf, packageVersion, EXIT_STATUS } from './program.ts';
export type { ProgramOptions } from './program.ts';
export { collect, decimal, withEvaluationOptions, metricSpecOrUsageError, outcomeColumnsOrUsageError, readScoreGridFile } from './evaluation-options.ts';
// The commander classes programs build options and argument parsers with: apps import them from here, not from commander.
export { Command, InvalidArgumentError, Option } from 'commander';
export { LOG_COMPONENTS, LOG_LEVEL_LABELS, logLineSchema, logLineOptions, formatLogLine } from './log-lines.ts';
export type { LogComponent, LogLine } from './log-lines.ts';
