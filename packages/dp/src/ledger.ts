// ledger.ts — the site's privacy-budget decisions: may this round spend ρ on this dataset? (storage lives with the caller)
import { composeRho, epsilonFromRho, rhoFromEpsilon } from './accountant.ts';
import type { DpErrorCode } from './errors.ts';
import { DpError } from './errors.ts';

/** A dataset's privacy budget, in ρ (see accountant.ts for its meaning), with the δ used for display. */
export interface PrivacyBudget {
  /** Lifetime ρ of the dataset, > 0. */
  readonly totalRho: number;
  /** Largest ρ a single round may spend; absent means no per-round cap. */
  readonly perRoundRho?: number;
  /** δ at which spent ρ is shown as (ε, δ), 0 < δ < 1. */
  readonly delta: number;
}

/** Budget given the way people state it: lifetime ε (and optionally per-round ε) at one δ. */
export interface EpsilonBudget {
  readonly totalEpsilon: number;
  readonly perRoundEpsilon?: number;
  readonly delta: number;
}

/** One past charge, as stored by the caller. */
export interface LedgerEntry {
  readonly datasetId: string;
  readonly roundId: string;
  readonly rho: number;
}

/** A charge the site is asked to make. */
export interface ChargeRequest {
  readonly datasetId: string;
  readonly roundId: string;
  readonly rho: number;
}

/** Where a dataset's budget stands, in ρ and as (ε, δ). */
export interface BudgetStatus {
  readonly spentRho: number;
  readonly remainingRho: number;
  /** ε of the spent ρ at the budget's δ (Canonne, Kamath & Steinke 2020 conversion). */
  readonly spentEpsilon: number;
  /** ε of the whole budget at its δ. */
  readonly totalEpsilon: number;
  readonly delta: number;
}

export type ChargeDecision =
  | { readonly allowed: true; readonly before: BudgetStatus; readonly after: BudgetStatus }
  | {
      readonly allowed: false;
      readonly code: Extract<DpErrorCode, 'FEDVAL_ERR_DP_BUDGET_EXCEEDED' | 'FEDVAL_ERR_DP_ROUND_BUDGET_EXCEEDED'>;
      /** What was asked against what was left, in ρ (no data values). */
      readonly detail: string;
      readonly before: BudgetStatus;
    };

/**
 * Float sums of ρ can land a few units in the last place above an exactly fitting budget; a charge
 * that exceeds a limit by less than this relative amount (10⁻¹²) is treated as fitting.
 */
export const LEDGER_RELATIVE_TOLERANCE = 1e-12;

function checkBudget(budget: PrivacyBudget): void {
  const { totalRho, perRoundRho, delta } = budget;
  if (!Number.isFinite(totalRho) || totalRho <= 0) throw new DpError('FEDVAL_ERR_DP_INVALID_BUDGET', 'totalRho must be a finite number > 0');
  if (perRoundRho !== undefined && (!Number.isFinite(perRoundRho) || perRoundRho <= 0 || perRoundRho > totalRho)) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_BUDGET', 'perRoundRho must be > 0 and at most totalRho');
  }
  if (!Number.isFinite(delta) || delta <= 0 || delta >= 1) throw new DpError('FEDVAL_ERR_DP_INVALID_BUDGET', 'δ must lie strictly between 0 and 1');
}

/** Converts an (ε, δ) budget to ρ with {@link rhoFromEpsilon} (largest ρ whose conversion stays within ε). */
export function budgetFromEpsilon(budget: EpsilonBudget): PrivacyBudget {
  const { totalEpsilon, perRoundEpsilon, delta } = budget;
  if (!Number.isFinite(totalEpsilon) || totalEpsilon <= 0) throw new DpError('FEDVAL_ERR_DP_INVALID_BUDGET', 'totalEpsilon must be a finite number > 0');
  if (perRoundEpsilon !== undefined && (!Number.isFinite(perRoundEpsilon) || perRoundEpsilon <= 0 || perRoundEpsilon > totalEpsilon)) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_BUDGET', 'perRoundEpsilon must be > 0 and at most totalEpsilon');
  }
  if (!Number.isFinite(delta) || delta <= 0 || delta >= 1) throw new DpError('FEDVAL_ERR_DP_INVALID_BUDGET', 'δ must lie strictly between 0 and 1');
  const result: PrivacyBudget = { totalRho: rhoFromEpsilon(totalEpsilon, delta), delta };
  return Object.freeze(perRoundEpsilon === undefined ? result : { ...result, perRoundRho: rhoFromEpsilon(perRoundEpsilon, delta) });
}

