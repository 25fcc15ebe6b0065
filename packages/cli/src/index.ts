// @fedval/cli — the sponsor's and privacy officer's tools, also usable as a library by examples.
export { runSimulation, parseSiteArgument } from './simulate.ts';
export type { SimulationOptions, SimulationResult, SimulationSite } from './simulate.ts';
export type { RoundView } from '@fedval/protocol';
export { renderHtmlReport } from './html-report.ts';
export type { ReportInput } from './html-report.ts';
export { verifyContributions, CONTRIBUTION_REFUSAL_REASONS } from './contribution-verification.ts';
export type { AcceptedContribution, ContributionRefusal, ContributionRefusalReason, ContributionVerification, UsedRecord, VerificationContext } from './contribution-verification.ts';
export { parseRoster, rosterFileSchema } from './roster.ts';
export { planUnmasking } from './secure-aggregation-unmasking.ts';
export type { UnmaskingPlan } from './secure-aggregation-unmasking.ts';
export type { Roster, RosterFile } from './roster.ts';
export { CliError, CLI_ERROR_MESSAGES } from './errors.ts';
export type { CliErrorCode } from './errors.ts';
