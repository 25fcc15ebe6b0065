// @fedval/cli — the sponsor's and privacy officer's tools, also usable as a library by examples.
export { runSimulation, parseSiteArgument } from './simulate.ts';
export type { SimulationOptions, SimulationResult, SimulationSite } from './simulate.ts';
export type { RoundView } from '@fedval/protocol';
export { renderHtmlReport } from './html-report.ts';
export type { ReportInput } from './html-report.ts';
export { CliError, CLI_ERROR_MESSAGES } from './errors.ts';
export type { CliErrorCode } from './errors.ts';