function checkEntry(entry: LedgerEntry | ChargeRequest, what: string): void {
  if (typeof entry.datasetId !== 'string' || typeof entry.roundId !== 'string') {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `${what} needs string datasetId and roundId`);
  }
  if (!Number.isFinite(entry.rho) || entry.rho < 0) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `${what} ρ must be a finite number ≥ 0`);
}

function status(budget: PrivacyBudget, spentRho: number): BudgetStatus {
  return Object.freeze({
    spentRho,
    remainingRho: Math.max(0, budget.totalRho - spentRho),
    spentEpsilon: epsilonFromRho(spentRho, budget.delta),
    totalEpsilon: epsilonFromRho(budget.totalRho, budget.delta),
    delta: budget.delta,
  });
}

/** Where the dataset's budget stands given the ledger entries (entries of other datasets are ignored). */
export function budgetStatus(budget: PrivacyBudget, entries: readonly LedgerEntry[], datasetId: string): BudgetStatus {
  checkBudget(budget);
  const own = entries.filter((entry) => entry.datasetId === datasetId);
  for (const entry of own) checkEntry(entry, 'ledger entry');
  return status(budget, composeRho(own.map((entry) => entry.rho)));
}

/**
 * Decides a charge against one dataset's budget: refused with FEDVAL_ERR_DP_ROUND_BUDGET_EXCEEDED when
 * the round's charges (past ones with the same roundId plus this one) would pass perRoundRho, or with
 * FEDVAL_ERR_DP_BUDGET_EXCEEDED when the dataset's lifetime spend would pass totalRho. Pure: the caller
 * records the entry only when the decision allows it.
 */
export function decideCharge(budget: PrivacyBudget, entries: readonly LedgerEntry[], request: ChargeRequest): ChargeDecision {
  checkBudget(budget);
  checkEntry(request, 'charge request');
  const own = entries.filter((entry) => entry.datasetId === request.datasetId);
  for (const entry of own) checkEntry(entry, 'ledger entry');
  const spent = composeRho(own.map((entry) => entry.rho));
  const before = status(budget, spent);
  const slack = 1 + LEDGER_RELATIVE_TOLERANCE;
  if (budget.perRoundRho !== undefined) {
    const roundSpent = composeRho([...own.filter((entry) => entry.roundId === request.roundId).map((entry) => entry.rho), request.rho]);
    if (roundSpent > budget.perRoundRho * slack) {
      const detail = `round needs ρ ${roundSpent}, cap ${budget.perRoundRho}`;
      return Object.freeze({ allowed: false, code: 'FEDVAL_ERR_DP_ROUND_BUDGET_EXCEEDED', detail, before });
    }
  }
  const after = composeRho([spent, request.rho]);
  if (after > budget.totalRho * slack) {
    const detail = `needs ρ ${request.rho}, remaining ${before.remainingRho}`;
    return Object.freeze({ allowed: false, code: 'FEDVAL_ERR_DP_BUDGET_EXCEEDED', detail, before });
  }
  return Object.freeze({ allowed: true, before, after: status(budget, after) });
}

/** Like {@link decideCharge} but throws the refusal as a DpError (for callers that prefer exceptions). */
export function assertChargeAllowed(budget: PrivacyBudget, entries: readonly LedgerEntry[], request: ChargeRequest): BudgetStatus {
  const decision = decideCharge(budget, entries, request);
  if (!decision.allowed) throw new DpError(decision.code, decision.detail);
  return decision.after;
}
